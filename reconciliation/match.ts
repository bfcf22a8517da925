import type { SettlementLine } from './report';

/** How an item of a run compares with the provider's report (as Hyperswitch and roncoo-pay classify). */
export const ITEM_STATUSES = [
  'matched', 'expected', 'missing_at_provider', 'missing_locally', 'amount_mismatch', 'currency_mismatch', 'status_mismatch', 'fee_mismatch',
] as const;
export type ItemStatus = (typeof ITEM_STATUSES)[number];

/** Statuses that are differences to explain (`expected` is still within the grace period). */
export const MISMATCH_STATUSES: readonly ItemStatus[] = ['missing_at_provider', 'missing_locally', 'amount_mismatch', 'currency_mismatch', 'status_mismatch', 'fee_mismatch'];

/** A capture or refund as our books hold it. */
export type LocalMovement = {
  kind: 'capture' | 'refund';
  merchant_id: string;
  payment_id: string;
  refund_id: string | null;
  provider_reference: string | null;
  /** Positive minor units: the amount captured, or refunded. */
  amount: number;
  currency: string;
  /** The payment's status for a capture, the refund's for a refund. */
  status: string;
  /** The fee the merchant's routing fee schedule expects for this provider, if it has one. */
  expected_fee: number | null;
  /** The merchant settles in another currency (FX): the fee, in the payment's currency, is not booked by itself. */
  cross_border: boolean;
};

export type Item = {
  key: string;
  status: ItemStatus;
  line: SettlementLine | null;
  local: LocalMovement | null;
  message: string;
  /** Post the provider's fee of this line: it is ours, and the amounts agree. */
  postFee: boolean;
};

const SETTLED_PAYMENT = ['captured', 'partially_refunded', 'refunded'];

/**
 * Compares one day's report with our books. Each line is matched to the movement `find` returns
 * (by provider reference, then by our ids); each movement of the day no line matched is expected
 * (within the grace period) or missing at the provider. Pure: the caller looks things up.
 */
export function reconcile(lines: SettlementLine[], find: (line: SettlementLine) => LocalMovement | undefined, dayMovements: LocalMovement[], withinGrace: boolean): Item[] {
  const items: Item[] = [];
  const seen = new Set<string>();
  const movementKey = (m: LocalMovement) => `${m.kind}:${m.payment_id}:${m.refund_id ?? ''}`;
  // Keys from what the line is, not where it sits: a report that grows during the day keeps its items (and their resolutions).
  const occurrences = new Map<string, number>();
  lines.forEach((line) => {
    const base = `line:${line.type}:${line.provider_reference}:${line.refund_id ?? ''}`;
    const n = occurrences.get(base) ?? 0;
    occurrences.set(base, n + 1);
    const key = n === 0 ? base : `${base}:${n}`;
    const local = line.type === 'charge' || line.type === 'refund' ? find(line) : undefined;
    if (!local) {
      items.push({ key, status: 'missing_locally', line, local: null, message: `The provider settled ${line.type} ${line.provider_reference} (${line.gross} ${line.currency}) that our books do not have.`, postFee: false });
      return;
    }
    seen.add(movementKey(local));
    items.push({ key, line, local, ...classify(line, local) });
  });
  for (const m of dayMovements) {
    if (seen.has(movementKey(m))) continue;
    const status: ItemStatus = withinGrace ? 'expected' : 'missing_at_provider';
    items.push({
      key: `local:${movementKey(m)}`, status, line: null, local: m, postFee: false,
      message: withinGrace ? `Our ${m.kind} of ${m.amount} ${m.currency} is not in the report yet (within the grace period).` : `Our ${m.kind} of ${m.amount} ${m.currency} is not in the provider's report.`,
    });
  }
  return items;
}

function classify(line: SettlementLine, local: LocalMovement): Pick<Item, 'status' | 'message' | 'postFee'> {
  const reported = Math.abs(line.gross);
  if (line.currency !== local.currency) return { status: 'currency_mismatch', message: `Reported in ${line.currency}, recorded in ${local.currency}.`, postFee: false };
  // Settled at the provider but not in our books (an authorization we never captured, a refund still pending): its amount means nothing yet.
  const settled = local.kind === 'capture' ? SETTLED_PAYMENT.includes(local.status) : local.status === 'succeeded';
  if (!settled) return { status: 'status_mismatch', message: `The provider settled this ${line.type}; our ${local.kind === 'capture' ? 'payment' : 'refund'} is ${local.status}.`, postFee: false };
  if (reported !== local.amount) return { status: 'amount_mismatch', message: `Reported ${reported} ${line.currency}, recorded ${local.amount}.`, postFee: false };
  if (local.expected_fee !== null && line.fee !== local.expected_fee) {
    return { status: 'fee_mismatch', message: `Fee ${line.fee} ${line.currency}, the fee schedule expected ${local.expected_fee}: the difference (${line.fee - local.expected_fee}) is booked with the fee.`, postFee: true };
  }
  if (local.cross_border) {
    return { status: 'matched', message: `Matched. Its fee (${line.fee} ${line.currency}) is not booked: the merchant is owed in its settlement currency, an operator books it.`, postFee: false };
  }
  return { status: 'matched', message: 'Matched.', postFee: true };
}

/** Counts per status (every status present, `matched` included) and the report's totals per currency. */
export function summarize(items: Pick<Item, 'status'>[], lines: SettlementLine[]) {
  const counts = Object.fromEntries(ITEM_STATUSES.map((s) => [s, 0])) as Record<ItemStatus, number>;
  for (const i of items) counts[i.status]++;
  const totals = new Map<string, { currency: string; gross: number; fee: number; net: number; lines: number }>();
  for (const l of lines) {
    const t = totals.get(l.currency) ?? { currency: l.currency, gross: 0, fee: 0, net: 0, lines: 0 };
    t.gross += l.gross;
    t.fee += l.fee;
    t.net += l.net;
    t.lines++;
    totals.set(l.currency, t);
  }
  return { counts, totals: [...totals.values()].sort((a, b) => a.currency.localeCompare(b.currency)) };
}
