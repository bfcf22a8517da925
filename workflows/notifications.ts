import { proxyActivities, sleep } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { EventType, RetrySchedule } from '../domain/events';
import { retryDelayMs } from '../domain/events';
import { receiptOptions, webhookAttemptOptions } from './options';

export type WebhookDeliveryInput = {
  deliveryId: string;
  eventId: string;
  eventType: EventType;
  endpointId: string;
  /** Fixed when the delivery starts: a configuration change never reshapes a running schedule. */
  schedule: RetrySchedule;
  attemptTimeoutMs: number;
};

export type DeliveryOutcome = 'succeeded' | 'retrying' | 'failed' | 'canceled';

export const webhookDeliveryWorkflowId = (deliveryId: string) => `webhook-delivery:${deliveryId}`;
export const receiptWorkflowId = (eventId: string) => `receipt:${eventId}`;

/**
 * Delivers one event to one merchant endpoint: attempts until a 2xx, backing off with jitter,
 * for the schedule's whole window (days, on durable timers); then the delivery is failed and an
 * endpoint that accepted nothing all that time is disabled.
 */
export async function webhookDeliveryWorkflow(input: WebhookDeliveryInput): Promise<DeliveryOutcome> {
  const { deliverWebhook } = proxyActivities<Activities>(webhookAttemptOptions(input.attemptTimeoutMs));
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    const delayMs = retryDelayMs(input.schedule, attempt, Math.random());
    const retryInMs = Date.now() + delayMs - started <= input.schedule.windowMs ? delayMs : null;
    const outcome = await deliverWebhook({ deliveryId: input.deliveryId, attempt, retryInMs });
    if (outcome !== 'retrying') return outcome;
    await sleep(delayMs);
  }
}

/** Sends the payer's receipt for a captured payment or a succeeded refund. */
export async function receiptWorkflow(input: { eventId: string }): Promise<void> {
  const { sendReceipt } = proxyActivities<Activities>(receiptOptions);
  await sendReceipt(input);
}
