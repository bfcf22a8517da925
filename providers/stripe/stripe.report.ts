import type Stripe from 'stripe';
import type { SettlementLine } from '../../reconciliation/report';
import { ProviderFault } from '../provider';
import { fromStripeAmount } from './stripe.mapper';

/** Pure transforms between Stripe's balance history and our settlement lines: no I/O here. */

const DAY_SECONDS = 86_400;
/** Stripe's largest page: a day of balance history in as few calls as Stripe allows. */
const PAGE_SIZE = 100;

/** Stripe keys say their mode (`sk_live_…`, `rk_live_…`); anything else is a test key or a local fake's. */
export const isLiveKey = (secretKey: string): boolean => /^(sk|rk)_live_/.test(secretKey);

/** One UTC day (Stripe books in UTC) as the `created` range of Stripe's list, in Unix seconds. */
export function utcDayRange(date: string): { gte: number; lt: number } {
  const start = /^\d{4}-\d{2}-\d{2}$/.test(date) ? Date.parse(`${date}T00:00:00Z`) : NaN;
  // A round trip refuses days that do not exist (2025-02-30) instead of reading the next month's.
  if (Number.isNaN(start) || new Date(start).toISOString().slice(0, 10) !== date) {
    throw new ProviderFault(`stripe: no settlement report for '${date}': a day is YYYY-MM-DD`, false);
  }
  return { gte: start / 1000, lt: start / 1000 + DAY_SECONDS };
}

/**
 * The balance transactions of one UTC day, each with its charge or refund in place of the id:
 * the PaymentIntent and our metadata come with the list, no call per line.
 */
export function settlementListParams(date: string): Stripe.BalanceTransactionListParams {
  return { created: utcDayRange(date), limit: PAGE_SIZE, expand: ['data.source'] };
}

/** Stripe's accounting categories in ours: disputes, payouts, reserves and the like are adjustments. */
const LINE_TYPES: Partial<Record<string, SettlementLine['type']>> = { charge: 'charge', refund: 'refund', fee: 'fee' };
export const lineTypeOf = (reportingCategory: string): SettlementLine['type'] => LINE_TYPES[reportingCategory] ?? 'adjustment';

/** What a line needs of its source, whichever object it is (charge, refund, dispute...). */
type Source = { id: string; object: string; payment_intent?: string | { id: string } | null; metadata?: Stripe.Metadata | null };

const expandedSource = (txn: Stripe.BalanceTransaction): Source | null =>
  txn.source !== null && typeof txn.source === 'object' ? (txn.source as unknown as Source) : null;

/**
 * How our books know the line: a refund by its `re_…`; a charge (or a dispute of it) by its
 * PaymentIntent, the `provider_reference` of our payment. A source not expanded is only an id,
 * which is kept; a line without a source (a payout fee...) is known by its own `txn_…`.
 */
function referenceOf(txn: Stripe.BalanceTransaction, source: Source | null): string {
  if (typeof txn.source === 'string') return txn.source;
  if (!source) return txn.id;
  if (source.object === 'refund') return source.id;
  const paymentIntent = typeof source.payment_intent === 'string' ? source.payment_intent : source.payment_intent?.id;
  return paymentIntent ?? source.id;
}

/** Our ids, from the metadata we sent (copied onto the charge from the PaymentIntent); empty counts as absent. */
const ours = (value: string | undefined): string | null => value || null;

/**
 * Stripe counts a few currencies in other units than ISO 4217 (ISK ×100...), ours are ISO's. Gross
 * and net are converted, the fee is what lies between: integers, and `net = gross - fee` still
 * holds where a conversion is not exact (the same numbers as Stripe's for every other currency).
 */
function amountsOf(txn: Stripe.BalanceTransaction): Pick<SettlementLine, 'gross' | 'fee' | 'net' | 'currency'> {
  const currency = txn.currency.toUpperCase();
  const gross = Math.round(fromStripeAmount(txn.amount, currency));
  const net = Math.round(fromStripeAmount(txn.net, currency));
  return { gross, fee: gross - net, net, currency };
}

/** One balance transaction as a line of Stripe's settlement report, signed as Stripe books it. */
export function settlementLineOf(txn: Stripe.BalanceTransaction): SettlementLine {
  const source = expandedSource(txn);
  const metadata = source?.metadata ?? {};
  return {
    provider: 'stripe',
    provider_reference: referenceOf(txn, source),
    payment_id: ours(metadata.payment_id),
    refund_id: source?.object === 'refund' ? ours(metadata.refund_id) : null,
    type: lineTypeOf(txn.reporting_category),
    ...amountsOf(txn),
    settled_at: new Date(txn.created * 1000).toISOString(),
  };
}
