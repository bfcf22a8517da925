import type { ChildProcess } from 'node:child_process';
import { expectAllLedgersConsistent, expectLedgerConsistent } from './support/ledger';
import type { TestStack } from './support/stack';
import { card, eventually, newMerchant, startTestStack } from './support/stack';
import { kill9, startWorkerProcess } from './support/worker-process';
import type { Receiver } from './support/receiver';
import { startReceiver } from './support/receiver';

// The API runs here; the worker is its own process, killed with SIGKILL mid-payment.
let stack: TestStack;
const workers: ChildProcess[] = [];
let receiver: Receiver | undefined;
beforeAll(async () => {
  stack = await startTestStack({ SYNC_WAIT_MS: '300', WEBHOOK_TIMEOUT_MS: '1000', WEBHOOK_FIRST_RETRY_MS: '200', WEBHOOK_MAX_RETRY_MS: '1000' }, { worker: false });
});
afterAll(async () => {
  if (stack) await expectAllLedgersConsistent(stack.pool);
  for (const w of workers) await kill9(w);
  await receiver?.close();
  await stack?.stop();
});

test('a worker killed mid-payment and restarted: the payment completes, charged exactly once', async () => {
  workers.push(await startWorkerProcess(stack));
  const m = await newMerchant(stack);
  // tok_slow: every provider call takes 2 s, so the kill lands inside the payment.
  const res = await m.api.post('/v1/payments', { amount: 4321, currency: 'USD', payment_method: card('tok_slow') }, { 'Idempotency-Key': 'crash-1' });
  expect(res.status).toBe(202);
  const charges = async () => (await m.api.get(`/sandbox/charges?payment_id=${res.body.id}`)).body.data as { operation: string }[];
  // The payment's row is held while the call is at the processor, so the worker's write of what
  // the processor did waits: the kill lands after the money moved and before anyone recorded it.
  await eventually(async () => (await stack.pool.query('SELECT 1 FROM payments WHERE id = $1', [res.body.id])).rowCount, (n) => n === 1);
  const holder = await stack.pool.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM payments WHERE id = $1 FOR UPDATE', [res.body.id]);
    await eventually(charges, (c) => c.length === 2); // the processor has authorized and captured...
    await kill9(workers[0]!); // ...and the worker dies before the process could go on
    // PostgreSQL does not notice a dead client while its statement waits for a lock: released, the
    // worker's write would still commit (the same write the retry makes, so that is safe too). Its
    // connection dies with it here, as on a lost host, so that nothing is recorded.
    // (What it sent before it died may take a moment to reach the lock; if it never sent it, none comes.)
    const terminated = async () => (await holder.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))')).rowCount;
    await eventually(terminated, (n) => n! > 0, 2000).catch(() => undefined);
    await holder.query('ROLLBACK');
  } finally {
    holder.release();
  }

  const mid = (await m.api.get(`/v1/payments/${res.body.id}`)).body;
  expect(mid.status).toBe('pending');

  workers.push(await startWorkerProcess(stack));
  const done = await eventually(async () => (await m.api.get(`/v1/payments/${res.body.id}`)).body, (p) => p.status === 'captured', 90_000);
  expect(done.amount_captured).toBe(4321);
  expect((await charges()).map((c) => c.operation)).toEqual(['authorize', 'capture']);
  // The client's retry with the same key sees the same, captured payment.
  const retry = await m.api.post('/v1/payments', { amount: 4321, currency: 'USD', payment_method: card('tok_slow') }, { 'Idempotency-Key': 'crash-1' });
  expect(retry.body).toMatchObject({ id: res.body.id, status: 'captured' });
  await expectLedgerConsistent(stack.pool, m.id);
}, 120_000);

test('a worker killed mid-delivery: every event is still delivered, and none is emitted twice', async () => {
  const worker = await startWorkerProcess(stack);
  workers.push(worker);
  const m = await newMerchant(stack);
  // The first delivery hangs: the worker dies while it waits for the receiver.
  let firstArrived!: () => void;
  const arrived = new Promise<void>((resolve) => (firstArrived = resolve));
  receiver = await startReceiver((n) => {
    if (n === 1) firstArrived();
    return { status: 200, delayMs: n === 1 ? 60_000 : 0 };
  });
  await m.api.post('/v1/webhook_endpoints', { url: receiver.url, events: ['payment.captured'] });
  const created = await Promise.all([1, 2, 3, 4, 5].map((i) => m.api.post('/v1/payments', { amount: 1000 + i, currency: 'EUR', payment_method: card() })));
  await arrived;
  await kill9(worker);

  workers.push(await startWorkerProcess(stack));
  const ids = created.map((r) => r.body.id as string);
  await eventually(async () => (await m.api.get('/v1/payments?limit=10')).body.data, (ps: { status: string }[]) => ps.length === 5 && ps.every((p) => p.status === 'captured'), 90_000);
  const events = await eventually(
    async () => (await m.api.get('/v1/events?type=payment.captured&limit=100')).body.data,
    (es: { id: string; object_id: string; deliveries: { status: string }[] }[]) => es.length === 5 && es.every((e) => e.deliveries.length === 1 && e.deliveries[0]!.status === 'succeeded'),
    90_000,
  );
  expect(events.map((e) => e.object_id).sort()).toEqual([...ids].sort());
  const { rows } = await stack.pool.query('SELECT object_id, count(*)::int AS n FROM events WHERE merchant_id = $1 GROUP BY object_id', [m.id]);
  expect(rows.every((r) => r.n === 1)).toBe(true);
  // At least once: the interrupted delivery arrives again, with the same event id.
  const receivedIds = receiver.received.map((d) => d.event.id as string);
  expect(new Set(receivedIds)).toEqual(new Set(events.map((e) => e.id)));
  expect(receivedIds.length).toBeGreaterThanOrEqual(6);
}, 150_000);

test('a worker killed mid-renewal: the period is invoiced and charged exactly once', async () => {
  workers.push(await startWorkerProcess(stack));
  const m = await newMerchant(stack);
  const mar1 = Date.UTC(2025, 2, 1) / 1000;
  const clock = (await m.api.post('/v1/test_clocks', { frozen_time: mar1 })).body;
  const customer = (await m.api.post('/v1/customers', { test_clock: clock.id })).body;
  // tok_slow: every provider call takes 2 s, so the kill lands inside the renewal's payment.
  await m.api.post(`/v1/customers/${customer.id}/payment_methods`, { type: 'card', token: 'tok_slow' });
  const sub = (await eventually(() => m.api.post('/v1/subscriptions', { customer_id: customer.id, price: { amount: 999, currency: 'USD', interval: 'month' } }, { 'Idempotency-Key': 'sub-crash' }), (r) => r.status === 201 || r.status === 202)).body;
  await eventually(() => m.api.get(`/v1/subscriptions/${sub.id}`), (r) => r.body.status === 'active', 60_000);
  const authorizations = async () => ((await m.api.get('/sandbox/charges')).body.data as { operation: string }[]).filter((c) => c.operation === 'authorize').length;
  const advancing = m.api.post(`/v1/test_clocks/${clock.id}/advance`, { frozen_time: Date.UTC(2025, 3, 1) / 1000 + 60 });
  await eventually(authorizations, (n) => n === 2, 60_000); // the renewal's payment is at the processor...
  await kill9(workers.at(-1)!); // ...and the worker dies before the subscription could go on
  workers.push(await startWorkerProcess(stack));
  expect((await advancing).body.status).toBe('ready');
  const invoices = (await m.api.get(`/v1/invoices?subscription_id=${sub.id}`)).body.data;
  expect(invoices.map((i: { status: string; amount_paid: number }) => [i.status, i.amount_paid])).toEqual([['paid', 999], ['paid', 999]]);
  const charges = ((await m.api.get('/sandbox/charges')).body.data as { operation: string }[]).map((c) => c.operation).sort();
  expect(charges).toEqual(['authorize', 'authorize', 'capture', 'capture']);
  expect((await m.api.get(`/v1/payments?customer_id=${customer.id}`)).body.data).toHaveLength(2);
}, 180_000);

test('a capture no worker takes answers 503, not a 202 nothing keeps; retried with its key once a worker is back, it captures once', async () => {
  for (const w of workers) await kill9(w); // the earlier tests' workers would take the capture
  const worker = await startWorkerProcess(stack);
  workers.push(worker);
  const m = await newMerchant(stack);
  const created = await m.api.post('/v1/payments', { amount: 2500, currency: 'USD', payment_method: card(), capture_method: 'manual' });
  await eventually(async () => (await m.api.get(`/v1/payments/${created.body.id}`)).body, (p) => p.status === 'authorized');
  await kill9(worker);

  const capture = () => m.api.post(`/v1/payments/${created.body.id}/capture`, {}, { 'Idempotency-Key': 'capture-without-worker' });
  const refused = await capture();
  expect(refused.status).toBe(503);
  expect(refused.body.error).toMatchObject({ type: 'api_error', code: 'service_unavailable' });
  expect((await m.api.get(`/v1/payments/${created.body.id}`)).body.status).toBe('authorized');

  const back = await startWorkerProcess(stack);
  workers.push(back);
  // SYNC_WAIT_MS is 300 here: the client retries (same key, same update) until the capture is taken.
  // Either wait failing says what the restarted worker logged (a stall here has been seen in CI only).
  const withWorkerLog = (err: Error): never => {
    throw new Error(`${err.message}\nthe restarted worker logged:\n${back.logTail().slice(-6000)}`);
  };
  await eventually(capture, (r) => r.status === 200 || r.status === 202, 90_000).catch(withWorkerLog);
  const done = await eventually(async () => (await m.api.get(`/v1/payments/${created.body.id}`)).body, (p) => p.status === 'captured', 90_000).catch(withWorkerLog);
  expect(done.amount_captured).toBe(2500);
  const charges = (await m.api.get(`/sandbox/charges?payment_id=${created.body.id}`)).body.data as { operation: string }[];
  expect(charges.map((c) => c.operation)).toEqual(['authorize', 'capture']);
  await expectLedgerConsistent(stack.pool, m.id);
}, 150_000);
