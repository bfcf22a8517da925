import http from 'node:http';
import { verifySignature } from '../domain/signature';
import type { FakeStripe } from './support/fake-stripe';
import { startFakeStripe } from './support/fake-stripe';
import { expectAllLedgersConsistent } from './support/ledger';
import type { TestStack } from './support/stack';
import { ADMIN_KEY, card, client, eventually, newMerchant, startTestStack } from './support/stack';

// Risk checks before authorization, end to end: rules per merchant and mode, velocity counted
// in PostgreSQL, reviews held durably, an external scorer with a tight timeout.
const SCORER_SECRET = 'test-risk-scorer-secret-0123';
/** How the external scorer answers now: a score after a delay. */
let scorer: { score: number; delayMs: number } = { score: 10, delayMs: 0 };
const scored: { paymentId: string; signed: boolean }[] = [];
let scorerServer: http.Server;
let stack: TestStack;
let stripe: FakeStripe;
const STRIPE_WEBHOOK_SECRET = 'whsec_risk_0123456789abcdef';

beforeAll(async () => {
  scorerServer = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      scored.push({ paymentId: JSON.parse(raw).payment_id, signed: verifySignature(SCORER_SECRET, raw, req.headers['risk-signature'] as string) });
      const timer = setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ score: scorer.score })), scorer.delayMs);
      res.on('close', () => clearTimeout(timer));
    });
  });
  await new Promise<void>((resolve) => scorerServer.listen(0, '127.0.0.1', resolve));
  const { port } = scorerServer.address() as { port: number };
  stripe = await startFakeStripe(STRIPE_WEBHOOK_SECRET);
  stack = await startTestStack({
    RISK_WEBHOOK_URL: `http://127.0.0.1:${port}/score`, RISK_WEBHOOK_SECRET: SCORER_SECRET, RISK_WEBHOOK_TIMEOUT_MS: '300',
    STRIPE_SECRET_KEY: 'sk_test_risk', STRIPE_WEBHOOK_SECRET, STRIPE_API_BASE: stripe.url,
  });
  stripe.setWebhooks(`${stack.url}/webhooks/stripe`);
});
afterAll(async () => {
  try {
    if (stack) await expectAllLedgersConsistent(stack.pool);
  } finally {
    await stack?.stop();
    await stripe?.close();
    scorerServer?.closeAllConnections();
    await new Promise((resolve) => scorerServer?.close(resolve));
  }
});
afterEach(() => {
  scorer = { score: 10, delayMs: 0 };
});

type Merchant = Awaited<ReturnType<typeof newMerchant>>;
const pay = (m: Merchant, extra: Record<string, unknown> = {}) => m.api.post('/v1/payments', { amount: 1000, currency: 'EUR', payment_method: card(), ...extra });
const charges = async (m: Merchant, id: string) => (await m.api.get(`/sandbox/charges?payment_id=${id}`)).body.data.length;
const eventTypes = async (m: Merchant, id: string) => (await m.api.get('/v1/events?limit=100')).body.data.filter((e: { object_id: string }) => e.object_id === id).map((e: { type: string }) => e.type);
const sixPerIp = { rules: [{ if: { velocity: { key: 'client_ip', window_seconds: 600, count_gt: 5 } }, action: 'block' }] };

test('a velocity rule blocks the sixth payment from one IP, before any provider call, while other IPs pass', async () => {
  const m = await newMerchant(stack);
  expect((await m.api.post('/v1/risk/rules', sixPerIp)).status).toBe(200);
  for (let i = 0; i < 5; i++) expect((await pay(m, { client_ip: '203.0.113.7' })).body.status).toBe('captured');
  const sixth = await pay(m, { client_ip: '203.0.113.7' });
  expect(sixth.status).toBe(402);
  expect(sixth.body.error).toMatchObject({ code: 'blocked_by_risk', payment: { status: 'failed', risk: { decision: 'block', rules_matched: ['rule_0'] } } });
  expect(await charges(m, sixth.body.error.payment.id)).toBe(0);
  expect((await pay(m, { client_ip: '198.51.100.1' })).body).toMatchObject({ status: 'captured', risk: { decision: 'allow' } });
  // Another merchant's counters and rules are its own.
  const other = await newMerchant(stack);
  expect((await pay(other, { client_ip: '203.0.113.7' })).body.status).toBe('captured');
  // And each mode has its own rules.
  expect((await m.live.get('/v1/risk/rules')).body.rules).not.toEqual(sixPerIp.rules);
  expect((await m.api.get('/v1/risk/rules')).body).toMatchObject({ object: 'risk_rules', livemode: false, rules: sixPerIp.rules });
});

test('concurrent payments are counted exactly: of ten at once from one IP, five pass', async () => {
  const m = await newMerchant(stack);
  await m.api.post('/v1/risk/rules', sixPerIp);
  const answers = await Promise.all(Array.from({ length: 10 }, () => pay(m, { client_ip: '192.0.2.55' })));
  expect(answers.filter((a) => a.status === 201).length).toBe(5);
  expect(answers.filter((a) => a.status === 402 && a.body.error.code === 'blocked_by_risk').length).toBe(5);
});

test('the country of client_ip: a rule on it holds a payment from a GB address and passes a US one; no address, no match', async () => {
  const m = await newMerchant(stack);
  expect((await m.api.post('/v1/risk/rules', { rules: [{ if: { ip_country_in: ['gb'] }, action: 'review' }] })).status).toBe(200);
  // 81.2.69.160 and 8.8.8.8 are registered in the United Kingdom and the United States.
  expect((await pay(m, { client_ip: '81.2.69.160' })).body).toMatchObject({ status: 'requires_review', risk: { decision: 'review', rules_matched: ['rule_0'] } });
  expect((await pay(m, { client_ip: '8.8.8.8' })).body).toMatchObject({ status: 'captured', risk: { decision: 'allow' } });
  expect((await pay(m, { client_ip: '10.1.2.3' })).body.status).toBe('captured');
  expect((await pay(m, { payment_method: { ...card(), billing_details: { address: { country: 'GB' } } } })).body.status).toBe('captured');
});

test('reference amounts: the same rule reviews 1 000 USD worth in yen and lets 500 USD worth through', async () => {
  const m = await newMerchant(stack);
  // 1 000.00 USD in the reference currency's minor units; the embedded test rates: 1 EUR = 1.0812 USD = 162.35 JPY.
  expect((await m.api.post('/v1/risk/rules', { rules: [{ if: { reference_amount_gte: 100_000 }, action: 'review' }] })).status).toBe(200);
  expect((await pay(m, { amount: 160_000, currency: 'JPY' })).body).toMatchObject({ status: 'requires_review', risk: { rules_matched: ['rule_0'] } });
  expect((await pay(m, { amount: 80_000, currency: 'JPY' })).body.status).toBe('captured');
  expect((await pay(m, { amount: 100_000, currency: 'USD' })).body.status).toBe('requires_review');
  expect((await pay(m, { amount: 99_999, currency: 'USD' })).body.status).toBe('captured');
});

test('Stripe\'s card fingerprint: two tokens of one card number count as one card, before Stripe is asked to charge the second', async () => {
  // Rules that count no fingerprints (the defaults) never ask Stripe for one.
  const plain = await newMerchant(stack);
  expect((await plain.api.post('/v1/payments', { amount: 1000, currency: 'EUR', provider: 'stripe', payment_method: { type: 'card', token: 'pm_card_amex' } })).body.status).toBe('captured');
  expect(stripe.requests.filter((r) => r.path.startsWith('/v1/payment_methods/'))).toEqual([]);
  const m = await newMerchant(stack);
  await m.api.post('/v1/risk/rules', { rules: [{ if: { velocity: { key: 'fingerprint', window_seconds: 600, count_gt: 1 } }, action: 'block' }] });
  const stripePay = (token: string) => m.api.post('/v1/payments', { amount: 1000, currency: 'EUR', provider: 'stripe', payment_method: { type: 'card', token } });
  // Two test PaymentMethods of the card 4000 0000 0000 0002: Stripe declines the first; the second never reaches it.
  const first = await stripePay('pm_card_chargeDeclined');
  expect(first.body.error).toMatchObject({ code: 'card_declined', payment: { risk: { decision: 'allow' } } });
  const intentsBefore = stripe.intents.size;
  const second = await stripePay('pm_card_visa_chargeDeclined');
  expect(second.body.error).toMatchObject({ code: 'blocked_by_risk', payment: { risk: { decision: 'block', rules_matched: ['rule_0'] } } });
  expect(stripe.intents.size).toBe(intentsBefore);
  // Another card is another fingerprint.
  expect((await stripePay('pm_card_visa')).body.status).toBe('captured');
});

test('held for review, approved by the merchant, then authorized and captured', async () => {
  const m = await newMerchant(stack);
  await m.api.post('/v1/risk/rules', { rules: [{ if: { amount_gte: 50_000, 'payment_method.type': 'card' }, action: 'review' }] });
  const held = await pay(m, { amount: 75_000 });
  expect(held.status).toBe(202);
  expect(held.body).toMatchObject({ status: 'requires_review', risk: { decision: 'review', rules_matched: ['rule_0'] } });
  expect(await charges(m, held.body.id)).toBe(0);
  expect((await m.api.get('/v1/payments?status=requires_review')).body.data.map((p: { id: string }) => p.id)).toEqual([held.body.id]);
  // Operators find it in the Temporal UI by its status.
  const handle = stack.context.temporal.workflow.getHandle(`payment:${held.body.id}`);
  await eventually(async () => (await handle.describe()).searchAttributes.PaymentStatus, (v) => JSON.stringify(v) === '["requires_review"]');
  const approved = await m.api.post(`/v1/payments/${held.body.id}/review`, { decision: 'approve', reason: 'Known customer, phoned' });
  expect(approved.status).toBe(200);
  expect(approved.body).toMatchObject({ status: 'captured', amount_captured: 75_000, risk: { review: { decision: 'approve', reviewer: 'merchant', reason: 'Known customer, phoned' } } });
  expect(await eventTypes(m, held.body.id)).toEqual(expect.arrayContaining(['payment.review_opened', 'payment.review_closed', 'payment.captured']));
  // A decision is made once.
  expect((await m.api.post(`/v1/payments/${held.body.id}/review`, { decision: 'reject', reason: 'late' })).status).toBe(409);
  // Small payments are not held.
  expect((await pay(m, { amount: 1000 })).body.status).toBe('captured');
});

test('held for review and rejected by an operator: canceled, nothing charged', async () => {
  const m = await newMerchant(stack);
  await m.api.post('/v1/risk/rules', { rules: [{ if: { country_in: ['ru', 'KP'] }, action: 'review' }] });
  const held = await pay(m, { payment_method: { ...card(), billing_details: { address: { country: 'kp' } } } });
  expect(held.body.status).toBe('requires_review');
  expect((await client(stack.url, 'sk_test_nobody').post(`/v1/payments/${held.body.id}/review`, { decision: 'reject', reason: 'x' })).status).toBe(401);
  const other = await newMerchant(stack);
  expect((await other.api.post(`/v1/payments/${held.body.id}/review`, { decision: 'reject', reason: 'x' })).status).toBe(404);
  const rejected = await client(stack.url, ADMIN_KEY).post(`/v1/payments/${held.body.id}/review`, { decision: 'reject', reason: 'Sanctioned country' });
  expect(rejected.body).toMatchObject({ status: 'canceled', failure: { code: 'rejected_by_review' }, risk: { review: { decision: 'reject', reviewer: 'operator' } } });
  expect(await charges(m, held.body.id)).toBe(0);
  expect((await pay(m, { payment_method: { ...card(), billing_details: { address: { country: 'DE' } } } })).body.status).toBe('captured');
});

test('the external scorer: its signed score is usable in rules; one that answers too late leaves the rules alone', async () => {
  const m = await newMerchant(stack);
  await m.api.post('/v1/risk/rules', { rules: [{ if: { score_gte: 80 }, action: 'review' }] });
  scorer = { score: 95, delayMs: 0 };
  const risky = await pay(m);
  expect(risky.body).toMatchObject({ status: 'requires_review', risk: { score: 95, decision: 'review' } });
  expect(scored.find((s) => s.paymentId === risky.body.id)).toEqual({ paymentId: risky.body.id, signed: true });
  // Too slow: no score, so no score rule matches.
  scorer = { score: 95, delayMs: 2000 };
  const slow = await pay(m);
  expect(slow.body.status).toBe('captured');
  expect(slow.body.risk).toEqual({ decision: 'allow', rules_matched: [] });
});

test('invalid rules are a clear 400 naming the rule, and nothing is saved', async () => {
  const m = await newMerchant(stack);
  const before = (await m.api.get('/v1/risk/rules')).body.rules;
  const bad = await m.api.post('/v1/risk/rules', { rules: [{ if: {}, action: 'allow' }, { if: {}, action: 'allow' }, { if: { velocity: { key: 'client_ip', window_seconds: 60 } }, action: 'block' }] });
  expect(bad.status).toBe(400);
  expect(bad.body.error.param).toMatch(/^rules\.2\.if\.velocity/);
  expect((await m.api.post('/v1/risk/rules', { rules: [{ if: { amount_gte: 'ten' }, action: 'block' }] })).body.error.param).toBe('rules.0.if.amount_gte');
  expect((await m.api.post('/v1/risk/rules', { rules: [{ if: { color: 'red' }, action: 'block' }] })).status).toBe(400);
  expect((await m.api.get('/v1/risk/rules')).body.rules).toEqual(before);
});
