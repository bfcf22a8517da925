import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { FundsApplied, Payer } from '../domain/bank';
import type { Payment, Refund } from '../domain/payment';
import type { ProviderNotification, RefundNotification } from '../providers/provider';

/** Messages shared by the API and the PaymentWorkflow; defined once, here. */

/** Sent with update-with-start: answers after the first provider round trip. */
export const createPaymentUpdate = defineUpdate<Payment>('createPayment');
export const capturePaymentUpdate = defineUpdate<Payment, [{ amount?: number }]>('capturePayment');
export const cancelPaymentUpdate = defineUpdate<Payment>('cancelPayment');
export const refundPaymentUpdate = defineUpdate<Refund, [RefundRequest]>('refundPayment');
/** A verified provider callback (customer paid / failed at the provider); duplicates are harmless. */
export const providerNotificationSignal = defineSignal<[ProviderNotification]>('providerNotification');
/** A verified provider word on one of this payment's refunds (e.g. a refund failing after it succeeded). */
export const refundNotificationSignal = defineSignal<[RefundNotification]>('refundNotification');
export const paymentQuery = defineQuery<Payment>('payment');
/** The details of a change the payment refused for its state: its version when it refused. */
export type RefusedAt = { version: number };
/**
 * A bank credit matched to this transfer payment: it takes what it still needs (the answer says
 * how much). Refused when the payment no longer waits for money; the same credit twice takes once.
 */
export const fundPaymentUpdate = defineUpdate<{ applied: number }, [FundsOffer]>('fundPayment');

/** A review's decision: approve (on to authorization) or reject (canceled). */
export const reviewPaymentUpdate = defineUpdate<Payment, [ReviewDecision]>('reviewPayment');
export type ReviewDecision = { decision: 'approve' | 'reject'; reason: string; reviewer: 'merchant' | 'operator' };

export type FundsOffer = { creditId: string; amount: number; currency: string; payer: Payer };
/** An operator's "retry the stuck step now": cuts the current backoff or poll wait short. */
export const operatorRetrySignal = defineSignal('operatorRetry');

export type RefundRequest = { refundId: string; amount?: number; reason: string | null; createdAt: string };

export type PaymentWorkflowInput = {
  /** The payment as created (status `pending`, version 0). */
  payment: Payment;
  /** The payment method token: handed to the provider, never stored in the read model. */
  token?: string;
  /** The token is a method saved on the provider's customer: charged off-session (subscription invoices). */
  savedMethod?: { customer: string };
  /** The payer's IP address as the merchant gave it (`client_ip`): for providers that require it, never stored. */
  clientIp?: string;
  /** The billing address's country, for risk rules: never stored. */
  billingCountry?: string;
  /** How long a payment held for review waits for a decision, and what the deadline decides. */
  review?: { ttlMs: number; defaultDecision: 'approve' | 'reject' };
  authorizationTtlMs: number;
  actionTtlMs: number;
  refundWindowMs: number;
  /**
   * A run continued from an earlier one while it waited for refunds (its history grew long): the
   * refunds so far and when the refund window ends. The payment travels in `payment`.
   */
  resume?: { refunds: Refund[]; refundWindowEndsAt: number; transfer?: boolean; funds?: FundsApplied[] };
  /** Continue as new past this many history events, besides the server's own suggestion (tests set it low). */
  continueAsNewAfterEvents?: number;
};

export const paymentWorkflowId = (paymentId: string) => `payment:${paymentId}`;
