import type { Pool } from 'pg';
import type { Payment, PaymentRisk, Refund } from '../domain/payment';
import type { Tenant } from './merchants';
import type { Filter, PageRequest } from './pages';
import { listPage } from './pages';
import type { Write } from './pool';
import { iso, prepared } from './pool';

const PAYMENT_COLUMNS = `id, merchant_id, status, amount, currency, amount_capturable, amount_captured, amount_refunded,
  capture_method, payment_method, provider, provider_reference, channel, next_action, failure, customer_id,
  description, metadata, return_url, receipt_email, created_at, updated_at, version, livemode, routing, attention, fx, amount_received, risk`;

type Timestamps = { created_at: Date; updated_at: Date };
const toPayment = (r: Omit<Payment, 'object' | 'created_at' | 'updated_at'> & Timestamps): Payment => ({
  ...r,
  object: 'payment',
  created_at: iso(r.created_at),
  updated_at: iso(r.updated_at),
});
const toRefund = (r: Omit<Refund, 'object' | 'created_at' | 'updated_at'> & Timestamps): Refund => ({
  ...r,
  object: 'refund',
  created_at: iso(r.created_at),
  updated_at: iso(r.updated_at),
});

const upsertPaymentSql = (risk: string) => `INSERT INTO payments (${PAYMENT_COLUMNS})
  VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29)
  ON CONFLICT (id) DO UPDATE SET
    status = EXCLUDED.status, provider = EXCLUDED.provider, routing = EXCLUDED.routing, attention = EXCLUDED.attention, amount_capturable = EXCLUDED.amount_capturable,
    amount_captured = EXCLUDED.amount_captured, amount_refunded = EXCLUDED.amount_refunded,
    provider_reference = EXCLUDED.provider_reference, next_action = EXCLUDED.next_action,
    failure = EXCLUDED.failure, amount_received = EXCLUDED.amount_received, risk = ${risk}, updated_at = EXCLUDED.updated_at, version = EXCLUDED.version
  WHERE payments.version < EXCLUDED.version`;
const UPSERT_PAYMENT = upsertPaymentSql('EXCLUDED.risk');
const OPEN_WITH_RISK = `WITH written AS (${upsertPaymentSql('COALESCE(payments.risk, EXCLUDED.risk)')} RETURNING risk),
  kept AS (UPDATE payments SET risk = COALESCE(risk, $29::jsonb) WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM written) RETURNING risk)
  SELECT risk FROM written UNION ALL SELECT risk FROM kept`;
const paymentRow = (p: Payment) => [
  p.id, p.merchant_id, p.status, p.amount, p.currency, p.amount_capturable, p.amount_captured, p.amount_refunded,
  p.capture_method, JSON.stringify(p.payment_method), p.provider, p.provider_reference, p.channel,
  p.next_action && JSON.stringify(p.next_action), p.failure && JSON.stringify(p.failure), p.customer_id,
  p.description, JSON.stringify(p.metadata), p.return_url, p.receipt_email ?? null, p.created_at, p.updated_at, p.version,
  p.livemode ?? false, p.routing ? JSON.stringify(p.routing) : null, p.attention ? JSON.stringify(p.attention) : null,
  p.fx ? JSON.stringify(p.fx) : null, p.amount_received ?? null, p.risk ? JSON.stringify(p.risk) : null,
];

/** A payment snapshot as one of a statement's writes: it lands unless a newer one is already stored (activities may run late or twice). */
export const paymentWrite = (name: string, p: Payment): Write => ({ name, sql: UPSERT_PAYMENT, params: paymentRow(p) });

/**
 * Writes a payment's opening with the risk decision just made for it, and answers the decision
 * kept: the first one ever made for the payment. A call retried after it may have reached a
 * provider goes on with the decision that let it, whatever the rules say now. An opening already
 * there stays as it is, but gets the decision if it has none (one statement, no transaction).
 */
export async function openWithRisk<R extends PaymentRisk>(db: Pool, opening: Payment & { risk: R }): Promise<R> {
  const { rows } = await db.query<{ risk: R }>(prepared(OPEN_WITH_RISK, paymentRow(opening)));
  return rows[0]?.risk ?? opening.risk;
}

/** A refund as one of a statement's writes. Refund rows only move forward: pending -> succeeded | failed, and succeeded -> failed when the provider reverses it. */
export const refundWrite = (name: string, r: Refund): Write => ({
  name,
  sql: `INSERT INTO refunds (id, merchant_id, payment_id, amount, currency, status, reason, failure, created_at, updated_at, livemode, attention)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)
     ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, failure = EXCLUDED.failure, updated_at = EXCLUDED.updated_at, attention = EXCLUDED.attention
     WHERE refunds.status = 'pending' OR (refunds.status = 'succeeded' AND EXCLUDED.status = 'failed')`,
  params: [r.id, r.merchant_id, r.payment_id, r.amount, r.currency, r.status, r.reason, r.failure && JSON.stringify(r.failure), r.created_at, r.updated_at, r.livemode ?? false, r.attention ? JSON.stringify(r.attention) : null],
});

export async function findPayment(pool: Pool, tenant: Tenant, id: string): Promise<Payment | undefined> {
  const { rows } = await pool.query(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE id = $1 AND merchant_id = $2 AND livemode = $3`, [
    id, tenant.merchantId, tenant.livemode,
  ]);
  return rows[0] && toPayment(rows[0]);
}

/** For provider callbacks, which name our payment but not its merchant. */
export async function findPaymentById(pool: Pool, id: string): Promise<Payment | undefined> {
  const { rows } = await pool.query(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE id = $1`, [id]);
  return rows[0] && toPayment(rows[0]);
}

export async function findRefund(pool: Pool, tenant: Tenant, id: string): Promise<Refund | undefined> {
  const { rows } = await pool.query('SELECT * FROM refunds WHERE id = $1 AND merchant_id = $2 AND livemode = $3', [id, tenant.merchantId, tenant.livemode]);
  return rows[0] && toRefund(rows[0]);
}

/** Every refund of a payment, oldest first, as the workflow keeps them (for a payment reopened after its window). */
export async function refundsOfPayment(pool: Pool, paymentId: string): Promise<Refund[]> {
  const { rows } = await pool.query('SELECT * FROM refunds WHERE payment_id = $1 ORDER BY created_at, id', [paymentId]);
  return rows.map((r) => toRefund(r));
}

export function listPayments(pool: Pool, tenant: Tenant, f: { status?: string; customerId?: string }, page: PageRequest) {
  const filters: Filter[] = [];
  if (f.status) filters.push(['status = $', f.status]);
  if (f.customerId) filters.push(['customer_id = $', f.customerId]);
  return listPage(pool, { table: 'payments', columns: PAYMENT_COLUMNS, filters }, tenant, page, toPayment);
}

export function listRefunds(pool: Pool, tenant: Tenant, f: { paymentId?: string }, page: PageRequest) {
  const filters: Filter[] = f.paymentId ? [['payment_id = $', f.paymentId]] : [];
  return listPage(pool, { table: 'refunds', columns: '*', filters }, tenant, page, toRefund);
}

/** Hides what is internal to the orchestrator from the API object. */
export function publicPayment(p: Payment): Omit<Payment, 'merchant_id' | 'version' | 'return_url'> & { return_url?: string; requires_attention: boolean } {
  const { merchant_id: _m, version: _v, return_url, amount_received, ...rest } = p;
  return {
    ...rest,
    ...(rest.payment_method.type === 'bank_transfer' ? { amount_received: amount_received ?? 0 } : {}), livemode: rest.livemode ?? false, routing: rest.routing ?? null,
    requires_attention: Boolean(rest.attention), attention: rest.attention ?? null, receipt_email: rest.receipt_email ?? null, fx: rest.fx ?? null, risk: rest.risk ?? null,
    ...(return_url ? { return_url } : {}) };
}

export function publicRefund(r: Refund): Omit<Refund, 'merchant_id' | 'updated_at'> & { requires_attention: boolean } {
  const { merchant_id: _m, updated_at: _u, ...rest } = r;
  return { ...rest, livemode: rest.livemode ?? false, requires_attention: Boolean(rest.attention), attention: rest.attention ?? null };
}
