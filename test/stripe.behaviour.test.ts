import Stripe from 'stripe';
import type { FakeStripe } from './support/fake-stripe';
import { startFakeStripe } from './support/fake-stripe';
import { StripeProvider } from '../providers/stripe/stripe.provider';
import type { TestStack } from './support/stack';
import { eventually, newMerchant, startTestStack } from './support/stack';
import { expectAllLedgersConsistent } from './support/ledger';

// The real SDK and the real workflow against a stateful local Stripe.
const WEBHOOK_SECRET = 'whsec_test_behaviour_0123456789';
let fake: FakeStripe;
let stack: TestStack;
beforeAll(async () => {
  fake = await startFakeStripe(WEBHOOK_SECRET);
  stack = await startTestStack({ STRIPE_SECRET_KEY: 'sk_test_behaviour', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE: fake.url });
});
beforeEach(() => fake.setWebhooks(`${stack.url}/webhooks/stripe`, 'after'));
afterAll(async () => {
  if (stack) await expectAllLedgersConsistent(stack.pool);
  await stack?.stop();
  await fake?.close();
});

const card = (pm = 'pm_card_visa') => ({ type: 'card', token: pm });
const effectsOf = (pi: string) => fake.effects.filter((e) => e.paymentIntent === pi).map((e) => [e.operation, e.amount, e.idempotencyKey]);

test('manual capture: authorize, partial capture, two partial refunds, each once at Stripe with a key derived from the payment', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', { amount: 2500, currency: 'USD', payment_method: card(), capture_method: 'manual' })).body;
  expect(p).toMatchObject({ status: 'authorized', provider: 'stripe', amount_capturable: 2500 });
  expect(p.provider_reference).toMatch(/^pi_/);
  expect(fake.intents.get(p.provider_reference)).toMatchObject({ amount: 2500, currency: 'usd', capture_method: 'manual', metadata: { payment_id: p.id, merchant_id: m.id } });

  expect((await m.api.post(`/v1/payments/${p.id}/capture`, { amount: 1500 })).body).toMatchObject({ status: 'captured', amount_captured: 1500 });
  const r1 = (await m.api.post('/v1/refunds', { payment_id: p.id, amount: 500 })).body;
  const r2 = (await m.api.post('/v1/refunds', { payment_id: p.id })).body;
  expect([r1.status, r2.status, r2.amount]).toEqual(['succeeded', 'succeeded', 1000]);
  expect((await m.api.post('/v1/refunds', { payment_id: p.id, amount: 1 })).status).toBe(409);
  expect(effectsOf(p.provider_reference)).toEqual([
    ['authorize', 2500, `${p.id}:authorize`],
    ['capture', 1500, `${p.id}:capture`],
    ['refund', 500, `${p.id}:refund:${r1.id}`],
    ['refund', 1000, `${p.id}:refund:${r2.id}`],
  ]);
  expect(fake.intents.get(p.provider_reference)!.refunded).toBe(1500);
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'USD', amount: 0 }]);
});

test('automatic capture: Stripe captures at confirmation, and that one call is the whole capture (no capture request follows)', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', { amount: 990, currency: 'EUR', payment_method: card() })).body;
  expect(p).toMatchObject({ status: 'captured', amount_captured: 990 });
  expect(fake.intents.get(p.provider_reference)).toMatchObject({ status: 'succeeded', amount_received: 990 });
  expect(effectsOf(p.provider_reference).map((e) => e[0])).toEqual(['authorize']);
  expect(fake.requests.filter((r) => r.path.startsWith(`/v1/payment_intents/${p.provider_reference}`)).map((r) => `${r.method} ${r.path}`)).toEqual([]);
});

test('declines are results with Stripe\'s decline code; nothing is captured', async () => {
  const m = await newMerchant(stack);
  for (const [pm, code] of [['pm_card_chargeDeclined', 'card_declined'], ['pm_card_chargeDeclinedInsufficientFunds', 'insufficient_funds'], ['pm_card_chargeDeclinedExpiredCard', 'expired_card']]) {
    const res = await m.api.post('/v1/payments', { amount: 1000, currency: 'USD', payment_method: card(pm) });
    expect([res.status, res.body.error.type, res.body.error.code, res.body.error.payment.status]).toEqual([402, 'payment_error', code, 'failed']);
    expect(res.body.error.payment.failure.code).toBe(code);
  }
});

test('3-D Secure: requires_action with Stripe\'s redirect URL, then the webhook moves the payment on; a failed challenge fails it', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', { amount: 4200, currency: 'GBP', payment_method: card('pm_card_authenticationRequired'), return_url: 'https://shop.example/back' })).body;
  expect(p.status).toBe('requires_action');
  expect(p.next_action).toMatchObject({ type: 'redirect_to_url', url: `${fake.url}/3ds/${p.provider_reference}` });
  await fake.completeThreeDS(p.provider_reference);
  const done = await eventually(async () => (await m.api.get(`/v1/payments/${p.id}`)).body, (x) => x.status === 'captured');
  expect(done.amount_captured).toBe(4200);
  const heard = await stack.pool.query(`SELECT count(*)::int AS n FROM provider_events WHERE provider = 'stripe' AND payment_id = $1`, [p.id]);
  expect(heard.rows[0].n).toBeGreaterThanOrEqual(1); // the webhook, not only polling, reached the workflow

  const q = (await m.api.post('/v1/payments', { amount: 4200, currency: 'GBP', payment_method: card('pm_card_authenticationRequired') })).body;
  await fake.completeThreeDS(q.provider_reference, 'failed');
  const failed = await eventually(async () => (await m.api.get(`/v1/payments/${q.id}`)).body, (x) => x.status === 'failed');
  expect(failed.failure.code).toBe('payment_intent_authentication_failure');
});

test('3-D Secure without return_url: Stripe answers use_stripe_sdk, and the payment carries the client secret for Stripe.js', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', { amount: 3100, currency: 'EUR', payment_method: card('pm_card_threeDSecure2Required') })).body;
  expect(p.status).toBe('requires_action');
  const pi = fake.intents.get(p.provider_reference)!;
  expect(pi.next_action?.type).toBe('use_stripe_sdk');
  expect(p.next_action).toMatchObject({ type: 'use_stripe_sdk', client_secret: pi.client_secret });
  expect(p.next_action.url).toBeUndefined();
  // The customer completes the challenge in the merchant's page (Stripe.js); the webhook moves the payment on.
  await fake.completeThreeDS(p.provider_reference);
  expect((await eventually(async () => (await m.api.get(`/v1/payments/${p.id}`)).body, (x) => x.status === 'captured')).amount_captured).toBe(3100);
});

test('webhooks before the synchronous answer, twice, or out of order never double-capture or regress a status', async () => {
  const m = await newMerchant(stack);
  fake.setWebhooks(`${stack.url}/webhooks/stripe`, 'before');
  const early = (await m.api.post('/v1/payments', { amount: 1100, currency: 'USD', payment_method: card(), capture_method: 'manual' })).body;
  expect(early.status).toBe('authorized');
  fake.setWebhooks(`${stack.url}/webhooks/stripe`, 'twice');
  expect((await m.api.post(`/v1/payments/${early.id}/capture`)).body.status).toBe('captured');
  const threeDS = (await m.api.post('/v1/payments', { amount: 1200, currency: 'USD', payment_method: card('pm_card_authenticationRequired') })).body;
  await fake.completeThreeDS(threeDS.provider_reference); // its success webhook arrives twice
  await eventually(async () => (await m.api.get(`/v1/payments/${threeDS.id}`)).body, (x) => x.status === 'captured');
  // A stale failure arrives after the success: ignored.
  const pi = fake.intents.get(threeDS.provider_reference)!;
  await fake.sendEvent('payment_intent.payment_failed', { ...pi, status: 'requires_payment_method', last_payment_error: { code: 'card_declined', message: 'late' } }, pi.created - 60);
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect((await m.api.get(`/v1/payments/${threeDS.id}`)).body.status).toBe('captured');
  for (const p of [early, threeDS]) expect(effectsOf(p.provider_reference).filter((e) => e[0] === 'capture').length).toBeLessThanOrEqual(1);
  expect(effectsOf(early.provider_reference).map((e) => e[0])).toEqual(['authorize', 'capture']);
  expect(effectsOf(threeDS.provider_reference).map((e) => e[0])).toEqual(['authorize']); // automatic: captured at confirmation
});

test('an authorization voided after an early webhook is not mistaken for a late payment', async () => {
  const m = await newMerchant(stack);
  fake.setWebhooks(`${stack.url}/webhooks/stripe`, 'before');
  const held = (await m.api.post('/v1/payments', { amount: 1300, currency: 'USD', payment_method: card(), capture_method: 'manual' })).body;
  expect(held.status).toBe('authorized');
  expect((await m.api.post(`/v1/payments/${held.id}/cancel`)).body.status).toBe('canceled');
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await expect(stack.context.temporal.workflow.getHandle(`late-payment-refund:${held.id}`).describe()).rejects.toThrow(/not found/i);
  expect(effectsOf(held.provider_reference).filter((e) => e[0] === 'refund')).toEqual([]);
});

test('a Stripe outage mid-payment: retried with the same idempotency keys until it answers, charged once', async () => {
  const m = await newMerchant(stack);
  fake.outage(3);
  const p = (await m.api.post('/v1/payments', { amount: 3300, currency: 'USD', payment_method: card(), capture_method: 'manual' })).body;
  expect(p.status).toBe('authorized');
  fake.outage(2);
  expect((await m.api.post(`/v1/payments/${p.id}/capture`)).body.status).toBe('captured');
  // Each 500 may have acted: the workflow asks Stripe (search by payment id) before re-sending the same key.
  const created = fake.requests.filter((r) => r.path === '/v1/payment_intents' && r.idempotencyKey === `${p.id}:authorize`);
  const asked = fake.requests.filter((r) => r.path === '/v1/payment_intents/search');
  expect(created.length).toBeGreaterThanOrEqual(2);
  expect(created.length + asked.length).toBeGreaterThanOrEqual(4);
  expect(fake.requests.filter((r) => r.path.endsWith('/capture') && r.idempotencyKey === `${p.id}:capture`).length).toBeGreaterThanOrEqual(3);
  expect(effectsOf(p.provider_reference).map((e) => e[0])).toEqual(['authorize', 'capture']);
  expect([...fake.intents.values()].filter((pi) => pi.metadata.payment_id === p.id)).toHaveLength(1);
}, 60_000);

test('POST /webhooks/stripe: the SDK\'s test signature passes; forged, expired and altered ones get 400', async () => {
  const signer = new Stripe('sk_test_x');
  const payload = JSON.stringify({ id: 'evt_sig_1', object: 'event', type: 'charge.refunded', data: { object: { id: 'ch_1', object: 'charge' } } });
  const post = (body: string, signature: string) => fetch(`${stack.url}/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': signature }, body });
  expect((await post(payload, signer.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET }))).status).toBe(200);
  const rejected = [
    await post(payload, signer.webhooks.generateTestHeaderString({ payload, secret: 'whsec_forged' })),
    await post(payload, signer.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET, timestamp: Math.floor(Date.now() / 1000) - 600 })),
    await post(payload.replace('ch_1', 'ch_2'), signer.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET })),
    await post(payload, ''),
  ];
  for (const res of rejected) {
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_signature');
  }
});

test('currency rules: ISK goes ×100, amounts Stripe cannot represent are a 400 before any call', async () => {
  const m = await newMerchant(stack);
  const isk = (await m.api.post('/v1/payments', { amount: 1500, currency: 'ISK', payment_method: card() })).body;
  expect(isk.amount_captured).toBe(1500);
  expect(fake.intents.get(isk.provider_reference)).toMatchObject({ amount: 150000, currency: 'isk' });
  const kwd = (await m.api.post('/v1/payments', { amount: 12340, currency: 'KWD', payment_method: card() })).body;
  expect(fake.intents.get(kwd.provider_reference)!.amount).toBe(12340);
  const before = fake.requests.length;
  for (const [amount, currency] of [[12345, 'KWD'], [150, 'MGA']] as const) {
    const res = await m.api.post('/v1/payments', { amount, currency, payment_method: card() });
    expect([res.status, res.body.error.code, res.body.error.param]).toEqual([400, 'invalid_amount', 'amount']);
  }
  expect(fake.requests.length).toBe(before);
  // Wallets stay with the sandbox; forcing Stripe for them is refused.
  expect((await m.api.post('/v1/payments', { amount: 100, currency: 'CNY', payment_method: { type: 'alipay' }, provider: 'stripe' })).body.error.param).toBe('payment_method.type');
});

test('a refund re-sent after its idempotency key expired at Stripe is found by our refund id, not made twice', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', { amount: 800, currency: 'USD', payment_method: card() })).body;
  const provider = new StripeProvider({ secretKey: 'sk_test_direct', apiBase: fake.url });
  const req = { paymentId: p.id, refundId: 're_direct_1', reference: p.provider_reference, amount: 300, currency: 'USD' };
  expect(await provider.refund({ ...req, idempotencyKey: `${p.id}:refund:re_direct_1` })).toEqual({ status: 'succeeded' });
  // Stripe forgets keys after 24 hours: the same refund comes back under a key it no longer knows.
  expect(await provider.refund({ ...req, idempotencyKey: `${p.id}:refund:re_direct_1:after-expiry` })).toEqual({ status: 'succeeded' });
  expect(effectsOf(p.provider_reference).filter((e) => e[0] === 'refund')).toEqual([['refund', 300, `${p.id}:refund:re_direct_1`]]);
});
