import { createHash, randomUUID } from 'node:crypto';
import type { Request } from 'express';
import type { Pool } from 'pg';
import { ApiError } from '../../domain/errors';

export type Outcome = { status: number; body: unknown };

type KeyRow = { request_hash: string; resource_id: string; response_status: number | null };

export type IdempotentOperation = {
  /** `admin` or the merchant id: keys never collide across tenants. */
  scope: string;
  resourceType: string;
  /** Allocates the id of what this request creates or acts on; kept with the key. */
  allocate: () => string;
  /**
   * Runs the request for that id. It may run again for the same id and operation key (a retry
   * taking over a request that died), so it must converge: workflow and update ids, derived
   * delivery ids, inserts that find the row of the first run.
   */
  run: (resourceId: string, opKey: string) => Promise<Outcome>;
  /** Answers a replay of a finished request: the object as it stands now. */
  replay: (resourceId: string, status: number) => Promise<Outcome>;
};

/**
 * How long a request holds its key. A duplicate within it answers 409 (in flight); past it the
 * request is taken to have died and the client's retry takes over. Longer than any request waits.
 */
export const IDEMPOTENCY_LEASE_MS = 60_000;
/** Keys are kept this long (API.md: at least 24 hours), then swept. */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 3_600_000;

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * Idempotency-Key handling (API.md): the same key and body return the same object and never act
 * twice, across restarts; a different body answers 409. The resource id is allocated and stored
 * with the key before anything happens, so whatever crashes in between, a retry reuses it.
 */
export async function idempotent(pool: Pool, req: Request, op: IdempotentOperation): Promise<Outcome> {
  const key = req.header('idempotency-key');
  if (key === undefined) {
    const id = op.allocate();
    return op.run(id, `${op.resourceType}:${id}:${Date.now()}`);
  }
  // Its length (1 to 255) is checked for every POST by `checkIdempotencyKey`, before any route.
  const requestHash = createHash('sha256').update(`${req.method} ${req.baseUrl}${req.path}\n${canonical(req.body ?? {})}`).digest('hex');
  const opKey = createHash('sha256').update(`${op.scope}\n${key}`).digest('hex').slice(0, 32);

  const inFlight = () => new ApiError(409, 'idempotency_error', 'idempotency_key_in_use', 'A request with this Idempotency-Key is in flight; retry later.');
  const lease = randomUUID();
  const inserted = await pool.query<KeyRow>(
    `INSERT INTO idempotency_keys (scope, key, request_hash, resource_type, resource_id, locked_until, lease_token)
     VALUES ($1, $2, $3, $4, $5, now() + ($6::bigint * interval '1 millisecond'), $7)
     ON CONFLICT (scope, key) DO NOTHING RETURNING request_hash, resource_id, response_status`,
    [op.scope, key, requestHash, op.resourceType, op.allocate(), IDEMPOTENCY_LEASE_MS, lease],
  );
  let row = inserted.rows[0] ?? (await pool.query<KeyRow>('SELECT request_hash, resource_id, response_status FROM idempotency_keys WHERE scope = $1 AND key = $2', [op.scope, key])).rows[0];
  if (!row) throw inFlight(); // freed by a rejected first request this instant: the retry will find it free
  if (row.request_hash !== requestHash) {
    throw new ApiError(409, 'idempotency_error', 'idempotency_key_reused', 'This Idempotency-Key was used with a different request.');
  }
  if (row.response_status !== null) return op.replay(row.resource_id, row.response_status);
  if (!inserted.rows[0]) {
    // In flight: a concurrent duplicate waits for the answer; a request that died (its lease over) is taken over.
    const taken = await pool.query<KeyRow>(
      `UPDATE idempotency_keys SET locked_until = now() + ($3::bigint * interval '1 millisecond'), lease_token = $4
       WHERE scope = $1 AND key = $2 AND response_status IS NULL AND (locked_until IS NULL OR locked_until < now())
       RETURNING request_hash, resource_id, response_status`,
      [op.scope, key, IDEMPOTENCY_LEASE_MS, lease],
    );
    if (!taken.rows[0]) throw inFlight();
    row = taken.rows[0];
  }

  let outcome: Outcome;
  try {
    outcome = await op.run(row.resource_id, opKey);
  } catch (err) {
    // A rejected request did nothing: free the key so a corrected request can use it. After any
    // other failure something may have happened: the key keeps its id and the client's retry
    // takes over at once (lease released) and converges on the same effect. Both only while this
    // request still holds the lease: a retry that took over a slow request is not undercut by it.
    const rejected = err instanceof ApiError && err.status < 500 && err.status !== 402;
    const release = rejected && inserted.rows[0]
      ? () => pool.query('DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND response_status IS NULL AND lease_token = $3', [op.scope, key, lease])
      : () => pool.query('UPDATE idempotency_keys SET locked_until = NULL WHERE scope = $1 AND key = $2 AND lease_token = $3', [op.scope, key, lease]);
    // The database may be what failed: the lease is then released as soon as it is back, so the
    // client's retry is not told "in flight" for the rest of the lease.
    await release().catch(() => releaseWhenBack(release, Date.now() + IDEMPOTENCY_LEASE_MS));
    throw err;
  }
  await pool.query('UPDATE idempotency_keys SET response_status = $3, locked_until = NULL WHERE scope = $1 AND key = $2', [op.scope, key, outcome.status]);
  return outcome;
}

/** Retries a lease release every second until it goes through or the lease has run out anyway. */
function releaseWhenBack(release: () => Promise<unknown>, until: number): void {
  const timer = setTimeout(() => {
    release().catch(() => {
      if (Date.now() < until) releaseWhenBack(release, until);
    });
  }, 1000);
  timer.unref();
}

/** Forgets keys past their time (API.md promises at least 24 hours); returns how many. */
export async function sweepIdempotencyKeys(pool: Pool, ttlMs = IDEMPOTENCY_KEY_TTL_MS): Promise<number> {
  const { rowCount } = await pool.query(
    `DELETE FROM idempotency_keys WHERE created_at < now() - ($1::bigint * interval '1 millisecond') AND (locked_until IS NULL OR locked_until < now())`,
    [ttlMs],
  );
  return rowCount ?? 0;
}
