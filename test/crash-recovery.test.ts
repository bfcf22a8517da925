import type { ChildProcess } from 'node:child_process';
import { expectAllLedgersConsistent, expectLedgerConsistent } from './support/ledger';
import type { TestStack } from './support/stack';
import { card, eventually, newMerchant, startTestStack } from './support/stack';
import { kill9, startWorkerProcess } from './support/worker-process';

// The API runs here; the worker is its own process, killed with SIGKILL mid-payment.
let stack: TestStack;
const workers: ChildProcess[] = [];
beforeAll(async () => {
  stack = await startTestStack({ SYNC_WAIT_MS: '300' }, { worker: false });
});
afterAll(async () => {
  if (stack) await expectAllLedgersConsistent(stack.pool);
  for (const w of workers) await kill9(w);
  await stack?.stop();
});

test('a worker killed mid-payment and restarted: the payment completes, charged exactly once', async () => {
  workers.push(await startWorkerProcess(stack));
  const m = await newMerchant(stack);
  // tok_slow: every provider call takes 2 s, so the kill lands inside the payment.
  const res = await m.api.post('/v1/payments', { amount: 4321, currency: 'USD', payment_method: card('tok_slow') }, { 'Idempotency-Key': 'crash-1' });
  expect(res.status).toBe(202);
  const charges = async () => (await m.api.get(`/sandbox/charges?payment_id=${res.body.id}`)).body.data as { operation: string }[];
  await eventually(charges, (c) => c.length >= 1); // the processor has authorized...
  await kill9(workers[0]!); // ...and the worker dies before the process could go on

  const mid = (await m.api.get(`/v1/payments/${res.body.id}`)).body;
  expect(['pending', 'authorized']).toContain(mid.status);

  workers.push(await startWorkerProcess(stack));
  const done = await eventually(async () => (await m.api.get(`/v1/payments/${res.body.id}`)).body, (p) => p.status === 'captured', 90_000);
  expect(done.amount_captured).toBe(4321);
  expect((await charges()).map((c) => c.operation)).toEqual(['authorize', 'capture']);
  // The client's retry with the same key sees the same, captured payment.
  const retry = await m.api.post('/v1/payments', { amount: 4321, currency: 'USD', payment_method: card('tok_slow') }, { 'Idempotency-Key': 'crash-1' });
  expect(retry.body).toMatchObject({ id: res.body.id, status: 'captured' });
  await expectLedgerConsistent(stack.pool, m.id);
}, 120_000);
