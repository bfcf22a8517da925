import type { Pool } from 'pg';
import type { EventType, MerchantEvent } from '../domain/events';
import type { Filter, PageRequest } from './pages';
import { listPage } from './pages';
import type { Queryable, Write } from './pool';
import { asOneStatement, iso } from './pool';
import type { Tenant } from './merchants';

export type NewEvent = { id: string; merchantId: string; livemode: boolean; type: EventType; objectId: string; data: object };

type Dispatched = boolean | 'without_endpoint';

/**
 * The outbox write as one of a statement's writes (`asOneStatement`), every event in one insert
 * in the order given (their sequence follows it). `dispatched`: nothing is to be delivered (no
 * endpoint, no receipt), so they are recorded as dispatched already; `'without_endpoint'`: so when
 * the merchant has no enabled endpoint in the event's mode. A known id changes nothing.
 */
export function eventsWrite(name: string, events: readonly NewEvent[], dispatched: Dispatched = false): Write {
  return {
    name,
    sql: `INSERT INTO events (id, merchant_id, livemode, type, object_id, data, dispatched_at)
      SELECT e.id, e.merchant_id, e.livemode, e.type, e.object_id, e.data,
        CASE WHEN $7::text = 'yes' OR ($7::text = 'without_endpoint' AND NOT EXISTS (
          SELECT 1 FROM webhook_endpoints w WHERE w.merchant_id = e.merchant_id AND w.livemode = e.livemode AND w.status = 'enabled' AND w.deleted_at IS NULL)) THEN now() END
      FROM unnest($1::text[], $2::text[], $3::boolean[], $4::text[], $5::text[], $6::jsonb[]) WITH ORDINALITY AS e(id, merchant_id, livemode, type, object_id, data, n)
      ORDER BY e.n
      ON CONFLICT (id) DO NOTHING RETURNING dispatched_at IS NULL AS pending`,
    params: [
      events.map((e) => e.id), events.map((e) => e.merchantId), events.map((e) => e.livemode), events.map((e) => e.type),
      events.map((e) => e.objectId), events.map((e) => JSON.stringify(e.data)), dispatched === 'without_endpoint' ? dispatched : dispatched ? 'yes' : 'no',
    ],
  };
}

/** Reads the `eventsWrite` of this name: whether any of its events may still be delivered (recorded undispatched, or recorded before). */
export const eventsPendingSelect = (name: string, count: number) =>
  `SELECT coalesce(bool_or(pending), false) OR count(*) < ${count} AS pending FROM ${name}`;

/** Outbox write, in the transaction of the change it reports, if any (see `eventsWrite`). Answers whether any may still be delivered. */
export async function recordEvents(db: Queryable, events: readonly NewEvent[], opts: { dispatched?: Dispatched } = {}): Promise<boolean> {
  if (events.length === 0) return false;
  const { rows } = await db.query<{ pending: boolean }>(asOneStatement([eventsWrite('written', events, opts.dispatched)], eventsPendingSelect('written', events.length)));
  return rows[0]?.pending ?? true;
}

type EventRow = { id: string; merchant_id: string; livemode: boolean; type: EventType; object_id: string; sequence: number; data: Record<string, unknown>; created_at: Date };
const EVENT_COLUMNS = 'id, merchant_id, livemode, type, object_id, sequence, data, created_at';

export const toEvent = (r: EventRow): MerchantEvent & { merchant_id: string } => ({
  id: r.id, object: 'event', type: r.type, object_id: r.object_id, sequence: r.sequence, data: { object: r.data }, livemode: r.livemode,
  created_at: iso(r.created_at), merchant_id: r.merchant_id,
});

/** The event as it is delivered: no internal fields. */
export const publicEvent = ({ merchant_id: _m, ...event }: MerchantEvent & { merchant_id?: string }): MerchantEvent => event;

export async function findEvent(pool: Pool, tenant: Tenant, id: string) {
  const { rows } = await pool.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = $1 AND merchant_id = $2 AND livemode = $3`, [
    id, tenant.merchantId, tenant.livemode,
  ]);
  return rows[0] && toEvent(rows[0]);
}

export function listEvents(pool: Pool, tenant: Tenant, f: { type?: string; objectId?: string }, page: PageRequest) {
  const filters: Filter[] = [];
  if (f.type?.endsWith('.*')) filters.push(['type LIKE $', `${f.type.slice(0, -1)}%`]);
  else if (f.type && f.type !== '*') filters.push(['type = $', f.type]);
  if (f.objectId) filters.push(['object_id = $', f.objectId]);
  return listPage(pool, { table: 'events', columns: EVENT_COLUMNS, filters }, tenant, page, toEvent);
}

/** Events among `ids` whose deliveries have not all been started yet. */
export async function undispatchedEvents(pool: Pool, ids: readonly string[]) {
  if (ids.length === 0) return [];
  const { rows } = await pool.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = ANY($1) AND dispatched_at IS NULL ORDER BY sequence`, [ids]);
  return rows.map(toEvent);
}

export async function markDispatched(pool: Pool, id: string): Promise<void> {
  await pool.query('UPDATE events SET dispatched_at = now() WHERE id = $1 AND dispatched_at IS NULL', [id]);
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed' | 'canceled';

export type DeliveryView = {
  id: string; endpoint_id: string; reason: 'event' | 'resend'; status: DeliveryStatus; attempt_count: number;
  next_attempt_at: string | null; created_at: string; completed_at: string | null;
};
export type AttemptView = {
  delivery_id: string; endpoint_id: string; attempt: number; attempted_at: string; status_code: number | null; latency_ms: number; error: string | null;
};

/** Deliveries and attempts of the given events, for GET /v1/events and /v1/events/:id. */
export async function deliveriesOf(pool: Pool, eventIds: readonly string[]): Promise<Map<string, { deliveries: DeliveryView[]; attempts: AttemptView[] }>> {
  const out = new Map(eventIds.map((id) => [id, { deliveries: [] as DeliveryView[], attempts: [] as AttemptView[] }]));
  if (eventIds.length === 0) return out;
  const [deliveries, attempts] = await Promise.all([
    pool.query('SELECT * FROM webhook_deliveries WHERE event_id = ANY($1) ORDER BY created_at, id', [eventIds]),
    pool.query(
      `SELECT a.*, d.event_id, d.endpoint_id FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
       WHERE d.event_id = ANY($1) ORDER BY a.attempted_at, a.attempt`,
      [eventIds],
    ),
  ]);
  const when = (d: Date | null) => (d ? iso(d) : null);
  for (const d of deliveries.rows) {
    out.get(d.event_id)!.deliveries.push({
      id: d.id, endpoint_id: d.endpoint_id, reason: d.reason, status: d.status, attempt_count: d.attempt_count,
      next_attempt_at: when(d.next_attempt_at), created_at: iso(d.created_at), completed_at: when(d.completed_at),
    });
  }
  for (const a of attempts.rows) {
    out.get(a.event_id)!.attempts.push({
      delivery_id: a.delivery_id, endpoint_id: a.endpoint_id, attempt: a.attempt, attempted_at: iso(a.attempted_at),
      status_code: a.status_code, latency_ms: a.latency_ms, error: a.error,
    });
  }
  return out;
}
