import type { RateTable } from '../fx/rates';
import type { Tenant } from './merchants';
import type { Queryable } from './pool';
import { iso } from './pool';


export type FxQuote = {
  id: string;
  object: 'fx_quote';
  livemode: boolean;
  from: string;
  to: string;
  /** What 1 unit of `from` is worth in `to` for the merchant: the mid rate less its margin. Decimal string. */
  rate: string;
  mid_rate: string;
  margin_bps: number;
  amount: number | null;
  converted_amount: number | null;
  source: string;
  as_of: string;
  expires_at: string;
  payment_id: string | null;
  created_at: string;
};

const QUOTE_COLUMNS = `id, livemode, from_currency, to_currency, mid_rate, rate, margin_bps, amount, converted_amount, source,
  to_char(as_of, 'YYYY-MM-DD') AS as_of, expires_at, payment_id, created_at`;

type QuoteRow = {
  id: string; livemode: boolean; from_currency: string; to_currency: string; mid_rate: string; rate: string; margin_bps: number; amount: string | null;
  converted_amount: string | null; source: string; as_of: string; expires_at: Date; payment_id: string | null; created_at: Date;
};
const toQuote = (r: QuoteRow): FxQuote => ({
  id: r.id, object: 'fx_quote', livemode: r.livemode, from: r.from_currency, to: r.to_currency, rate: r.rate, mid_rate: r.mid_rate, margin_bps: r.margin_bps,
  amount: r.amount === null ? null : Number(r.amount), converted_amount: r.converted_amount === null ? null : Number(r.converted_amount),
  source: r.source, as_of: r.as_of, expires_at: iso(r.expires_at), payment_id: r.payment_id, created_at: iso(r.created_at),
});

export async function insertQuote(db: Queryable, tenant: Tenant, q: Omit<FxQuote, 'object' | 'livemode' | 'payment_id' | 'created_at'>): Promise<FxQuote> {
  const { rows } = await db.query<QuoteRow>(
    `INSERT INTO fx_quotes (id, merchant_id, livemode, from_currency, to_currency, mid_rate, rate, margin_bps, amount, converted_amount, source, as_of, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
     ON CONFLICT (id) DO UPDATE SET id = EXCLUDED.id RETURNING ${QUOTE_COLUMNS}`,
    [q.id, tenant.merchantId, tenant.livemode, q.from, q.to, q.mid_rate, q.rate, q.margin_bps, q.amount, q.converted_amount, q.source, q.as_of, q.expires_at],
  );
  return toQuote(rows[0]!);
}

export async function findQuote(db: Queryable, tenant: Tenant, id: string): Promise<FxQuote | undefined> {
  const { rows } = await db.query<QuoteRow>(`SELECT ${QUOTE_COLUMNS} FROM fx_quotes WHERE id = $1 AND merchant_id = $2 AND livemode = $3`, [id, tenant.merchantId, tenant.livemode]);
  return rows[0] && toQuote(rows[0]);
}

/** The quote a payment locked, if it did (a retry of its request finds it here). */
export async function quoteLockedTo(db: Queryable, paymentId: string): Promise<FxQuote | undefined> {
  const { rows } = await db.query<QuoteRow>(`SELECT ${QUOTE_COLUMNS} FROM fx_quotes WHERE payment_id = $1`, [paymentId]);
  return rows[0] && toQuote(rows[0]);
}

/** Gives the quote to the payment; false when another payment has it already (a quote settles one payment). */
export async function lockQuote(db: Queryable, quoteId: string, paymentId: string): Promise<boolean> {
  const { rowCount } = await db.query('UPDATE fx_quotes SET payment_id = $2 WHERE id = $1 AND (payment_id IS NULL OR payment_id = $2)', [quoteId, paymentId]);
  return rowCount === 1;
}

export async function saveRateTable(db: Queryable, t: RateTable): Promise<void> {
  await db.query('INSERT INTO fx_rate_tables (source, as_of, fetched_at, rates) VALUES ($1, $2, $3, $4)', [t.source, t.asOf, t.fetchedAt, JSON.stringify(t.rates)]);
}

export async function latestRateTable(db: Queryable, source: string): Promise<RateTable | undefined> {
  const { rows } = await db.query<{ source: RateTable['source']; as_of: string; fetched_at: Date; rates: Record<string, string> }>(
    `SELECT source, to_char(as_of, 'YYYY-MM-DD') AS as_of, fetched_at, rates FROM fx_rate_tables WHERE source = $1 ORDER BY fetched_at DESC LIMIT 1`,
    [source],
  );
  const r = rows[0];
  return r && { base: 'EUR', source: r.source, asOf: r.as_of, fetchedAt: iso(r.fetched_at), rates: r.rates };
}
