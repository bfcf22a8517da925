import { card, eventually, newMerchant, useTestStack } from './support/stack';

// A short refund window: the payment's workflow ends, and a refund after it still goes through.
const stack = useTestStack({ REFUND_WINDOW_MS: '2000' });

test('a refund after the refund window reopens the payment: same key scheme, never over-refunded', async () => {
  const m = await newMerchant(stack());
  const p = (await m.api.post('/v1/payments', { amount: 1000, currency: 'USD', payment_method: card() })).body;
  expect((await m.api.post('/v1/refunds', { payment_id: p.id, amount: 100 })).body.status).toBe('succeeded');
  const handle = stack().context.temporal.workflow.getHandle(`payment:${p.id}`);
  await eventually(() => handle.describe(), (d) => d.status.name === 'COMPLETED');

  const late = await m.api.post('/v1/refunds', { payment_id: p.id, amount: 300 }, { 'Idempotency-Key': 'late-1' });
  expect(late.status).toBe(201);
  expect(late.body).toMatchObject({ status: 'succeeded', amount: 300 });
  expect((await m.api.post('/v1/refunds', { payment_id: p.id, amount: 300 }, { 'Idempotency-Key': 'late-1' })).body.id).toBe(late.body.id);
  const reopened = await handle.describe();
  expect(reopened.status.name).toBe('RUNNING');
  expect(reopened.searchAttributes).toMatchObject({ MerchantId: [m.id], Livemode: [false], PaymentStatus: ['partially_refunded'] });

  // What the earlier run refunded still counts.
  const tooMuch = await m.api.post('/v1/refunds', { payment_id: p.id, amount: 601 });
  expect(tooMuch.status).toBe(409);
  expect((await m.api.post('/v1/refunds', { payment_id: p.id })).body).toMatchObject({ status: 'succeeded', amount: 600 });
  expect((await m.api.get(`/v1/payments/${p.id}`)).body).toMatchObject({ status: 'refunded', amount_refunded: 1000 });
  const refunds = (await m.api.get(`/sandbox/charges?payment_id=${p.id}`)).body.data.filter((c: { operation: string }) => c.operation === 'refund');
  expect(refunds.map((c: { amount: number; idempotency_key: string }) => c.amount)).toEqual([100, 300, 600]);
  expect(refunds.every((c: { idempotency_key: string }) => c.idempotency_key.startsWith(`${p.id}:refund:re_`))).toBe(true);
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'USD', amount: 0 }]);
});
