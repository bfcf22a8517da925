import type { PaymentMethodType, ProviderName } from './payment';

/**
 * Recurring billing as API.md describes it: customers, their saved payment methods, subscriptions,
 * invoices and test clocks. Pure types and rules: the subscription workflow imports them.
 */

export const INTERVALS = ['day', 'week', 'month', 'year'] as const;
export type BillingInterval = (typeof INTERVALS)[number];
export type RecurringPrice = { amount: number; currency: string; interval: BillingInterval; interval_count: number };

export type Customer = {
  id: string;
  object: 'customer';
  livemode: boolean;
  email: string | null;
  name: string | null;
  metadata: Record<string, string>;
  test_clock: string | null;
  default_payment_method: string | null;
  /** Credit owed to the customer per currency (proration credits), used by the next invoices. */
  credit_balance: Record<string, number>;
  created_at: string;
  updated_at: string;
};

export type SavedPaymentMethod = {
  id: string;
  object: 'payment_method';
  livemode: boolean;
  customer_id: string;
  type: PaymentMethodType;
  provider: ProviderName;
  /** The provider's reference (a Stripe pm_…, a sandbox token): never card data. */
  provider_reference: string;
  card: { brand: string; last4: string; exp_month: number; exp_year: number } | null;
  created_at: string;
};

export const SUBSCRIPTION_STATUSES = ['incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'unpaid', 'paused', 'canceled'] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];
/** No more invoices: the workflow has ended. */
export const ENDED_SUBSCRIPTION_STATUSES: readonly SubscriptionStatus[] = ['canceled', 'incomplete_expired'];

export const COLLECTION_METHODS = ['charge_automatically', 'send_invoice'] as const;
export type CollectionMethod = (typeof COLLECTION_METHODS)[number];
export const PAUSE_BEHAVIORS = ['keep_as_draft', 'mark_uncollectible', 'void'] as const;
export type PauseBehavior = (typeof PAUSE_BEHAVIORS)[number];
export const PRORATION_BEHAVIORS = ['create_prorations', 'always_invoice', 'none'] as const;
export type ProrationBehavior = (typeof PRORATION_BEHAVIORS)[number];

export type Subscription = {
  id: string;
  object: 'subscription';
  merchant_id: string;
  livemode: boolean;
  customer_id: string;
  status: SubscriptionStatus;
  price: RecurringPrice;
  quantity: number;
  collection_method: CollectionMethod;
  days_until_due: number | null;
  /** A saved payment method of the customer (`pm_…`), or for `send_invoice` the method type the customer pays with. */
  payment_method: string | null;
  /** The wallet or transfer type a `send_invoice` payment opens with (e.g. `alipay`). */
  invoice_payment_method_type: PaymentMethodType | null;
  billing_cycle_anchor: string;
  time_zone: string;
  trial_start: string | null;
  trial_end: string | null;
  current_period_start: string;
  current_period_end: string;
  cancel_at_period_end: boolean;
  canceled_at: string | null;
  ended_at: string | null;
  pause_collection: { behavior: PauseBehavior; resumes_at: string | null } | null;
  latest_invoice: string | null;
  test_clock: string | null;
  metadata: Record<string, string>;
  created_at: string;
  updated_at: string;
  version: number;
};

export const INVOICE_STATUSES = ['draft', 'open', 'paid', 'uncollectible', 'void'] as const;
export type InvoiceStatus = (typeof INVOICE_STATUSES)[number];
export type BillingReason = 'subscription_create' | 'subscription_cycle' | 'subscription_update';

export type InvoiceLine = {
  description: string;
  amount: number;
  unit_amount?: number;
  quantity?: number;
  proration: boolean;
  period_start: string;
  period_end: string;
};

export type Invoice = {
  id: string;
  object: 'invoice';
  merchant_id: string;
  livemode: boolean;
  customer_id: string;
  subscription_id: string;
  status: InvoiceStatus;
  billing_reason: BillingReason;
  collection_method: CollectionMethod;
  currency: string;
  lines: InvoiceLine[];
  /** Sum of the lines. */
  subtotal: number;
  /** Customer credit used by this invoice (a positive number). */
  credit_applied: number;
  amount_due: number;
  amount_paid: number;
  amount_remaining: number;
  attempt_count: number;
  next_payment_attempt: string | null;
  /** The latest payment attempt (an ordinary payment, `channel: subscription`). */
  payment_id: string | null;
  last_payment_error: { code: string; message: string } | null;
  due_date: string | null;
  period_start: string;
  period_end: string;
  created_at: string;
  finalized_at: string | null;
  paid_at: string | null;
  updated_at: string;
  version: number;
};

export type TestClock = {
  id: string;
  object: 'test_clock';
  livemode: false;
  name: string | null;
  /** Unix seconds, as Stripe's. */
  frozen_time: number;
  status: 'ready' | 'advancing';
  created_at: string;
};

export const iso = (unixSeconds: number): string => new Date(unixSeconds * 1000).toISOString();
export const unix = (rfc3339: string): number => Math.floor(Date.parse(rfc3339) / 1000);
