import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { convertMinor, settlementShare } from '../fx/convert';
import { AlipayGateway, generateKeyPair } from '../simulators/alipay/gateway';
import type { FakeStripe } from './support/fake-stripe';
import { startFakeStripe } from './support/fake-stripe';
import { expectAllLedgersConsistent, expectLedgerConsistent } from './support/ledger';
import type { TestStack } from './support/stack';
import { ADMIN_KEY, client, eventually, newMerchant, startTestStack } from './support/stack';

// Cross-border payments on the real stack: ECB rates fetched by a Temporal Schedule from a local
// copy of the feed, quotes locked at authorization, settlement and refunds at the locked rate,
// through the sandbox, Stripe's fake and the Alipay simulator.
// The recorded feed, dated today: the service refuses a feed dated more than a week back, so a
// fixed date would turn this suite red a week after it was recorded.
const AS_OF = new Date().toISOString().slice(0, 10);
const FEED = readFileSync(path.join(__dirname, 'fixtures', 'eurofxref-daily.xml'), 'utf8').replace(/time='\d{4}-\d{2}-\d{2}'/, `time='${AS_OF}'`);
const rateOf = (currency: string) => new RegExp(`currency='${currency}' rate='([0-9.]+)'`).exec(FEED)![1]!;
const WEBHOOK_SECRET = 'whsec_fx_0123456789';
const APP_ID = '2021000000000042';
const appKeys = generateKeyPair();
const alipayKeys = generateKeyPair();

let feed: Server;
let feedHits = 0;
let stripe: FakeStripe;
let gateway: AlipayGateway;
let stack: TestStack;

beforeAll(async () => {
  feed = createServer((_req, res) => {
    feedHits++;
    res.writeHead(200, { 'content-type': 'text/xml' }).end(FEED);
  });
  await new Promise<void>((resolve) => feed.listen(0, '127.0.0.1', resolve));
  stripe = await startFakeStripe(WEBHOOK_SECRET);
  gateway = new AlipayGateway({ appId: APP_ID, appPublicKey: appKeys.publicKey, alipayPrivateKey: alipayKeys.privateKey, notifyRetryScheduleMs: [200, 400, 800] });
  await gateway.start();
  stack = await startTestStack({
    FX_SOURCE: 'ecb', FX_ECB_URL: `http://127.0.0.1:${(feed.address() as AddressInfo).port}/eurofxref-daily.xml`,
    STRIPE_SECRET_KEY: 'sk_test_fx', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE: stripe.url,
    ALIPAY_APP_ID: APP_ID, ALIPAY_PRIVATE_KEY: appKeys.privateKey, ALIPAY_PUBLIC_KEY: alipayKeys.publicKey, ALIPAY_GATEWAY: gateway.gatewayUrl,
  });
  stripe.setWebhooks(`${stack.url}/webhooks/stripe`);
});

afterAll(async () => {
  try {
    if (stack) await expectAllLedgersConsistent(stack.pool);
  } finally {
    await stack?.stop();
    await gateway?.stop();
    await stripe?.close();
    feed?.close();
  }
});

async function hkdMerchant(marginBps = 50) {
  const res = await client(stack.url, ADMIN_KEY).post('/v1/merchants', { name: 'HK seller', settlement_currency: 'HKD', fx_margin_bps: marginBps });
  expect(res.body).toMatchObject({ settlement_currency: 'HKD', fx_margin_bps: marginBps });
  return { id: res.body.id as string, api: client(stack.url, res.body.api_key), live: client(stack.url, res.body.live_api_key) };
}

const ledgerOf = async (merchantId: string) =>
  (await stack.pool.query(`SELECT account, currency, sum(amount)::int AS amount FROM ledger_entries WHERE merchant_id = $1 GROUP BY 1, 2 ORDER BY 1, 2`, [merchantId])).rows;

test('the ECB feed, fetched by the refresh schedule, is what /v1/fx/rates shows', async () => {
  const m = await newMerchant(stack);
  const rates = (await eventually(() => m.api.get('/v1/fx/rates'), (r) => r.status === 200)).body;
  expect(rates).toMatchObject({ object: 'fx_rates', base: 'EUR', source: 'ecb', as_of: AS_OF, stale: false });
  expect(rates.rates.HKD).toBe(rateOf('HKD'));
  expect(rates.rates.BGN).toBeUndefined();
  expect(feedHits).toBeGreaterThanOrEqual(1);
  // The schedule is there for operators to see and trigger.
  const schedule = await stack.context.temporal.schedule.getHandle(`fx-rates-refresh:${stack.config.TEMPORAL_TASK_QUEUE}`).describe();
  expect(schedule.action).toMatchObject({ type: 'startWorkflow', workflowType: 'fxRatesRefreshWorkflow' });
});

test('an EUR payment settled in HKD at a quoted rate: partial capture and two refunds move exactly what was settled, the margin is FX revenue', async () => {
  const m = await hkdMerchant(50);
  const quote = (await m.api.post('/v1/fx/quotes', { from: 'EUR', to: 'HKD', amount: 10_000 })).body;
  const mid = Number(rateOf('HKD'));
  expect(quote).toMatchObject({ object: 'fx_quote', from: 'EUR', to: 'HKD', margin_bps: 50, source: 'ecb', as_of: AS_OF, amount: 10_000 });
  expect(Number(quote.mid_rate)).toBeCloseTo(mid, 10);
  expect(Number(quote.rate)).toBeCloseTo(mid * 0.995, 10);
  expect(quote.converted_amount).toBe(convertMinor(10_000, 'EUR', 'HKD', quote.rate));
  expect((await m.api.get(`/v1/fx/quotes/${quote.id}`)).body.id).toBe(quote.id);

  const p = (await m.api.post('/v1/payments', { amount: 10_000, currency: 'EUR', payment_method: { type: 'card', token: 'tok_ok' }, provider: 'sandbox', capture_method: 'manual', fx_quote_id: quote.id })).body;
  expect(p.fx).toMatchObject({ quote_id: quote.id, rate: quote.rate, settlement_currency: 'HKD', settlement_amount: quote.converted_amount });
  const settled = p.fx.settlement_amount as number;
  await m.api.post(`/v1/payments/${p.id}/capture`, { amount: 6_001 });
  // The capture settles its share of the locked amount, rounded half-even once.
  const capturedHkd = settlementShare({ amountMinor: 6_001, totalMinor: 10_000, settledTotal: settled, alreadyMoved: 0, alreadyMovedSettled: 0 });
  expect(Math.abs(capturedHkd - (6_001 * settled) / 10_000)).toBeLessThanOrEqual(0.5);
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'HKD', amount: capturedHkd }]);
  await m.api.post('/v1/refunds', { payment_id: p.id, amount: 2_000 });
  const firstRefund = settlementShare({ amountMinor: 2_000, totalMinor: 6_001, settledTotal: capturedHkd, alreadyMoved: 0, alreadyMovedSettled: 0 });
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'HKD', amount: capturedHkd - firstRefund }]);
  await m.api.post('/v1/refunds', { payment_id: p.id });
  // Everything captured was refunded: nothing left in HKD, in EUR, or as FX revenue.
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'HKD', amount: 0 }]);
  const ledger = await ledgerOf(m.id);
  for (const row of ledger) expect([row.account, row.currency, row.amount]).toEqual([row.account, row.currency, 0]);
  await expectLedgerConsistent(stack.pool, m.id);
});

test('a payment naming no quote locks a fresh one at authorization, in the merchant default settlement currency; the margin is recognised', async () => {
  const m = await hkdMerchant(100);
  const p = (await m.api.post('/v1/payments', { amount: 12_345, currency: 'EUR', payment_method: { type: 'card', token: 'tok_ok' }, provider: 'sandbox' })).body;
  expect(p).toMatchObject({ status: 'captured', fx: { settlement_currency: 'HKD', quote_id: expect.stringMatching(/^fxq_/) } });
  const quote = (await m.api.get(`/v1/fx/quotes/${p.fx.quote_id}`)).body;
  expect(quote).toMatchObject({ payment_id: p.id, margin_bps: 100 });
  expect(p.fx.settlement_amount).toBe(convertMinor(12_345, 'EUR', 'HKD', quote.rate));
  const margin = convertMinor(12_345, 'EUR', 'HKD', quote.mid_rate) - p.fx.settlement_amount;
  expect(margin).toBeGreaterThan(0);
  expect(p.fx.fx_margin_amount).toBe(margin);
  const ledger = await ledgerOf(m.id);
  expect(ledger).toEqual(expect.arrayContaining([
    { account: 'fx_revenue', currency: 'HKD', amount: -margin },
    { account: 'merchant_payable', currency: 'HKD', amount: -p.fx.settlement_amount },
    { account: 'provider_clearing', currency: 'EUR', amount: 12_345 },
  ]));
  // A payment already in the settlement currency needs no FX.
  const local = (await m.api.post('/v1/payments', { amount: 500, currency: 'HKD', payment_method: { type: 'card', token: 'tok_ok' }, provider: 'sandbox' })).body;
  expect(local.fx).toBeNull();
});

test('a retry of a payment create after its quote expired answers the same payment, never a refusal that invites a second charge', async () => {
  const m = await hkdMerchant();
  const quote = (await m.api.post('/v1/fx/quotes', { from: 'EUR', to: 'HKD', amount: 5_000 })).body;
  const body = { amount: 5_000, currency: 'EUR', payment_method: { type: 'card', token: 'tok_ok' }, provider: 'sandbox', fx_quote_id: quote.id };
  const first = await m.api.post('/v1/payments', body, { 'Idempotency-Key': 'fx-retry-1' });
  expect(first.body).toMatchObject({ status: 'captured', fx: { quote_id: quote.id } });
  await stack.pool.query(`UPDATE fx_quotes SET expires_at = now() - interval '1 hour' WHERE id = $1`, [quote.id]);
  const retry = await m.api.post('/v1/payments', body, { 'Idempotency-Key': 'fx-retry-1' });
  expect(retry.body).toMatchObject({ id: first.body.id, status: 'captured', fx: { quote_id: quote.id, settlement_amount: first.body.fx.settlement_amount } });
  // A lost answer retried (the key's answer never stored): the run finds its own quote, however late.
  await stack.pool.query(`UPDATE idempotency_keys SET response_status = NULL, locked_until = NULL WHERE key = 'fx-retry-1'`);
  expect((await m.api.post('/v1/payments', body, { 'Idempotency-Key': 'fx-retry-1' })).body).toMatchObject({ id: first.body.id, fx: { quote_id: quote.id } });
  expect((await m.api.get('/v1/payments')).body.data).toHaveLength(1);
});

test('expired, foreign, other-mode, mismatched and already used quotes are refused before anything is written', async () => {
  const m = await hkdMerchant();
  const other = await hkdMerchant();
  const pay = (quoteId: string, extra: object = {}) => m.api.post('/v1/payments', { amount: 10_000, currency: 'EUR', payment_method: { type: 'card', token: 'tok_ok' }, provider: 'sandbox', fx_quote_id: quoteId, ...extra });
  const expired = (await m.api.post('/v1/fx/quotes', { from: 'EUR', to: 'HKD' })).body;
  await stack.pool.query(`UPDATE fx_quotes SET expires_at = now() - interval '1 second' WHERE id = $1`, [expired.id]);
  let res = await pay(expired.id);
  expect([res.status, res.body.error.code, res.body.error.param]).toEqual([400, 'fx_quote_expired', 'fx_quote_id']);
  const foreign = (await other.api.post('/v1/fx/quotes', { from: 'EUR', to: 'HKD' })).body;
  res = await pay(foreign.id);
  expect([res.status, res.body.error.param]).toEqual([404, 'fx_quote_id']);
  const usd = (await m.api.post('/v1/fx/quotes', { from: 'USD', to: 'HKD' })).body;
  res = await pay(usd.id);
  expect([res.status, res.body.error.code]).toEqual([400, 'fx_quote_mismatch']);
  const sized = (await m.api.post('/v1/fx/quotes', { from: 'EUR', to: 'HKD', amount: 999 })).body;
  expect((await pay(sized.id)).body.error.code).toBe('fx_quote_mismatch');
  const good = (await m.api.post('/v1/fx/quotes', { from: 'EUR', to: 'HKD' })).body;
  expect((await m.live.get(`/v1/fx/quotes/${good.id}`)).status).toBe(404);
  expect((await pay(good.id)).body.status).toBe('captured');
  res = await pay(good.id);
  expect([res.status, res.body.error.code]).toEqual([400, 'fx_quote_used']);
  expect((await m.api.post('/v1/fx/quotes', { from: 'EUR', to: 'KWD' })).body.error).toMatchObject({ code: 'fx_unavailable', param: 'to' });
  expect((await m.api.post('/v1/payments', { amount: 100, currency: 'EUR', payment_method: { type: 'card', token: 'tok_ok' }, provider: 'sandbox', settlement_currency: 'KWD' })).body.error)
    .toMatchObject({ code: 'fx_unavailable', param: 'settlement_currency' });
  // Only the one good payment was written.
  expect((await m.api.get('/v1/payments')).body.data).toHaveLength(1);
});

test('through Stripe and through Alipay (trans_currency): the provider charges the customer currency, the merchant is settled in HKD', async () => {
  const m = await hkdMerchant(25);
  const card = (await m.api.post('/v1/payments', { amount: 4_200, currency: 'EUR', payment_method: { type: 'card', token: 'pm_card_visa' }, settlement_currency: 'HKD' })).body;
  expect(card).toMatchObject({ provider: 'stripe', status: 'captured', fx: { settlement_currency: 'HKD' } });
  const sent = stripe.requests.find((r) => r.path === '/v1/payment_intents' && r.form['metadata[payment_id]'] === card.id)!;
  expect(sent.form).toMatchObject({ amount: '4200', currency: 'eur' });

  const wallet = (await m.api.post('/v1/payments', { amount: 8_800, currency: 'EUR', payment_method: { type: 'alipay' }, channel: 'qr' })).body;
  expect(wallet).toMatchObject({ provider: 'alipay', status: 'requires_action', fx: { settlement_currency: 'HKD' } });
  gateway.pay(wallet.id);
  await eventually(() => m.api.get(`/v1/payments/${wallet.id}`), (r) => r.body.status === 'captured');
  const balance = (await m.api.get('/v1/balance')).body.balances;
  expect(balance).toEqual([{ currency: 'HKD', amount: card.fx.settlement_amount + wallet.fx.settlement_amount }]);
  await expectLedgerConsistent(stack.pool, m.id);
});
