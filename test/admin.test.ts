import { ADMIN_KEY, card, client, eventually, newMerchant, useTestStack } from './support/stack';
import { startReceiver } from './support/receiver';

const stack = useTestStack();
const admin = () => client(stack().url, ADMIN_KEY);

test('retry a stuck step now: a wallet payment whose notification was lost is found at once, and the merchant sees the audit event', async () => {
  const m = await newMerchant(stack());
  const p = (await m.api.post('/v1/payments', { amount: 8800, currency: 'CNY', payment_method: { type: 'alipay', token: 'tok_requires_action' }, channel: 'qr' })).body;
  expect(p.status).toBe('requires_action');
  await new Promise((resolve) => setTimeout(resolve, 1500)); // the workflow is now between polls of the provider
  // The customer paid, but the provider's notification never arrived.
  await stack().pool.query(`UPDATE sandbox_payments SET status = 'authorized' WHERE payment_id = $1`, [p.id]);

  const res = await admin().post(`/v1/admin/payments/${p.id}/retry`, { reason: 'Customer shows a paid receipt' }, { 'Idempotency-Key': `retry-${p.id}` });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ object: 'operator_action', action: 'retry_step', target_id: p.id, merchant_id: m.id, reason: 'Customer shows a paid receipt' });
  expect(res.body.id).toMatch(/^opa_/);
  const captured = await eventually(async () => (await m.api.get(`/v1/payments/${p.id}`)).body, (x) => x.status === 'captured');
  expect(captured.amount_captured).toBe(8800);

  // The poll timer was cut short by the operator, not waited out.
  const history = await stack().context.temporal.workflow.getHandle(`payment:${p.id}`).fetchHistory();
  expect(history.events!.some((e) => e.timerCanceledEventAttributes)).toBe(true);

  const replay = await admin().post(`/v1/admin/payments/${p.id}/retry`, { reason: 'Customer shows a paid receipt' }, { 'Idempotency-Key': `retry-${p.id}` });
  expect(replay.body.id).toBe(res.body.id);
  const audit = (await m.api.get(`/v1/events?type=operator.action&object_id=${p.id}`)).body.data;
  expect(audit).toHaveLength(1);
  expect(audit[0].data.object).toMatchObject({ id: res.body.id, action: 'retry_step', reason: 'Customer shows a paid receipt' });
});

test('force-cancel voids an authorized payment, audited; refused for captured payments, unknown ids, merchant keys and missing reasons', async () => {
  const m = await newMerchant(stack());
  const p = (await m.api.post('/v1/payments', { amount: 700, currency: 'EUR', payment_method: card(), capture_method: 'manual' })).body;
  expect(p.status).toBe('authorized');
  const res = await admin().post(`/v1/admin/payments/${p.id}/cancel`, { reason: 'Fraud team request' });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ action: 'force_cancel', outcome: 'payment canceled', payment: { id: p.id, status: 'canceled' } });
  const ops = (await m.api.get(`/sandbox/charges?payment_id=${p.id}`)).body.data.map((c: { operation: string }) => c.operation);
  expect(ops).toEqual(['authorize', 'void']);
  expect((await m.api.get(`/v1/events?object_id=${p.id}`)).body.data.map((e: { type: string }) => e.type)).toEqual(['operator.action', 'payment.canceled', 'payment.authorized']);

  const captured = (await m.api.post('/v1/payments', { amount: 700, currency: 'EUR', payment_method: card() })).body;
  expect((await admin().post(`/v1/admin/payments/${captured.id}/cancel`, { reason: 'x' })).body.error.type).toBe('invalid_state');
  expect((await admin().post('/v1/admin/payments/pay_nope/cancel', { reason: 'x' })).status).toBe(404);
  expect((await admin().post(`/v1/admin/payments/${captured.id}/cancel`, {})).body.error).toMatchObject({ code: 'parameter_missing', param: 'reason' });
  expect((await m.api.post(`/v1/admin/payments/${captured.id}/cancel`, { reason: 'x' })).status).toBe(401);
  // Refused actions leave no audit trail.
  expect((await m.api.get(`/v1/events?type=operator.action&object_id=${captured.id}`)).body.data).toEqual([]);
});

test('re-send a notification: the event is delivered again to the merchant\'s endpoints', async () => {
  const m = await newMerchant(stack());
  const r = await startReceiver();
  try {
    await m.api.post('/v1/webhook_endpoints', { url: r.url, events: ['payment.captured'] });
    const p = (await m.api.post('/v1/payments', { amount: 990, currency: 'USD', payment_method: card() })).body;
    await eventually(async () => r.received.length, (n) => n === 1);
    const eventId = r.received[0]!.event.id;
    const res = await admin().post(`/v1/admin/events/${eventId}/resend`, { reason: 'Merchant lost it in a deploy' });
    expect(res.body).toMatchObject({ action: 'resend_event', target_id: eventId, outcome: '1 delivery started' });
    await eventually(async () => r.received.length, (n) => n === 2);
    expect(r.received[1]!.event).toMatchObject({ id: eventId, object_id: p.id });
  } finally {
    await r.close();
  }
});
