import type { FakeStripe } from './support/fake-stripe';
import { startFakeStripe } from './support/fake-stripe';
import type { TestStack } from './support/stack';
import { card, eventually, newMerchant, startTestStack } from './support/stack';
import { expectAllLedgersConsistent } from './support/ledger';

// A short refund window: the payment's workflow ends, and a refund, or a refund's reversal, after it still goes through.
const WEBHOOK_SECRET = 'whsec_refund_window_0123456789';
let stripe: FakeStripe;
let stack: TestStack;
beforeAll(async () => {
  stripe = await startFakeStripe(WEBHOOK_SECRET);
  stack = await startTestStack({ REFUND_WINDOW_MS: '2000', STRIPE_SECRET_KEY: 'sk_test_window', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE: stripe.url });
  stripe.setWebhooks(`${stack.url}/webhooks/stripe`);
});
afterAll(async () => {
  if (stack) await expectAllLedgersConsistent(stack.pool);
  await stack?.stop();
  await stripe?.close();
});

const ended = (paymentId: string) => eventually(() => stack.context.temporal.workflow.getHandle(`payment:${paymentId}`).describe(), (d) => d.status.name === 'COMPLETED');

test('a refund after the refund window reopens the payment: same key scheme, never over-refunded', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', { amount: 1000, currency: 'USD', payment_method: card('tok_ok'), provider: 'sandbox' })).body;
  expect(p.provider).toBe('sandbox');
  expect((await m.api.post('/v1/refunds', { payment_id: p.id, amount: 100 })).body.status).toBe('succeeded');
  await ended(p.id);

  const late = await m.api.post('/v1/refunds', { payment_id: p.id, amount: 300 }, { 'Idempotency-Key': 'late-1' });
  expect(late.status).toBe(201);
  expect(late.body).toMatchObject({ status: 'succeeded', amount: 300 });
  expect((await m.api.post('/v1/refunds', { payment_id: p.id, amount: 300 }, { 'Idempotency-Key': 'late-1' })).body.id).toBe(late.body.id);
  const reopened = await stack.context.temporal.workflow.getHandle(`payment:${p.id}`).describe();
  expect(reopened.status.name).toBe('RUNNING');
  expect(reopened.searchAttributes).toMatchObject({ MerchantId: [m.id], Livemode: [false], PaymentStatus: ['partially_refunded'] });

  // What the earlier run refunded still counts.
  const tooMuch = await m.api.post('/v1/refunds', { payment_id: p.id, amount: 601 });
  expect(tooMuch.status).toBe(409);
  expect((await m.api.post('/v1/refunds', { payment_id: p.id })).body).toMatchObject({ status: 'succeeded', amount: 600 });
  expect((await m.api.get(`/v1/payments/${p.id}`)).body).toMatchObject({ status: 'refunded', amount_refunded: 1000 });
  const refunds = (await m.api.get(`/sandbox/charges?payment_id=${p.id}`)).body.data.filter((c: { operation: string }) => c.operation === 'refund');
  expect(refunds.map((c: { amount: number }) => c.amount)).toEqual([100, 300, 600]);
  expect(refunds.every((c: { idempotency_key: string }) => c.idempotency_key.startsWith(`${p.id}:refund:re_`))).toBe(true);
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'USD', amount: 0 }]);
});

test('a refund Stripe fails after the window is still reversed: the payment is reopened to hear it', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', { amount: 2500, currency: 'EUR', payment_method: card('pm_card_visa') })).body;
  expect(p.provider).toBe('stripe');
  const refund = (await m.api.post('/v1/refunds', { payment_id: p.id })).body;
  expect(refund.status).toBe('succeeded');
  await ended(p.id);
  await stripe.failRefund(refund.id);
  await eventually(() => m.api.get(`/v1/refunds/${refund.id}`), (r) => r.body.status === 'failed');
  expect((await m.api.get(`/v1/payments/${p.id}`)).body).toMatchObject({ status: 'captured', amount_refunded: 0 });
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'EUR', amount: 2500 }]);
});
