import type { PaymentStatus, RefundStatus } from './payment';

/**
 * The merchant events of API.md, plus the one that tells a merchant an endpoint was disabled and
 * the audit of what an operator did to one of its objects.
 */
export const EVENT_TYPES = [
  'payment.requires_action',
  'payment.authorized',
  'payment.captured',
  'payment.failed',
  'payment.canceled',
  /** A risk rule held the payment for review (status requires_review). */
  'payment.review_opened',
  /** The review was decided (by the merchant, an operator or the deadline): see `risk.review`. */
  'payment.review_closed',
  /** A bank transfer received part of its amount (`amount_received`); it still waits for the rest. */
  'payment.partially_funded',
  'refund.succeeded',
  'refund.failed',
  'webhook_endpoint.disabled',
  'operator.action',
  /** A capture, void or refund that cannot finish without an operator (see `attention` on the object). */
  'operator.attention_required',
  'customer.created',
  'customer.updated',
  /** A renewal was hard-declined (or needs the customer): ask them for another payment method. */
  'customer.payment_method_update_requested',
  'subscription.created',
  'subscription.updated',
  'subscription.trial_will_end',
  'subscription.past_due',
  'subscription.canceled',
  'invoice.created',
  'invoice.finalized',
  'invoice.paid',
  'invoice.payment_failed',
  'invoice.upcoming',
  'invoice.voided',
  'invoice.marked_uncollectible',
  /** A day of a provider's settlement report was reconciled (counts of this merchant's items). */
  'reconciliation.completed',
  /** ... and some of this merchant's items differ from what the provider reported. */
  'reconciliation.mismatch_found',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * What an endpoint subscribes to, or a list filters by: an event type, a family (`payment.*`) or
 * everything (`*`). A closed list, so the OpenAPI document can state it as an enum.
 */
export const EVENT_FILTERS = ['*', ...new Set(EVENT_TYPES.map((t) => `${t.split('.')[0]}.*`)), ...EVENT_TYPES] as [string, ...string[]];

export const isEventFilter = (filter: string): boolean => EVENT_FILTERS.includes(filter);

/**
 * The event a payment status announces. Refunded states have none of their own: the
 * `refund.succeeded` event carries them. Automatic capture goes straight to `captured`.
 */
export const PAYMENT_STATUS_EVENTS = {
  pending: null,
  requires_review: 'payment.review_opened',
  requires_action: 'payment.requires_action',
  authorized: 'payment.authorized',
  captured: 'payment.captured',
  partially_refunded: null,
  refunded: null,
  canceled: 'payment.canceled',
  failed: 'payment.failed',
} as const satisfies Record<PaymentStatus, EventType | null>;

export const REFUND_STATUS_EVENTS = {
  pending: null,
  succeeded: 'refund.succeeded',
  failed: 'refund.failed',
} as const satisfies Record<RefundStatus, EventType | null>;

/** Events whose payer gets a receipt when the payment has a `receipt_email`. */
export const RECEIPT_EVENTS: readonly EventType[] = ['payment.captured', 'refund.succeeded'];

export type MerchantEvent = {
  id: string;
  object: 'event';
  type: EventType;
  /** The payment, refund or endpoint the event is about. */
  object_id: string;
  /** Increases with every event; a receiver ignores one lower than the last it applied for that object. */
  sequence: number;
  data: { object: Record<string, unknown> };
  livemode: boolean;
  created_at: string;
};

export type RetrySchedule = { firstRetryMs: number; maxRetryMs: number; windowMs: number };

/**
 * Exponential backoff with full jitter over the upper half: attempt 1 failed → about
 * firstRetryMs, doubling up to maxRetryMs. `random` is the workflow's deterministic one.
 */
export function retryDelayMs(schedule: RetrySchedule, failedAttempts: number, random: number): number {
  const ceiling = Math.min(schedule.maxRetryMs, schedule.firstRetryMs * 2 ** Math.min(failedAttempts - 1, 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}
