import { card, eventually, newMerchant, useTestStack } from './support/stack';

// Short TTLs so expiry happens within the test; the workflow's durable timers do the rest.
const stack = useTestStack({ AUTHORIZATION_TTL_MS: '1500', ACTION_TTL_MS: '1500', SYNC_WAIT_MS: '1000' });

test('an authorization not captured in time is voided automatically', async () => {
  const m = await newMerchant(stack());
  const res = await m.api.post('/v1/payments', { amount: 3000, currency: 'USD', payment_method: card(), capture_method: 'manual' });
  expect(res.body.status).toBe('authorized');
  const voided = await eventually(async () => (await m.api.get(`/v1/payments/${res.body.id}`)).body, (p) => p.status !== 'authorized');
  expect(voided).toMatchObject({ status: 'canceled', amount_capturable: 0, failure: { code: 'authorization_expired' } });
  const ops = (await m.api.get(`/sandbox/charges?payment_id=${res.body.id}`)).body.data.map((c: { operation: string }) => c.operation);
  expect(ops).toEqual(['authorize', 'void']);
  expect((await m.api.post(`/v1/payments/${res.body.id}/capture`, {})).status).toBe(409);
});

test('a customer action not completed by expires_at closes the payment as canceled/expired', async () => {
  const m = await newMerchant(stack());
  const res = await m.api.post('/v1/payments', { amount: 3000, currency: 'USD', payment_method: card('tok_requires_action') });
  expect(res.body.status).toBe('requires_action');
  const closed = await eventually(async () => (await m.api.get(`/v1/payments/${res.body.id}`)).body, (p) => p.status !== 'requires_action');
  expect(closed).toMatchObject({ status: 'canceled', failure: { code: 'expired' }, next_action: null });
  expect((await m.api.post(`/sandbox/payments/${res.body.id}/complete`)).status).toBe(409);
  expect((await m.api.get(`/sandbox/charges?payment_id=${res.body.id}`)).body.data).toEqual([]);
});

test('a create slower than SYNC_WAIT_MS answers 202 with the payment as it stands, and goes on by itself', async () => {
  const m = await newMerchant(stack());
  const res = await m.api.post('/v1/payments', { amount: 1100, currency: 'USD', payment_method: card('tok_slow') }, { 'Idempotency-Key': 'slow-1' });
  expect(res.status).toBe(202);
  expect(res.body.status).toBe('pending');
  const done = await eventually(async () => (await m.api.get(`/v1/payments/${res.body.id}`)).body, (p) => p.status === 'captured');
  expect(done.amount_captured).toBe(1100);
  const replay = await m.api.post('/v1/payments', { amount: 1100, currency: 'USD', payment_method: card('tok_slow') }, { 'Idempotency-Key': 'slow-1' });
  expect(replay.body).toMatchObject({ id: res.body.id, status: 'captured' });
});
