import { WithStartWorkflowOperation } from '@temporalio/client';
import type { Config } from '../config';
import type { CaptureMethod, Channel, Payment, PaymentMethodType, ProviderName, RoutingDecision } from '../domain/payment';
import { paymentWorkflowId } from '../workflows/messages';
import type { PaymentWorkflowInput } from '../workflows/messages';
import { paymentWorkflowV7 } from '../workflows/payment.workflow';
import { paymentSearchAttributes } from '../workflows/search-attributes';

/** What a new payment is made of: the API's create body, or a subscription invoice's charge. */
export type PaymentOrder = {
  amount: number;
  currency: string;
  payment_method: { type: PaymentMethodType; token?: string };
  capture_method: CaptureMethod;
  channel: Channel;
  customer_id?: string;
  description?: string;
  metadata?: Record<string, string>;
  return_url?: string;
  receipt_email?: string;
};

/** The payment as created: `pending`, version 0, routed to the first candidate. */
export function newPayment(id: string, merchantId: string, livemode: boolean, order: PaymentOrder, routing: RoutingDecision, now = new Date().toISOString()): Payment {
  const provider: ProviderName = routing.candidates[0]!;
  return {
    id, object: 'payment', merchant_id: merchantId, livemode, status: 'pending', amount: order.amount, currency: order.currency,
    amount_capturable: 0, amount_captured: 0, amount_refunded: 0, capture_method: order.capture_method,
    payment_method: { type: order.payment_method.type }, provider, provider_reference: null, routing, channel: order.channel,
    next_action: null, failure: null, customer_id: order.customer_id ?? null, description: order.description ?? null,
    metadata: order.metadata ?? {}, return_url: order.return_url ?? null,
    receipt_email: order.receipt_email ?? null, created_at: now, updated_at: now, version: 0,
  };
}

/**
 * Starts (or attaches to) the payment's workflow, for update-with-start. A fresh operation per
 * attempt: an operation object can be executed only once.
 */
/** `actionTtlMs`: how long the customer's step may take, when not ACTION_TTL_MS (a bank transfer's instructions: the merchant's setting). */
export function paymentStart(
  config: Config, payment: Payment, token: string | undefined, extra: Pick<PaymentWorkflowInput, 'savedMethod' | 'clientIp' | 'billingCountry'> & { actionTtlMs?: number }, memo: Record<string, unknown>,
) {
  const { actionTtlMs = config.ACTION_TTL_MS, ...rest } = extra;
  const input: PaymentWorkflowInput = {
    payment,
    ...(token ? { token } : {}),
    ...rest,
    authorizationTtlMs: config.AUTHORIZATION_TTL_MS,
    actionTtlMs,
    review: { ttlMs: config.RISK_REVIEW_TTL_MS, defaultDecision: config.RISK_REVIEW_DEFAULT },
    refundWindowMs: config.REFUND_WINDOW_MS,
    ...(config.PAYMENT_CONTINUE_AS_NEW_EVENTS ? { continueAsNewAfterEvents: config.PAYMENT_CONTINUE_AS_NEW_EVENTS } : {}),
  };
  return new WithStartWorkflowOperation(paymentWorkflowV7, {
    workflowId: paymentWorkflowId(payment.id),
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    args: [input],
    // A retry of the same request attaches to the payment already running, and never starts a
    // second run of one that has finished.
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    typedSearchAttributes: paymentSearchAttributes(payment),
    memo,
  });
}
