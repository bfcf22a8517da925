import type { Pool } from 'pg';
import type { Tenant } from './merchants';

/** A condition with one `$` placeholder for its value (`status = $`), or none (`deleted_at IS NULL`). */
export type Filter = [condition: string, value?: unknown];

export type Page<T> = { object: 'list'; data: T[]; has_more: boolean };
export type PageRequest = { limit: number; startingAfter?: string };

/**
 * Newest first, keyset-paginated on (created_at, id). An unknown or foreign cursor yields
 * `undefined` so the caller can answer 400 without revealing anything.
 */
export async function listPage<T>(
  pool: Pool,
  sql: { table: 'payments' | 'refunds' | 'events' | 'webhook_endpoints' | 'customers' | 'subscriptions' | 'invoices' | 'test_clocks' | 'bank_credits' | 'bank_payouts'; columns: string; filters: Filter[] },
  tenant: Tenant,
  page: PageRequest,
  map: (row: never) => T,
): Promise<Page<T> | undefined> {
  const params: unknown[] = [tenant.merchantId, tenant.livemode];
  const where = ['merchant_id = $1', 'livemode = $2'];
  for (const [condition, value] of sql.filters) {
    if (!condition.includes('$')) {
      where.push(condition);
      continue;
    }
    params.push(value);
    where.push(condition.replace('$', `$${params.length}`));
  }
  if (page.startingAfter) {
    const cursor = await pool.query(`SELECT created_at, id FROM ${sql.table} WHERE id = $1 AND merchant_id = $2 AND livemode = $3`, [
      page.startingAfter, tenant.merchantId, tenant.livemode,
    ]);
    if (cursor.rowCount === 0) return undefined;
    params.push(cursor.rows[0].created_at, cursor.rows[0].id);
    where.push(`(created_at, id) < ($${params.length - 1}, $${params.length})`);
  }
  params.push(page.limit + 1);
  const { rows } = await pool.query(
    `SELECT ${sql.columns} FROM ${sql.table} WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  return { object: 'list', data: rows.slice(0, page.limit).map((r) => map(r as never)), has_more: rows.length > page.limit };
}
