import type { ChildProcess } from 'node:child_process';
import { expectAllLedgersConsistent } from './support/ledger';
import type { TestStack } from './support/stack';
import { ADMIN_KEY, client, eventually, newMerchant, startTestStack } from './support/stack';
import { kill9, startWorkerProcess } from './support/worker-process';
import { withTrails } from './support/trail';
import { creditRowId } from '../db/bank';
import { bankCreditWorkflowId } from '../workflows/bank-credit.workflow';
import { reconciliationWorkflowId } from '../workflows/reconciliation.workflow';

// The API runs here; the worker is its own process, down or killed while money waits on it:
// bank credits, a review's deadline, a reconciliation run. Each must still happen exactly once.
let stack: TestStack;
const workers: ChildProcess[] = [];
beforeAll(async () => {
  stack = await startTestStack({ SYNC_WAIT_MS: '300', RISK_REVIEW_TTL_MS: '4000', RISK_REVIEW_DEFAULT: 'approve' }, { worker: false });
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
  const involved = () => [`payment:${payment.id}`, ...['rec-1', 'rec-2', 'rec-3'].map((c) => bankCreditWorkflowId(creditRowId(false, m.id, c)))];
  await withTrails(stack.context.temporal, involved, async () => {
    // The bank delivers while nothing runs: stored, answered as pending, matched later.
    const send = (creditId: string) => m.api.post('/v1/test_helpers/bank_transfers/incoming', { credit_id: creditId, amount: 3000, currency: 'EUR', reference });
    const first = await send('rec-1');
    expect(first.status).toBe(201);
    expect(first.body.status).toBe('pending');
    expect((await send('rec-1')).status).toBe(200);
    expect((await send('rec-2')).body.status).toBe('pending');

    // A worker comes back, is killed as soon as one credit is in, and another takes over.
    workers.push(await startWorkerProcess(stack));
    // Hang guards, not speed limits: a killed worker's tasks wait out their timeouts first (a fresh-clone run once needed more than 90 s here).
    await eventually(() => m.api.get(`/v1/payments/${payment.id}`).then((r) => r.body), (p) => p.amount_received > 0, 150_000);
    await kill9(workers[1]!);
    workers.push(await startWorkerProcess(stack));
    const funded = await eventually(() => m.api.get(`/v1/payments/${payment.id}`).then((r) => r.body), (p) => p.amount_received === 6000, 150_000);
    expect(funded.status).toBe('requires_action');
    const credits = await eventually(() => m.api.get('/v1/bank_credits').then((r) => r.body.data), (d) => d.every((c: { status: string }) => c.status === 'applied'), 90_000);
    expect(credits.map((c: { credit_id: string; amount_applied: number }) => [c.credit_id, c.amount_applied]).sort()).toEqual([['rec-1', 3000], ['rec-2', 3000]]);

    await send('rec-3');
    const done = await eventually(() => m.api.get(`/v1/payments/${payment.id}`).then((r) => r.body), (p) => p.status === 'captured', 90_000);
    expect(done).toMatchObject({ amount_captured: 9000, amount_received: 9000 });
    const charges = (await m.api.get(`/sandbox/charges?payment_id=${payment.id}`)).body.data.map((c: { operation: string; amount: number }) => `${c.operation}:${c.amount}`);
    expect(charges).toEqual(['authorize:9000', 'capture:9000']);
    expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'EUR', amount: 9000 }]);
  });
}, 420_000);

/** Each test starts from no worker at all: the one an earlier test left running would act too. */
const stopWorkers = async () => {
  for (const w of workers) await kill9(w);
};

test("a review's deadline passes while no worker runs: the default decision is taken once a worker is back", async () => {
  await stopWorkers();
  workers.push(await startWorkerProcess(stack));
  const m = await newMerchant(stack);
  await m.api.post('/v1/risk/rules', { rules: [{ if: { amount_gte: 10_000 }, action: 'review' }] });
  const created = await m.api.post('/v1/payments', { amount: 20_000, currency: 'EUR', payment_method: { type: 'card', token: 'tok_ok' } });
  const held = await eventually(() => m.api.get(`/v1/payments/${created.body.id}`).then((r) => r.body), (p) => p.status === 'requires_review', 90_000);
  await kill9(workers[workers.length - 1]!);
  // The deadline (4 s) passes with nobody running; the timer is the server's, not the worker's.
  await new Promise((r) => setTimeout(r, 5000));
  expect((await m.api.get(`/v1/payments/${held.id}`)).body.status).toBe('requires_review');
  workers.push(await startWorkerProcess(stack));
  const done = await eventually(() => m.api.get(`/v1/payments/${held.id}`).then((r) => r.body), (p) => p.status === 'captured', 90_000);
  expect(done.risk.review).toMatchObject({ decision: 'approve', reviewer: 'deadline' });
  expect((await m.api.get(`/sandbox/charges?payment_id=${held.id}`)).body.data.map((c: { operation: string }) => c.operation)).toEqual(['authorize', 'capture']);
}, 240_000);

test('a reconciliation run whose worker dies resumes where it was, and books each fee once', async () => {
  await stopWorkers();
  const m = await newMerchant(stack);
  workers.push(await startWorkerProcess(stack));
  const p = await m.api.post('/v1/payments', { amount: 10_000, currency: 'EUR', payment_method: { type: 'card', token: 'tok_ok' } });
  await eventually(() => m.api.get(`/v1/payments/${p.body.id}`).then((r) => r.body), (x) => x.status === 'captured', 90_000);
  await kill9(workers[workers.length - 1]!);
  // Asked while no worker runs: the run exists (its workflow is durable) and waits.
  const date = new Date().toISOString().slice(0, 10);
  const admin = client(stack.url, ADMIN_KEY);
  // Other files may have reconciled today's sandbox day already: this run is the one completed after now.
  const askedAt = new Date().toISOString();
  const asked = await admin.post('/v1/reconciliation/runs', { provider: 'sandbox', date, livemode: false });
  expect([200, 503]).toContain(asked.status);
  workers.push(await startWorkerProcess(stack));
  const runs = await eventually(() => admin.get('/v1/reconciliation/runs?livemode=false').then((r) => r.body.data as { provider: string; date: string; status: string; id: string; completed_at: string | null }[]),
    (d) => d.some((r) => r.provider === 'sandbox' && r.date === date && r.status === 'completed' && (r.completed_at ?? '') > askedAt), 90_000);
  const run = runs.find((r) => r.provider === 'sandbox' && r.date === date)!;
  // The row says completed before the run's last activity has handed out its events: the next
  // test kills this worker, and a run left open on this file's queue would hold the day's
  // workflow id for every later file (a new ask joins the running one).
  await stack.context.temporal.workflow.getHandle(reconciliationWorkflowId('sandbox', false, date)).result();
  const items = (await m.api.get(`/v1/reconciliation/items?run_id=${run.id}`)).body.data;
  expect(items).toEqual([expect.objectContaining({ payment_id: p.body.id, status: 'matched' })]);
  // 2.9 % + 30, once.
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'EUR', amount: 10_000 - 320 }]);
}, 240_000);

test('a worker told to stop (SIGTERM) with a provider call in flight lets it finish, then exits cleanly', async () => {
  await stopWorkers();
  const worker = await startWorkerProcess(stack);
  workers.push(worker);
  const m = await newMerchant(stack);
  // tok_slow: the authorization takes 2 s at the processor; the stop arrives in the middle of it.
  const created = await m.api.post('/v1/payments', { amount: 3100, currency: 'EUR', payment_method: { type: 'card', token: 'tok_slow' } });
  expect(created.status).toBe(202);
  await new Promise((r) => setTimeout(r, 700));
  const exited = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
  worker.kill('SIGTERM');
  expect(await exited).toBe(0);
  // The call it was making reached the processor exactly once, and was not cut off.
  const attempts = await stack.pool.query('SELECT attempts FROM sandbox_attempts WHERE idempotency_key = $1', [`${created.body.id}:authorize`]);
  expect(attempts.rows).toEqual([{ attempts: 1 }]);
  workers.push(await startWorkerProcess(stack));
  await eventually(() => m.api.get(`/v1/payments/${created.body.id}`).then((r) => r.body), (p) => p.status === 'captured', 90_000);
  expect((await stack.pool.query('SELECT attempts FROM sandbox_attempts WHERE idempotency_key = $1', [`${created.body.id}:authorize`])).rows).toEqual([{ attempts: 1 }]);
  // The authorization finished in the worker that was told to stop: its first attempt completed (a
  // worker that cancelled it would have left it to a second attempt on the next worker).
  const { events } = await stack.context.temporal.workflow.getHandle(`payment:${created.body.id}`).fetchHistory();
  const authorizeIds = new Set(events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'authorizeAtProvider').map((e) => String(e.eventId)));
  const started = events!.filter((e) => e.activityTaskStartedEventAttributes && authorizeIds.has(String(e.activityTaskStartedEventAttributes.scheduledEventId)));
  expect(started.map((e) => e.activityTaskStartedEventAttributes!.attempt)).toEqual([1]);
  expect((await m.api.get(`/sandbox/charges?payment_id=${created.body.id}`)).body.data.map((c: { operation: string }) => c.operation)).toEqual(['authorize', 'capture']);
}, 240_000);
