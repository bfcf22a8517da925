import type { Pool } from 'pg';
import type { Queryable, Write } from './pool';
import { asOneStatement } from './pool';
import type { Tenant } from './merchants';
import type { Payment, PaymentFx } from '../domain/payment';
import { settlementShare } from '../fx/convert';
import { Accounts } from '../domain/accounts';
import type { Account } from '../domain/accounts';

export { Accounts };

/** Movements of bank transfer money between the accounts, each with its debit and credit account. */
export type BankPostingKind = 'bank_credit' | 'credit_application' | 'balance_application' | 'to_customer_balance' | 'return' | 'payout_paid';
/** A provider's fee on a settled line, as its report says (negative when it gave one back). */
export type FeePostingKind = 'provider_fee';

/** A money movement decided by a workflow; its id is derived from the payment and the operation. */
export type Posting = {
  id: string;
  merchantId: string;
  /** Test money and live money are never added up together. */
  livemode?: boolean;
  paymentId?: string;
  refundId?: string;
  creditId?: string;
  /** `refund_reversal`: a refund the provider failed after it had succeeded; the money is the merchant's again. */
  kind: 'capture' | 'refund' | 'refund_reversal' | BankPostingKind | FeePostingKind;
  currency: string;
  amount: number;
  /** The payment side of a capture or refund: the provider's clearing account, or for bank transfers the funds held (capture) and the bank account (refund). */
  clearing?: Account;
  /** Bank movements: the account debited and the one credited. */
  debit?: Account;
  credit?: Account;
};

export type Entry = { account: string; currency: string; amount: number };

function entriesOf(p: Posting): Entry[] {
  const e = (account: string, amount: number): Entry => ({ account, currency: p.currency, amount });
  const clearing = p.clearing ?? Accounts.providerClearing;
  switch (p.kind) {
    case 'capture':
      return [e(clearing, p.amount), e(Accounts.merchantPayable, -p.amount)];
    case 'refund':
      return [e(Accounts.merchantPayable, p.amount), e(clearing, -p.amount)];
    case 'refund_reversal':
      return [e(clearing, p.amount), e(Accounts.merchantPayable, -p.amount)];
    default:
      if (!p.debit || !p.credit) throw new Error(`posting ${p.id} (${p.kind}) names no accounts`);
      return [e(p.debit, p.amount), e(p.credit, -p.amount)];
  }
}

/**
 * A cross-border payment's posting: the payment currency goes through the FX account into the
 * settlement currency at the locked rate, so each currency balances on its own. The merchant is
 * owed its share of the settlement amount; the difference to the mid rate is FX revenue. Shares
 * are cumulative (fx/convert's settlementShare), so no sequence of partial captures and refunds
 * moves more than was settled, and the last refund takes the exact remainder.
 */
async function fxEntriesOf(client: Queryable, p: Posting, fx: PaymentFx, paymentAmount: number): Promise<Entry[]> {
  const d = fx.settlement_currency;
  if (p.kind === 'refund_reversal') {
    const { rows } = await client.query<Entry>(
      `SELECT le.account, le.currency, -le.amount AS amount FROM ledger_entries le JOIN ledger_postings lp ON lp.id = le.posting_id
       WHERE lp.payment_id = $1 AND lp.refund_id = $2 AND lp.kind = 'refund'`,
      [p.paymentId, p.refundId],
    );
    return rows.map((r) => ({ ...r, amount: Number(r.amount) }));
  }
  const sums = await client.query<{ kind: string; account: string; currency: string; amount: string }>(
    `SELECT lp.kind, le.account, le.currency, sum(le.amount) AS amount FROM ledger_entries le JOIN ledger_postings lp ON lp.id = le.posting_id
     WHERE lp.payment_id = $1 GROUP BY 1, 2, 3`,
    [p.paymentId],
  );
  const sum = (kinds: string[], account: string, currency: string) =>
    sums.rows.filter((r) => kinds.includes(r.kind) && r.account === account && r.currency === currency).reduce((a, r) => a + Number(r.amount), 0);
  /** The payment-currency side of captures or refunds, whichever clearing account they used (a transfer captures from its held funds, refunds from the bank). */
  const paymentSide = (kinds: string[]) =>
    sums.rows.filter((r) => kinds.includes(r.kind) && r.account !== Accounts.fxClearing && r.currency === p.currency).reduce((a, r) => a + Number(r.amount), 0);
  const clearing = p.clearing ?? Accounts.providerClearing;
  const moved = (x: number, s: number, m: number): Entry[] => [
    { account: clearing, currency: p.currency, amount: x },
    { account: Accounts.fxClearing, currency: p.currency, amount: -x },
    { account: Accounts.fxClearing, currency: d, amount: m },
    { account: Accounts.merchantPayable, currency: d, amount: -s },
    { account: Accounts.fxRevenue, currency: d, amount: s - m },
  ];
  const midTotal = fx.settlement_amount + fx.fx_margin_amount;
  const captured = paymentSide(['capture']);
  const capturedSettled = -sum(['capture'], Accounts.merchantPayable, d);
  const capturedMid = sum(['capture'], Accounts.fxClearing, d);
  if (p.kind === 'capture') {
    const s = settlementShare({ amountMinor: p.amount, totalMinor: paymentAmount, settledTotal: fx.settlement_amount, alreadyMoved: captured, alreadyMovedSettled: capturedSettled });
    const m = settlementShare({ amountMinor: p.amount, totalMinor: paymentAmount, settledTotal: midTotal, alreadyMoved: captured, alreadyMovedSettled: capturedMid });
    return moved(p.amount, s, m);
  }
  const back = ['refund', 'refund_reversal'];
  const refunded = -paymentSide(back);
  const refundedSettled = sum(back, Accounts.merchantPayable, d);
  const refundedMid = -sum(back, Accounts.fxClearing, d);
  // After a reversal the refunds booked so far can be ahead of the cumulative share by a rounding
  // unit: this refund then books nothing in the settlement currency, and later ones catch up (the
  // last still lands exactly on what the capture settled).
  const share = (settledTotal: number, already: number) =>
    Math.max(0, settlementShare({ amountMinor: refunded + p.amount, totalMinor: captured, settledTotal, alreadyMoved: 0, alreadyMovedSettled: 0 }) - already);
  const s = share(capturedSettled, refundedSettled);
  const m = share(capturedMid, refundedMid);
  return moved(-p.amount, -s, -m);
}

/** A posting's entries as three parallel arrays (account, currency, amount) for `unnest`; zero amounts move nothing. */
const entryColumns = (entries: Entry[]) => {
  const moved = entries.filter((e) => e.amount !== 0);
  return [moved.map((e) => e.account), moved.map((e) => e.currency), moved.map((e) => e.amount)];
};
const INSERT_POSTING = `INSERT INTO ledger_postings (id, merchant_id, livemode, payment_id, refund_id, kind, credit_id) VALUES ($1, $2, $3, $4, $5, $6, $7)
  ON CONFLICT (id) DO NOTHING`;

/**
 * A posting and its entries as two writes of one statement (`asOneStatement`): the entries are
 * inserted only when the posting is new, so a second record of the same id changes nothing.
 */
export function postingWrites(name: string, p: Posting, entries: Entry[]): Write[] {
  return [
    { name, sql: `${INSERT_POSTING} RETURNING id`, params: [p.id, p.merchantId, p.livemode ?? false, p.paymentId ?? null, p.refundId ?? null, p.kind, p.creditId ?? null] },
    {
      name: `${name}_entries`,
      sql: `INSERT INTO ledger_entries (posting_id, merchant_id, account, currency, amount, livemode)
        SELECT ${name}.id, $1, e.account, e.currency, e.amount, $2 FROM ${name}, unnest($3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY AS e(account, currency, amount, n) ORDER BY e.n`,
      params: [p.merchantId, p.livemode ?? false, ...entryColumns(entries)],
    },
  ];
}

/**
 * A posting's entries. `payment` is the snapshot it is recorded with: a cross-border one (`fx`)
 * posts through FX, from what the payment's earlier postings moved.
 */
export async function entriesFor(db: Queryable, p: Posting, payment?: Pick<Payment, 'fx' | 'amount'>): Promise<Entry[]> {
  return payment?.fx && ['capture', 'refund', 'refund_reversal'].includes(p.kind) ? fxEntriesOf(db, p, payment.fx, payment.amount) : entriesOf(p);
}

/** Records a posting once: a second call with the same id is a no-op. */
export async function recordPosting(db: Queryable, p: Posting, payment?: Pick<Payment, 'fx' | 'amount'>): Promise<void> {
  await db.query(asOneStatement(postingWrites('posted', p, await entriesFor(db, p, payment)), 'SELECT NULL'));
}

/** What the merchant is owed per currency: its payable account, net of the providers' fees. */
export async function merchantBalances(pool: Pool, tenant: Tenant): Promise<{ currency: string; amount: number }[]> {
  const { rows } = await pool.query<{ currency: string; amount: number }>(
    `SELECT currency, -sum(amount)::bigint AS amount FROM ledger_entries
     WHERE merchant_id = $1 AND livemode = $2 AND account = ANY($3::text[]) GROUP BY currency ORDER BY currency`,
    [tenant.merchantId, tenant.livemode, [Accounts.merchantPayable, Accounts.providerFees]],
  );
  return rows;
}
