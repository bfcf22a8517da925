import type { TestStack } from './support/stack';
import { card, newMerchant, startTestStack } from './support/stack';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.stop();
});

test('a card payment with automatic capture is captured synchronously and charged once', async () => {
  const m = await newMerchant(stack);
  const res = await m.api.post('/v1/payments', { amount: 1999, currency: 'usd', payment_method: card() });
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({ object: 'payment', status: 'captured', amount: 1999, currency: 'USD', amount_captured: 1999, amount_capturable: 0 });
  const charges = await m.api.get(`/sandbox/charges?payment_id=${res.body.id}`);
  expect(charges.body.data.map((c: { operation: string }) => c.operation)).toEqual(['authorize', 'capture']);
  const balance = await m.api.get('/v1/balance');
  expect(balance.body).toEqual({ object: 'balance', balances: [{ currency: 'USD', amount: 1999 }] });
});
