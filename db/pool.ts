import { Pool, types } from 'pg';
import type { PoolClient } from 'pg';

// Amounts are bigint columns but never exceed 99 999 999 999 (well inside 2^53): read them as numbers.
types.setTypeParser(types.builtins.INT8, (v) => Number(v));

export function createPool(connectionString: string, max = 10): Pool {
  return new Pool({
    connectionString,
    max,
    // A dead database must surface as 503 quickly, never as a hanging request.
    connectionTimeoutMillis: 3000,
    query_timeout: 10_000,
    idleTimeoutMillis: 30_000,
  });
}

export async function inTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

export const iso = (d: Date | string): string => (d instanceof Date ? d.toISOString() : new Date(d).toISOString());
