import type { ChildProcess } from 'node:child_process';
import { expectAllLedgersConsistent } from './support/ledger';
import type { TestStack } from './support/stack';
import { eventually, newMerchant, startTestStack } from './support/stack';
import { kill9, startWorkerProcess } from './support/worker-process';

// The API runs here; the worker is its own process: down while credits arrive, then killed
// while it applies them. Every credit must still count exactly once.
let stack: TestStack;
const workers: ChildProcess[] = [];
beforeAll(async () => {
  stack = await startTestStack({ SYNC_WAIT_MS: '300' }, { worker: false });
});
afterAll(async () => {
  try {
    if (stack) await expectAllLedgersConsistent(stack.pool);
  } finally {
    for (const w of workers) await kill9(w);
    await stack?.stop();
  }
});

test('credits that arrive with no worker, twice, and a worker killed while applying them: each counted once', async () => {
  workers.push(await startWorkerProcess(stack));
  const m = await newMerchant(stack);
  const created = await m.api.post('/v1/payments', { amount: 9000, currency: 'EUR', payment_method: { type: 'bank_transfer', token: 'tok_requires_action' } });
  const payment = await eventually(() => m.api.get(`/v1/payments/${created.body.id}`).then((r) => r.body), (p) => p.status === 'requires_action', 90_000);
  const reference: string = payment.next_action.reference;
  await kill9(workers[0]!);

  // The bank delivers while nothing runs: stored, answered as pending, matched later.
  const send = (creditId: string) => m.api.post('/v1/test_helpers/bank_transfers/incoming', { credit_id: creditId, amount: 3000, currency: 'EUR', reference });
  const first = await send('rec-1');
  expect(first.status).toBe(201);
  expect(first.body.status).toBe('pending');
  expect((await send('rec-1')).status).toBe(200);
  expect((await send('rec-2')).body.status).toBe('pending');

  // A worker comes back, is killed as soon as one credit is in, and another takes over.
  workers.push(await startWorkerProcess(stack));
  await eventually(() => m.api.get(`/v1/payments/${payment.id}`).then((r) => r.body), (p) => p.amount_received > 0, 90_000);
  await kill9(workers[1]!);
  workers.push(await startWorkerProcess(stack));
  const funded = await eventually(() => m.api.get(`/v1/payments/${payment.id}`).then((r) => r.body), (p) => p.amount_received === 6000, 90_000);
  expect(funded.status).toBe('requires_action');
  const credits = await eventually(() => m.api.get('/v1/bank_credits').then((r) => r.body.data), (d) => d.every((c: { status: string }) => c.status === 'applied'), 90_000);
  expect(credits.map((c: { credit_id: string; amount_applied: number }) => [c.credit_id, c.amount_applied]).sort()).toEqual([['rec-1', 3000], ['rec-2', 3000]]);

  await send('rec-3');
  const done = await eventually(() => m.api.get(`/v1/payments/${payment.id}`).then((r) => r.body), (p) => p.status === 'captured', 90_000);
  expect(done).toMatchObject({ amount_captured: 9000, amount_received: 9000 });
  const charges = (await m.api.get(`/sandbox/charges?payment_id=${payment.id}`)).body.data.map((c: { operation: string; amount: number }) => `${c.operation}:${c.amount}`);
  expect(charges).toEqual(['authorize:9000', 'capture:9000']);
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'EUR', amount: 9000 }]);
}, 240_000);
