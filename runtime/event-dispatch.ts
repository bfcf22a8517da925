import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Pool } from 'pg';
import type { Config } from '../config';
import { markDispatched, undispatchedEvents } from '../db/events';
import { withClient } from '../db/pool';
import { recordDelivery, subscribedEndpoints } from '../db/webhooks';
import type { EventType, RetrySchedule } from '../domain/events';
import { RECEIPT_EVENTS } from '../domain/events';
import { derivedId } from '../domain/ids';
import { receiptWorkflow, webhookDeliveryWorkflow, receiptWorkflowId, webhookDeliveryWorkflowId } from '../workflows/notifications';
import { MerchantIdKey } from '../workflows/search-attributes';

export const retryScheduleOf = (config: Config): RetrySchedule => ({
  firstRetryMs: config.WEBHOOK_FIRST_RETRY_MS,
  maxRetryMs: config.WEBHOOK_MAX_RETRY_MS,
  windowMs: config.WEBHOOK_RETRY_WINDOW_MS,
});

/** The advisory lock the outbox sweep holds: an arbitrary constant of this application. */
const OUTBOX_SWEEP_LOCK = 0x7061_7931;

type DispatchOptions = { client: Client; pool: Pool; taskQueue: string; schedule: RetrySchedule; attemptTimeoutMs: number; receipts: boolean };

/**
 * Turns recorded events into work: one delivery workflow per (event, subscribed endpoint) and a
 * receipt workflow where the payer asked for one. Workflow ids are derived from the event, so
 * running this again after a crash starts nothing twice; an event is marked dispatched last.
 */
export class EventDispatcher {
  constructor(private readonly opts: DispatchOptions) {}

  /**
   * Whether these new events (of one payment) are to be delivered whatever endpoints the merchant
   * has: a receipt the payer asked for. When not, they are recorded as dispatched already unless
   * the merchant has an enabled endpoint in their mode (checked by the statement that records them,
   * `recordEvents`' `dispatched: 'without_endpoint'`), and the dispatch's queries are skipped. An
   * endpoint created after that receives events from then on, as one created a moment later would.
   */
  receiptWanted(types: readonly EventType[], receiptEmail: string | null): boolean {
    return this.opts.receipts && !!receiptEmail && types.some((t) => RECEIPT_EVENTS.includes(t));
  }

  async dispatch(eventIds: readonly string[]): Promise<void> {
    for (const event of await undispatchedEvents(this.opts.pool, eventIds)) {
      for (const endpointId of await subscribedEndpoints(this.opts.pool, { merchantId: event.merchant_id, livemode: event.livemode }, event.type)) {
        await this.deliver({ deliveryId: derivedId('whd', event.id, endpointId), eventId: event.id, eventType: event.type, endpointId, merchantId: event.merchant_id, reason: 'event' });
      }
      if (this.opts.receipts && RECEIPT_EVENTS.includes(event.type) && (await this.payerWantsReceipt(event.data.object))) {
        await this.start(() =>
          this.opts.client.workflow.start(receiptWorkflow, {
            workflowId: receiptWorkflowId(event.id),
            taskQueue: this.opts.taskQueue,
            args: [{ eventId: event.id }],
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
            typedSearchAttributes: [{ key: MerchantIdKey, value: event.merchant_id }],
          }),
        );
      }
      await markDispatched(this.opts.pool, event.id);
    }
  }

  /**
   * The outbox's safety net: events whose dispatch was interrupted (a failed start after the
   * commit, outside a retried activity) and deliveries recorded but never started are picked
   * up again. Starting is idempotent by workflow id, so racing a live dispatch is harmless.
   */
  async sweep(olderThanMs = 30_000): Promise<number> {
    // One sweeper at a time across every worker: the others skip this round.
    return withClient(this.opts.pool, async (lock, broken) => {
      const { rows } = await lock.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [OUTBOX_SWEEP_LOCK]);
      if (!rows[0]?.locked) return 0;
      try {
        return await this.sweepLocked(olderThanMs);
      } finally {
        // A session lock: a client that cannot unlock is destroyed, which releases it.
        await lock.query('SELECT pg_advisory_unlock($1)', [OUTBOX_SWEEP_LOCK]).catch(broken);
      }
    });
  }

  private async sweepLocked(olderThanMs: number): Promise<number> {
    const { rows: events } = await this.opts.pool.query<{ id: string }>(
      `SELECT id FROM events WHERE dispatched_at IS NULL AND created_at < now() - ($1::bigint * interval '1 millisecond') ORDER BY created_at LIMIT 200`,
      [olderThanMs],
    );
    const failures: unknown[] = [];
    // One at a time, so that one event or delivery that keeps failing holds up none of the others.
    const each = async (work: () => Promise<void>) => work().catch((err: unknown) => void failures.push(err));
    for (const e of events) await each(() => this.dispatch([e.id]));
    const { rows: deliveries } = await this.opts.pool.query(
      `SELECT d.id, d.event_id, e.type, d.endpoint_id, d.merchant_id, d.reason FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
       WHERE d.started_at IS NULL AND d.status = 'pending' AND d.created_at < now() - ($1::bigint * interval '1 millisecond') LIMIT 200`,
      [olderThanMs],
    );
    for (const d of deliveries) {
      await each(() => this.deliver({ deliveryId: d.id, eventId: d.event_id, eventType: d.type, endpointId: d.endpoint_id, merchantId: d.merchant_id, reason: d.reason }));
    }
    if (failures.length > 0) throw new Error(`${failures.length} swept item(s) failed, first: ${(failures[0] as Error)?.message ?? String(failures[0])}`);
    return events.length + deliveries.length;
  }

  /**
   * A new delivery of an existing event to the given endpoints (POST /v1/events/:id/resend).
   * Delivery ids derive from the request's operation key: a retried resend starts nothing twice.
   */
  async resend(event: { id: string; type: EventType; merchantId: string }, endpointIds: readonly string[], operationKey: string): Promise<string[]> {
    const ids: string[] = [];
    for (const endpointId of endpointIds) {
      const deliveryId = derivedId('whd', 'resend', operationKey, endpointId);
      await this.deliver({ deliveryId, eventId: event.id, eventType: event.type, endpointId, merchantId: event.merchantId, reason: 'resend' });
      ids.push(deliveryId);
    }
    return ids;
  }

  private async deliver(d: { deliveryId: string; eventId: string; eventType: EventType; endpointId: string; merchantId: string; reason: 'event' | 'resend' }): Promise<void> {
    await recordDelivery(this.opts.pool, { ...d, id: d.deliveryId });
    await this.start(() =>
      this.opts.client.workflow.start(webhookDeliveryWorkflow, {
        workflowId: webhookDeliveryWorkflowId(d.deliveryId),
        taskQueue: this.opts.taskQueue,
        args: [{ deliveryId: d.deliveryId, eventId: d.eventId, eventType: d.eventType, endpointId: d.endpointId, schedule: this.opts.schedule, attemptTimeoutMs: this.opts.attemptTimeoutMs }],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [{ key: MerchantIdKey, value: d.merchantId }],
        memo: { event: d.eventId, eventType: d.eventType, endpoint: d.endpointId },
      }),
    );
    await this.opts.pool.query('UPDATE webhook_deliveries SET started_at = now() WHERE id = $1 AND started_at IS NULL', [d.deliveryId]);
  }

  private async payerWantsReceipt(object: Record<string, unknown>): Promise<boolean> {
    const paymentId = object.object === 'refund' ? object.payment_id : object.id;
    const { rows } = await this.opts.pool.query('SELECT receipt_email FROM payments WHERE id = $1', [paymentId]);
    return Boolean(rows[0]?.receipt_email);
  }

  /** Already started (by an earlier run of this same dispatch) is success. */
  private async start(fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }
}

