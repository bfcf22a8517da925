import { isValidReference } from '../bank/reference';
import { signPayload } from '../domain/signature';
import { expectAllLedgersConsistent } from './support/ledger';
import type { TestStack } from './support/stack';
import { ADMIN_KEY, client, eventually, newMerchant, startTestStack } from './support/stack';

// Bank transfers end to end through the HTTP API: instructions with a checked reference,
// credits from the test helper, the bank's signed feed and statements, matched by the credit's
// own workflow, partial and over-payments, expiry, payouts; and the ledger equal to all of it.
const BANK_SECRET = 'test-bank-feed-secret-0123';
const LIVE_ACCOUNTS = { EUR: { iban: 'FR7630006000011234567890189', bic: 'AGRIFRPPXXX', account_holder_name: 'Example Platform SAS' } };

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ BANK_WEBHOOK_SECRET: BANK_SECRET, BANK_ACCOUNTS: JSON.stringify(LIVE_ACCOUNTS) });
});
afterAll(async () => {
  try {
    if (stack) await expectAllLedgersConsistent(stack.pool);
  } finally {
    await stack?.stop();
  }
});

type Merchant = Awaited<ReturnType<typeof newMerchant>>;
const PAYER = { name: 'Erika Mustermann', account: 'DE02 1203 0000 0000 2020 51', bank_code: 'BYLADEM1001' };
/** `tok_requires_action`: the sandbox's own payer stays still; the test sends the money. */
const transfer = (amount: number, extra: Record<string, unknown> = {}) => ({ amount, currency: 'EUR', payment_method: { type: 'bank_transfer', token: 'tok_requires_action' }, ...extra });
const getPayment = (m: Merchant, id: string) => () => m.api.get(`/v1/payments/${id}`).then((r) => r.body);
const credit = (m: Merchant, body: Record<string, unknown>) => m.api.post('/v1/test_helpers/bank_transfers/incoming', { payer: PAYER, ...body });
const referenceOf = (p: { next_action: { display_bank_transfer_instructions: { reference: string } } }) => p.next_action.display_bank_transfer_instructions.reference;
const operations = async (m: Merchant, id: string) => (await m.api.get(`/sandbox/charges?payment_id=${id}`)).body.data.map((c: { operation: string; amount: number }) => `${c.operation}:${c.amount}`);
const eventTypes = async (m: Merchant, id: string) => (await m.api.get('/v1/events?limit=100')).body.data.filter((e: { object_id: string }) => e.object_id === id).map((e: { type: string }) => e.type);
const bankFeed = (body: unknown, secret = BANK_SECRET) => {
  const raw = JSON.stringify(body);
  return fetch(`${stack.url}/webhooks/bank`, { method: 'POST', headers: { 'content-type': 'application/json', 'bank-signature': signPayload(secret, raw) }, body: raw });
};

test('instructions: a checked reference, the receiving account, what remains and when they expire', async () => {
  const m = await newMerchant(stack);
  const res = await m.api.post('/v1/payments', transfer(125000));
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({ status: 'requires_action', amount_received: 0, provider: 'sandbox' });
  const action = res.body.next_action;
  expect(action.type).toBe('bank_transfer_instructions');
  expect(action.reference).toBe(referenceOf(res.body));
  expect(isValidReference(action.reference)).toBe(true);
  expect(action.display_bank_transfer_instructions).toMatchObject({
    amount_remaining: 125000, currency: 'EUR',
    financial_addresses: [{ type: 'iban', iban: { iban: 'DE89370400440532013000', account_holder_name: expect.stringContaining('TEST MODE') } }],
  });
  // Seven days by default.
  const ttl = Date.parse(action.expires_at) - Date.parse(res.body.created_at);
  expect(Math.abs(ttl - 7 * 24 * 3600 * 1000)).toBeLessThan(60_000);
  // Another payment never gets the same reference.
  const other = await m.api.post('/v1/payments', transfer(125000));
  expect(referenceOf(other.body)).not.toBe(action.reference);
  // Transfers are captured when funded: a manual capture is refused before anything is written.
  const manual = await m.api.post('/v1/payments', transfer(100, { capture_method: 'manual' }));
  expect(manual.status).toBe(400);
  expect(manual.body.error).toMatchObject({ param: 'capture_method' });
});

test('paid exactly: the credit is matched by reference and the payment captured once', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', transfer(5000))).body;
  const res = await credit(m, { amount: 5000, currency: 'eur', reference: referenceOf(p) });
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({ object: 'bank_credit', status: 'applied', matched_by: 'reference', payment_id: p.id, amount_applied: 5000, amount_excess: 0 });
  const done = await eventually(getPayment(m, p.id), (x) => x.status === 'captured');
  expect(done).toMatchObject({ amount_captured: 5000, amount_received: 5000, next_action: null });
  expect(await operations(m, p.id)).toEqual(['authorize:5000', 'capture:5000']);
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'EUR', amount: 5000 }]);
});

test('paid in two parts: partially funded (with an event) until the second credit arrives', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', transfer(5000))).body;
  // As payers type it: lower case, spaces, words around it.
  const spaced = referenceOf(p).toLowerCase().replace(/(.{4})/g, '$1 ');
  const first = await credit(m, { amount: 3000, currency: 'EUR', reference: `invoice 42 ${spaced}` });
  expect(first.body).toMatchObject({ status: 'applied', amount_applied: 3000, matched_by: 'reference' });
  const half = await eventually(getPayment(m, p.id), (x) => x.amount_received === 3000);
  expect(half).toMatchObject({ status: 'requires_action', amount_captured: 0, next_action: { display_bank_transfer_instructions: { amount_remaining: 2000 } } });
  await eventually(() => eventTypes(m, p.id), (types) => types.includes('payment.partially_funded'));
  const second = await credit(m, { amount: 2000, currency: 'EUR', reference: referenceOf(p) });
  expect(second.body).toMatchObject({ status: 'applied', amount_applied: 2000 });
  expect(await eventually(getPayment(m, p.id), (x) => x.status === 'captured')).toMatchObject({ amount_captured: 5000, amount_received: 5000 });
  expect(await operations(m, p.id)).toEqual(['authorize:5000', 'capture:5000']);
});

test('a swapped pair in the reference is repaired; a mistyped digit is not guessed', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', transfer(700))).body;
  const ref: string = referenceOf(p);
  const i = [...ref].findIndex((c, k) => k >= 4 && ref[k + 1] !== undefined && ref[k + 1] !== c);
  const swapped = `${ref.slice(0, i)}${ref[i + 1]}${ref[i]}${ref.slice(i + 2)}`;
  const typo = `${ref.slice(0, 6)}${ref[6] === '9' ? '8' : '9'}${ref.slice(7)}`;
  const wrong = await credit(m, { amount: 700, currency: 'EUR', reference: typo, payer: { name: 'Nobody', account: 'NL91ABNA0417164300', bank_code: null } });
  expect(wrong.body).toMatchObject({ status: 'unmatched', payment_id: null });
  const fixed = await credit(m, { amount: 700, currency: 'EUR', reference: swapped });
  expect(fixed.body).toMatchObject({ status: 'applied', matched_by: 'reference_corrected', payment_id: p.id });
  await eventually(getPayment(m, p.id), (x) => x.status === 'captured');
});

test('overpaid: the excess becomes customer balance, which the next transfer draws first; then matched by payer and amount', async () => {
  const m = await newMerchant(stack);
  const customer = (await m.api.post('/v1/customers', { email: 'buyer@example.com' })).body;
  const p1 = (await m.api.post('/v1/payments', transfer(5000, { customer_id: customer.id }))).body;
  const over = await credit(m, { amount: 7000, currency: 'EUR', reference: referenceOf(p1) });
  expect(over.body).toMatchObject({ status: 'applied', amount_applied: 5000, amount_excess: 2000, excess_to: 'customer_balance', customer_id: customer.id });
  await eventually(getPayment(m, p1.id), (x) => x.status === 'captured');
  expect((await m.api.get(`/v1/customers/${customer.id}/balance`)).body).toMatchObject({ object: 'customer_balance', balances: [{ currency: 'EUR', amount: 2000 }] });
  // Paid once more after it was funded: an overpayment too, kept (not the rule for late credits, which returns).
  const again = await credit(m, { amount: 500, currency: 'EUR', reference: referenceOf(p1) });
  expect(again.body).toMatchObject({ status: 'customer_balance', payment_id: p1.id, amount_applied: 0, amount_excess: 500, excess_to: 'customer_balance' });
  expect((await m.api.get(`/v1/customers/${customer.id}/balance`)).body.balances).toEqual([{ currency: 'EUR', amount: 2500 }]);

  const p2 = (await m.api.post('/v1/payments', transfer(3500, { customer_id: customer.id }))).body;
  expect(p2).toMatchObject({ status: 'requires_action', amount_received: 2500, next_action: { display_bank_transfer_instructions: { amount_remaining: 1000 } } });
  expect((await m.api.get(`/v1/customers/${customer.id}/balance`)).body.balances).toEqual([{ currency: 'EUR', amount: 0 }]);
  // No reference: the account that paid for this customer before, and exactly what is left.
  const rest = await credit(m, { amount: 1000, currency: 'EUR', reference: null, payer: { ...PAYER, account: 'de0212030000000020 2051' } });
  expect(rest.body).toMatchObject({ status: 'applied', matched_by: 'customer_amount', payment_id: p2.id, amount_applied: 1000 });
  expect(await eventually(getPayment(m, p2.id), (x) => x.status === 'captured')).toMatchObject({ amount_captured: 3500, amount_received: 3500 });
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'EUR', amount: 8500 }]);
  // Another merchant's customer, or an unknown one, cannot receive a transfer's money.
  const other = await newMerchant(stack);
  expect((await other.api.post('/v1/payments', transfer(100, { customer_id: customer.id }))).status).toBe(404);
  expect((await m.live.post('/v1/payments', { amount: 100, currency: 'EUR', payment_method: { type: 'bank_transfer' }, customer_id: customer.id })).status).toBe(404);
});

test('overpaid without a customer, or with a merchant that returns excess: a pending payout to the payer', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', transfer(1000))).body;
  const over = await credit(m, { amount: 1500, currency: 'EUR', reference: referenceOf(p) });
  expect(over.body).toMatchObject({ status: 'applied', amount_applied: 1000, amount_excess: 500, excess_to: 'returned' });
  const payouts = (await m.api.get('/v1/bank_payouts')).body.data;
  expect(payouts).toEqual([expect.objectContaining({ object: 'bank_payout', kind: 'return', amount: 500, currency: 'EUR', status: 'pending', credit_id: over.body.id, payee: expect.objectContaining({ account: PAYER.account }) })]);
});

test('no reference and an amount two payments share: unmatched until applied by hand, once', async () => {
  const m = await newMerchant(stack);
  const a = (await m.api.post('/v1/payments', transfer(4200))).body;
  const b = (await m.api.post('/v1/payments', transfer(4200))).body;
  const c = await credit(m, { amount: 4200, currency: 'EUR', reference: 'for the order', payer: { name: 'A. Buyer', account: 'BE68539007547034', bank_code: null } });
  expect(c.body).toMatchObject({ status: 'unmatched', payment_id: null, amount_applied: 0 });
  const listed = (await m.api.get('/v1/bank_credits?status=unmatched')).body.data.map((x: { id: string }) => x.id);
  expect(listed).toEqual([c.body.id]);
  // Another merchant's payment cannot take it.
  const other = await newMerchant(stack);
  const foreign = (await other.api.post('/v1/payments', transfer(4200))).body;
  expect((await m.api.post(`/v1/bank_credits/${c.body.id}/apply`, { payment_id: foreign.id })).status).toBe(404);
  expect((await other.api.post(`/v1/bank_credits/${c.body.id}/apply`, { payment_id: foreign.id })).status).toBe(404);

  const applied = await m.api.post(`/v1/bank_credits/${c.body.id}/apply`, { payment_id: b.id });
  expect(applied.status).toBe(200);
  expect(applied.body).toMatchObject({ status: 'applied', matched_by: 'manual', payment_id: b.id, amount_applied: 4200 });
  await eventually(getPayment(m, b.id), (x) => x.status === 'captured');
  expect((await getPayment(m, a.id)()).status).toBe('requires_action');
  const again = await m.api.post(`/v1/bank_credits/${c.body.id}/apply`, { payment_id: a.id });
  expect(again.status).toBe(409);
  expect(again.body.error.type).toBe('invalid_state');
  expect((await m.api.get('/v1/bank_credits?status=unmatched')).body.data).toEqual([]);
});

test('a credit applied while the instructions are still being issued waits for them, then funds the payment', async () => {
  // A worker that restarts can hand the payment a credit in the same task as the authorization's
  // answer; here `tok_slow` (2 s at the bank) holds the payment pending while an operator applies one.
  const m = await newMerchant(stack);
  const c = await credit(m, { amount: 4200, currency: 'EUR', reference: 'order 77', payer: { name: 'A. Buyer', account: 'BE68539007547034', bank_code: null } });
  expect(c.body.status).toBe('unmatched');
  const creating = m.api.post('/v1/payments', transfer(4200, { payment_method: { type: 'bank_transfer', token: 'tok_slow' } }));
  const pending = await eventually(() => m.api.get('/v1/payments').then((r) => r.body.data), (d) => d.length === 1);
  expect(pending[0].status).toBe('pending');
  const applied = await m.api.post(`/v1/bank_credits/${c.body.id}/apply`, { payment_id: pending[0].id });
  expect([200, 202]).toContain(applied.status);
  expect((await creating).body.id).toBe(pending[0].id);
  const done = await eventually(getPayment(m, pending[0].id), (p) => p.status === 'captured');
  expect(done).toMatchObject({ amount_received: 4200, amount_captured: 4200 });
  const settled = await eventually(() => m.api.get(`/v1/bank_credits/${c.body.id}`).then((r) => r.body), (x) => x.status === 'applied');
  expect(settled).toMatchObject({ matched_by: 'manual', payment_id: pending[0].id, amount_applied: 4200, amount_excess: 0 });
  expect(await operations(m, pending[0].id)).toEqual(['authorize:4200', 'capture:4200']);
});

test('a credit delivered twice, at once and again later (helper, feed, statement), is counted once', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', transfer(9000))).body;
  const body = { credit_id: `dup_${p.id}`, amount: 3000, currency: 'EUR', reference: referenceOf(p) };
  const answers = await Promise.all([credit(m, body), credit(m, body), credit(m, body)]);
  expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 201]);
  expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
  const csv = `credit_id,value_date,amount,currency,reference,payer_name,payer_account\n${body.credit_id},2026-12-01,30.00,EUR,${referenceOf(p)},Erika,DE02120300000000202051\n`;
  const imported = await m.api.post('/v1/bank_statements', csv, { 'content-type': 'text/csv' });
  expect(imported.status).toBe(200);
  expect(imported.body.credits).toEqual([expect.objectContaining({ credit_id: body.credit_id, duplicate: true })]);
  const after = await eventually(getPayment(m, p.id), (x) => x.amount_received === 3000);
  expect(after.status).toBe('requires_action');
  const mine = (await m.api.get('/v1/bank_credits')).body.data;
  expect(mine).toHaveLength(1);
});

test('expired with part of the money: canceled, the part returned to the payer; a later credit is returned too', async () => {
  const m = await newMerchant(stack);
  expect((await m.api.post('/v1/bank_transfer_settings', { expires_after_seconds: 3 })).body).toMatchObject({ expires_after_seconds: 3, underpaid: 'return', overpaid: 'customer_balance' });
  const p = (await m.api.post('/v1/payments', transfer(6000))).body;
  const part = await credit(m, { amount: 2500, currency: 'EUR', reference: referenceOf(p) });
  expect(part.body).toMatchObject({ status: 'applied', amount_applied: 2500 });
  const expired = await eventually(getPayment(m, p.id), (x) => x.status === 'canceled');
  expect(expired).toMatchObject({ failure: { code: 'expired' }, amount_received: 2500, amount_captured: 0 });
  const returned = await eventually(() => m.api.get('/v1/bank_payouts').then((r) => r.body.data), (d) => d.length === 1);
  expect(returned[0]).toMatchObject({ kind: 'return', amount: 2500, payment_id: p.id, status: 'pending', payee: expect.objectContaining({ name: PAYER.name }) });

  const late = await credit(m, { amount: 3500, currency: 'EUR', reference: referenceOf(p) });
  expect(late.body).toMatchObject({ status: 'returned', payment_id: p.id, amount_applied: 0, amount_excess: 3500, excess_to: 'returned' });
  const payouts = (await m.api.get('/v1/bank_payouts?status=pending')).body.data;
  expect(payouts.map((x: { amount: number }) => x.amount).sort()).toEqual([2500, 3500]);
  // The bank pays them out: one confirmed by the test helper, one by the statement's debit line.
  const byHelper = await m.api.post(`/v1/test_helpers/bank_payouts/${returned[0].id}/confirm`, {});
  expect(byHelper.body).toMatchObject({ status: 'paid' });
  const other = payouts.find((x: { amount: number }) => x.amount === 3500);
  const csv = `credit_id,value_date,amount,currency,direction,reference\nout_${other.id},2026-12-02,35.00,EUR,debit,${other.id}\n`;
  const statement = await m.api.post('/v1/bank_statements', csv, { 'content-type': 'text/csv' });
  expect(statement.body).toMatchObject({ payouts_confirmed: [other.id], debits_unknown: [] });
  expect((await m.api.get('/v1/bank_payouts?status=pending')).body.data).toEqual([]);
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([]);
});

test('underpaid with a customer and a keep-as-balance policy: the part received becomes their balance', async () => {
  const m = await newMerchant(stack);
  await m.api.post('/v1/bank_transfer_settings', { expires_after_seconds: 2, underpaid: 'customer_balance' });
  const customer = (await m.api.post('/v1/customers', { name: 'Keeper' })).body;
  const p = (await m.api.post('/v1/payments', transfer(800, { customer_id: customer.id }))).body;
  await credit(m, { amount: 300, currency: 'EUR', reference: referenceOf(p) });
  await eventually(getPayment(m, p.id), (x) => x.status === 'canceled');
  const balance = await eventually(() => m.api.get(`/v1/customers/${customer.id}/balance`).then((r) => r.body), (b) => b.balances.length > 0);
  expect(balance.balances).toEqual([{ currency: 'EUR', amount: 300 }]);
  expect((await m.api.get('/v1/bank_payouts')).body.data).toEqual([]);
});

test('a refund of a transfer is a payout: pending until the bank confirms it, then succeeded', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', transfer(2000))).body;
  await credit(m, { amount: 2000, currency: 'EUR', reference: referenceOf(p) });
  await eventually(getPayment(m, p.id), (x) => x.status === 'captured');
  const refund = await m.api.post('/v1/refunds', { payment_id: p.id, amount: 1200 });
  expect(refund.status).toBe(201);
  expect(refund.body).toMatchObject({ status: 'pending' });
  const payout = await eventually(() => m.api.get('/v1/bank_payouts').then((r) => r.body.data), (d) => d.length === 1);
  expect(payout[0]).toMatchObject({ kind: 'refund', refund_id: refund.body.id, amount: 1200, status: 'pending', payee: expect.objectContaining({ account: PAYER.account }) });
  expect((await m.api.get(`/v1/refunds/${refund.body.id}`)).body.status).toBe('pending');
  await m.api.post(`/v1/test_helpers/bank_payouts/${payout[0].id}/confirm`, {});
  expect(await eventually(() => m.api.get(`/v1/refunds/${refund.body.id}`).then((r) => r.body), (r) => r.status === 'succeeded')).toMatchObject({ amount: 1200 });
  expect(await eventually(getPayment(m, p.id), (x) => x.status === 'partially_refunded')).toMatchObject({ amount_refunded: 1200 });
  expect(await operations(m, p.id)).toEqual(['authorize:2000', 'capture:2000', 'refund:1200']);
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'EUR', amount: 800 }]);
});

test('a refund asked for the moment the payment is captured goes to the payer, before the credit itself records where it went', async () => {
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', transfer(1500))).body;
  const paid = (await credit(m, { amount: 1500, currency: 'EUR', reference: referenceOf(p) })).body;
  await eventually(getPayment(m, p.id), (x) => x.status === 'captured');
  // The window between the payment taking the credit and the credit's workflow settling it:
  // the credit's row as it stands then (a busy worker can hold it there for seconds).
  const settled = (await stack.pool.query('SELECT status, payment_id, amount_applied FROM bank_credits WHERE id = $1', [paid.id])).rows[0];
  await stack.pool.query(`UPDATE bank_credits SET status = 'pending', payment_id = NULL, amount_applied = 0 WHERE id = $1`, [paid.id]);
  try {
    const refund = await m.api.post('/v1/refunds', { payment_id: p.id, amount: 500 });
    expect(refund.status).toBe(201);
    const payout = await eventually(() => m.api.get('/v1/bank_payouts').then((r) => r.body.data), (d) => d.length === 1);
    expect(payout[0]).toMatchObject({ kind: 'refund', refund_id: refund.body.id, amount: 500, payee: expect.objectContaining({ account: PAYER.account }) });
    expect((await m.api.get(`/v1/refunds/${refund.body.id}`)).body.status).toBe('pending');
  } finally {
    await stack.pool.query('UPDATE bank_credits SET status = $2, payment_id = $3, amount_applied = $4 WHERE id = $1', [paid.id, settled.status, settled.payment_id, settled.amount_applied]);
  }
});

test('modes and merchants stay apart: live transfers go to the configured account, test credits never fund them', async () => {
  const m = await newMerchant(stack);
  expect((await m.live.post('/v1/test_helpers/bank_transfers/incoming', { amount: 100, currency: 'EUR' })).status).toBe(400);
  // Live: our real receiving account, the `bank` provider; a currency without one is a clear 400.
  const live = await m.live.post('/v1/payments', { amount: 10000, currency: 'EUR', payment_method: { type: 'bank_transfer' } });
  expect(live.status).toBe(201);
  expect(live.body).toMatchObject({ livemode: true, provider: 'bank', status: 'requires_action', next_action: { display_bank_transfer_instructions: { financial_addresses: [{ iban: { iban: LIVE_ACCOUNTS.EUR.iban } }] } } });
  const usd = await m.live.post('/v1/payments', { amount: 10000, currency: 'USD', payment_method: { type: 'bank_transfer' } });
  expect(usd.status).toBe(400);
  expect(usd.body.error).toMatchObject({ param: 'currency' });
  // A test credit quoting the live reference matches nothing.
  const test = await credit(m, { amount: 10000, currency: 'EUR', reference: referenceOf(live.body) });
  expect(test.body).toMatchObject({ status: 'unmatched', livemode: false });
  // Another merchant's test credit quoting this merchant's test reference: nothing either.
  const mine = (await m.api.post('/v1/payments', transfer(500))).body;
  const other = await newMerchant(stack);
  expect((await credit(other, { amount: 500, currency: 'EUR', reference: referenceOf(mine) })).body).toMatchObject({ status: 'unmatched' });
  expect((await getPayment(m, mine.id)()).amount_received).toBe(0);

  // The bank's live feed funds the live payment; its unmatched credits are the operator's.
  expect((await bankFeed({ type: 'credit.received', data: { credit_id: 'x', value_date: '2026-12-01', amount: 1, currency: 'EUR' } }, 'wrong-secret-000000')).status).toBe(400);
  const feed = { type: 'credit.received', data: { credit_id: `live_${live.body.id}`, value_date: '2026-12-01', amount: 10000, currency: 'EUR', reference: referenceOf(live.body), payer: PAYER } };
  // The bank retries its delivery (our answer was lost): the same credit, counted once.
  const deliveries = await Promise.all([bankFeed(feed), bankFeed(feed)]);
  expect(deliveries.map((d) => d.status)).toEqual([200, 200]);
  expect(((await bankFeed(feed).then((r) => r.json())) as { duplicate: boolean }).duplicate).toBe(true);
  expect(await eventually(() => m.live.get(`/v1/payments/${live.body.id}`).then((r) => r.body), (x) => x.status === 'captured')).toMatchObject({ amount_captured: 10000 });
  expect((await m.live.get('/v1/balance')).body.balances).toEqual([{ currency: 'EUR', amount: 10000 }]);
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([]);
  const stray = await bankFeed({ type: 'credit.received', data: { credit_id: `stray_${live.body.id}`, value_date: '2026-12-01', amount: 777, currency: 'EUR', reference: 'no idea' } });
  expect(stray.status).toBe(200);
  const admin = client(stack.url, ADMIN_KEY);
  const unmatched = await eventually(() => admin.get('/v1/admin/bank_credits?status=unmatched&livemode=true').then((r) => r.body.data), (d) => d.length > 0);
  expect(unmatched.find((c: { credit_id: string }) => c.credit_id === `stray_${live.body.id}`)).toMatchObject({ status: 'unmatched', amount: 777 });
  expect((await m.live.get('/v1/bank_credits?status=unmatched')).body.data).toEqual([]);
});

test('a camt.053 statement from the platform account: credits matched across merchants by reference, typo or not', async () => {
  const m1 = await newMerchant(stack);
  const m2 = await newMerchant(stack);
  const p1 = (await m1.api.post('/v1/payments', transfer(1999))).body;
  const p2 = (await m2.api.post('/v1/payments', transfer(50000))).body;
  const entry = (id: string, amount: string, ref: string) => `
      <Ntry><Amt Ccy="EUR">${amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-12-01</Dt></BookgDt><ValDt><Dt>2026-12-01</Dt></ValDt><AcctSvcrRef>${id}</AcctSvcrRef>
        <NtryDtls><TxDtls><Refs><AcctSvcrRef>${id}</AcctSvcrRef></Refs><RltdPties><Dbtr><Nm>Payer ${id}</Nm></Dbtr><DbtrAcct><Id><IBAN>DE02120300000000202051</IBAN></Id></DbtrAcct></RltdPties>
        <RmtInf><Strd><CdtrRefInf><Ref>${ref}</Ref></CdtrRefInf></Strd></RmtInf></TxDtls></NtryDtls></Ntry>`;
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>s1</MsgId><CreDtTm>2026-12-02T06:00:00</CreDtTm></GrpHdr>
  <Stmt><Id>s1</Id><CreDtTm>2026-12-02T06:00:00</CreDtTm><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>
  ${entry(`camt1_${p1.id}`, '19.99', referenceOf(p1))}
  ${entry(`camt2_${p2.id}`, '200.00', referenceOf(p2).replace(/^(RF\d\d)(\d)(\d)/, (_all: string, head: string, a: string, b: string) => (a === b ? `${head}${a}${b}` : `${head}${b}${a}`)))}
  </Stmt></BkToCstmrStmt></Document>`;
  // A merchant key cannot choose the mode; the admin key imports the platform's (test) account.
  expect((await m1.api.post('/v1/bank_statements?livemode=false', xml, { 'content-type': 'application/xml' }))).toMatchObject({ status: 403, body: { error: { type: 'permission_error', param: 'livemode' } } });
  expect((await client(stack.url, ADMIN_KEY).post('/v1/bank_statements?livemode=false', '<not-camt/>', { 'content-type': 'application/xml' })).status).toBe(400);
  const res = await client(stack.url, ADMIN_KEY).post('/v1/bank_statements?livemode=false', xml, { 'content-type': 'application/xml' });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ format: 'camt.053', livemode: false });
  expect(res.body.credits).toHaveLength(2);
  await eventually(getPayment(m1, p1.id), (x) => x.status === 'captured');
  const partly = await eventually(getPayment(m2, p2.id), (x) => x.amount_received === 20000);
  expect(partly.status).toBe('requires_action');
  // Each merchant sees the credit that paid its own payment, and only that one.
  // (The credit's own record follows its payment's: the workflow writes it once the payment took the money.)
  const mine = await eventually(() => m1.api.get('/v1/bank_credits').then((r) => r.body.data as { payment_id: string | null; status: string }[]), (d) => d[0]?.status === 'applied');
  expect(mine.map((c) => c.payment_id)).toEqual([p1.id]);
  const seen = await eventually(() => m2.api.get('/v1/bank_credits').then((r) => r.body.data), (d) => d[0]?.status === 'applied');
  expect(seen).toEqual([expect.objectContaining({ payment_id: p2.id, amount_applied: 20000, matched_by: expect.stringMatching(/^reference/) })]);
});

test('bad input is a clear 400, and nothing is written', async () => {
  const m = await newMerchant(stack);
  const before = (await stack.pool.query('SELECT count(*)::int AS n FROM bank_credits')).rows[0].n;
  for (const body of [{ amount: 0, currency: 'EUR' }, { amount: 1.5, currency: 'EUR' }, { amount: 100, currency: 'ABC' }, { amount: 100, currency: 'EUR', value_date: '2026-02-30' }, { amount: 100, currency: 'EUR', surprise: 1 }]) {
    const res = await m.api.post('/v1/test_helpers/bank_transfers/incoming', body);
    expect(res.status).toBe(400);
    expect(res.body.error.type).toBe('invalid_request_error');
  }
  const csv = await m.api.post('/v1/bank_statements', 'credit_id,value_date,amount,currency\nx1,2026-12-01,10.001,EUR\n', { 'content-type': 'text/csv' });
  expect(csv.status).toBe(400);
  expect(csv.body.error).toMatchObject({ code: 'statement_invalid', message: expect.stringContaining('Line 2') });
  expect((await m.api.post('/v1/bank_transfer_settings', { underpaid: 'keep' })).status).toBe(400);
  expect((await stack.pool.query('SELECT count(*)::int AS n FROM bank_credits')).rows[0].n).toBe(before);
});
