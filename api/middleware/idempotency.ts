import { createHash } from 'node:crypto';
import type { Request } from 'express';
import type { Pool } from 'pg';
import { ApiError, invalidRequest } from '../../domain/errors';

export type Outcome = { status: number; body: unknown };

type KeyRow = { request_hash: string; resource_id: string; response_status: number | null };

export type IdempotentOperation = {
  /** `admin` or the merchant id: keys never collide across tenants. */
  scope: string;
  resourceType: string;
  /** Allocates the id of what this request creates or acts on; kept with the key. */
  allocate: () => string;
  /** Runs the request for that id. */
  run: (resourceId: string, opKey: string) => Promise<Outcome>;
  /** Answers a replay of a finished request: the object as it stands now. */
  replay: (resourceId: string, status: number) => Promise<Outcome>;
  /**
   * Whether running again with the same id converges on the same effect (workflow id and
   * update id dedupe). Then a retry after a crash, or a concurrent duplicate, simply runs again.
   */
  convergent: boolean;
};

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
  if (key.length < 1 || key.length > 255) throw invalidRequest('Idempotency-Key must be 1 to 255 characters.', 'Idempotency-Key');
  const requestHash = createHash('sha256').update(`${req.method} ${req.baseUrl}${req.path}\n${canonical(req.body ?? {})}`).digest('hex');
  const opKey = createHash('sha256').update(`${op.scope}\n${key}`).digest('hex').slice(0, 32);

  const inserted = await pool.query<KeyRow>(
    `INSERT INTO idempotency_keys (scope, key, request_hash, resource_type, resource_id) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (scope, key) DO NOTHING RETURNING request_hash, resource_id, response_status`,
    [op.scope, key, requestHash, op.resourceType, op.allocate()],
  );
  const mine = inserted.rows[0];
  const row = mine ?? (await pool.query<KeyRow>('SELECT request_hash, resource_id, response_status FROM idempotency_keys WHERE scope = $1 AND key = $2', [op.scope, key])).rows[0];
  if (!row) throw new ApiError(409, 'idempotency_error', 'idempotency_key_in_use', 'A request with this Idempotency-Key is in flight; retry later.');
  if (row.request_hash !== requestHash) {
    throw new ApiError(409, 'idempotency_error', 'idempotency_key_reused', 'This Idempotency-Key was used with a different request.');
  }
  if (row.response_status !== null) return op.replay(row.resource_id, row.response_status);
  if (!mine && !op.convergent) {
    throw new ApiError(409, 'idempotency_error', 'idempotency_key_in_use', 'A request with this Idempotency-Key is in flight; retry later.');
  }

  let outcome: Outcome;
  try {
    outcome = await op.run(row.resource_id, opKey);
  } catch (err) {
    // A rejected request did nothing: free the key so a corrected request can use it. After a
    // dependency failure keep it, so the retry converges on the same id.
    const rejected = err instanceof ApiError && err.status < 500 && err.status !== 402;
    if (mine && (rejected || !op.convergent)) await pool.query('DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2', [op.scope, key]).catch(() => {});
    throw err;
  }
  await pool.query('UPDATE idempotency_keys SET response_status = $3 WHERE scope = $1 AND key = $2', [op.scope, key, outcome.status]);
  return outcome;
}
