import { startFakeStripe } from './support/fake-stripe';
import type { FakeStripe } from './support/fake-stripe';
import { expectAllLedgersConsistent } from './support/ledger';
import type { TestStack } from './support/stack';
import { ADMIN_KEY, card, client, eventually, newMerchant, startTestStack } from './support/stack';
import { ensureReconciliationSchedules, reconciliationScheduleId } from '../runtime/reconciliation';
import { reconciliationWorkflowId } from '../workflows/reconciliation.workflow';

// Reconciliation end to end: the providers' own books (the Stripe fake's balance transactions,
// the sandbox processor's bill) against ours, run by the admin, classified, fees in the ledger.
const WEBHOOK_SECRET = 'whsec_test_reconciliation_0123';
let fake: FakeStripe;
let stack: TestStack;
beforeAll(async () => {
  fake = await startFakeStripe(WEBHOOK_SECRET);
  stack = await startTestStack({ STRIPE_SECRET_KEY: 'sk_test_reconciliation', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE: fake.url, RECONCILIATION_GRACE_DAYS: '1', SANDBOX_FEE_BPS: '250', SANDBOX_FEE_FIXED: '10' });
  fake.setWebhooks(`${stack.url}/webhooks/stripe`, 'after');
});
afterEach(() => {
  fake.clearBalanceDiscrepancies();
  stack.context.providers.sandbox.clearBillDiscrepancies();
});
afterAll(async () => {
  try {
    if (stack) await expectAllLedgersConsistent(stack.pool);
  } finally {
    await stack?.stop();
    await fake?.close();
  }
});

const admin = () => client(stack.url, ADMIN_KEY);
const utcToday = () => new Date().toISOString().slice(0, 10);
const run = (provider: string, date = utcToday()) => admin().post('/v1/reconciliation/runs', { provider, date, livemode: false });
type Item = { status: string; payment_id: string | null; refund_id: string | null; requires_attention: boolean; id: string; message: string; reported: { fee: number } | null };
const itemsOf = async (m: { api: ReturnType<typeof client> }, runId: string): Promise<Item[]> => (await m.api.get(`/v1/reconciliation/items?run_id=${runId}`)).body.data;
const statusOf = (items: Item[], paymentId: string, refund = false) => items.filter((i) => i.payment_id === paymentId && Boolean(i.refund_id) === refund).map((i) => i.status);
const stripeFee = (amount: number) => Math.floor((amount * 290 + 5000) / 10_000) + 30;

test('a clean Stripe day: every line matched, fees booked, the balance net of fees equals what Stripe settled', async () => {
  const m = await newMerchant(stack);
  const a = (await m.api.post('/v1/payments', { amount: 2500, currency: 'USD', payment_method: card('pm_card_visa') })).body;
  const b = (await m.api.post('/v1/payments', { amount: 10_000, currency: 'USD', payment_method: card('pm_card_visa') })).body;
  expect([a.status, b.status, a.provider]).toEqual(['captured', 'captured', 'stripe']);
  const refund = (await m.api.post('/v1/refunds', { payment_id: b.id, amount: 4000 })).body;
  expect(refund.status).toBe('succeeded');

  const res = await run('stripe');
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ object: 'reconciliation_run', provider: 'stripe', status: 'completed', date: utcToday() });
  const items = await itemsOf(m, res.body.id);
  expect(statusOf(items, a.id)).toEqual(['matched']);
  expect(statusOf(items, b.id)).toEqual(['matched']);
  expect(statusOf(items, b.id, true)).toEqual(['matched']);
  // Stripe kept 2.9 % + 30 of each charge and nothing of the refund: the merchant is owed the net.
  const net = 2500 + 10_000 - 4000 - stripeFee(2500) - stripeFee(10_000);
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'USD', amount: net }]);
  // ... which is the provider's own net of the day (this merchant's payments are the whole day at this fake Stripe).
  expect(res.body.totals).toEqual([{ currency: 'USD', gross: 2500 + 10_000 - 4000, fee: stripeFee(2500) + stripeFee(10_000), net, lines: 3 }]);
  expect(items.find((i) => i.payment_id === a.id)!.reported!.fee).toBe(stripeFee(2500));
  const events = (await m.api.get('/v1/events?limit=100')).body.data.map((e: { type: string }) => e.type);
  expect(events).toContain('reconciliation.completed');
  expect(events).not.toContain('reconciliation.mismatch_found');

  // The same day again: the same run, the same items, no fee booked twice.
  const again = await run('stripe');
  expect(again.body).toMatchObject({ id: res.body.id, status: 'completed', attempts: 2 });
  expect((await itemsOf(m, res.body.id)).map((i) => i.id).sort()).toEqual(items.map((i) => i.id).sort());
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'USD', amount: net }]);
  // A merchant cannot start runs or resolve items: the provider accounts are the platform's.
  expect((await m.api.post('/v1/reconciliation/runs', { provider: 'stripe', date: utcToday() })).status).toBe(401);
});

test('a Stripe day with differences: each classified; money we never recorded needs an operator and moves nothing', async () => {
  const m = await newMerchant(stack);
  // The merchant's fee schedule expects Stripe's standard fee.
  expect((await m.api.post('/v1/routing', { rules: [], fees: { stripe: { card: { percent: 2.9, fixed: { USD: 30 } } } } })).status).toBe(200);
  const pay = async (amount: number) => (await m.api.post('/v1/payments', { amount, currency: 'USD', payment_method: card('pm_card_visa') })).body;
  const [missing, wrongAmount, wrongFee, fine] = [await pay(1000), await pay(2000), await pay(3000), await pay(4000)];
  fake.injectBalanceDiscrepancy({ kind: 'missing_line', paymentIntent: missing.provider_reference });
  fake.injectBalanceDiscrepancy({ kind: 'amount', paymentIntent: wrongAmount.provider_reference, amount: 1900 });
  fake.injectBalanceDiscrepancy({ kind: 'fee', paymentIntent: wrongFee.provider_reference, fee: stripeFee(3000) + 50 });
  fake.injectBalanceDiscrepancy({ kind: 'unknown_charge', amount: 777, currency: 'usd' });

  const res = await run('stripe');
  expect(res.body.status).toBe('completed');
  const items = await itemsOf(m, res.body.id);
  // Within the grace period a line not in the report yet is expected, not a mismatch.
  expect(statusOf(items, missing.id)).toEqual(['expected']);
  expect(statusOf(items, wrongAmount.id)).toEqual(['amount_mismatch']);
  expect(statusOf(items, wrongFee.id)).toEqual(['fee_mismatch']);
  expect(statusOf(items, fine.id)).toEqual(['matched']);
  // The unknown charge is no merchant's: only the operator sees it, flagged.
  expect(items.some((i) => i.status === 'missing_locally')).toBe(false);
  const unknown = (await admin().get(`/v1/reconciliation/items?run_id=${res.body.id}&status=missing_locally`)).body.data;
  expect(unknown).toEqual([expect.objectContaining({ requires_attention: true, payment_id: null, reported: expect.objectContaining({ gross: 777 }) })]);
  expect(res.body.counts).toMatchObject({ missing_locally: 1, amount_mismatch: 1, fee_mismatch: 1 });
  // Fees: the actual one of what matched (the fee mismatch included), none of what did not.
  const fees = stripeFee(4000) + stripeFee(3000) + 50;
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'USD', amount: 10_000 - fees }]);
  const events = (await m.api.get('/v1/events?limit=100')).body.data.map((e: { type: string }) => e.type);
  expect(events).toContain('reconciliation.mismatch_found');

  // The operator resolves the unknown charge with a note.
  expect((await m.api.post(`/v1/reconciliation/items/${unknown[0].id}/resolve`, { resolution: 'provider_adjusted', note: 'x' })).status).toBe(401);
  const resolved = await admin().post(`/v1/reconciliation/items/${unknown[0].id}/resolve`, { resolution: 'provider_adjusted', note: 'Stripe test charge, reversed on their side' });
  expect(resolved.body).toMatchObject({ resolution: 'provider_adjusted', requires_attention: false, status: 'missing_locally' });
  expect((await admin().post(`/v1/reconciliation/items/${unknown[0].id}/resolve`, { resolution: 'maybe', note: 'x' })).status).toBe(400);
});

test('a cross-border payment matches, and its fee (in the payment currency) is left to an operator, not booked against a merchant owed in another', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', { amount: 5000, currency: 'USD', settlement_currency: 'EUR', payment_method: card('pm_card_visa') })).body;
  expect(p).toMatchObject({ status: 'captured', fx: { settlement_currency: 'EUR' } });
  const before = (await m.api.get('/v1/balance')).body.balances;
  const res = await run('stripe');
  const item = (await itemsOf(m, res.body.id)).find((i) => i.payment_id === p.id)!;
  expect(item).toMatchObject({ status: 'matched', message: expect.stringContaining(`Its fee (${stripeFee(5000)} USD) is not booked`) });
  expect((await m.api.get('/v1/balance')).body.balances).toEqual(before);
});

test('past the grace period, a capture the provider never reported is missing at the provider', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', { amount: 1234, currency: 'USD', payment_method: card('pm_card_visa') })).body;
  const settledLater = (await m.api.post('/v1/payments', { amount: 4321, currency: 'USD', payment_method: card('pm_card_visa') })).body;
  fake.injectBalanceDiscrepancy({ kind: 'missing_line', paymentIntent: p.provider_reference });
  // Our captures, two days ago: the provider's report of that day has had its day of grace. One
  // of them the provider settled on another day (today): that day's run matched it.
  await stack.pool.query(`UPDATE ledger_postings SET created_at = created_at - interval '2 days' WHERE payment_id = ANY($1) AND kind = 'capture'`, [[p.id, settledLater.id]]);
  const today = await run('stripe');
  expect(statusOf(await itemsOf(m, today.body.id), settledLater.id)).toEqual(['matched']);
  const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10);
  const res = await run('stripe', twoDaysAgo);
  expect(res.body.status).toBe('completed');
  const items = await itemsOf(m, res.body.id);
  expect(statusOf(items, p.id)).toEqual(['missing_at_provider']);
  expect(statusOf(items, settledLater.id)).toEqual([]);
});

test('the sandbox bill: currency and status differences, a bill not ready yet (the run waits and resumes), the sandbox fee', async () => {
  const m = await newMerchant(stack);
  const sandbox = stack.context.providers.sandbox;
  // As it stands once its authorization is answered: a create slower than SYNC_WAIT_MS answers 202 while still pending.
  const pay = async (amount: number, extra: object = {}) => {
    const created = (await m.api.post('/v1/payments', { amount, currency: 'EUR', payment_method: card('tok_ok'), provider: 'sandbox', ...extra })).body;
    return eventually(() => m.api.get(`/v1/payments/${created.id}`).then((r) => r.body), (p) => p.status !== 'pending');
  };
  const [ok, wrongCurrency] = [await pay(5000), await pay(6000)];
  const short = await pay(7000, { payment_method: card('tok_settles_short') });
  const held = await pay(7000, { capture_method: 'manual' });
  expect([ok.status, wrongCurrency.status, short.status, held.status]).toEqual(['captured', 'captured', 'captured', 'authorized']);
  sandbox.injectBillDiscrepancy({ kind: 'currency', paymentId: wrongCurrency.id, currency: 'USD' });
  sandbox.injectBillDiscrepancy({ kind: 'charge', paymentId: held.id, reference: held.provider_reference, amount: 7000, currency: 'EUR' });
  sandbox.injectBillDiscrepancy({ kind: 'unavailable', times: 1 });

  // The sandbox's day is every file's: another may have reconciled it already. This run is the one completed after now.
  const askedAt = new Date().toISOString();
  const started = await run('sandbox');
  const res = { body: await eventually(() => admin().get(`/v1/reconciliation/runs/${started.body.id}`).then((r) => r.body), (r) => r.status === 'completed' && (r.completed_at ?? '') > askedAt, 60_000) };
  // The run's workflow too, not only its row: a run left open would hold the day for later files.
  await stack.context.temporal.workflow.getHandle(reconciliationWorkflowId('sandbox', false, utcToday())).result();
  expect(res.body).toMatchObject({ status: 'completed', provider: 'sandbox' });
  const items = await itemsOf(m, res.body.id);
  expect(statusOf(items, ok.id)).toEqual(['matched']);
  expect(statusOf(items, wrongCurrency.id)).toEqual(['currency_mismatch']);
  expect(statusOf(items, held.id)).toEqual(['status_mismatch']);
  // The README's walkthrough: the bill says one cent less.
  expect(items.find((i) => i.payment_id === short.id)).toMatchObject({ status: 'amount_mismatch', message: 'Reported 6999 EUR, recorded 7000.' });
  // 2.5 % + 10 on the matched capture only.
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'EUR', amount: 5000 + 6000 + 7000 - (125 + 10) }]);
  const view = (await m.api.get(`/v1/reconciliation/runs/${res.body.id}`)).body;
  expect(view.counts).toEqual({ matched: 1, currency_mismatch: 1, status_mismatch: 1, amount_mismatch: 1 });
}, 120_000);

test('the daily schedule: at the configured time and zone, it reconciles the day before', async () => {
  const config = { ...stack.config, RECONCILIATION_AT: '05:30', RECONCILIATION_TIME_ZONE: 'Asia/Shanghai' };
  const ids = await ensureReconciliationSchedules(stack.context.temporal, stack.context.providers, config);
  const stripeSchedule = reconciliationScheduleId('stripe', false, config.TEMPORAL_TASK_QUEUE);
  expect(ids.sort()).toEqual([reconciliationScheduleId('sandbox', false, config.TEMPORAL_TASK_QUEUE), stripeSchedule].sort());
  const handle = stack.context.temporal.schedule.getHandle(stripeSchedule);
  try {
    const described = await handle.describe();
    expect(described.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 5, end: 5, step: 1 }], minute: [{ start: 30, end: 30, step: 1 }] });
    expect(described.spec.timezone).toBe('Asia/Shanghai');
    await handle.trigger();
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const runs = await eventually(() => admin().get('/v1/reconciliation/runs?livemode=false&limit=100').then((r) => r.body.data as { provider: string; date: string; status: string }[]),
      (d) => d.some((r) => r.provider === 'stripe' && r.date === yesterday && r.status === 'completed'));
    expect(runs.find((r) => r.provider === 'stripe' && r.date === yesterday)).toBeDefined();
  } finally {
    for (const id of ids) await stack.context.temporal.schedule.getHandle(id).delete();
  }
});
