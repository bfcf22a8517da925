import { eventually, newMerchant, useTestStack } from './support/stack';

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
  return { m, clock, customer, pm, advance, invoices };
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
