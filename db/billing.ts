import type { Pool, PoolClient } from 'pg';
import type { Customer, Invoice, SavedPaymentMethod, Subscription, TestClock } from '../domain/billing';
import type { DunningConfig } from '../billing/dunning';
import type { Tenant } from './merchants';
import type { Filter, PageRequest } from './pages';
import { listPage } from './pages';
import type { Queryable } from './pool';
import { iso } from './pool';


const CUSTOMER_COLUMNS = 'id, livemode, email, name, metadata, test_clock_id, default_payment_method, credit_balance, created_at, updated_at';
type CustomerRow = Omit<Customer, 'object' | 'test_clock' | 'created_at' | 'updated_at'> & { test_clock_id: string | null; created_at: Date; updated_at: Date };
const toCustomer = ({ test_clock_id, created_at, updated_at, ...r }: CustomerRow): Customer => ({
  ...r, object: 'customer', test_clock: test_clock_id, created_at: iso(created_at), updated_at: iso(updated_at),
});

export async function insertCustomer(db: Queryable, tenant: Tenant, c: { id: string; email?: string; name?: string; metadata?: Record<string, string>; testClock?: string }): Promise<Customer> {
  const { rows } = await db.query<CustomerRow>(
    `INSERT INTO customers (id, merchant_id, livemode, email, name, metadata, test_clock_id) VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (id) DO UPDATE SET id = EXCLUDED.id RETURNING ${CUSTOMER_COLUMNS}`,
    [c.id, tenant.merchantId, tenant.livemode, c.email ?? null, c.name ?? null, JSON.stringify(c.metadata ?? {}), c.testClock ?? null],
  );
  return toCustomer(rows[0]!);
}

export async function findCustomer(db: Queryable, tenant: Tenant, id: string): Promise<Customer | undefined> {
  const { rows } = await db.query<CustomerRow>(`SELECT ${CUSTOMER_COLUMNS} FROM customers WHERE id = $1 AND merchant_id = $2 AND livemode = $3`, [id, tenant.merchantId, tenant.livemode]);
  return rows[0] && toCustomer(rows[0]);
}

/** The provider's customer (Stripe's cus_…) this customer is known as there, once one exists. */
export async function providerCustomer(db: Queryable, customerId: string, provider: string): Promise<string | undefined> {
  const { rows } = await db.query<{ ref: string | null }>('SELECT provider_customers->>$2 AS ref FROM customers WHERE id = $1', [customerId, provider]);
  return rows[0]?.ref ?? undefined;
}

export async function setProviderCustomer(db: Queryable, customerId: string, provider: string, ref: string): Promise<void> {
  await db.query(`UPDATE customers SET provider_customers = provider_customers || jsonb_build_object($2::text, $3::text) WHERE id = $1`, [customerId, provider, ref]);
}

export async function updateCustomer(db: Queryable, tenant: Tenant, id: string, patch: { email?: string | null; name?: string | null; metadata?: Record<string, string>; default_payment_method?: string }): Promise<Customer | undefined> {
  const { rows } = await db.query<CustomerRow>(
    `UPDATE customers SET
       email = CASE WHEN $4 THEN $5 ELSE email END,
       name = CASE WHEN $6 THEN $7 ELSE name END,
       metadata = CASE WHEN $8::jsonb IS NULL THEN metadata ELSE metadata || $8::jsonb END,
       default_payment_method = coalesce($9, default_payment_method),
       updated_at = now()
     WHERE id = $1 AND merchant_id = $2 AND livemode = $3 RETURNING ${CUSTOMER_COLUMNS}`,
    [id, tenant.merchantId, tenant.livemode, 'email' in patch, patch.email ?? null, 'name' in patch, patch.name ?? null,
      patch.metadata ? JSON.stringify(patch.metadata) : null, patch.default_payment_method ?? null],
  );
  return rows[0] && toCustomer(rows[0]);
}

export function listCustomers(pool: Pool, tenant: Tenant, f: { email?: string; testClock?: string }, page: PageRequest) {
  const filters: Filter[] = [];
  if (f.email) filters.push(['email = $', f.email]);
  if (f.testClock) filters.push(['test_clock_id = $', f.testClock]);
  return listPage(pool, { table: 'customers', columns: CUSTOMER_COLUMNS, filters }, tenant, page, toCustomer);
}

const METHOD_COLUMNS = 'id, livemode, customer_id, type, provider, provider_reference, card, created_at';
type MethodRow = Omit<SavedPaymentMethod, 'object' | 'created_at'> & { created_at: Date };
const toMethod = (r: MethodRow): SavedPaymentMethod => ({ ...r, object: 'payment_method', created_at: iso(r.created_at) });

/** Saves the method and makes it the default when the customer has none (the first one). */
export async function saveMethod(client: PoolClient, tenant: Tenant, m: Omit<SavedPaymentMethod, 'object' | 'created_at' | 'livemode'>): Promise<SavedPaymentMethod> {
  const { rows } = await client.query<MethodRow>(
    `INSERT INTO customer_payment_methods (id, merchant_id, livemode, customer_id, type, provider, provider_reference, card)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET id = EXCLUDED.id RETURNING ${METHOD_COLUMNS}`,
    [m.id, tenant.merchantId, tenant.livemode, m.customer_id, m.type, m.provider, m.provider_reference, m.card ? JSON.stringify(m.card) : null],
  );
  await client.query('UPDATE customers SET default_payment_method = $2, updated_at = now() WHERE id = $1 AND default_payment_method IS NULL', [m.customer_id, m.id]);
  return toMethod(rows[0]!);
}

export async function listMethods(db: Queryable, customerId: string): Promise<SavedPaymentMethod[]> {
  const { rows } = await db.query<MethodRow>(`SELECT ${METHOD_COLUMNS} FROM customer_payment_methods WHERE customer_id = $1 AND detached_at IS NULL ORDER BY created_at, id`, [customerId]);
  return rows.map(toMethod);
}

export async function findMethod(db: Queryable, customerId: string, id: string): Promise<SavedPaymentMethod | undefined> {
  const { rows } = await db.query<MethodRow>(`SELECT ${METHOD_COLUMNS} FROM customer_payment_methods WHERE id = $1 AND customer_id = $2 AND detached_at IS NULL`, [id, customerId]);
  return rows[0] && toMethod(rows[0]);
}

/** Detaches; the default moves to the oldest method left (or none). */
export async function detachMethod(client: PoolClient, customerId: string, id: string): Promise<void> {
  await client.query('UPDATE customer_payment_methods SET detached_at = now() WHERE id = $1 AND customer_id = $2 AND detached_at IS NULL', [id, customerId]);
  await client.query(
    `UPDATE customers SET updated_at = now(), default_payment_method =
       (SELECT id FROM customer_payment_methods WHERE customer_id = $1 AND detached_at IS NULL ORDER BY created_at, id LIMIT 1)
     WHERE id = $1 AND default_payment_method = $2`,
    [customerId, id],
  );
}

/**
 * Adds to a customer's balance (amount > 0) or uses it (< 0, never below zero): `credit` is invoice
 * credit (prorations), `cash` is money received by transfer. `id` names the cause, so a rerun
 * changes nothing. Returns the amount moved.
 */
export async function moveCredit(
  client: PoolClient, customerId: string, currency: string, amount: number, id: string, reason: string, objectId: string, balance: 'credit' | 'cash' = 'credit',
): Promise<number> {
  const column = balance === 'cash' ? 'cash_balance' : 'credit_balance';
  const done = await client.query<{ amount: string }>('SELECT amount FROM customer_balance_transactions WHERE id = $1', [id]);
  if (done.rows[0]) return Number(done.rows[0].amount);
  const { rows } = await client.query<{ available: string | null }>(`SELECT ${column}->>$2 AS available FROM customers WHERE id = $1 FOR UPDATE`, [customerId, currency]);
  const available = Number(rows[0]?.available ?? 0);
  const moved = amount >= 0 ? amount : -Math.min(available, -amount);
  if (moved === 0) return 0;
  await client.query(
    `INSERT INTO customer_balance_transactions (id, customer_id, currency, amount, reason, object_id, balance) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [id, customerId, currency, moved, reason, objectId, balance],
  );
  await client.query(`UPDATE customers SET ${column} = ${column} || jsonb_build_object($2::text, $3::bigint), updated_at = now() WHERE id = $1`, [customerId, currency, available + moved]);
  return moved;
}

const CLOCK_COLUMNS = 'id, name, frozen_time, status, created_at';
type ClockRow = { id: string; name: string | null; frozen_time: string; status: TestClock['status']; created_at: Date };
const toClock = (r: ClockRow): TestClock => ({ id: r.id, object: 'test_clock', livemode: false, name: r.name, frozen_time: Number(r.frozen_time), status: r.status, created_at: iso(r.created_at) });

export async function insertClock(db: Queryable, tenant: Tenant, c: { id: string; name?: string; frozenTime: number }): Promise<TestClock> {
  const { rows } = await db.query<ClockRow>(
    `INSERT INTO test_clocks (id, merchant_id, livemode, name, frozen_time, status) VALUES ($1, $2, false, $3, $4, 'ready')
     ON CONFLICT (id) DO UPDATE SET id = EXCLUDED.id RETURNING ${CLOCK_COLUMNS}`,
    [c.id, tenant.merchantId, c.name ?? null, c.frozenTime],
  );
  return toClock(rows[0]!);
}

export async function findClock(db: Queryable, tenant: Tenant, id: string): Promise<TestClock | undefined> {
  if (tenant.livemode) return undefined;
  const { rows } = await db.query<ClockRow>(`SELECT ${CLOCK_COLUMNS} FROM test_clocks WHERE id = $1 AND merchant_id = $2`, [id, tenant.merchantId]);
  return rows[0] && toClock(rows[0]);
}

/** Moves the clock forward (never back) and marks it advancing; undefined when it is already past `to` or advancing elsewhere. */
export async function startAdvance(db: Queryable, tenant: Tenant, id: string, to: number): Promise<TestClock | undefined> {
  const { rows } = await db.query<ClockRow>(
    `UPDATE test_clocks SET frozen_time = $3, status = 'advancing' WHERE id = $1 AND merchant_id = $2 AND frozen_time < $3 AND status = 'ready' RETURNING ${CLOCK_COLUMNS}`,
    [id, tenant.merchantId, to],
  );
  return rows[0] && toClock(rows[0]);
}

/** Subscriptions on the clock that still run and have not yet caught up with its time. */
export async function lagging(db: Queryable, clockId: string, time: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM subscriptions WHERE test_clock_id = $1 AND status NOT IN ('canceled', 'incomplete_expired') AND coalesce(clock_time, 0) < $2`,
    [clockId, time],
  );
  return rows.map((r) => r.id);
}

export async function subscriptionsOnClock(db: Queryable, clockId: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(`SELECT id FROM subscriptions WHERE test_clock_id = $1 AND status NOT IN ('canceled', 'incomplete_expired')`, [clockId]);
  return rows.map((r) => r.id);
}

export async function markClockReady(db: Queryable, id: string, time: number): Promise<void> {
  await db.query(`UPDATE test_clocks SET status = 'ready' WHERE id = $1 AND frozen_time = $2`, [id, time]);
}

/** Snapshots only move forward (activities may run late or twice). */
export async function upsertSubscription(db: Queryable, s: Subscription, clockTime: number | null): Promise<void> {
  await db.query(
    `INSERT INTO subscriptions (id, merchant_id, livemode, customer_id, status, test_clock_id, clock_time, data, version, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, clock_time = EXCLUDED.clock_time, data = EXCLUDED.data, version = EXCLUDED.version
     WHERE subscriptions.version < EXCLUDED.version OR (subscriptions.version = EXCLUDED.version AND coalesce(subscriptions.clock_time, 0) < coalesce(EXCLUDED.clock_time, 0))`,
    [s.id, s.merchant_id, s.livemode, s.customer_id, s.status, s.test_clock, clockTime, JSON.stringify(s), s.version, s.created_at],
  );
}

export async function findSubscription(db: Queryable, tenant: Tenant, id: string): Promise<Subscription | undefined> {
  const { rows } = await db.query<{ data: Subscription }>('SELECT data FROM subscriptions WHERE id = $1 AND merchant_id = $2 AND livemode = $3', [id, tenant.merchantId, tenant.livemode]);
  return rows[0]?.data;
}

export function listSubscriptions(pool: Pool, tenant: Tenant, f: { customerId?: string; status?: string }, page: PageRequest) {
  const filters: Filter[] = [];
  if (f.customerId) filters.push(['customer_id = $', f.customerId]);
  if (f.status) filters.push(['status = $', f.status]);
  return listPage(pool, { table: 'subscriptions', columns: 'data', filters }, tenant, page, (r: { data: Subscription }) => r.data);
}

export async function upsertInvoice(db: Queryable, i: Invoice): Promise<void> {
  await db.query(
    `INSERT INTO invoices (id, merchant_id, livemode, customer_id, subscription_id, status, data, version, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, data = EXCLUDED.data, version = EXCLUDED.version WHERE invoices.version < EXCLUDED.version`,
    [i.id, i.merchant_id, i.livemode, i.customer_id, i.subscription_id, i.status, JSON.stringify(i), i.version, i.created_at],
  );
}

export async function findInvoice(db: Queryable, tenant: Tenant, id: string): Promise<Invoice | undefined> {
  const { rows } = await db.query<{ data: Invoice }>('SELECT data FROM invoices WHERE id = $1 AND merchant_id = $2 AND livemode = $3', [id, tenant.merchantId, tenant.livemode]);
  return rows[0]?.data;
}

export function listInvoices(pool: Pool, tenant: Tenant, f: { subscriptionId?: string; customerId?: string; status?: string }, page: PageRequest) {
  const filters: Filter[] = [];
  if (f.subscriptionId) filters.push(['subscription_id = $', f.subscriptionId]);
  if (f.customerId) filters.push(['customer_id = $', f.customerId]);
  if (f.status) filters.push(['status = $', f.status]);
  return listPage(pool, { table: 'invoices', columns: 'data', filters }, tenant, page, (r: { data: Invoice }) => r.data);
}

export async function findDunning(db: Queryable, tenant: Tenant): Promise<DunningConfig | undefined> {
  const { rows } = await db.query<{ dunning: DunningConfig }>('SELECT dunning FROM billing_settings WHERE merchant_id = $1 AND livemode = $2', [tenant.merchantId, tenant.livemode]);
  return rows[0]?.dunning;
}

export async function saveDunning(db: Queryable, tenant: Tenant, dunning: DunningConfig): Promise<void> {
  await db.query(
    `INSERT INTO billing_settings (merchant_id, livemode, dunning) VALUES ($1, $2, $3)
     ON CONFLICT (merchant_id, livemode) DO UPDATE SET dunning = EXCLUDED.dunning, updated_at = now()`,
    [tenant.merchantId, tenant.livemode, JSON.stringify(dunning)],
  );
}
