import { ApplicationFailure } from '@temporalio/activity';
import type { Pool } from 'pg';
import type { NewEvent } from '../db/events';
import { findEvent, publicEvent, recordEvents } from '../db/events';
import { publicPayment, publicRefund } from '../db/payments';
import { inTransaction } from '../db/pool';
import { cancelDelivery, deliveryTarget, disableFailingEndpoint, recordAttempt } from '../db/webhooks';
import type { DeliveryTarget } from '../db/webhooks';
import { PAYMENT_STATUS_EVENTS, REFUND_STATUS_EVENTS } from '../domain/events';
import { derivedId } from '../domain/ids';
import type { Payment, Refund } from '../domain/payment';
import { receiptFor } from '../domain/receipts';
import { signPayload } from '../domain/signature';
import type { EventDispatcher } from '../runtime/event-dispatch';
import type { Mailer } from '../runtime/mailer';
import type { Metrics } from '../runtime/metrics';
import type { SecretBox } from '../runtime/secret-box';
import type { WebhookSender } from '../runtime/webhook-sender';
import type { DeliveryOutcome } from '../workflows/notifications';

export const SIGNATURE_HEADER = 'Payment-Signature';

export type NotificationDeps = { dispatcher: EventDispatcher; sender: WebhookSender; secrets: SecretBox; mailer?: Mailer };

/**
 * The events a recorded snapshot announces, with ids derived from the object and the event
 * type: the first recording of a status creates its event, any later one is a no-op.
 */
export function eventsOf(payment: Payment, refunds: readonly Refund[] = []): NewEvent[] {
  const events: NewEvent[] = [];
  const paymentType = PAYMENT_STATUS_EVENTS[payment.status];
  if (paymentType) {
    events.push({ id: derivedId('evt', payment.id, paymentType), merchantId: payment.merchant_id, livemode: payment.livemode ?? false, type: paymentType, objectId: payment.id, data: publicPayment(payment) });
  }
  if (payment.risk?.review) {
    events.push({ id: derivedId('evt', payment.id, 'payment.review_closed'), merchantId: payment.merchant_id, livemode: payment.livemode ?? false, type: 'payment.review_closed', objectId: payment.id, data: publicPayment(payment) });
  }
  // One per amount received: each further credit that still leaves some to pay is news.
  const received = payment.amount_received ?? 0;
  if (payment.status === 'requires_action' && received > 0 && received < payment.amount) {
    events.push({
      id: derivedId('evt', payment.id, 'payment.partially_funded', String(received)), merchantId: payment.merchant_id, livemode: payment.livemode ?? false,
      type: 'payment.partially_funded', objectId: payment.id, data: publicPayment(payment),
    });
  }
  // One event per episode: its id derives from when the movement got stuck.
  if (payment.attention) {
    events.push({
      id: derivedId('evt', payment.id, 'operator.attention_required', payment.attention.since), merchantId: payment.merchant_id,
      livemode: payment.livemode ?? false, type: 'operator.attention_required', objectId: payment.id, data: publicPayment(payment),
    });
  }
  for (const r of refunds) {
    const refundType = REFUND_STATUS_EVENTS[r.status];
    if (refundType) events.push({ id: derivedId('evt', r.id, refundType), merchantId: r.merchant_id, livemode: r.livemode ?? false, type: refundType, objectId: r.id, data: publicRefund(r) });
  }
  return events;
}

export function createNotificationActivities(pool: Pool, deps: NotificationDeps | undefined, metrics?: Metrics) {
  const required = (): NotificationDeps => {
    if (!deps) throw ApplicationFailure.nonRetryable('merchant notifications are not configured on this worker', 'NotConfigured');
    return deps;
  };

  /** After a delivery gave up: an endpoint that accepted nothing since it began is disabled, and the merchant told. */
  async function disableIfFailing(target: DeliveryTarget): Promise<void> {
    const eventId = derivedId('evt', target.deliveryId, 'webhook_endpoint.disabled');
    await inTransaction(pool, async (client) => {
      const reason = `No delivery succeeded since ${target.createdAt.toISOString()}; the last one failed after every retry.`;
      const disabled = await disableFailingEndpoint(client, target.endpointId, target.createdAt, reason);
      if (!disabled) return;
      const { merchant_id: merchantId, ...endpoint } = disabled;
      await recordEvents(client, [{ id: eventId, merchantId, livemode: endpoint.livemode, type: 'webhook_endpoint.disabled', objectId: endpoint.id, data: endpoint }]);
    });
    await required().dispatcher.dispatch([eventId]);
  }

  return {
    /** One attempt of one delivery, recorded with its result; `retryInMs` null means it is the last. */
    async deliverWebhook(input: { deliveryId: string; attempt: number; retryInMs: number | null }): Promise<DeliveryOutcome> {
      const { sender, secrets } = required();
      const target = await deliveryTarget(pool, input.deliveryId);
      if (!target) throw ApplicationFailure.nonRetryable(`unknown delivery ${input.deliveryId}`, 'UnknownDelivery');
      if (target.status !== 'pending') {
        // This attempt was already recorded by an earlier run of this activity.
        if (target.status === 'failed') await disableIfFailing(target);
        return target.status;
      }
      if (target.endpointDeleted || target.endpointStatus !== 'enabled') {
        await cancelDelivery(pool, target.deliveryId);
        return 'canceled';
      }
      const event = await findEvent(pool, { merchantId: target.merchantId, livemode: target.livemode }, target.eventId);
      if (!event) throw ApplicationFailure.nonRetryable(`unknown event ${target.eventId}`, 'UnknownEvent');
      const body = JSON.stringify(publicEvent(event));
      const attemptedAt = new Date();
      const signature = signPayload(target.secretsSealed.map((s) => secrets.open(s)), body, Math.floor(attemptedAt.getTime() / 1000));
      const result = await sender.post(target.url, body, { [SIGNATURE_HEADER]: signature });
      const outcome = result.delivered
        ? ({ status: 'succeeded' } as const)
        : input.retryInMs !== null
          ? ({ status: 'pending', nextAttemptAt: new Date(Date.now() + input.retryInMs) } as const)
          : ({ status: 'failed' } as const);
      await recordAttempt(pool, { ...result, deliveryId: target.deliveryId, endpointId: target.endpointId, attempt: input.attempt, attemptedAt, outcome });
      metrics?.webhookDeliveries.inc({ outcome: result.delivered ? 'delivered' : result.statusCode ? 'rejected' : 'unreachable' });
      if (outcome.status === 'failed') await disableIfFailing(target);
      return outcome.status === 'pending' ? 'retrying' : outcome.status;
    },

    /** The payer's receipt, at most once per event (a stable Message-ID covers a crash mid-send). */
    async sendReceipt(input: { eventId: string }): Promise<void> {
      const { mailer } = required();
      if (!mailer) throw ApplicationFailure.nonRetryable('SMTP is not configured on this worker', 'NotConfigured');
      const { rows } = await pool.query(
        `SELECT e.type, e.data, p.id AS payment_id, p.receipt_email, p.amount_captured, p.currency, p.description, m.name AS merchant_name,
                EXISTS (SELECT 1 FROM receipts r WHERE r.event_id = e.id) AS sent
         FROM events e JOIN payments p ON p.id = COALESCE(e.data->>'payment_id', e.object_id) JOIN merchants m ON m.id = e.merchant_id
         WHERE e.id = $1`,
        [input.eventId],
      );
      const row = rows[0];
      if (!row || row.sent || !row.receipt_email) return;
      const refund = row.type === 'refund.succeeded' ? { id: row.data.id as string, amount: Number(row.data.amount) } : undefined;
      // The captured amount as the event saw it, not as later refunds changed it.
      const captured = row.type === 'payment.captured' ? Number(row.data.amount_captured) : row.amount_captured;
      const message = receiptFor(row.merchant_name, { id: row.payment_id, amount_captured: captured, currency: row.currency, description: row.description }, refund);
      const messageId = `<${input.eventId}@receipts.temporal-payments>`;
      await mailer.send({ to: row.receipt_email, ...message, messageId });
      await pool.query('INSERT INTO receipts (event_id, payment_id, message_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [input.eventId, row.payment_id, messageId]);
    },
  };
}
