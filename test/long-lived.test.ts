import { card, eventually, newMerchant, useTestStack } from './support/stack';

// A payment with many refunds must never reach Temporal's history limit: past a (here low)
// number of events it continues as a new run, and nothing is lost across the boundary.
const stack = useTestStack({ PAYMENT_CONTINUE_AS_NEW_EVENTS: '100' });

test('thirty refunds continue the payment as new runs: every refund kept, never over-refunded, charged once each', async () => {
  const m = await newMerchant(stack());
  const p = (await m.api.post('/v1/payments', { amount: 1000, currency: 'EUR', payment_method: card() })).body;
  expect(p.status).toBe('captured');
  const ids: string[] = [];
  for (let i = 0; i < 30; i++) {
    const r = await m.api.post('/v1/refunds', { payment_id: p.id, amount: 10 }, { 'Idempotency-Key': `many-${i}` });
    expect([r.status, r.body.status]).toEqual([201, 'succeeded']);
    ids.push(r.body.id);
  }
  // Several runs of the one payment, one of them running (the visibility store lags a little behind).
  const listRuns = async () => {
    const runs = [];
    for await (const run of stack().context.temporal.workflow.list({ query: `WorkflowId = 'payment:${p.id}'` })) runs.push(run);
    return runs;
  };
  const runs = await eventually(listRuns, (r) => r.length > 1 && r.filter((x) => x.status.name === 'RUNNING').length === 1);
  expect(runs.filter((r) => r.status.name === 'CONTINUED_AS_NEW').length).toBe(runs.length - 1);

  // What the earlier runs did is still known to the current one.
  expect((await m.api.post('/v1/refunds', { payment_id: p.id, amount: 10 }, { 'Idempotency-Key': 'many-0' })).body.id).toBe(ids[0]);
  const tooMuch = await m.api.post('/v1/refunds', { payment_id: p.id, amount: 701 });
  expect(tooMuch.status).toBe(409);
  const rest = await m.api.post('/v1/refunds', { payment_id: p.id });
  expect(rest.body).toMatchObject({ status: 'succeeded', amount: 700 });
  const done = await eventually(() => m.api.get(`/v1/payments/${p.id}`), (r) => r.body.status === 'refunded');
  expect(done.body.amount_refunded).toBe(1000);
  const charges = (await m.api.get(`/sandbox/charges?payment_id=${p.id}`)).body.data.filter((c: { operation: string }) => c.operation === 'refund');
  expect(charges).toHaveLength(31);
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'EUR', amount: 0 }]);
  const current = await stack().context.temporal.workflow.getHandle(`payment:${p.id}`).query('payment');
  expect(current).toMatchObject({ amount_refunded: 1000, status: 'refunded' });
});
