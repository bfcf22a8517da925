import type { Pool, PoolClient } from 'pg';
import { normalize, referenceFor } from '../bank/reference';
import type { BankCredit, BankPayout, BankTransferSettings, MatchedBy, Payer } from '../domain/bank';
import type { FinancialAddress } from '../domain/payment';
import type { Tenant } from './merchants';
import type { PageRequest } from './pages';
import { listPage } from './pages';
import type { Queryable } from './pool';
import { iso } from './pool';
import { Accounts, recordPosting } from './ledger';
import { derivedId } from '../domain/ids';


/** Accounts compare without spaces or case: `DE89 3704 …` and `de893704…` are one payer. */
export const normalizeAccount = (account: string): string => account.toUpperCase().replace(/[\s-]/g, '');

// ---- funding instructions --------------------------------------------------------------------

export type TransferRow = { payment_id: string; merchant_id: string; livemode: boolean; reference: string; currency: string; financial_addresses: FinancialAddress[]; expires_at: Date; status: 'open' | 'funded' | 'closed' };

/**
 * The payment's instructions, issued once: a retry returns the first ones. The reference derives
 * from the payment id; in the rare case another payment already has it, the next derivation is taken.
 */
export async function issueTransfer(pool: Pool, t: Omit<TransferRow, 'reference' | 'status'>): Promise<TransferRow> {
  for (let attempt = 0; ; attempt++) {
    const reference = referenceFor(attempt === 0 ? t.payment_id : `${t.payment_id}:${attempt}`);
    const { rows } = await pool.query<TransferRow>(
      `INSERT INTO bank_transfers (payment_id, merchant_id, livemode, reference, currency, financial_addresses, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT DO NOTHING RETURNING *`,
      [t.payment_id, t.merchant_id, t.livemode, reference, t.currency, JSON.stringify(t.financial_addresses), t.expires_at],
    );
    if (rows[0]) return rows[0];
    const existing = await findTransfer(pool, t.payment_id);
    if (existing) return existing;
    if (attempt >= 5) throw new Error('no free bank transfer reference');
  }
}

export async function findTransfer(db: Queryable, paymentId: string): Promise<TransferRow | undefined> {
  const { rows } = await db.query<TransferRow>('SELECT * FROM bank_transfers WHERE payment_id = $1', [paymentId]);
  return rows[0];
}

/** open -> funded | closed, once; a repeat finds it already there. */
export async function setTransferStatus(pool: Pool, paymentId: string, status: 'funded' | 'closed'): Promise<TransferRow | undefined> {
  await pool.query(`UPDATE bank_transfers SET status = $2 WHERE payment_id = $1 AND status = 'open'`, [paymentId, status]);
  return findTransfer(pool, paymentId);
}

/** The instructions' reference and what the payment still waits for (its amount less what it received). */
export async function outstandingTransfer(db: Queryable, paymentId: string): Promise<{ reference: string; remaining: number } | undefined> {
  const { rows } = await db.query<{ reference: string; remaining: number }>(
    `SELECT t.reference, p.amount - COALESCE(p.amount_received, 0) AS remaining FROM bank_transfers t JOIN payments p ON p.id = t.payment_id WHERE t.payment_id = $1`,
    [paymentId],
  );
  return rows[0];
}

export async function findTransferByReference(db: Queryable, livemode: boolean, reference: string, scopeMerchant: string | null): Promise<TransferRow | undefined> {
  const { rows } = await db.query<TransferRow>(
    'SELECT * FROM bank_transfers WHERE reference = $1 AND livemode = $2 AND ($3::text IS NULL OR merchant_id = $3)',
    [normalize(reference), livemode, scopeMerchant],
  );
  return rows[0];
}

// ---- credits --------------------------------------------------------------------------------

export type CreditRow = Omit<BankCredit, 'object' | 'created_at' | 'updated_at'> & {
  merchant_id: string | null;
  scope_merchant: string | null;
  created_at: Date;
  updated_at: Date;
};

export const toCredit = (r: CreditRow): BankCredit => ({
  id: r.id, object: 'bank_credit', livemode: r.livemode, credit_id: r.credit_id, source: r.source, value_date: r.value_date, amount: r.amount,
  currency: r.currency, reference: r.reference, payer: r.payer, status: r.status, matched_by: r.matched_by, payment_id: r.payment_id,
  customer_id: r.customer_id, amount_applied: r.amount_applied, amount_excess: r.amount_excess, excess_to: r.excess_to,
  created_at: iso(r.created_at), updated_at: iso(r.updated_at),
});

/** A credit's id, from its bank id on the account it arrived on: the same credit seen twice is one row. */
export const creditRowId = (livemode: boolean, scopeMerchant: string | null, creditId: string) => derivedId('bcr', String(livemode), scopeMerchant ?? '', creditId);

export type NewCredit = {
  id: string; livemode: boolean; scopeMerchant: string | null; creditId: string; source: BankCredit['source']; valueDate: string;
  amount: number; currency: string; reference: string | null; payer: Payer;
};

/**
 * Inserts a credit once per (mode, feed, bank id); a repeat returns the stored one with `inserted: false`.
 * No conflict target: the row id derives from the same three, and two deliveries racing may meet on either index.
 */
export async function insertCredit(client: PoolClient, c: NewCredit): Promise<{ row: CreditRow; inserted: boolean }> {
  const { rows } = await client.query<CreditRow>(
    `INSERT INTO bank_credits (id, livemode, merchant_id, scope_merchant, credit_id, source, value_date, amount, currency, reference, payer)
     VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING RETURNING *`,
    [c.id, c.livemode, c.scopeMerchant, c.creditId, c.source, c.valueDate, c.amount, c.currency, c.reference, JSON.stringify(c.payer)],
  );
  if (rows[0]) return { row: rows[0], inserted: true };
  const existing = await client.query<CreditRow>(
    `SELECT * FROM bank_credits WHERE livemode = $1 AND COALESCE(scope_merchant, '') = COALESCE($2, '') AND credit_id = $3`, [c.livemode, c.scopeMerchant, c.creditId],
  );
  return { row: existing.rows[0]!, inserted: false };
}

export async function findCredit(db: Queryable, id: string): Promise<CreditRow | undefined> {
  const { rows } = await db.query<CreditRow>('SELECT * FROM bank_credits WHERE id = $1', [id]);
  return rows[0];
}

/** A merchant sees the credits of its own feeds and those applied to its payments. */
export async function findTenantCredit(db: Queryable, tenant: Tenant, id: string): Promise<CreditRow | undefined> {
  const row = await findCredit(db, id);
  return row && row.merchant_id === tenant.merchantId && row.livemode === tenant.livemode ? row : undefined;
}

export function listCredits(pool: Pool, tenant: Tenant, status: string | undefined, page: PageRequest) {
  return listPage(pool, { table: 'bank_credits', columns: '*', filters: status ? [['status = $', status]] : [] }, tenant, page, toCredit);
}

/** The platform's credits that no merchant has claimed yet (admin), newest first. */
export async function listPlatformCredits(pool: Pool, livemode: boolean, status: string | undefined, limit: number): Promise<BankCredit[]> {
  const { rows } = await pool.query<CreditRow>(
    `SELECT * FROM bank_credits WHERE livemode = $1 AND scope_merchant IS NULL AND ($2::text IS NULL OR status = $2) ORDER BY created_at DESC, id DESC LIMIT $3`,
    [livemode, status ?? null, limit],
  );
  return rows.map(toCredit);
}

export type CreditOutcome = {
  status: BankCredit['status'];
  merchantId?: string;
  matchedBy?: MatchedBy | null;
  paymentId?: string | null;
  customerId?: string | null;
  amountApplied?: number;
  amountExcess?: number;
  excessTo?: BankCredit['excess_to'];
};

export async function updateCredit(db: Queryable, id: string, o: CreditOutcome): Promise<void> {
  await db.query(
    `UPDATE bank_credits SET status = $2, merchant_id = COALESCE($3, merchant_id), matched_by = $4, payment_id = $5, customer_id = $6,
       amount_applied = $7, amount_excess = $8, excess_to = $9, updated_at = now() WHERE id = $1`,
    [id, o.status, o.merchantId ?? null, o.matchedBy ?? null, o.paymentId ?? null, o.customerId ?? null, o.amountApplied ?? 0, o.amountExcess ?? 0, o.excessTo ?? null],
  );
}

/**
 * The credit enters a merchant's books once that merchant is known: at intake for a merchant's
 * own feed, when matched (or applied by hand) for the platform's account.
 */
export async function claimCredit(client: PoolClient, c: Pick<CreditRow, 'id' | 'livemode' | 'amount' | 'currency'>, merchantId: string): Promise<void> {
  await client.query('UPDATE bank_credits SET merchant_id = $2, updated_at = now() WHERE id = $1 AND merchant_id IS NULL', [c.id, merchantId]);
  await recordPosting(client, {
    id: `${c.id}:received`, merchantId, livemode: c.livemode, creditId: c.id, kind: 'bank_credit', currency: c.currency, amount: c.amount, debit: Accounts.bankCash, credit: Accounts.unappliedCash,
  });
}

// ---- payers and customers -------------------------------------------------------------------

export async function learnPayerAccount(db: Queryable, merchantId: string, livemode: boolean, account: string, customerId: string): Promise<void> {
  await db.query(
    'INSERT INTO customer_payer_accounts (merchant_id, livemode, account, customer_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
    [merchantId, livemode, normalizeAccount(account), customerId],
  );
}

/** The customers this account has paid for (within one merchant's feed, or any merchant's on the platform's account). */
export async function customersOfPayer(db: Queryable, livemode: boolean, account: string, scopeMerchant: string | null): Promise<{ merchant_id: string; customer_id: string }[]> {
  const { rows } = await db.query<{ merchant_id: string; customer_id: string }>(
    'SELECT merchant_id, customer_id FROM customer_payer_accounts WHERE livemode = $1 AND account = $2 AND ($3::text IS NULL OR merchant_id = $3)',
    [livemode, normalizeAccount(account), scopeMerchant],
  );
  return rows;
}

/** The customer's oldest transfer payment still waiting for exactly this amount. */
export async function oldestOpenTransfer(db: Queryable, f: { merchantId: string; livemode: boolean; customerId: string; currency: string; amount: number }): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM payments WHERE merchant_id = $1 AND livemode = $2 AND customer_id = $3 AND currency = $4 AND status = 'requires_action'
       AND payment_method->>'type' = 'bank_transfer' AND amount - COALESCE(amount_received, 0) = $5
     ORDER BY created_at, id LIMIT 1`,
    [f.merchantId, f.livemode, f.customerId, f.currency, f.amount],
  );
  return rows[0]?.id;
}

// ---- payouts --------------------------------------------------------------------------------

type PayoutRow = Omit<BankPayout, 'object' | 'created_at' | 'paid_at'> & { merchant_id: string; created_at: Date; paid_at: Date | null };
export const toPayout = ({ merchant_id: _m, ...r }: PayoutRow): BankPayout => ({ ...r, object: 'bank_payout', created_at: iso(r.created_at), paid_at: r.paid_at && iso(r.paid_at) });

export type NewPayout = Omit<BankPayout, 'object' | 'status' | 'created_at' | 'paid_at'> & { merchant_id: string };

/** Created once per id (derived from what it pays back). */
export async function createPayout(db: Queryable, p: NewPayout): Promise<BankPayout> {
  await db.query(
    `INSERT INTO bank_payouts (id, merchant_id, livemode, kind, payment_id, refund_id, credit_id, amount, currency, payee, reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING`,
    [p.id, p.merchant_id, p.livemode, p.kind, p.payment_id, p.refund_id, p.credit_id, p.amount, p.currency, JSON.stringify(p.payee), p.reason],
  );
  return (await findPayout(db, p.id))!;
}

export async function findPayoutRow(db: Queryable, id: string): Promise<PayoutRow | undefined> {
  const { rows } = await db.query<PayoutRow>('SELECT * FROM bank_payouts WHERE id = $1', [id]);
  return rows[0];
}

export async function findPayout(db: Queryable, id: string): Promise<BankPayout | undefined> {
  const row = await findPayoutRow(db, id);
  return row && toPayout(row);
}

/** pending -> paid; the row when this call moved it, undefined when it was paid already. */
export async function markPayoutPaid(client: PoolClient, id: string): Promise<PayoutRow | undefined> {
  const { rows } = await client.query<PayoutRow>(`UPDATE bank_payouts SET status = 'paid', paid_at = now() WHERE id = $1 AND status = 'pending' RETURNING *`, [id]);
  return rows[0];
}

export function listPayouts(pool: Pool, tenant: Tenant, status: string | undefined, page: PageRequest) {
  return listPage(pool, { table: 'bank_payouts', columns: '*', filters: status ? [['status = $', status]] : [] }, tenant, page, toPayout);
}

// ---- settings -------------------------------------------------------------------------------

export async function transferSettings(db: Queryable, tenant: Tenant, defaultTtlMs: number): Promise<BankTransferSettings> {
  const { rows } = await db.query<BankTransferSettings>(
    'SELECT expires_after_seconds, underpaid, overpaid FROM bank_transfer_settings WHERE merchant_id = $1 AND livemode = $2',
    [tenant.merchantId, tenant.livemode],
  );
  return rows[0] ?? { expires_after_seconds: Math.round(defaultTtlMs / 1000), underpaid: 'return', overpaid: 'customer_balance' };
}

export async function saveTransferSettings(db: Queryable, tenant: Tenant, s: BankTransferSettings): Promise<void> {
  await db.query(
    `INSERT INTO bank_transfer_settings (merchant_id, livemode, expires_after_seconds, underpaid, overpaid) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (merchant_id, livemode) DO UPDATE SET expires_after_seconds = $3, underpaid = $4, overpaid = $5`,
    [tenant.merchantId, tenant.livemode, s.expires_after_seconds, s.underpaid, s.overpaid],
  );
}
