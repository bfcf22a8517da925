import type { FakeStripe } from './support/fake-stripe';
import { startFakeStripe } from './support/fake-stripe';
import type { TestStack } from './support/stack';
import { ADMIN_KEY, client, eventually, newMerchant, startTestStack } from './support/stack';
import { expectAllLedgersConsistent } from './support/ledger';

// Refusals that retrying cannot fix end in a recorded, visible state instead of looping unseen.
const WEBHOOK_SECRET = 'whsec_attention_0123456789';
let stripe: FakeStripe;
let stack: TestStack;
beforeAll(async () => {
  stripe = await startFakeStripe(WEBHOOK_SECRET);
  stack = await startTestStack({ STRIPE_SECRET_KEY: 'sk_test_attention', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE: stripe.url, SYNC_WAIT_MS: '3000', SANDBOX_CUSTOMER_ACTIONS: 'key' });
  stripe.setWebhooks(`${stack.url}/webhooks/stripe`);
});
afterAll(async () => {
  if (stack) await expectAllLedgersConsistent(stack.pool);
  await stack?.stop();
  await stripe?.close();
});

const card = (pm = 'pm_card_visa') => ({ type: 'card', token: pm });

test('a Stripe card payment without a token is a 400 on payment_method.token, never a charge to a default card', async () => {
  const m = await newMerchant(stack);
  const before = stripe.requests.length;
  const res = await m.api.post('/v1/payments', { amount: 1000, currency: 'USD', payment_method: { type: 'card' } });
  expect(res.status).toBe(400);
  expect(res.body.error).toMatchObject({ type: 'invalid_request_error', code: 'parameter_missing', param: 'payment_method.token' });
  expect(stripe.requests.length).toBe(before);
  expect((await m.api.get('/v1/payments')).body.data).toEqual([]);
  // With another candidate that can take it (the sandbox, in test mode), the payment goes there instead.
  await m.api.post('/v1/routing', { default: { card: ['stripe', 'sandbox'] } });
  const routed = await m.api.post('/v1/payments', { amount: 1000, currency: 'USD', payment_method: { type: 'card' } });
  expect(routed.body).toMatchObject({ status: 'captured', provider: 'sandbox', routing: { candidates: ['sandbox'] } });
});

test("with SANDBOX_CUSTOMER_ACTIONS=key only the payment's merchant, with its test key, plays the sandbox's customer", async () => {
  const m = await newMerchant(stack);
  const other = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', { amount: 700, currency: 'USD', provider: 'sandbox', payment_method: { type: 'card', token: 'tok_requires_action' } })).body;
  expect(p.status).toBe('requires_action');
  const anonymous = await client(stack.url).post(`/sandbox/payments/${p.id}/complete`, {});
  expect([anonymous.status, anonymous.body.error?.type]).toEqual([401, 'authentication_error']);
  expect((await other.api.post(`/sandbox/payments/${p.id}/complete`, {})).status).toBe(404);
  expect((await m.live.post(`/sandbox/payments/${p.id}/complete`, {})).status).toBe(404);
  expect((await m.api.get(`/v1/payments/${p.id}`)).body.status).toBe('requires_action');
  expect((await m.api.post(`/sandbox/payments/${p.id}/complete`, {})).body).toMatchObject({ id: p.id, status: 'captured' });
});

test('a capture or refund amount the provider cannot take is a 400 before anything is reserved', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', { amount: 2000, currency: 'KWD', payment_method: card(), capture_method: 'manual' })).body;
  expect(p).toMatchObject({ status: 'authorized', provider: 'stripe' });
  const odd = await m.api.post(`/v1/payments/${p.id}/capture`, { amount: 1005 });
  expect(odd.status).toBe(400);
  expect(odd.body.error).toMatchObject({ code: 'invalid_amount', param: 'amount' });
  // Nothing is stuck: the payment can still be captured properly, or canceled.
  expect((await m.api.post(`/v1/payments/${p.id}/capture`, { amount: 1000 })).body).toMatchObject({ status: 'captured', amount_captured: 1000 });
  const refund = await m.api.post('/v1/refunds', { payment_id: p.id, amount: 15 });
  expect([refund.status, refund.body.error.code]).toEqual([400, 'invalid_amount']);
  expect((await m.api.get(`/v1/refunds?payment_id=${p.id}`)).body.data).toEqual([]);
  expect((await m.api.post('/v1/refunds', { payment_id: p.id, amount: 10 })).body.status).toBe('succeeded');
});

test('a refund of a disputed charge fails for good, and its amount is refundable again', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', { amount: 5000, currency: 'USD', payment_method: card('pm_card_createDispute') })).body;
  expect(p.status).toBe('captured');
  const refund = await m.api.post('/v1/refunds', { payment_id: p.id, amount: 5000 });
  expect(refund.status).toBe(201);
  expect(refund.body).toMatchObject({ status: 'failed', failure: { code: 'charge_disputed' }, requires_attention: false });
  const after = (await m.api.get(`/v1/payments/${p.id}`)).body;
  expect(after).toMatchObject({ status: 'captured', amount_refunded: 0, requires_attention: false });
  // Not reserved any more: another refund of the whole amount is accepted (and refused by Stripe again).
  expect((await m.api.post('/v1/refunds', { payment_id: p.id })).body).toMatchObject({ status: 'failed', amount: 5000 });
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'USD', amount: 5000 }]);
});

test('a refund refused for good (revoked key) flags the payment and the refund until an operator retries', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', { amount: 3000, currency: 'EUR', payment_method: card() })).body;
  expect(p.status).toBe('captured');
  stripe.revokeKey();
  let refundId: string;
  try {
    const refund = await m.api.post('/v1/refunds', { payment_id: p.id, amount: 1200 });
    expect(refund.status).toBe(202);
    refundId = refund.body.id;
    const flagged = await eventually(() => m.api.get(`/v1/payments/${p.id}`), (r) => r.body.requires_attention === true);
    expect(flagged.body.attention).toMatchObject({ code: 'provider_refused' });
    expect(flagged.body.attention.message).toMatch(/API Key/);
    expect((await m.api.get(`/v1/refunds/${refundId}`)).body).toMatchObject({ status: 'pending', requires_attention: true });
    const events = (await m.api.get('/v1/events?type=operator.attention_required')).body.data;
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ object_id: p.id, data: { object: { requires_attention: true } } });
    const handle = stack.context.temporal.workflow.getHandle(`payment:${p.id}`);
    expect((await handle.describe()).searchAttributes.RequiresAttention).toEqual([true]);
    // It waits for a person: no resend loop against the refusing provider.
    const calls = stripe.requests.length;
    await new Promise((r) => setTimeout(r, 3000));
    expect(stripe.requests.length).toBe(calls);
  } finally {
    stripe.revokeKey(false);
  }
  // The key is fixed; the operator retries the stuck step.
  const retried = await client(stack.url, ADMIN_KEY).post(`/v1/admin/payments/${p.id}/retry`, { reason: 'Stripe key restored' });
  expect(retried.status).toBe(200);
  await eventually(() => m.api.get(`/v1/refunds/${refundId}`), (r) => r.body.status === 'succeeded');
  const settled = (await m.api.get(`/v1/payments/${p.id}`)).body;
  expect(settled).toMatchObject({ status: 'partially_refunded', amount_refunded: 1200, requires_attention: false, attention: null });
  expect((await stack.context.temporal.workflow.getHandle(`payment:${p.id}`).describe()).searchAttributes.RequiresAttention).toEqual([false]);
  expect(stripe.effects.filter((e) => e.operation === 'refund' && e.idempotencyKey.startsWith(p.id))).toHaveLength(1);
});

describe('authorizations whose answers are lost (Stripe keeps a 500 for the key, its search lags)', () => {
  const intentOf = (paymentId: string) => [...stripe.intents.values()].find((pi) => pi.metadata.payment_id === paymentId);
  const lose = async (m: Awaited<ReturnType<typeof newMerchant>>, searchLagMs: number, amount: number) => {
    stripe.searchLag(searchLagMs);
    stripe.failAfterEffect(1);
    const created = await m.api.post('/v1/payments', { amount, currency: 'USD', payment_method: card() });
    const id: string = created.body.id ?? created.body.error.payment.id;
    // Stripe did charge: its first answer was the stored 500, every retry with the key the same.
    expect(intentOf(id)).toMatchObject({ status: 'succeeded', amount_received: amount });
    return id;
  };
  afterEach(() => {
    stripe.searchLag(0);
    stripe.failAfterEffect(0);
  });

  test('retries are spaced out until the search shows the charge: captured, charged once', async () => {
    const m = await newMerchant(stack);
    const id = await lose(m, 4_000, 2100);
    const done = await eventually(() => m.api.get(`/v1/payments/${id}`), (r) => r.body.status !== 'pending', 40_000);
    expect(done.body).toMatchObject({ status: 'captured', amount_captured: 2100, provider_reference: intentOf(id)!.id });
    const sends = stripe.requests.filter((r) => r.method === 'POST' && r.idempotencyKey === `${id}:authorize`);
    expect(sends.length).toBeGreaterThan(1);
    expect(sends.length).toBeLessThan(5);
    expect(stripe.effects.filter((e) => e.paymentIntent === intentOf(id)!.id).map((e) => e.operation)).toEqual(['authorize']);
    expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'USD', amount: 2100 }]);
  }, 60_000);

  test('past the search lag it ends failed, never with the money kept: the late-payment refund gives it back, once', async () => {
    const m = await newMerchant(stack);
    const id = await lose(m, 25_000, 4400);
    const failed = await eventually(() => m.api.get(`/v1/payments/${id}`), (r) => r.body.status === 'failed', 40_000);
    expect(failed.body.failure.code).toBe('provider_unavailable');
    expect(stripe.requests.filter((r) => r.method === 'POST' && r.idempotencyKey === `${id}:authorize`)).toHaveLength(5);
    await eventually(async () => stripe.effects.filter((e) => e.paymentIntent === intentOf(id)!.id && e.operation === 'refund').length, (n) => n === 1, 60_000);
    expect(stripe.effects.filter((e) => e.paymentIntent === intentOf(id)!.id).map((e) => [e.operation, e.amount])).toEqual([['authorize', 4400], ['refund', 4400]]);
    expect((await m.api.get(`/v1/payments/${id}`)).body.status).toBe('failed');
    expect((await m.api.get('/v1/balance')).body.balances).toEqual([]);
  }, 120_000);
});

test('a refund that fails after it succeeded is reversed: compensating posting, refund.failed, the amount refundable again', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', { amount: 6000, currency: 'USD', payment_method: card() })).body;
  const whole = (await m.api.post('/v1/refunds', { payment_id: p.id })).body;
  expect(whole.status).toBe('succeeded');
  expect((await m.api.get(`/v1/payments/${p.id}`)).body).toMatchObject({ status: 'refunded', amount_refunded: 6000 });
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'USD', amount: 0 }]);

  await stripe.failRefund(whole.id); // two signed events for it: refund.failed and charge.refund.updated
  const reversed = await eventually(() => m.api.get(`/v1/refunds/${whole.id}`), (r) => r.body.status === 'failed');
  expect(reversed.body.failure).toMatchObject({ code: 'expired_or_canceled_card' });
  const payment = (await m.api.get(`/v1/payments/${p.id}`)).body;
  expect(payment).toMatchObject({ status: 'captured', amount_refunded: 0 });
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'USD', amount: 6000 }]);
  const types = (await m.api.get(`/v1/events?object_id=${whole.id}`)).body.data.map((e: { type: string }) => e.type);
  expect(types.sort()).toEqual(['refund.failed', 'refund.succeeded']);
  const postings = await stack.pool.query('SELECT kind FROM ledger_postings WHERE payment_id = $1 ORDER BY created_at', [p.id]);
  expect(postings.rows.map((r) => r.kind)).toEqual(['capture', 'refund', 'refund_reversal']);
  // The amount can be refunded again, once more only.
  expect((await m.api.post('/v1/refunds', { payment_id: p.id, amount: 2500 })).body.status).toBe('succeeded');
  expect((await m.api.post('/v1/refunds', { payment_id: p.id, amount: 3501 })).status).toBe(409);
});

test('a pending refund stays pending, its amount reserved, until Stripe settles it; its refund.updated webhook moves it on', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', { amount: 8000, currency: 'USD', payment_method: card() })).body;
  stripe.pendingRefunds();
  let refundId: string;
  try {
    const refund = await m.api.post('/v1/refunds', { payment_id: p.id, amount: 5000 });
    expect([refund.status, refund.body.status]).toEqual([202, 'pending']);
    refundId = refund.body.id;
    // Reserved while pending: only the rest can be refunded.
    expect((await m.api.post('/v1/refunds', { payment_id: p.id, amount: 3001 })).status).toBe(409);
  } finally {
    stripe.pendingRefunds(false);
  }
  const accepted = async () => Number(/payments_provider_callbacks_total\{provider="stripe",outcome="accepted"\} (\d+)/.exec(await (await fetch(`${stack.url}/metrics`)).text())?.[1] ?? 0);
  const before = await accepted();
  await stripe.settleRefund(refundId);
  await eventually(() => m.api.get(`/v1/refunds/${refundId}`), (r) => r.body.status === 'succeeded');
  expect(await accepted()).toBe(before + 1); // the refund.updated webhook reached the payment's workflow
  expect((await m.api.get(`/v1/payments/${p.id}`)).body).toMatchObject({ status: 'partially_refunded', amount_refunded: 5000 });
  expect(stripe.effects.filter((e) => e.operation === 'refund' && e.idempotencyKey === `${p.id}:refund:${refundId}`)).toHaveLength(1);
});
