import type { Pool } from 'pg';
import type { DeliveryStatus } from './events';
import type { PageRequest } from './pages';
import { listPage } from './pages';
import type { Queryable } from './pool';
import { inTransaction, iso } from './pool';
import type { Tenant } from './merchants';

export type WebhookEndpoint = {
  id: string;
  object: 'webhook_endpoint';
  url: string;
  events: string[];
  description: string | null;
  status: 'enabled' | 'disabled';
  disabled_reason: string | null;
  livemode: boolean;
  created_at: string;
  updated_at: string;
};

type EndpointRow = Omit<WebhookEndpoint, 'object' | 'created_at' | 'updated_at'> & { created_at: Date; updated_at: Date };
const ENDPOINT_COLUMNS = 'id, url, events, description, status, disabled_reason, livemode, created_at, updated_at';
const toEndpoint = (r: EndpointRow): WebhookEndpoint => ({ ...r, object: 'webhook_endpoint', created_at: iso(r.created_at), updated_at: iso(r.updated_at) });

export async function createEndpoint(
  pool: Pool,
  e: { id: string; tenant: Tenant; url: string; events: string[]; description: string | null; secretSealed: string },
): Promise<WebhookEndpoint> {
  const { rows } = await pool.query<EndpointRow>(
    // A rerun for the same id keeps what the first run created (and its secret).
    `INSERT INTO webhook_endpoints (id, merchant_id, livemode, url, events, description, secret_sealed) VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (id) DO UPDATE SET id = EXCLUDED.id RETURNING ${ENDPOINT_COLUMNS}`,
    [e.id, e.tenant.merchantId, e.tenant.livemode, e.url, e.events, e.description, e.secretSealed],
  );
  return toEndpoint(rows[0]!);
}

/** `withDeleted`: a deleted endpoint too (the replay of the request that created it answers as it did). */
export async function findEndpoint(pool: Pool, tenant: Tenant, id: string, opts: { withDeleted?: boolean } = {}): Promise<WebhookEndpoint | undefined> {
  const { rows } = await pool.query<EndpointRow>(
    `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND merchant_id = $2 AND livemode = $3 AND (deleted_at IS NULL OR $4)`,
    [id, tenant.merchantId, tenant.livemode, opts.withDeleted ?? false],
  );
  return rows[0] && toEndpoint(rows[0]);
}

export function listEndpoints(pool: Pool, tenant: Tenant, page: PageRequest) {
  return listPage(pool, { table: 'webhook_endpoints', columns: ENDPOINT_COLUMNS, filters: [['deleted_at IS NULL']] }, tenant, page, toEndpoint);
}

export async function updateEndpoint(
  pool: Pool,
  tenant: Tenant,
  id: string,
  changes: { url?: string; events?: string[]; description?: string | null; status?: 'enabled' | 'disabled' },
): Promise<WebhookEndpoint | undefined> {
  const { rows } = await pool.query<EndpointRow>(
    `UPDATE webhook_endpoints SET
       url = COALESCE($3, url), events = COALESCE($4, events),
       description = CASE WHEN $5::boolean THEN $6 ELSE description END,
       status = COALESCE($7, status),
       disabled_reason = CASE WHEN COALESCE($7, status) = 'enabled' THEN NULL WHEN $7 = 'disabled' THEN 'disabled by the merchant' ELSE disabled_reason END,
       updated_at = now()
     WHERE id = $1 AND merchant_id = $2 AND livemode = $8 AND deleted_at IS NULL RETURNING ${ENDPOINT_COLUMNS}`,
    [id, tenant.merchantId, changes.url ?? null, changes.events ?? null, 'description' in changes, changes.description ?? null, changes.status ?? null, tenant.livemode],
  );
  return rows[0] && toEndpoint(rows[0]);
}

export async function deleteEndpoint(pool: Pool, tenant: Tenant, id: string): Promise<boolean> {
  const { rowCount } = await pool.query(
    'UPDATE webhook_endpoints SET deleted_at = now(), updated_at = now() WHERE id = $1 AND merchant_id = $2 AND livemode = $3 AND deleted_at IS NULL',
    [id, tenant.merchantId, tenant.livemode],
  );
  return rowCount === 1;
}

/**
 * The new secret signs from now on; the old one keeps signing too until `overlapMs` has passed.
 * Once per operation key: a rerun of the same request leaves the rotation it already made.
 */
export async function rotateSecret(pool: Pool, tenant: Tenant, id: string, secretSealed: string, overlapMs: number, operationKey: string): Promise<WebhookEndpoint | undefined> {
  const { rows } = await pool.query<EndpointRow>(
    `UPDATE webhook_endpoints SET
       previous_secret_sealed = CASE WHEN last_rotation_key IS DISTINCT FROM $6 THEN secret_sealed ELSE previous_secret_sealed END,
       secret_sealed = CASE WHEN last_rotation_key IS DISTINCT FROM $6 THEN $3 ELSE secret_sealed END,
       previous_secret_expires_at = CASE WHEN last_rotation_key IS DISTINCT FROM $6 THEN now() + ($4::bigint * interval '1 millisecond') ELSE previous_secret_expires_at END,
       updated_at = CASE WHEN last_rotation_key IS DISTINCT FROM $6 THEN now() ELSE updated_at END,
       last_rotation_key = $6
     WHERE id = $1 AND merchant_id = $2 AND livemode = $5 AND deleted_at IS NULL RETURNING ${ENDPOINT_COLUMNS}`,
    [id, tenant.merchantId, secretSealed, overlapMs, tenant.livemode, operationKey],
  );
  return rows[0] && toEndpoint(rows[0]);
}

/** Enabled endpoints of the merchant, in the event's mode, that subscribe to this event type. */
export async function subscribedEndpoints(pool: Pool, tenant: Tenant, type: string): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    `SELECT id FROM webhook_endpoints
     WHERE merchant_id = $1 AND livemode = $3 AND status = 'enabled' AND deleted_at IS NULL
       AND ('*' = ANY(events) OR $2 = ANY(events) OR split_part($2, '.', 1) || '.*' = ANY(events))
     ORDER BY created_at, id`,
    [tenant.merchantId, type, tenant.livemode],
  );
  return rows.map((r) => r.id);
}

export async function recordDelivery(pool: Pool, d: { id: string; eventId: string; endpointId: string; merchantId: string; reason: 'event' | 'resend' }): Promise<void> {
  await pool.query(
    `INSERT INTO webhook_deliveries (id, event_id, endpoint_id, merchant_id, reason) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
    [d.id, d.eventId, d.endpointId, d.merchantId, d.reason],
  );
}

/** Everything one attempt needs: the event, where it goes, and the sealed secrets that sign it. */
export type DeliveryTarget = {
  deliveryId: string; status: DeliveryStatus; createdAt: Date; eventId: string; endpointId: string; merchantId: string; livemode: boolean;
  url: string; endpointStatus: 'enabled' | 'disabled'; endpointDeleted: boolean; secretsSealed: string[]; lastSuccessAt: Date | null;
};

export async function deliveryTarget(pool: Pool, deliveryId: string): Promise<DeliveryTarget | undefined> {
  const { rows } = await pool.query(
    `SELECT d.id, d.status, d.created_at, d.event_id, d.endpoint_id, d.merchant_id, w.livemode, w.url, w.status AS endpoint_status,
            w.deleted_at IS NOT NULL AS deleted, w.secret_sealed, w.last_success_at,
            CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret_sealed END AS previous_secret_sealed
     FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id WHERE d.id = $1`,
    [deliveryId],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    deliveryId: r.id, status: r.status, createdAt: r.created_at, eventId: r.event_id, endpointId: r.endpoint_id, merchantId: r.merchant_id, livemode: r.livemode,
    url: r.url, endpointStatus: r.endpoint_status, endpointDeleted: r.deleted, lastSuccessAt: r.last_success_at,
    secretsSealed: [r.secret_sealed, ...(r.previous_secret_sealed ? [r.previous_secret_sealed] : [])],
  };
}

export type AttemptRecord = {
  deliveryId: string; endpointId: string; attempt: number; attemptedAt: Date; statusCode: number | null; latencyMs: number; error: string | null;
  /** What the delivery becomes: pending with the next attempt's time, or final. */
  outcome: { status: 'pending'; nextAttemptAt: Date } | { status: 'succeeded' | 'failed' };
};

/** One attempt and the delivery's new state, together; re-recording an attempt overwrites it. */
export async function recordAttempt(pool: Pool, a: AttemptRecord): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query(
      `INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code, latency_ms, error) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (delivery_id, attempt) DO UPDATE SET attempted_at = EXCLUDED.attempted_at, status_code = EXCLUDED.status_code,
         latency_ms = EXCLUDED.latency_ms, error = EXCLUDED.error`,
      [a.deliveryId, a.attempt, a.attemptedAt, a.statusCode, a.latencyMs, a.error],
    );
    const final = a.outcome.status !== 'pending';
    await client.query(
      `UPDATE webhook_deliveries SET attempt_count = GREATEST(attempt_count, $2), status = $3, next_attempt_at = $4,
         completed_at = CASE WHEN $5::boolean THEN now() END
       WHERE id = $1 AND status = 'pending'`,
      [a.deliveryId, a.attempt, a.outcome.status, a.outcome.status === 'pending' ? a.outcome.nextAttemptAt : null, final],
    );
    if (a.outcome.status === 'succeeded') {
      await client.query('UPDATE webhook_endpoints SET last_success_at = $2 WHERE id = $1', [a.endpointId, a.attemptedAt]);
    }
  });
}

export async function cancelDelivery(pool: Pool, deliveryId: string): Promise<void> {
  await pool.query(`UPDATE webhook_deliveries SET status = 'canceled', next_attempt_at = NULL, completed_at = now() WHERE id = $1 AND status = 'pending'`, [deliveryId]);
}

/**
 * Disables an endpoint that has not accepted anything since `since`: the endpoint as now
 * disabled, or undefined if it was not (it succeeded meanwhile, or is already off).
 */
export async function disableFailingEndpoint(db: Queryable, endpointId: string, since: Date, reason: string): Promise<(WebhookEndpoint & { merchant_id: string }) | undefined> {
  const { rows } = await db.query<EndpointRow & { merchant_id: string }>(
    `UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = $3, updated_at = now()
     WHERE id = $1 AND status = 'enabled' AND deleted_at IS NULL AND (last_success_at IS NULL OR last_success_at < $2)
     RETURNING merchant_id, ${ENDPOINT_COLUMNS}`,
    [endpointId, since, reason],
  );
  return rows[0] && { ...toEndpoint(rows[0]), merchant_id: rows[0].merchant_id };
}
