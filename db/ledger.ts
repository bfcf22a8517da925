import type { Pool, PoolClient } from 'pg';
import type { Tenant } from './merchants';

/** Accounts of the double-entry ledger, per merchant and currency. */
export const Accounts = {
  /** Money the provider holds for us after a capture, until it settles (asset, debit-normal). */
  providerClearing: 'provider_clearing',
  /** What we owe the merchant (liability, credit-normal). */
  merchantPayable: 'merchant_payable',
} as const;

/** A money movement decided by a workflow; its id is derived from the payment and the operation. */
export type Posting = {
  id: string;
  merchantId: string;
  /** Test money and live money are never added up together. */
  livemode?: boolean;
  paymentId: string;
  refundId?: string;
  /** `refund_reversal`: a refund the provider failed after it had succeeded; the money is the merchant's again. */
  kind: 'capture' | 'refund' | 'refund_reversal';
  currency: string;
  amount: number;
};

function entriesOf(p: Posting): { account: string; amount: number }[] {
  switch (p.kind) {
    case 'capture':
      return [
        { account: Accounts.providerClearing, amount: p.amount },
        { account: Accounts.merchantPayable, amount: -p.amount },
      ];
    case 'refund':
      return [
        { account: Accounts.merchantPayable, amount: p.amount },
        { account: Accounts.providerClearing, amount: -p.amount },
      ];
    case 'refund_reversal':
      return [
        { account: Accounts.providerClearing, amount: p.amount },
        { account: Accounts.merchantPayable, amount: -p.amount },
      ];
  }
}

/** Records a posting once: a second call with the same id is a no-op. Must run inside a transaction. */
export async function recordPosting(client: PoolClient, p: Posting): Promise<void> {
  const inserted = await client.query(
    `INSERT INTO ledger_postings (id, merchant_id, payment_id, refund_id, kind, livemode) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (id) DO NOTHING`,
    [p.id, p.merchantId, p.paymentId, p.refundId ?? null, p.kind, p.livemode ?? false],
  );
  if (inserted.rowCount === 0) return;
  for (const e of entriesOf(p)) {
    await client.query('INSERT INTO ledger_entries (posting_id, merchant_id, account, currency, amount, livemode) VALUES ($1, $2, $3, $4, $5, $6)', [
      p.id,
      p.merchantId,
      e.account,
      p.currency,
      e.amount,
      p.livemode ?? false,
    ]);
  }
}

/** What the merchant is owed per currency: the credit balance of its payable account. */
export async function merchantBalances(pool: Pool, tenant: Tenant): Promise<{ currency: string; amount: number }[]> {
  const { rows } = await pool.query<{ currency: string; amount: number }>(
    `SELECT currency, -sum(amount)::bigint AS amount FROM ledger_entries
     WHERE merchant_id = $1 AND livemode = $2 AND account = $3 GROUP BY currency ORDER BY currency`,
    [tenant.merchantId, tenant.livemode, Accounts.merchantPayable],
  );
  return rows;
}
