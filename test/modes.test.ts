import { signPayload } from '../domain/signature';
import type { FakeStripe } from './support/fake-stripe';
import { startFakeStripe } from './support/fake-stripe';
import type { TestStack } from './support/stack';
import { ADMIN_KEY, TEST_SANDBOX_SECRET, card, client, eventually, newMerchant, startTestStack } from './support/stack';
import { expectAllLedgersConsistent } from './support/ledger';
import { startReceiver } from './support/receiver';

// Live payments go to a live Stripe account (the stateful fake in live mode, `sk_live_` key);
// test payments to the sandbox. The two modes of one merchant never see each other.
const WEBHOOK_SECRET = 'whsec_live_modes_0123456789';
let stripe: FakeStripe;
let stack: TestStack;
beforeAll(async () => {
  stripe = await startFakeStripe(WEBHOOK_SECRET, { mode: 'live' });
  stack = await startTestStack({ STRIPE_SECRET_KEY: 'sk_live_modes_test', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE: stripe.url });
  stripe.setWebhooks(`${stack.url}/webhooks/stripe`);
});
afterAll(async () => {
  if (stack) await expectAllLedgersConsistent(stack.pool);
  await stack?.stop();
  await stripe?.close();
});

const sandboxCallback = (paymentId: string, type = 'payment.action_succeeded') => {
  const body = JSON.stringify({ id: `evt_forged_${paymentId}_${type}`, type, payment_id: paymentId });
  return fetch(`${stack.url}/webhooks/sandbox`, { method: 'POST', headers: { 'content-type': 'application/json', 'sandbox-signature': signPayload(TEST_SANDBOX_SECRET, body) }, body });
};

test('a merchant gets a test key and a live key, shown once and stored only as hashes', async () => {
  const created = await client(stack.url, ADMIN_KEY).post('/v1/merchants', { name: 'Two modes' });
  expect(created.status).toBe(201);
  expect(created.body.api_key).toMatch(/^sk_test_/);
  expect(created.body.live_api_key).toMatch(/^sk_live_/);
  const { rows } = await stack.pool.query('SELECT * FROM merchants WHERE id = $1', [created.body.id]);
  expect(JSON.stringify(rows[0])).not.toContain(created.body.api_key);
  expect(JSON.stringify(rows[0])).not.toContain(created.body.live_api_key);
  expect(rows[0].live_api_key_hash).toMatch(/^[0-9a-f]{64}$/);
});

test('every object carries its mode, and a key never sees, lists or changes the other mode\'s objects', async () => {
  const m = await newMerchant(stack);
  const receiverTest = await startReceiver();
  const receiverLive = await startReceiver();
  try {
    const weTest = (await m.api.post('/v1/webhook_endpoints', { url: receiverTest.url })).body;
    const weLive = (await m.live.post('/v1/webhook_endpoints', { url: receiverLive.url })).body;
    expect([weTest.livemode, weLive.livemode]).toEqual([false, true]);

    const testPay = await m.api.post('/v1/payments', { amount: 1000, currency: 'USD', payment_method: card() });
    const livePay = await m.live.post('/v1/payments', { amount: 2500, currency: 'USD', payment_method: card('pm_card_visa') });
    expect(testPay.body).toMatchObject({ status: 'captured', livemode: false, provider: 'sandbox' });
    expect(livePay.body).toMatchObject({ status: 'captured', livemode: true, provider: 'stripe', routing: { rule: 'default', strategy: 'default', candidates: ['stripe'] } });
    expect(stripe.intents.get(livePay.body.provider_reference)).toMatchObject({ livemode: true, amount: 2500 });

    // Another mode's ids answer 404, exactly as unknown ids.
    expect((await m.live.get(`/v1/payments/${testPay.body.id}`)).status).toBe(404);
    expect((await m.api.get(`/v1/payments/${livePay.body.id}`)).status).toBe(404);
    expect((await m.api.post(`/v1/payments/${livePay.body.id}/cancel`)).status).toBe(404);
    expect((await m.api.post('/v1/refunds', { payment_id: livePay.body.id })).status).toBe(404);
    expect((await m.live.get(`/v1/webhook_endpoints/${weTest.id}`)).status).toBe(404);
    expect((await m.api.post(`/v1/webhook_endpoints/${weLive.id}`, { description: 'taken over' })).status).toBe(404);

    const refund = await m.live.post('/v1/refunds', { payment_id: livePay.body.id, amount: 500 });
    expect(refund.body).toMatchObject({ status: 'succeeded', livemode: true });
    expect((await m.api.get(`/v1/refunds/${refund.body.id}`)).status).toBe(404);

    const ids = async (c: typeof m.api, path: string) => (await c.get(path)).body.data.map((x: { id: string }) => x.id);
    expect(await ids(m.api, '/v1/payments')).toEqual([testPay.body.id]);
    expect(await ids(m.live, '/v1/payments')).toEqual([livePay.body.id]);
    expect(await ids(m.api, '/v1/refunds')).toEqual([]);
    expect(await ids(m.api, '/v1/webhook_endpoints')).toEqual([weTest.id]);
    expect(await ids(m.live, '/v1/webhook_endpoints')).toEqual([weLive.id]);
    expect((await m.live.get(`/v1/payments?starting_after=${testPay.body.id}`)).status).toBe(404);

    // Balances never add test money to real money.
    expect((await m.api.get('/v1/balance')).body).toEqual({ object: 'balance', livemode: false, balances: [{ currency: 'USD', amount: 1000 }] });
    expect((await m.live.get('/v1/balance')).body).toEqual({ object: 'balance', livemode: true, balances: [{ currency: 'USD', amount: 2000 }] });

    // Events are per mode, and each mode's endpoint receives only its own.
    const testEvents = (await m.api.get('/v1/events')).body.data;
    const liveEvents = (await m.live.get('/v1/events')).body.data;
    expect(testEvents.every((e: { livemode: boolean; data: { object: { livemode: boolean } } }) => !e.livemode && !e.data.object.livemode)).toBe(true);
    expect(liveEvents.map((e: { type: string }) => e.type).sort()).toEqual(['payment.captured', 'refund.succeeded']);
    expect(liveEvents.every((e: { livemode: boolean }) => e.livemode)).toBe(true);
    expect((await m.api.get(`/v1/events/${liveEvents[0].id}`)).status).toBe(404);
    await eventually(async () => receiverLive.received.length, (n) => n >= 2);
    await eventually(async () => receiverTest.received.length, (n) => n >= 1);
    expect(receiverLive.received.every((d) => (d.event as { livemode: boolean }).livemode === true)).toBe(true);
    expect(receiverTest.received.every((d) => (d.event as { livemode: boolean }).livemode === false)).toBe(true);

    // Operators filter runs by mode in the Temporal UI.
    const described = await stack.context.temporal.workflow.getHandle(`payment:${livePay.body.id}`).describe();
    expect(described.searchAttributes.Livemode).toEqual([true]);
  } finally {
    await receiverTest.close();
    await receiverLive.close();
  }
});

test('the same Idempotency-Key in test and in live names two different requests', async () => {
  const m = await newMerchant(stack);
  const key = { 'Idempotency-Key': 'order-42' };
  const a = await m.api.post('/v1/payments', { amount: 700, currency: 'USD', payment_method: card() }, key);
  const b = await m.live.post('/v1/payments', { amount: 700, currency: 'USD', payment_method: card('pm_card_visa') }, key);
  expect([a.status, b.status]).toEqual([201, 201]);
  expect(a.body.id).not.toBe(b.body.id);
  expect((await m.api.post('/v1/payments', { amount: 700, currency: 'USD', payment_method: card() }, key)).body.id).toBe(a.body.id);
});

describe('live mode moves real money only', () => {
  test('a method with no live provider, and the sandbox, are refused with 400 before anything is written', async () => {
    const m = await newMerchant(stack);
    for (const method of ['alipay', 'wechat_pay', 'bank_transfer']) {
      const res = await m.live.post('/v1/payments', { amount: 8800, currency: 'CNY', payment_method: { type: method, token: 'tok_ok' } }, { 'Idempotency-Key': `live-${method}` });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ type: 'invalid_request_error', code: 'provider_unavailable', param: 'payment_method.type' });
    }
    const forced = await m.live.post('/v1/payments', { amount: 1000, currency: 'USD', payment_method: card(), provider: 'sandbox' });
    expect(forced.status).toBe(400);
    expect(forced.body.error).toMatchObject({ code: 'provider_unavailable', param: 'provider' });
    const { rows } = await stack.pool.query('SELECT count(*)::int AS n FROM payments WHERE merchant_id = $1', [m.id]);
    expect(rows[0].n).toBe(0);
    // Nothing was kept under the key either: a corrected request with it goes through.
    const corrected = await m.live.post('/v1/payments', { amount: 8800, currency: 'USD', payment_method: card('pm_card_visa') }, { 'Idempotency-Key': 'live-alipay' });
    expect(corrected.status).toBe(201);
    expect((await m.live.get('/v1/balance')).body.balances).toEqual([{ currency: 'USD', amount: 8800 }]);
  });

  test('test mode is a full sandbox: every method, and the live Stripe account is never used', async () => {
    const m = await newMerchant(stack);
    const before = stripe.requests.length;
    for (const method of ['card', 'alipay', 'wechat_pay', 'bank_transfer']) {
      const res = await m.api.post('/v1/payments', { amount: 1200, currency: 'CNY', payment_method: { type: method, token: 'tok_requires_action' } });
      expect(res.body).toMatchObject({ livemode: false, provider: 'sandbox' });
    }
    expect((await m.api.post('/v1/payments', { amount: 1200, currency: 'USD', payment_method: card(), provider: 'stripe' })).body.error)
      .toMatchObject({ code: 'provider_unavailable', param: 'provider' });
    expect(stripe.requests.length).toBe(before);
  });
});

describe('callbacks move only what they may', () => {
  test('a signed sandbox callback naming a live payment changes nothing; the simulated customer cannot pay it', async () => {
    const m = await newMerchant(stack);
    stripe.setWebhooks(`${stack.url}/webhooks/stripe`, 'none');
    try {
      const live = (await m.live.post('/v1/payments', { amount: 3000, currency: 'EUR', payment_method: card('pm_card_threeDSecure2Required') })).body;
      expect(live).toMatchObject({ status: 'requires_action', livemode: true, provider: 'stripe' });
      const answer = await sandboxCallback(live.id);
      expect(answer.status).toBe(400);
      expect(((await answer.json()) as { error: { code: string } }).error.code).toBe('payment_mismatch');
      expect((await client(stack.url).post(`/sandbox/payments/${live.id}/complete`)).status).toBe(404);
      expect((await m.live.post(`/sandbox/payments/${live.id}/complete`)).status).toBe(404);
      await new Promise((r) => setTimeout(r, 1500));
      expect((await m.live.get(`/v1/payments/${live.id}`)).body.status).toBe('requires_action');
      expect(stripe.intents.get(live.provider_reference)!.status).toBe('requires_action');
      const metrics = await (await fetch(`${stack.url}/metrics`)).text();
      expect(metrics).toMatch(/payments_provider_callbacks_total\{provider="sandbox",outcome="rejected"\} [1-9]/);
    } finally {
      stripe.setWebhooks(`${stack.url}/webhooks/stripe`);
    }
  });

  test('a Stripe event from another mode, or naming a sandbox payment, is refused', async () => {
    const m = await newMerchant(stack);
    const sandboxPay = (await m.api.post('/v1/payments', { amount: 500, currency: 'USD', payment_method: card('tok_requires_action') })).body;
    const pi = { id: 'pi_forged', object: 'payment_intent', status: 'succeeded', amount: 500, amount_received: 500, currency: 'usd', metadata: { payment_id: sandboxPay.id } };
    const post = async (livemode: boolean) => {
      const payload = JSON.stringify({ id: `evt_${livemode}`, object: 'event', type: 'payment_intent.succeeded', livemode, data: { object: pi } });
      const header = (await import('stripe')).default.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET });
      return fetch(`${stack.url}/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': header }, body: payload });
    };
    expect((await post(false)).status).toBe(400); // a test-mode event to a live account's endpoint
    expect((await post(true)).status).toBe(400); // a live event naming a sandbox payment
    await new Promise((r) => setTimeout(r, 1000));
    expect((await m.api.get(`/v1/payments/${sandboxPay.id}`)).body.status).toBe('requires_action');
  });

  test('a "customer paid" callback the provider does not confirm moves nothing', async () => {
    const m = await newMerchant(stack);
    const p = (await m.api.post('/v1/payments', { amount: 4200, currency: 'CNY', payment_method: { type: 'alipay', token: 'tok_requires_action' }, channel: 'qr' })).body;
    expect(p.status).toBe('requires_action');
    // Genuinely signed, but the processor's books say nobody paid.
    expect((await sandboxCallback(p.id)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2500));
    expect((await m.api.get(`/v1/payments/${p.id}`)).body.status).toBe('requires_action');
    expect((await m.api.get('/v1/balance')).body.balances).toEqual([]);
    // When the customer really pays, it moves.
    expect((await client(stack.url).post(`/sandbox/payments/${p.id}/complete`)).body.status).toBe('captured');
  });
});
