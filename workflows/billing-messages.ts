import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { DunningConfig } from '../billing/dunning';
import type { Invoice, InvoiceLine, PauseBehavior, ProrationBehavior, RecurringPrice, Subscription } from '../domain/billing';
import type { PaymentStatus } from '../domain/payment';

/** Messages shared by the API and the subscription workflows; defined once, here. */

/** Sent with update-with-start: answers once the first invoice was charged (or the trial began). */
export const createSubscriptionUpdate = defineUpdate<Subscription>('createSubscription');
export const changeSubscriptionUpdate = defineUpdate<Subscription, [SubscriptionChange]>('changeSubscription');
export const cancelSubscriptionUpdate = defineUpdate<Subscription, [{ at_period_end: boolean; prorate: boolean }]>('cancelSubscription');
export const pauseSubscriptionUpdate = defineUpdate<Subscription, [{ behavior: PauseBehavior; resumes_at: number | null }]>('pauseSubscription');
export const resumeSubscriptionUpdate = defineUpdate<Subscription>('resumeSubscription');
/** Retry an open invoice's payment now (`POST /v1/invoices/:id/pay`, the operator's retry). */
export const payInvoiceUpdate = defineUpdate<Invoice, [{ invoiceId: string }]>('payInvoice');
export const voidInvoiceUpdate = defineUpdate<Invoice, [{ invoiceId: string }]>('voidInvoice');
/** The subscription's test clock moved forward to this time (unix seconds). */
export const clockAdvancedSignal = defineSignal<[number]>('clockAdvanced');
/** An invoice's payment ended (told by the payment's own recording, after the fact). */
export const invoicePaymentSignal = defineSignal<[InvoicePaymentNews]>('invoicePayment');
/** The customer saved a new payment method: invoices waiting for one are tried again. */
export const paymentMethodUpdatedSignal = defineSignal('paymentMethodUpdated');
export const subscriptionQuery = defineQuery<Subscription>('subscription');

export type SubscriptionChange = {
  price?: RecurringPrice;
  quantity?: number;
  proration_behavior: ProrationBehavior;
  payment_method?: string;
  metadata?: Record<string, string>;
};

export type InvoicePaymentNews = { invoiceId: string; paymentId: string; status: PaymentStatus; failure: { code: string; message: string } | null; amount?: number };

/** An invoice the subscription still collects: its retries and when dunning gives up. */
export type OpenInvoice = {
  invoice: Invoice;
  firstFailureAt: number | null;
  nextAttemptAt: number | null;
  /** When the dunning window ends: the merchant's policy (unpaid or canceled) applies if still unpaid. */
  exhaustAt: number | null;
  /** An attempt waits for the customer (3-D Secure, a wallet): no other attempt starts meanwhile. */
  inFlight?: boolean;
  /** A retry or the dunning end fell due while collection was paused: taken up again on resume. */
  retryOnResume?: boolean;
};

/** Everything a run carries into the next (continue-as-new every period). */
export type SubscriptionState = {
  sub: Subscription;
  /** Periods are measured from this (unix seconds); `cycle` is the index of the current one (-1: the trial or a stub before it). */
  anchor: number;
  cycle: number;
  /** Invoices created so far for renewals: child workflow ids `sub_…:period:<n>`. */
  period: number;
  periodStart: number;
  periodEnd: number;
  trialEnd: number | null;
  /** Proration lines waiting for the next invoice. */
  pending: InvoiceLine[];
  open: OpenInvoice[];
  news: InvoicePaymentNews[];
  retryNow: boolean;
  incompleteUntil: number | null;
  trialWillEndSent: boolean;
  upcomingSentFor: number;
  changes: number;
  /** Attempts that were waiting for the customer when their invoice was voided: a capture of one becomes credit. */
  voidedInFlight?: string[];
  /** Test clock time (unix seconds) when the subscription lives on a clock; null for real time. */
  clockNow: number | null;
  clockRecorded: number | null;
};

export type SubscriptionInput = {
  subscription: Subscription;
  dunning: DunningConfig;
  trialPeriodDays?: number;
  /** Unix seconds of a future first renewal (the periods before it are a prorated stub). */
  billingCycleAnchor?: number;
  state?: SubscriptionState;
};

export const subscriptionWorkflowId = (id: string) => `subscription:${id}`;
/** The idempotent id of one period's invoice workflow. */
export const invoiceWorkflowId = (subscriptionId: string, period: number) => `${subscriptionId}:period:${period}`;
