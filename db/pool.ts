import { createHash } from 'node:crypto';
import { Pool, types } from 'pg';
import type { PoolClient, QueryConfig } from 'pg';

// Amounts are bigint columns but never exceed 99 999 999 999 (well inside 2^53): read them as numbers.
types.setTypeParser(types.builtins.INT8, (v) => Number(v));
// A `date` is a calendar day, not an instant: kept as PostgreSQL writes it (YYYY-MM-DD), never shifted by a time zone.
types.setTypeParser(types.builtins.DATE, (v) => v);

/** Where a statement can run: the pool, or a client holding a transaction. */
export type Queryable = Pool | PoolClient;

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

/**
 * A client of the pool for a while. While checked out a client has none of the pool's error
 * handling: a database lost in between would be an unhandled 'error' event, which kills the
 * process. It is caught here, and the broken client destroyed instead of returned.
 */
export async function withClient<T>(pool: Pool, fn: (client: PoolClient, broken: (err: Error) => void) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let failure: Error | undefined;
  const broken = (err: Error) => void (failure ??= err);
  client.on('error', broken);
  try {
    return await fn(client, broken);
  } finally {
    client.off('error', broken);
    client.release(failure);
  }
}

export async function inTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, async (client, broken) => {
    await client.query('BEGIN');
    try {
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // A client that cannot even roll back is not given to anyone else.
      await client.query('ROLLBACK').catch(broken);
      throw err;
    }
  });
}

export const iso = (d: Date | string): string => (d instanceof Date ? d.toISOString() : new Date(d).toISOString());

/** One write of several sent as a single statement: `sql` numbers its parameters from $1 and may read earlier writes by name. */
export type Write = { name: string; sql: string; params: unknown[] };

/**
 * Writes that land together as one statement of data-modifying CTEs: atomic as a transaction,
 * in one round trip instead of one per write plus BEGIN and COMMIT. `select` reads what the
 * writes returned (each by its name).
 */
export function asOneStatement(writes: readonly Write[], select: string): QueryConfig {
  if (writes.length === 0) return prepared(select, []);
  const values: unknown[] = [];
  const ctes = writes.map(({ name, sql, params }) => {
    const offset = values.length;
    values.push(...params);
    return `${name} AS (${sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`)})`;
  });
  return prepared(`WITH ${ctes.join(',\n')}\n${select}`, values);
}

/**
 * A statement PostgreSQL parses and plans once per connection (a named prepared statement), for
 * those every payment sends: it took about a third off the database's CPU for them here. Named
 * by a digest of the text, so a name never stands for two texts.
 */
export function prepared(text: string, values: unknown[]): QueryConfig {
  return { name: `p_${createHash('sha1').update(text).digest('base64url')}`, text, values };
}
