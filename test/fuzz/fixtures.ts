import type { Client } from '../support/stack';
import { eventually } from '../support/stack';

/**
 * Real objects for the fuzz run to act on. schemathesis cannot guess ids, and most payments it
 * generates are refused by a rule JSON Schema cannot state (x-rules), so the operations on an
 * existing object would otherwise only ever see 404. Each is made the way an integrator would.
 */
export async function fuzzFixtures(api: Client, operator: Client): Promise<Record<string, string[]>> {
  const ok = async (path: string, body: unknown = {}, as: Client = api) => {
    const res = await as.post(path, body);
    if (res.status >= 300) throw new Error(`fixture ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const times = <T>(n: number, make: () => Promise<T>) => Promise.all(Array.from({ length: n }, make));
  const customer = await ok('/v1/customers', { email: 'fuzz@example.com' });
  const card = await ok(`/v1/customers/${customer.id}/payment_methods`, { type: 'card', token: 'tok_ok' });
  const monthly = { amount: 999, currency: 'USD', interval: 'month' };
  // The run cancels what it finds: several of each, so some are still there to pause, resume or pay.
  const active = await times(3, () => ok('/v1/subscriptions', { customer_id: customer.id, price: monthly }));
  const paused = await times(2, async () => {
    const sub = await ok('/v1/subscriptions', { customer_id: customer.id, price: monthly });
    return ok(`/v1/subscriptions/${sub.id}/pause`, { behavior: 'keep_as_draft' });
  });
  // A card that declines: the first invoice stays open and the subscription past due.
  const broke = await ok('/v1/customers', { email: 'broke@example.com' });
  await ok(`/v1/customers/${broke.id}/payment_methods`, { type: 'card', token: 'tok_insufficient_funds' });
  const pastDue = await times(3, () => ok('/v1/subscriptions', { customer_id: broke.id, price: monthly }));
  const manual = await times(2, () => ok('/v1/payments', { amount: 1000, currency: 'EUR', payment_method: { type: 'card', token: 'tok_ok' }, capture_method: 'manual' }));
  const awaitingCustomer = await times(2, () => ok('/v1/payments', { amount: 1100, currency: 'USD', payment_method: { type: 'card', token: 'tok_requires_action' } }));
  await ok('/v1/risk/rules', { rules: [{ if: { amount_gte: 123_400, amount_lt: 123_500 }, action: 'review' }] });
  const held = await times(3, () => ok('/v1/payments', { amount: 123_456, currency: 'EUR', payment_method: { type: 'card', token: 'tok_ok' } }));
  await ok('/v1/risk/rules', { rules: [] });
  const transfers = await times(2, () => ok('/v1/payments', { amount: 50_000, currency: 'EUR', payment_method: { type: 'bank_transfer' } }));
  const unmatched = await times(3, () => ok('/v1/test_helpers/bank_transfers/incoming', { amount: 700, currency: 'EUR' }));
  // A transfer paid in full, then refunded: its refund is a payout waiting for the bank. The payer
  // is the fixture's (tok_requires_action keeps the sandbox's own payer still): one credit, whose account the refund goes back to.
  const paid = await ok('/v1/payments', { amount: 2000, currency: 'EUR', payment_method: { type: 'bank_transfer', token: 'tok_requires_action' } });
  const payer = { name: 'Fuzz Payer', account: 'DE02 1203 0000 0000 2020 51', bank_code: 'BYLADEM1001' };
  await ok('/v1/test_helpers/bank_transfers/incoming', { amount: 2000, currency: 'EUR', reference: paid.next_action.reference, payer });
  await eventually(() => api.get(`/v1/payments/${paid.id}`).then((r) => r.body.status), (s) => s === 'captured', 60_000);
  await ok('/v1/refunds', { payment_id: paid.id });
  const payouts = await eventually(() => api.get('/v1/bank_payouts').then((r) => r.body.data as { id: string }[]), (d) => d.length > 0, 60_000);
  const events = (await api.get('/v1/events?limit=3')).body.data as { id: string }[];
  const run = await ok('/v1/reconciliation/runs', { provider: 'sandbox', date: new Date().toISOString().slice(0, 10), livemode: false }, operator);
  const ids = (xs: { id: string }[]) => xs.map((x) => x.id);
  return {
    customers: [customer.id], payment_methods: [card.id], subscriptions: [...ids(active), ...ids(paused), ...ids(pastDue)], past_due: ids(pastDue),
    invoices: pastDue.map((s) => s.latest_invoice).filter(Boolean), payments: [...ids(manual), ...ids(held), ...ids(awaitingCustomer)], held: ids(held),
    awaiting_customer: ids(awaitingCustomer), transfers: ids(transfers), credits: ids(unmatched), payouts: ids(payouts), events: ids(events), runs: [run.id],
  };
}

/**
 * schemathesis.toml for the run: the document's two keys (merchant, operator) and, for the
 * operations on one object, the fixtures' ids half of the time (the other half stays generated).
 */
export function fuzzConfig(keys: { merchant: string; operator: string }, ids: Record<string, string[]>): string {
  const bind: [string, Record<string, string>][] = [
    ['POST /v1/payments', { 'body.customer_id': 'customers' }],
    ['POST /v1/payments/{id}/capture', { 'path.id': 'payments' }],
    ['POST /v1/payments/{id}/cancel', { 'path.id': 'payments' }],
    ['POST /v1/payments/{id}/review', { 'path.id': 'held' }],
    ['POST /v1/admin/payments/{id}/retry', { 'path.id': 'payments' }],
    ['POST /v1/admin/payments/{id}/cancel', { 'path.id': 'payments' }],
    ['POST /sandbox/payments/{id}/complete', { 'path.id': 'awaiting_customer' }],
    ['POST /sandbox/payments/{id}/fail', { 'path.id': 'awaiting_customer' }],
    ['DELETE /v1/customers/{id}/payment_methods/{pm}', { 'path.id': 'customers', 'path.pm': 'payment_methods' }],
    ['POST /v1/subscriptions/{id}/pause', { 'path.id': 'subscriptions' }],
    ['POST /v1/subscriptions/{id}/resume', { 'path.id': 'subscriptions' }],
    ['POST /v1/admin/subscriptions/{id}/retry', { 'path.id': 'past_due' }],
    ['GET /v1/reconciliation/runs/{id}', { 'path.id': 'runs' }],
    ['POST /v1/invoices/{id}/pay', { 'path.id': 'invoices' }],
    ['POST /v1/invoices/{id}/void', { 'path.id': 'invoices' }],
    ['POST /v1/bank_credits/{id}/apply', { 'path.id': 'credits', 'body.payment_id': 'transfers' }],
    ['GET /v1/bank_payouts/{id}', { 'path.id': 'payouts' }],
    ['POST /v1/test_helpers/bank_payouts/{id}/confirm', { 'path.id': 'payouts' }],
    ['POST /v1/admin/bank_payouts/{id}/confirm', { 'path.id': 'payouts' }],
    ['POST /v1/admin/events/{id}/resend', { 'path.id': 'events' }],
  ];
  const str = (s: string) => JSON.stringify(s);
  return [
    '[auth.openapi.bearerAuth]', `bearer = ${str(keys.merchant)}`,
    '[auth.openapi.adminAuth]', `bearer = ${str(keys.operator)}`,
    ...Object.entries(ids).filter(([, values]) => values.length > 0).flatMap(([name, values]) => [`[dictionaries.${name}]`, `values = [${values.map(str).join(', ')}]`]),
    ...bind.filter(([, params]) => Object.values(params).every((d) => (ids[d] ?? []).length > 0)).flatMap(([name, params]) => [
      '[[operations]]', `include-name = ${str(name)}`,
      `parameters = { ${Object.entries(params).map(([key, dict]) => `${str(key)} = { dictionary = ${str(dict)}, probability = 0.5 }`).join(', ')} }`,
    ]),
    '',
  ].join('\n');
}
