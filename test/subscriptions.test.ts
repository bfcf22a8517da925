import { ADMIN_KEY, client, eventually, newMerchant, useTestStack } from './support/stack';
import { subscriptionWorkflowId } from '../workflows/billing-messages';
import { failedWorkflowTasks } from './support/trail';

// Subscriptions on the real server, with test clocks: months of billing run in seconds.
const stack = useTestStack();

const DAY = 86_400;
/** 2025-01-31T00:00:00Z: a month-end anchor, the hardest case for a calendar. */
const JAN31 = Date.UTC(2025, 0, 31) / 1000;

async function shopOnClock(start = JAN31, token = 'tok_ok') {
  const m = await newMerchant(stack());
  const clock = (await m.api.post('/v1/test_clocks', { frozen_time: start, name: 'billing test' })).body;
  expect(clock).toMatchObject({ object: 'test_clock', frozen_time: start, status: 'ready', livemode: false });
  const customer = (await m.api.post('/v1/customers', { email: 'payer@example.com', name: 'Payer', test_clock: clock.id })).body;
  const pm = (await m.api.post(`/v1/customers/${customer.id}/payment_methods`, { type: 'card', token })).body;
  const advance = async (to: number) => {
    const res = await m.api.post(`/v1/test_clocks/${clock.id}/advance`, { frozen_time: to });
    expect([res.status, res.body.status]).toEqual([200, 'ready']);
    return res.body;
  };
  const invoices = async (subscriptionId: string) => (await m.api.get(`/v1/invoices?subscription_id=${subscriptionId}&limit=100`)).body.data.reverse();
  /** The customer saves another card and makes it the default (what later charges use). */
  const useCard = async (cardToken: string) => {
    const saved = (await m.api.post(`/v1/customers/${customer.id}/payment_methods`, { type: 'card', token: cardToken })).body;
    await m.api.post(`/v1/customers/${customer.id}`, { default_payment_method: saved.id });
    return saved;
  };
  return { m, clock, customer, pm, advance, invoices, useCard };
}

const iso = (t: number) => new Date(t * 1000).toISOString();

test('a monthly subscription anchored on Jan 31 bills Feb 28, Mar 31, Apr 30 — each period once, paid by the saved card', async () => {
  const { m, customer, pm, advance, invoices } = await shopOnClock();
  expect(pm).toMatchObject({ object: 'payment_method', type: 'card', provider: 'sandbox', provider_reference: 'tok_ok' });
  expect((await m.api.get(`/v1/customers/${customer.id}`)).body.default_payment_method).toBe(pm.id);
  const created = await m.api.post('/v1/subscriptions', { customer_id: customer.id, price: { amount: 1500, currency: 'USD', interval: 'month' } });
  expect(created.status).toBe(201);
  const sub = created.body;
  expect(sub).toMatchObject({ status: 'active', current_period_start: iso(JAN31), current_period_end: iso(Date.UTC(2025, 1, 28) / 1000), test_clock: customer.test_clock });
  await advance(Date.UTC(2025, 4, 1) / 1000);
  const all = await invoices(sub.id);
  expect(all.map((i: { period_start: string; status: string; amount_paid: number }) => [i.period_start.slice(0, 10), i.status, i.amount_paid])).toEqual([
    ['2025-01-31', 'paid', 1500], ['2025-02-28', 'paid', 1500], ['2025-03-31', 'paid', 1500], ['2025-04-30', 'paid', 1500],
  ]);
  const payments = (await m.api.get(`/v1/payments?customer_id=${customer.id}`)).body.data;
  expect(payments).toHaveLength(4);
  expect(payments.every((p: { status: string; channel: string }) => p.status === 'captured' && p.channel === 'subscription')).toBe(true);
  const charges = (await m.api.get('/sandbox/charges')).body.data;
  expect(charges.filter((c: { operation: string }) => c.operation === 'authorize')).toHaveLength(4);
  expect((await m.api.get(`/v1/subscriptions/${sub.id}`)).body).toMatchObject({ status: 'active', current_period_start: '2025-04-30T00:00:00.000Z', current_period_end: '2025-05-31T00:00:00.000Z' });
});

/** 2025-03-01T00:00:00Z: March has 31 days, so 3100 a month is 100 a day. */
const MAR1 = Date.UTC(2025, 2, 1) / 1000;
const MONTHLY = { amount: 3100, currency: 'USD', interval: 'month' };
const eventsOf = async (m: Awaited<ReturnType<typeof shopOnClock>>['m'], objectId: string) =>
  (await m.api.get(`/v1/events?object_id=${objectId}&limit=100`)).body.data.map((e: { type: string }) => e.type);

test('a trial: trialing without an invoice, trial_will_end three days before, then active with the first invoice paid at its end', async () => {
  const { m, customer, advance, invoices } = await shopOnClock(MAR1);
  const sub = (await m.api.post('/v1/subscriptions', { customer_id: customer.id, price: MONTHLY, trial_period_days: 14 })).body;
  const trialEnd = MAR1 + 14 * DAY;
  expect(sub).toMatchObject({ status: 'trialing', trial_start: iso(MAR1), trial_end: iso(trialEnd), current_period_end: iso(trialEnd), latest_invoice: null });
  expect(await invoices(sub.id)).toEqual([]);
  await advance(trialEnd - 3 * DAY + 60);
  expect(await eventsOf(m, sub.id)).toContain('subscription.trial_will_end');
  expect((await m.api.get(`/v1/subscriptions/${sub.id}`)).body.status).toBe('trialing');
  await advance(trialEnd + 60);
  const after = (await m.api.get(`/v1/subscriptions/${sub.id}`)).body;
  expect(after).toMatchObject({ status: 'active', current_period_start: iso(trialEnd), current_period_end: '2025-04-15T00:00:00.000Z' });
  const [first] = await invoices(sub.id);
  expect(first).toMatchObject({ status: 'paid', amount_paid: 3100, billing_reason: 'subscription_cycle', period_start: iso(trialEnd) });
});

test('a renewal declined (insufficient funds) goes past_due, and the dunning retry a day later recovers it with the fixed card', async () => {
  const { m, customer, pm: good, advance, invoices, useCard } = await shopOnClock(MAR1);
  const sub = (await m.api.post('/v1/subscriptions', { customer_id: customer.id, price: MONTHLY })).body;
  expect(sub.status).toBe('active');
  await useCard('tok_insufficient_funds');
  const apr1 = Date.UTC(2025, 3, 1) / 1000;
  await advance(apr1 + 60);
  expect((await m.api.get(`/v1/subscriptions/${sub.id}`)).body.status).toBe('past_due');
  const open = (await invoices(sub.id))[1];
  expect(open).toMatchObject({ status: 'open', attempt_count: 1, next_payment_attempt: iso(apr1 + DAY), last_payment_error: { code: 'insufficient_funds' } });
  expect(await eventsOf(m, open.id)).toEqual(expect.arrayContaining(['invoice.created', 'invoice.finalized', 'invoice.payment_failed']));
  await m.api.post(`/v1/customers/${customer.id}`, { default_payment_method: good.id });
  await advance(apr1 + DAY + 60);
  expect((await m.api.get(`/v1/invoices/${open.id}`)).body).toMatchObject({ status: 'paid', attempt_count: 2, amount_paid: 3100, next_payment_attempt: null });
  expect((await m.api.get(`/v1/subscriptions/${sub.id}`)).body.status).toBe('active');
  // One payment per attempt: the failed one and the one that paid.
  const payments = (await m.api.get(`/v1/payments?customer_id=${customer.id}`)).body.data.map((p: { status: string }) => p.status).sort();
  expect(payments).toEqual(['captured', 'captured', 'failed']);
});

test('dunning exhausted: four retries at 1, 3, 5 and 7 days, then unpaid; the next period is invoiced as a draft and not charged', async () => {
  const { m, customer, advance, invoices, useCard } = await shopOnClock(MAR1);
  const sub = (await m.api.post('/v1/subscriptions', { customer_id: customer.id, price: MONTHLY })).body;
  await useCard('tok_insufficient_funds');
  const apr1 = Date.UTC(2025, 3, 1) / 1000;
  await advance(apr1 + 7 * DAY + 60);
  const open = (await invoices(sub.id))[1];
  expect(open).toMatchObject({ status: 'open', attempt_count: 5, next_payment_attempt: null });
  expect((await m.api.get(`/v1/subscriptions/${sub.id}`)).body.status).toBe('unpaid');
  const may1 = Date.UTC(2025, 4, 1) / 1000;
  await advance(may1 + 60);
  const all = await invoices(sub.id);
  expect(all.map((i: { status: string; attempt_count: number }) => [i.status, i.attempt_count])).toEqual([['paid', 1], ['open', 5], ['draft', 0]]);
  const payments = (await m.api.get(`/v1/payments?customer_id=${customer.id}&limit=100`)).body.data;
  expect(payments).toHaveLength(6);
  // Paying the open invoice by hand (after the customer fixed their card) makes it active again.
  await useCard('tok_ok');
  const paid = await m.api.post(`/v1/invoices/${open.id}/pay`, {});
  expect(paid.body).toMatchObject({ status: 'paid', attempt_count: expect.any(Number) });
  expect((await m.api.get(`/v1/subscriptions/${sub.id}`)).body.status).toBe('active');
});

test('dunning exhausted with the merchant policy "canceled": the subscription is canceled and its open invoice voided', async () => {
  const { m, customer, advance, invoices, useCard } = await shopOnClock(MAR1);
  const settings = await m.api.post('/v1/billing_settings', { dunning: { schedule: [1, 2], on_exhausted: 'canceled' } });
  expect(settings.body.dunning.retry_offsets_seconds).toEqual([DAY, 2 * DAY]);
  const sub = (await m.api.post('/v1/subscriptions', { customer_id: customer.id, price: MONTHLY })).body;
  await useCard('tok_decline');
  const apr1 = Date.UTC(2025, 3, 1) / 1000;
  await advance(apr1 + 3 * DAY);
  const ended = (await m.api.get(`/v1/subscriptions/${sub.id}`)).body;
  expect(ended).toMatchObject({ status: 'canceled', ended_at: iso(apr1 + 2 * DAY) });
  expect((await invoices(sub.id))[1]).toMatchObject({ status: 'void', attempt_count: 3 });
  expect(await eventsOf(m, sub.id)).toContain('subscription.canceled');
  expect((await m.api.post(`/v1/subscriptions/${sub.id}/cancel`, {})).status).toBe(409);
});

test('a hard decline (lost card) is never retried: the customer is asked for another card, and saving one retries at once', async () => {
  const { m, customer, advance, invoices, useCard } = await shopOnClock(MAR1);
  const sub = (await m.api.post('/v1/subscriptions', { customer_id: customer.id, price: MONTHLY })).body;
  await useCard('tok_lost_card');
  const apr1 = Date.UTC(2025, 3, 1) / 1000;
  await advance(apr1 + 4 * DAY);
  const open = (await invoices(sub.id))[1];
  expect(open).toMatchObject({ status: 'open', attempt_count: 1, next_payment_attempt: null, last_payment_error: { code: 'lost_card' } });
  expect(await eventsOf(m, customer.id)).toContain('customer.payment_method_update_requested');
  await useCard('tok_ok');
  await eventually(() => m.api.get(`/v1/invoices/${open.id}`), (r) => r.body.status === 'paid');
  // The subscription's own record follows the invoice's, in the same step but a moment later.
  expect((await eventually(() => m.api.get(`/v1/subscriptions/${sub.id}`), (r) => r.body.status === 'active')).body.status).toBe('active');
});

test('the first charge declined: incomplete, then incomplete_expired after 23 hours with its invoice voided', async () => {
  const { m, customer, advance, invoices } = await shopOnClock(MAR1, 'tok_decline');
  const res = await m.api.post('/v1/subscriptions', { customer_id: customer.id, price: MONTHLY });
  expect([res.status, res.body.status]).toEqual([201, 'incomplete']);
  expect((await invoices(res.body.id))[0]).toMatchObject({ status: 'open', attempt_count: 1, next_payment_attempt: null, last_payment_error: { code: 'card_declined' } });
  await advance(MAR1 + 22 * 3600);
  expect((await m.api.get(`/v1/subscriptions/${res.body.id}`)).body.status).toBe('incomplete');
  await advance(MAR1 + 23 * 3600 + 1);
  expect((await m.api.get(`/v1/subscriptions/${res.body.id}`)).body).toMatchObject({ status: 'incomplete_expired', ended_at: iso(MAR1 + 23 * 3600) });
  expect((await invoices(res.body.id))[0].status).toBe('void');
});

test('pause with each behavior, then resume: drafts kept, invoices marked uncollectible or voided, nothing charged while paused', async () => {
  const { m, clock, advance, invoices } = await shopOnClock(MAR1);
  const subs: Record<string, { id: string }> = {};
  for (const behavior of ['keep_as_draft', 'mark_uncollectible', 'void']) {
    const c = (await m.api.post('/v1/customers', { test_clock: clock.id })).body;
    await m.api.post(`/v1/customers/${c.id}/payment_methods`, { type: 'card', token: 'tok_ok' });
    subs[behavior] = (await m.api.post('/v1/subscriptions', { customer_id: c.id, price: MONTHLY })).body;
    const paused = await m.api.post(`/v1/subscriptions/${subs[behavior]!.id}/pause`, { behavior });
    expect(paused.body).toMatchObject({ status: 'paused', pause_collection: { behavior, resumes_at: null } });
  }
  await advance(Date.UTC(2025, 3, 1) / 1000 + 60);
  expect((await invoices(subs.keep_as_draft!.id))[1]).toMatchObject({ status: 'draft', attempt_count: 0 });
  expect((await invoices(subs.mark_uncollectible!.id))[1]).toMatchObject({ status: 'uncollectible', attempt_count: 0 });
  expect((await invoices(subs.void!.id))[1]).toMatchObject({ status: 'void', attempt_count: 0 });
  for (const s of Object.values(subs)) {
    expect((await m.api.post(`/v1/subscriptions/${s.id}/resume`, {})).body).toMatchObject({ status: 'active', pause_collection: null });
  }
  await advance(Date.UTC(2025, 4, 1) / 1000 + 60);
  for (const s of Object.values(subs)) expect((await invoices(s.id))[2]).toMatchObject({ status: 'paid', amount_paid: 3100 });
  expect((await m.api.post(`/v1/subscriptions/${subs.void!.id}/resume`, {})).status).toBe(409);
});

test('a pause with resumes_at resumes by itself at that time', async () => {
  const { m, customer, advance } = await shopOnClock(MAR1);
  const sub = (await m.api.post('/v1/subscriptions', { customer_id: customer.id, price: MONTHLY })).body;
  const resumesAt = MAR1 + 10 * DAY;
  expect((await m.api.post(`/v1/subscriptions/${sub.id}/pause`, { behavior: 'void', resumes_at: resumesAt })).body.pause_collection.resumes_at).toBe(iso(resumesAt));
  await advance(resumesAt + 1);
  expect((await m.api.get(`/v1/subscriptions/${sub.id}`)).body).toMatchObject({ status: 'active', pause_collection: null });
});

test('cancel now with proration credits the unused time (to the minor unit), without proration nothing; at period end it runs out the period', async () => {
  const { m, clock, customer, advance, invoices } = await shopOnClock(MAR1);
  const prorated = (await m.api.post('/v1/subscriptions', { customer_id: customer.id, price: MONTHLY })).body;
  const other = (await m.api.post('/v1/customers', { test_clock: clock.id })).body;
  await m.api.post(`/v1/customers/${other.id}/payment_methods`, { type: 'card', token: 'tok_ok' });
  const plain = (await m.api.post('/v1/subscriptions', { customer_id: other.id, price: MONTHLY })).body;
  const third = (await m.api.post('/v1/customers', { test_clock: clock.id })).body;
  await m.api.post(`/v1/customers/${third.id}/payment_methods`, { type: 'card', token: 'tok_ok' });
  const atEnd = (await m.api.post('/v1/subscriptions', { customer_id: third.id, price: MONTHLY })).body;
  const mar16 = MAR1 + 15 * DAY;
  await advance(mar16);
  expect((await m.api.post(`/v1/subscriptions/${prorated.id}/cancel`, { prorate: true })).body).toMatchObject({ status: 'canceled', canceled_at: iso(mar16), ended_at: iso(mar16) });
  // 16 of March's 31 days unused: 3100 × 16 / 31 = 1600, owed to the customer as credit, not refunded.
  expect((await m.api.get(`/v1/customers/${customer.id}`)).body.credit_balance).toEqual({ USD: 1600 });
  expect((await m.api.get(`/v1/payments?customer_id=${customer.id}`)).body.data[0]).toMatchObject({ amount_refunded: 0 });
  expect((await m.api.post(`/v1/subscriptions/${plain.id}/cancel`, {})).body.status).toBe('canceled');
  expect((await m.api.get(`/v1/customers/${other.id}`)).body.credit_balance).toEqual({});
  expect((await m.api.post(`/v1/subscriptions/${atEnd.id}/cancel`, { at_period_end: true })).body).toMatchObject({ status: 'active', cancel_at_period_end: true });
  await advance(Date.UTC(2025, 3, 1) / 1000 + 60);
  expect((await m.api.get(`/v1/subscriptions/${atEnd.id}`)).body).toMatchObject({ status: 'canceled', ended_at: '2025-04-01T00:00:00.000Z' });
  expect(await invoices(atEnd.id)).toHaveLength(1);
  expect(await invoices(plain.id)).toHaveLength(1);
});

test('an upgrade prorates onto the next invoice and a downgrade invoiced at once becomes credit for the one after, to the minor unit', async () => {
  const { m, customer, advance, invoices } = await shopOnClock(MAR1);
  const sub = (await m.api.post('/v1/subscriptions', { customer_id: customer.id, price: MONTHLY })).body;
  await advance(MAR1 + 15 * DAY);
  // 16 of 31 days left: −3100 × 16/31 = −1600 and +6200 × 16/31 = +3200 wait for the next invoice.
  const up = await m.api.post(`/v1/subscriptions/${sub.id}`, { price: { ...MONTHLY, amount: 6200 } });
  expect(up.body).toMatchObject({ status: 'active', price: { amount: 6200 } });
  await advance(Date.UTC(2025, 3, 1) / 1000 + 60);
  const april = (await invoices(sub.id))[1];
  expect(april.lines.map((l: { amount: number; proration: boolean }) => [l.amount, l.proration])).toEqual([[-1600, true], [3200, true], [6200, false]]);
  expect(april).toMatchObject({ subtotal: 7800, amount_due: 7800, amount_paid: 7800, status: 'paid' });
  // April has 30 days; half of it left: −6200/2 = −3100, +2000/2 = +1000, invoiced now: −2100 becomes credit.
  await advance(Date.UTC(2025, 3, 16) / 1000);
  await m.api.post(`/v1/subscriptions/${sub.id}`, { price: { ...MONTHLY, amount: 2000 }, proration_behavior: 'always_invoice' });
  const change = (await invoices(sub.id))[2];
  expect(change).toMatchObject({ billing_reason: 'subscription_update', subtotal: -2100, amount_due: 0, status: 'paid' });
  expect((await m.api.get(`/v1/customers/${customer.id}`)).body.credit_balance).toEqual({ USD: 2100 });
  await advance(Date.UTC(2025, 4, 1) / 1000 + 60);
  const may = (await invoices(sub.id))[3];
  expect(may).toMatchObject({ subtotal: 2000, credit_applied: 2000, amount_due: 0, status: 'paid' });
  expect((await m.api.get(`/v1/customers/${customer.id}`)).body.credit_balance).toEqual({ USD: 100 });
  // A change to another currency is refused before anything changes.
  const refused = await m.api.post(`/v1/subscriptions/${sub.id}`, { price: { ...MONTHLY, currency: 'EUR' } });
  expect([refused.status, refused.body.error.param]).toEqual([400, 'price.currency']);
});

test('send_invoice: each invoice opens a wallet payment the customer completes; the subscription stays active', async () => {
  const { m, clock, advance, invoices } = await shopOnClock(MAR1);
  const customer = (await m.api.post('/v1/customers', { test_clock: clock.id, email: 'buyer@example.com' })).body;
  const missing = await m.api.post('/v1/subscriptions', { customer_id: customer.id, price: MONTHLY, collection_method: 'send_invoice' });
  expect([missing.status, missing.body.error.param]).toEqual([400, 'invoice_payment_method_type']);
  const sub = (await m.api.post('/v1/subscriptions', {
    customer_id: customer.id, price: MONTHLY, collection_method: 'send_invoice', days_until_due: 10, invoice_payment_method_type: 'alipay',
  })).body;
  expect(sub).toMatchObject({ status: 'active', collection_method: 'send_invoice', days_until_due: 10 });
  const [first] = await invoices(sub.id);
  expect(first).toMatchObject({ status: 'open', due_date: iso(MAR1 + 10 * DAY), payment_id: expect.stringMatching(/^pay_/) });
  const payment = (await m.api.get(`/v1/payments/${first.payment_id}`)).body;
  expect(payment).toMatchObject({ payment_method: { type: 'alipay' }, channel: 'subscription', amount: 3100 });
  // The sandbox's simulated customer scans and pays; the invoice learns it from the payment.
  await eventually(() => m.api.get(`/v1/invoices/${first.id}`), (r) => r.body.status === 'paid');
  await advance(MAR1 + 2 * DAY);
  expect((await m.api.get(`/v1/subscriptions/${sub.id}`)).body.status).toBe('active');
});

test('send_invoice paid by its first attempt at once (a card the sandbox charges without a token): paid, never past due, and the subscription still takes changes', async () => {
  const { m, clock, advance, invoices } = await shopOnClock(MAR1);
  const customer = (await m.api.post('/v1/customers', { test_clock: clock.id, email: 'buyer@example.com' })).body;
  const created = await m.api.post('/v1/subscriptions', {
    customer_id: customer.id, price: MONTHLY, collection_method: 'send_invoice', days_until_due: 10, invoice_payment_method_type: 'card',
  });
  expect([created.status, created.body.status]).toEqual([201, 'active']);
  const [first] = await invoices(created.body.id);
  expect(first).toMatchObject({ status: 'paid', amount_paid: 3100, due_date: iso(MAR1 + 10 * DAY) });
  // A paid invoice has no due date left to miss, and the workflow is not stuck: it answers an update at once.
  await advance(MAR1 + 11 * DAY);
  const changed = await m.api.post(`/v1/subscriptions/${created.body.id}`, { metadata: { seats: '3' } });
  expect([changed.status, changed.body.status, changed.body.metadata]).toEqual([200, 'active', { seats: '3' }]);
  expect(await failedWorkflowTasks(stack().context.temporal, `WorkflowId = "${subscriptionWorkflowId(created.body.id)}"`)).toEqual([]);
});

test('test clocks and billing objects keep to test mode, and bad input is a 400 naming the field', async () => {
  const m = await newMerchant(stack());
  expect((await m.live.post('/v1/test_clocks', { frozen_time: MAR1 })).status).toBe(400);
  const clock = (await m.api.post('/v1/test_clocks', { frozen_time: MAR1 })).body;
  expect((await m.live.get(`/v1/test_clocks/${clock.id}`)).status).toBe(400);
  expect((await m.live.post('/v1/customers', { test_clock: clock.id })).body.error.param).toBe('test_clock');
  // A time the clock has passed, or more than two years ahead, conflicts with where it stands: 409 naming the field.
  for (const [frozen_time, code] of [[MAR1 - 1, 'clock_time_in_past'], [MAR1, 'clock_time_in_past'], [MAR1 + 733 * 86_400, 'clock_advance_too_far']] as const) {
    expect((await m.api.post(`/v1/test_clocks/${clock.id}/advance`, { frozen_time }))).toMatchObject({ status: 409, body: { error: { type: 'invalid_state', code, param: 'frozen_time' } } });
  }
  const c = (await m.api.post('/v1/customers', {})).body;
  expect((await m.live.get(`/v1/customers/${c.id}`)).status).toBe(404);
  for (const [body, param] of [
    [{ customer_id: c.id, price: { ...MONTHLY, interval: 'fortnight' } }, 'price.interval'],
    [{ customer_id: c.id, price: { ...MONTHLY, amount: -1 } }, 'price.amount'],
    [{ customer_id: 'cus_nope', price: MONTHLY }, 'customer_id'],
    [{ customer_id: c.id, price: MONTHLY, time_zone: 'Mars/Olympus' }, 'time_zone'],
    [{ customer_id: c.id, price: MONTHLY, payment_method: 'pm_nope' }, 'payment_method'],
    [{ customer_id: c.id, price: MONTHLY, billing_cycle_anchor: 1 }, 'billing_cycle_anchor'],
    // Each valid alone, but a period's invoice (one payment) would be past the largest amount.
    [{ customer_id: c.id, price: { ...MONTHLY, amount: 99_999_999_999 }, quantity: 2 }, 'quantity'],
  ] as const) {
    const res = await m.api.post('/v1/subscriptions', body);
    expect([res.status, res.body.error?.param]).toEqual([param === 'customer_id' || param === 'payment_method' ? 404 : 400, param]);
  }
  expect((await m.api.get('/v1/subscriptions')).body.data).toEqual([]);
  // A change is held to the same limit (10 000 × 10 000 000 is one past it); the subscription stays as it was.
  const sub = (await m.api.post('/v1/subscriptions', { customer_id: c.id, price: MONTHLY, trial_period_days: 30 })).body;
  const tooLarge = await m.api.post(`/v1/subscriptions/${sub.id}`, { quantity: 10_000, price: { ...MONTHLY, amount: 10_000_000 } });
  expect([tooLarge.status, tooLarge.body.error]).toEqual([400, expect.objectContaining({ code: 'amount_too_large', param: 'quantity' })]);
  expect((await m.api.get(`/v1/subscriptions/${sub.id}`)).body).toMatchObject({ price: { amount: 3100 }, quantity: 1 });
});

test('a cancel racing a renewal: every period is invoiced at most once, and nothing is charged after the cancel', async () => {
  const { m, clock, advance } = await shopOnClock(MAR1);
  const subs: { id: string; customer_id: string }[] = [];
  for (let i = 0; i < 4; i++) {
    const c = (await m.api.post('/v1/customers', { test_clock: clock.id })).body;
    await m.api.post(`/v1/customers/${c.id}/payment_methods`, { type: 'card', token: 'tok_ok' });
    subs.push((await m.api.post('/v1/subscriptions', { customer_id: c.id, price: MONTHLY })).body);
  }
  const apr1 = Date.UTC(2025, 3, 1) / 1000;
  const [advanced, ...cancels] = await Promise.all([advance(apr1 + 60), ...subs.map((s) => m.api.post(`/v1/subscriptions/${s.id}/cancel`, {}))]);
  expect(advanced.status).toBe('ready');
  for (const [i, s] of subs.entries()) {
    expect(cancels[i]!.body.status).toBe('canceled');
    const invoices = (await m.api.get(`/v1/invoices?subscription_id=${s.id}`)).body.data;
    const periods = invoices.map((inv: { period_start: string }) => inv.period_start);
    expect(new Set(periods).size).toBe(periods.length);
    expect(invoices.length).toBeLessThanOrEqual(2);
    // A renewal that won the race was charged before the cancel; none after it.
    const canceledAt = Date.parse((await m.api.get(`/v1/subscriptions/${s.id}`)).body.canceled_at);
    for (const inv of invoices) expect(Date.parse(inv.created_at)).toBeLessThanOrEqual(canceledAt);
    const payments = (await m.api.get(`/v1/payments?customer_id=${s.customer_id}`)).body.data;
    expect(payments.filter((p: { status: string }) => p.status === 'captured')).toHaveLength(invoices.filter((inv: { status: string }) => inv.status === 'paid').length);
  }
  await advance(Date.UTC(2025, 4, 1) / 1000 + 60);
  for (const s of subs) expect((await m.api.get(`/v1/invoices?subscription_id=${s.id}`)).body.data.length).toBeLessThanOrEqual(2);
});

test('an operator retries a past-due subscription now (audited), and finds subscriptions by status in Temporal', async () => {
  const { m, customer, advance, invoices } = await shopOnClock(MAR1);
  const sub = (await m.api.post('/v1/subscriptions', { customer_id: customer.id, price: MONTHLY })).body;
  const admin = client(stack().url, ADMIN_KEY);
  expect((await admin.post(`/v1/admin/subscriptions/${sub.id}/retry`, { reason: 'nothing open' })).status).toBe(409);
  const poor = (await m.api.post(`/v1/customers/${customer.id}/payment_methods`, { type: 'card', token: 'tok_insufficient_funds' })).body;
  const good = (await m.api.get(`/v1/customers/${customer.id}/payment_methods`)).body.data[0];
  await m.api.post(`/v1/customers/${customer.id}`, { default_payment_method: poor.id });
  await advance(Date.UTC(2025, 3, 1) / 1000 + 60);
  expect((await m.api.get(`/v1/subscriptions/${sub.id}`)).body.status).toBe('past_due');
  await m.api.post(`/v1/customers/${customer.id}`, { default_payment_method: good.id });
  expect((await m.api.post(`/v1/admin/subscriptions/${sub.id}/retry`, { reason: 'customer called' })).status).toBe(401);
  const retried = await admin.post(`/v1/admin/subscriptions/${sub.id}/retry`, { reason: 'customer called' });
  expect(retried.body).toMatchObject({ object: 'operator_action', action: 'retry_subscription', target_id: sub.id, outcome: expect.stringContaining('paid') });
  expect((await invoices(sub.id))[1]).toMatchObject({ status: 'paid', attempt_count: 2 });
  expect((await m.api.get(`/v1/subscriptions/${sub.id}`)).body.status).toBe('active');
  // The Temporal UI's lists: the subscription's runs by id and status, its invoices' payments by subscription.
  const count = async (query: string) => (await stack().context.temporal.workflow.count(query)).count;
  await eventually(() => count(`SubscriptionId = '${sub.id}' AND SubscriptionStatus = 'active' AND ExecutionStatus = 'Running'`), (n) => n === 1);
  await eventually(() => count(`CustomerId = '${customer.id}' AND WorkflowType = 'paymentWorkflowV7'`), (n) => n === 3);
});

test('a year of monthly billing in one advance of the clock: twelve renewals, each invoiced and paid once, in order', async () => {
  const { m, customer, advance, invoices } = await shopOnClock(JAN31);
  const sub = (await m.api.post('/v1/subscriptions', { customer_id: customer.id, price: { amount: 990, currency: 'EUR', interval: 'month' } })).body;
  await advance(Date.UTC(2026, 0, 31) / 1000 + 60);
  const all = await invoices(sub.id);
  expect(all.map((i: { period_start: string }) => i.period_start.slice(0, 10))).toEqual([
    '2025-01-31', '2025-02-28', '2025-03-31', '2025-04-30', '2025-05-31', '2025-06-30', '2025-07-31', '2025-08-31', '2025-09-30', '2025-10-31',
    '2025-11-30', '2025-12-31', '2026-01-31',
  ]);
  expect(all.every((i: { status: string; amount_paid: number }) => i.status === 'paid' && i.amount_paid === 990)).toBe(true);
  expect((await m.api.get(`/v1/payments?customer_id=${customer.id}&limit=100`)).body.data).toHaveLength(13);
  expect((await m.api.get(`/v1/subscriptions/${sub.id}`)).body).toMatchObject({ status: 'active', current_period_end: '2026-02-28T00:00:00.000Z' });
});

test('a two-weekly subscription in a time zone; a change to monthly mid-period starts a new cycle with the unused week credited', async () => {
  // Monday 2025-03-03 09:00 in Shanghai (01:00 UTC).
  const start = Date.UTC(2025, 2, 3, 1) / 1000;
  const { m, customer, advance, invoices } = await shopOnClock(start);
  const sub = (await m.api.post('/v1/subscriptions', {
    customer_id: customer.id, price: { amount: 700, currency: 'CNY', interval: 'week', interval_count: 2 }, time_zone: 'Asia/Shanghai',
  })).body;
  expect(sub).toMatchObject({ time_zone: 'Asia/Shanghai', current_period_end: iso(start + 14 * DAY) });
  await advance(start + 14 * DAY - 3 * DAY + 60);
  expect(await eventsOf(m, sub.id)).toContain('invoice.upcoming');
  await advance(start + 21 * DAY);
  expect((await invoices(sub.id)).map((i: { period_start: string }) => i.period_start)).toEqual([iso(start), iso(start + 14 * DAY)]);
  // Half of the two-week period left: 700 / 2 = 350 credited on the first monthly invoice, which is charged now.
  const changed = (await m.api.post(`/v1/subscriptions/${sub.id}`, { price: { amount: 3000, currency: 'CNY', interval: 'month' } })).body;
  expect(changed).toMatchObject({ billing_cycle_anchor: iso(start + 21 * DAY), current_period_start: iso(start + 21 * DAY), current_period_end: iso(Date.UTC(2025, 3, 24, 1) / 1000) });
  const monthly = (await invoices(sub.id))[2];
  expect(monthly.lines.map((l: { amount: number }) => l.amount)).toEqual([-350, 3000]);
  expect(monthly).toMatchObject({ billing_reason: 'subscription_update', amount_due: 2650, amount_paid: 2650, status: 'paid' });
});

test('an attempt waiting for the customer (3-D Secure) is never doubled: pay now is refused until it ends, and its capture pays the invoice', async () => {
  const { m, customer, advance, invoices, useCard } = await shopOnClock(MAR1);
  const sub = (await m.api.post('/v1/subscriptions', { customer_id: customer.id, price: MONTHLY })).body;
  await useCard('tok_requires_action');
  await advance(Date.UTC(2025, 3, 1) / 1000 + 60);
  const april = (await invoices(sub.id))[1];
  expect(april).toMatchObject({ status: 'open', attempt_count: 1, payment_id: expect.stringMatching(/^pay_/) });
  expect((await m.api.get(`/v1/payments/${april.payment_id}`)).body.status).toBe('requires_action');
  const again = await m.api.post(`/v1/invoices/${april.id}/pay`, {});
  expect([again.status, again.body.error?.type]).toEqual([409, 'invalid_state']);
  await m.api.post(`/sandbox/payments/${april.payment_id}/complete`, {});
  await eventually(() => m.api.get(`/v1/invoices/${april.id}`), (r) => r.body.status === 'paid');
  expect((await m.api.get(`/v1/payments?customer_id=${customer.id}`)).body.data).toHaveLength(2);
});

test('a voided invoice gives back the customer credit it had used', async () => {
  const { m, clock, customer, advance, useCard } = await shopOnClock(MAR1);
  // Credit of 1600 from a subscription canceled half-way with proration.
  const first = (await m.api.post('/v1/subscriptions', { customer_id: customer.id, price: MONTHLY })).body;
  await advance(MAR1 + 15 * DAY);
  await m.api.post(`/v1/subscriptions/${first.id}/cancel`, { prorate: true });
  expect((await m.api.get(`/v1/customers/${customer.id}`)).body.credit_balance).toEqual({ USD: 1600 });
  void clock;
  await useCard('tok_decline');
  const second = (await m.api.post('/v1/subscriptions', { customer_id: customer.id, price: MONTHLY })).body;
  expect(second.status).toBe('incomplete');
  const [invoice] = (await m.api.get(`/v1/invoices?subscription_id=${second.id}`)).body.data;
  expect(invoice).toMatchObject({ status: 'open', credit_applied: 1600, amount_due: 1500 });
  expect((await m.api.get(`/v1/customers/${customer.id}`)).body.credit_balance).toEqual({ USD: 0 });
  expect((await m.api.post(`/v1/invoices/${invoice.id}/void`, {})).body.status).toBe('void');
  expect((await m.api.get(`/v1/customers/${customer.id}`)).body.credit_balance).toEqual({ USD: 1600 });
});

test('canceled while a renewal waits for 3-D Secure: if the customer completes it anyway, the money becomes their credit', async () => {
  const { m, customer, advance, invoices, useCard } = await shopOnClock(MAR1);
  const sub = (await m.api.post('/v1/subscriptions', { customer_id: customer.id, price: MONTHLY })).body;
  await useCard('tok_requires_action');
  await advance(Date.UTC(2025, 3, 1) / 1000 + 60);
  const april = (await invoices(sub.id))[1];
  expect((await m.api.post(`/v1/subscriptions/${sub.id}/cancel`, {})).body.status).toBe('canceled');
  expect((await m.api.get(`/v1/invoices/${april.id}`)).body.status).toBe('void');
  await m.api.post(`/sandbox/payments/${april.payment_id}/complete`, {});
  await eventually(() => m.api.get(`/v1/customers/${customer.id}`), (r) => r.body.credit_balance.USD === 3100);
});
