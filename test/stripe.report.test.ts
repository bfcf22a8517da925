import type Stripe from 'stripe';
import type { SettlementLine } from '../reconciliation/report';
import type { CaptureMethod } from '../domain/payment';
import { ProviderFault } from '../providers/provider';
import { StripeProvider } from '../providers/stripe/stripe.provider';
import { lineTypeOf, settlementLineOf, utcDayRange } from '../providers/stripe/stripe.report';
import type { FakeStripe } from './support/fake-stripe';
import { startFakeStripe } from './support/fake-stripe';

// Stripe's settlement report at the Stripe edge: payments captured and refunded through the real
// provider and SDK against the stateful fake Stripe (no Temporal, no PostgreSQL), then its balance
// history of a UTC day read back as our settlement lines. A fresh Stripe account per test.
let fake: FakeStripe;
let stripe: StripeProvider;
beforeEach(async () => {
  fake = await startFakeStripe('whsec_report_0123456789');
  stripe = new StripeProvider({ secretKey: 'sk_test_report', apiBase: fake.url });
});
afterEach(async () => fake?.close());

const today = new Date().toISOString().slice(0, 10);
const dayAfter = (date: string, days = 1) => new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
const yesterday = dayAfter(today, -1);
const tomorrow = dayAfter(today);
const report = (date = today, livemode = false) => stripe.settlementReport({ date, livemode });

let n = 0;
/** A card payment authorized through the provider; its PaymentIntent id is our payment's `provider_reference`. */
async function authorize(amount: number, currency: string, captureMethod: CaptureMethod = 'automatic', token = 'pm_card_visa') {
  const paymentId = `pay_report_${++n}`;
  const result = await stripe.authorize({
    paymentId, merchantId: 'mer_report', amount, currency, method: { type: 'card', token }, captureMethod, channel: 'web', returnUrl: null,
    actionExpiresAt: new Date(Date.now() + 60_000).toISOString(), idempotencyKey: `${paymentId}:authorize`,
  });
  return { paymentId, currency, reference: result.reference!, status: result.status };
}
type Paid = Awaited<ReturnType<typeof authorize>>;
const capture = async (p: Paid, amount: number) =>
  expect(await stripe.capture({ paymentId: p.paymentId, reference: p.reference, amount, currency: p.currency, idempotencyKey: `${p.paymentId}:capture` })).toEqual({ status: 'succeeded' });
async function refund(p: Paid, amount: number) {
  const refundId = `ref_report_${++n}`;
  const result = await stripe.refund({ paymentId: p.paymentId, refundId, reference: p.reference, amount, currency: p.currency, idempotencyKey: `${p.paymentId}:refund:${refundId}` });
  const { data } = await stripe.stripe.refunds.list({ payment_intent: p.reference });
  return { refundId, re: data.find((r) => r.metadata?.refund_id === refundId)!.id, status: result.status };
}

const charge = (p: Paid, gross: number, fee: number, at: string): SettlementLine => ({
  provider: 'stripe', provider_reference: p.reference, payment_id: p.paymentId, refund_id: null, type: 'charge', gross, fee, net: gross - fee,
  currency: p.currency, settled_at: at,
});
const refundLine = (p: Paid, r: { refundId: string; re: string }, amount: number, at: string): SettlementLine => ({
  provider: 'stripe', provider_reference: r.re, payment_id: p.paymentId, refund_id: r.refundId, type: 'refund', gross: -amount, fee: 0, net: -amount,
  currency: p.currency, settled_at: at,
});
const balanceCalls = () => fake.requests.filter((r) => r.method === 'GET' && r.path === '/v1/balance_transactions');

test("today's report: each capture with Stripe's fee (2.9 % + 30, rounded half up), each refund negative with its fee kept, our ids from metadata, oldest first", async () => {
  const at = `${today}T09:30:00.000Z`;
  fake.setClock(at);
  const usd = await authorize(10_000, 'USD');
  const eur = await authorize(2599, 'EUR', 'manual');
  await capture(eur, 1500); // partial: Stripe books what is captured; 1500 × 2.9 % = 43.5, half up to 44
  const jpy = await authorize(500, 'JPY');
  const usdRefund = await refund(usd, 4000);
  const eurRefund = await refund(eur, 1500);
  // Nothing moves without a capture: declined, still authorized, canceled.
  expect((await authorize(1000, 'USD', 'automatic', 'pm_card_chargeDeclined')).status).toBe('declined');
  await authorize(700, 'USD', 'manual');
  const canceled = await authorize(800, 'USD', 'manual');
  expect(await stripe.cancel({ paymentId: canceled.paymentId, reference: canceled.reference, idempotencyKey: `${canceled.paymentId}:void` })).toEqual({ status: 'succeeded' });

  expect(await report()).toEqual([
    charge(usd, 10_000, 320, at),
    charge(eur, 1500, 74, at),
    charge(jpy, 500, 45, at),
    refundLine(usd, usdRefund, 4000, at),
    refundLine(eur, eurRefund, 1500, at),
  ]);
  expect(balanceCalls().map((r) => r.query)).toEqual([{
    'created[gte]': String(Date.parse(`${today}T00:00:00Z`) / 1000), 'created[lt]': String(Date.parse(`${today}T00:00:00Z`) / 1000 + 86_400), limit: '100', 'expand[0]': 'data.source',
  }]);
  expect(await report(yesterday)).toEqual([]);
});

test('the fake books balance transactions as Stripe does: charge and refund lines, fee details, sources expanded with PaymentIntent and metadata', async () => {
  fake.setClock(`${today}T09:30:00Z`);
  const usd = await authorize(10_000, 'USD');
  const r = await refund(usd, 2500);
  const charged = fake.intents.get(usd.reference)!.latest_charge!;
  const created = Date.parse(`${today}T09:30:00Z`) / 1000;
  const availableOn = Date.parse(`${today}T00:00:00Z`) / 1000 + 2 * 86_400;
  const [chargeTxn, refundTxn] = (await stripe.stripe.balanceTransactions.list({ expand: ['data.source'] })).data.reverse();
  expect(chargeTxn).toMatchObject({
    id: expect.stringMatching(/^txn_/), object: 'balance_transaction', type: 'charge', reporting_category: 'charge', amount: 10_000, fee: 320, net: 9680,
    fee_details: [{ amount: 320, currency: 'usd', type: 'stripe_fee', description: 'Stripe processing fees' }], currency: 'usd', created, available_on: availableOn,
    status: 'pending', source: { id: charged, object: 'charge', payment_intent: usd.reference, metadata: { payment_id: usd.paymentId, merchant_id: 'mer_report' }, amount_refunded: 2500 },
  });
  expect(refundTxn).toMatchObject({
    type: 'refund', reporting_category: 'refund', amount: -2500, fee: 0, fee_details: [], net: -2500, currency: 'usd',
    source: { id: r.re, object: 'refund', payment_intent: usd.reference, charge: charged, metadata: { payment_id: usd.paymentId, refund_id: r.refundId } },
  });
  // Without expand the source is the id; the charge and the refund are there by it.
  const plain = (await stripe.stripe.balanceTransactions.list()).data;
  expect(plain.map((t) => t.source)).toEqual([r.re, charged]);
  expect(await stripe.stripe.charges.retrieve(charged)).toMatchObject({ payment_intent: usd.reference, balance_transaction: chargeTxn!.id, captured: true, amount_captured: 10_000 });
  expect(await stripe.stripe.refunds.retrieve(r.re)).toMatchObject({ balance_transaction: refundTxn!.id, status: 'succeeded' });
  expect(await stripe.stripe.balanceTransactions.retrieve(chargeTxn!.id)).toMatchObject({ amount: 10_000, source: charged });
  // Funds become available two days later at midnight UTC.
  fake.setClock(new Date(availableOn * 1000));
  expect((await stripe.stripe.balanceTransactions.retrieve(chargeTxn!.id)).status).toBe('available');

  // What Stripe refuses, the fake refuses.
  await expect(stripe.stripe.balanceTransactions.list({ limit: 101 })).rejects.toMatchObject({ statusCode: 400, param: 'limit' });
  await expect(stripe.stripe.balanceTransactions.list({ colour: 'blue' } as never)).rejects.toMatchObject({ statusCode: 400, message: 'Received unknown parameter: colour' });
  await expect(stripe.stripe.balanceTransactions.list({ expand: ['data.source.customer'] })).rejects.toMatchObject({ statusCode: 400 });
  await expect(stripe.stripe.balanceTransactions.list({ payout: 'po_none' })).rejects.toMatchObject({ statusCode: 404, code: 'resource_missing' });
});

test("pagination: Stripe's list semantics (limit, has_more, starting_after, ending_before, type), and a report of more than one page of 100", async () => {
  fake.setClock(`${today}T12:00:00Z`);
  const paid: Paid[] = [];
  for (let i = 0; i < 103; i++) paid.push(await authorize(1000 + i, 'USD'));
  const r = await refund(paid[0]!, 100);

  const first = await stripe.stripe.balanceTransactions.list({ limit: 2 });
  expect([first.data.length, first.has_more, first.data[0]!.source]).toEqual([2, true, r.re]); // newest first
  const second = await stripe.stripe.balanceTransactions.list({ limit: 2, starting_after: first.data[1]!.id });
  expect(second.data.map((t) => t.amount)).toEqual([1101, 1100]);
  const back = await stripe.stripe.balanceTransactions.list({ limit: 2, ending_before: second.data[0]!.id });
  expect(back.data.map((t) => t.id)).toEqual(first.data.map((t) => t.id));
  const last = await stripe.stripe.balanceTransactions.list({ limit: 5, starting_after: fake.balanceTransactions[2]!.id });
  expect([last.data.map((t) => t.amount), last.has_more]).toEqual([[1001, 1000], false]);
  expect((await stripe.stripe.balanceTransactions.list({ type: 'refund' })).data.map((t) => t.amount)).toEqual([-100]);
  await expect(stripe.stripe.balanceTransactions.list({ starting_after: 'txn_unknown' })).rejects.toMatchObject({ code: 'resource_missing' });

  fake.requests.length = 0;
  const lines = await report();
  expect(lines).toHaveLength(104);
  expect(lines.slice(0, 103).map((l) => [l.payment_id, l.gross])).toEqual(paid.map((p, i) => [p.paymentId, 1000 + i]));
  expect(lines[103]).toMatchObject({ type: 'refund', provider_reference: r.re, gross: -100 });
  const calls = balanceCalls();
  expect(calls.map((c) => [c.query.limit, c.query.starting_after])).toEqual([['100', undefined], ['100', expect.stringMatching(/^txn_/)]]);
  expect(calls[1]!.query).toMatchObject({ 'created[gte]': calls[0]!.query['created[gte]'], 'created[lt]': calls[0]!.query['created[lt]'], 'expand[0]': 'data.source' });
});

test('the UTC day boundary: a line booked a second before midnight is yesterday\'s; an authorization of yesterday captured today is today\'s', async () => {
  fake.setClock(`${yesterday}T23:59:59Z`);
  const late = await authorize(2000, 'USD');
  const held = await authorize(3000, 'EUR', 'manual');
  fake.setClock(`${today}T00:00:00Z`);
  const early = await authorize(1000, 'USD');
  await capture(held, 3000);
  fake.setClock(`${today}T23:59:59Z`);
  const r = await refund(late, 2000);
  fake.setClock(`${today}T23:59:59.999Z`);
  await authorize(500, 'USD'); // still today's last second
  fake.setClock(`${tomorrow}T00:00:00Z`);
  const next = await authorize(600, 'USD');

  expect(await report(yesterday)).toEqual([charge(late, 2000, 88, `${yesterday}T23:59:59.000Z`)]);
  const todays = await report();
  expect(todays.map((l) => [l.provider_reference, l.type, l.settled_at])).toEqual([
    [early.reference, 'charge', `${today}T00:00:00.000Z`],
    [held.reference, 'charge', `${today}T00:00:00.000Z`],
    [r.re, 'refund', `${today}T23:59:59.000Z`],
    [expect.stringMatching(/^pi_/), 'charge', `${today}T23:59:59.000Z`],
  ]);
  expect(await report(tomorrow)).toEqual([charge(next, 600, 47, `${tomorrow}T00:00:00.000Z`)]);
});

test('each injected discrepancy shows in the report, and clearing them gives Stripe\'s true books back', async () => {
  const at = `${today}T08:00:00.000Z`;
  fake.setClock(at);
  const [a, b, c, d] = [await authorize(1000, 'USD'), await authorize(2000, 'USD'), await authorize(3000, 'EUR'), await authorize(4000, 'USD')];
  const r = await refund(d, 4000);
  const truth = await report();
  expect(truth).toEqual([charge(a, 1000, 59, at), charge(b, 2000, 88, at), charge(c, 3000, 117, at), charge(d, 4000, 146, at), refundLine(d, r, 4000, at)]);

  fake.injectBalanceDiscrepancy({ kind: 'missing_line', paymentIntent: a.reference });
  fake.injectBalanceDiscrepancy({ kind: 'amount', paymentIntent: b.reference, amount: 1900 });
  fake.injectBalanceDiscrepancy({ kind: 'fee', paymentIntent: c.reference, fee: 150 });
  fake.injectBalanceDiscrepancy({ kind: 'missing_line', paymentIntent: d.reference }); // the charge goes, its refund stays
  fake.injectBalanceDiscrepancy({ kind: 'unknown_charge', amount: 5000, currency: 'GBP' });
  const lines = await report();
  expect(lines).toEqual([
    charge(b, 1900, 88, at),
    charge(c, 3000, 150, at),
    refundLine(d, r, 4000, at),
    {
      provider: 'stripe', provider_reference: expect.stringMatching(/^pi_/), payment_id: null, refund_id: null, type: 'charge', gross: 5000, fee: 175, net: 4825,
      currency: 'GBP', settled_at: at,
    },
  ]);
  expect([a, b, c, d].map((p) => p.reference)).not.toContain(lines[3]!.provider_reference);
  expect(() => fake.injectBalanceDiscrepancy({ kind: 'fee', paymentIntent: 'pi_unknown', fee: 1 })).toThrow('no PaymentIntent pi_unknown');

  fake.clearBalanceDiscrepancies();
  expect(await report()).toEqual(truth);
});

test('refunds are booked when they settle, and a refund that fails later comes back as an adjustment', async () => {
  const at = `${today}T10:00:00.000Z`;
  fake.setClock(at);
  const p = await authorize(5000, 'USD');
  fake.pendingRefunds();
  const pending = await refund(p, 1000);
  expect(pending.status).toBe('pending');
  expect((await report()).map((l) => l.type)).toEqual(['charge']);
  fake.pendingRefunds(false);
  const settledAt = `${today}T11:00:00.000Z`;
  fake.setClock(settledAt);
  await fake.settleRefund(pending.refundId);
  const failing = await refund(p, 2000);
  await fake.failRefund(failing.refundId);
  expect((await report()).slice(1)).toEqual([
    refundLine(p, pending, 1000, settledAt),
    refundLine(p, failing, 2000, settledAt),
    { ...refundLine(p, failing, 2000, settledAt), type: 'adjustment', gross: 2000, net: 2000 },
  ]);
});

test('faults: an outage retries, a revoked key or a malformed day does not, and one key reads one mode\'s books', async () => {
  fake.outage(1);
  const outage = await report().catch((e: unknown) => e);
  expect(outage).toBeInstanceOf(ProviderFault);
  expect(outage).toMatchObject({ retryable: true });
  expect(await report()).toEqual([]);

  fake.revokeKey();
  await expect(report()).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('Invalid API Key') });
  fake.revokeKey(false);

  fake.requests.length = 0;
  for (const date of ['2025-02-30', '2025-1-05', 'yesterday', `${today}T00:00:00Z`]) {
    const refused = await report(date).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ProviderFault);
    expect(refused).toMatchObject({ retryable: false, message: expect.stringContaining(`'${date}'`) });
  }
  await expect(report(today, true)).rejects.toMatchObject({ retryable: false, message: expect.stringContaining("test key cannot read live mode's") });
  expect(fake.requests).toEqual([]); // refused before any call

  const live = await startFakeStripe('whsec_report_live_0123456789', { mode: 'live', feeBps: 150, feeFixed: 25 });
  try {
    live.setClock(`${today}T12:00:00Z`);
    const liveStripe = new StripeProvider({ secretKey: 'sk_live_report', apiBase: live.url });
    await liveStripe.authorize({
      paymentId: 'pay_live', merchantId: 'mer_report', amount: 10_000, currency: 'EUR', method: { type: 'card', token: 'pm_card_visa' }, captureMethod: 'automatic',
      channel: 'web', returnUrl: null, actionExpiresAt: new Date(Date.now() + 60_000).toISOString(), idempotencyKey: 'pay_live:authorize',
    });
    // Another account's pricing (1.5 % + 25) comes through as Stripe books it.
    expect(await liveStripe.settlementReport({ date: today, livemode: true })).toMatchObject([{ payment_id: 'pay_live', gross: 10_000, fee: 175, net: 9825 }]);
    await expect(liveStripe.settlementReport({ date: today, livemode: false })).rejects.toMatchObject({ retryable: false });
  } finally {
    await live.close();
  }
});

describe('mapping a balance transaction (pure)', () => {
  const txn = (over: Partial<Stripe.BalanceTransaction>): Stripe.BalanceTransaction => ({
    id: 'txn_1', object: 'balance_transaction', amount: 1000, available_on: 1_700_172_800, created: 1_700_000_000, currency: 'usd', description: null,
    exchange_rate: null, fee: 59, fee_details: [], net: 941, reporting_category: 'charge', source: null, status: 'available', type: 'charge', ...over,
  } as Stripe.BalanceTransaction);
  const base = { provider: 'stripe', payment_id: null, refund_id: null, currency: 'USD', settled_at: '2023-11-14T22:13:20.000Z' };

  test('a source not expanded, or none, still maps, without our ids', () => {
    expect(settlementLineOf(txn({ source: 'ch_1' }))).toEqual({ ...base, provider_reference: 'ch_1', type: 'charge', gross: 1000, fee: 59, net: 941 });
    expect(settlementLineOf(txn({ source: null, reporting_category: 'fee', type: 'stripe_fee', amount: -500, fee: 0, net: -500 })))
      .toEqual({ ...base, provider_reference: 'txn_1', type: 'fee', gross: -500, fee: 0, net: -500 });
  });

  test('a charge without our metadata, a dispute (its PaymentIntent), a fee given back on a refund', () => {
    const stranger = { id: 'ch_2', object: 'charge', payment_intent: 'pi_2', metadata: {} } as unknown as Stripe.Charge;
    expect(settlementLineOf(txn({ source: stranger }))).toMatchObject({ provider_reference: 'pi_2', payment_id: null, refund_id: null });
    const legacy = { id: 'ch_3', object: 'charge', payment_intent: null, metadata: { payment_id: 'pay_3' } } as unknown as Stripe.Charge;
    expect(settlementLineOf(txn({ source: legacy }))).toMatchObject({ provider_reference: 'ch_3', payment_id: 'pay_3' });
    const dispute = { id: 'du_1', object: 'dispute', payment_intent: 'pi_4', metadata: {} } as unknown as Stripe.Dispute;
    expect(settlementLineOf(txn({ source: dispute, reporting_category: 'dispute', type: 'adjustment', amount: -1000, fee: 1500, net: -2500 })))
      .toMatchObject({ provider_reference: 'pi_4', type: 'adjustment', gross: -1000, fee: 1500, net: -2500 });
    const re = { id: 're_5', object: 'refund', payment_intent: 'pi_5', metadata: { payment_id: 'pay_5', refund_id: 'ref_5' } } as unknown as Stripe.Refund;
    expect(settlementLineOf(txn({ source: re, reporting_category: 'refund', type: 'refund', amount: -1000, fee: -59, net: -941 })))
      .toEqual({ ...base, provider_reference: 're_5', payment_id: 'pay_5', refund_id: 'ref_5', type: 'refund', gross: -1000, fee: -59, net: -941 });
  });

  test('reporting categories: charge, refund and fee are ours, everything else is an adjustment', () => {
    expect(['charge', 'refund', 'fee', 'dispute', 'payout', 'refund_failure', 'risk_reserved_funds', 'other_adjustment'].map(lineTypeOf))
      .toEqual(['charge', 'refund', 'fee', 'adjustment', 'adjustment', 'adjustment', 'adjustment', 'adjustment']);
  });

  test('currencies Stripe counts in other units come back in ours (ISK in Stripe hundredths), net = gross - fee kept', () => {
    expect(settlementLineOf(txn({ currency: 'isk', amount: 150_000, fee: 4380, net: 145_620 }))).toMatchObject({ currency: 'ISK', gross: 1500, fee: 44, net: 1456 });
    expect(settlementLineOf(txn({ currency: 'jpy', amount: 500, fee: 45, net: 455 }))).toMatchObject({ currency: 'JPY', gross: 500, fee: 45, net: 455 });
  });

  test('a day is the UTC day, in Unix seconds', () => {
    expect(utcDayRange('2024-02-29')).toEqual({ gte: 1_709_164_800, lt: 1_709_251_200 });
    expect(() => utcDayRange('2023-02-29')).toThrow(ProviderFault);
  });
});
