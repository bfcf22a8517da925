import {
  COLLECTION_METHODS, INTERVALS, INVOICE_STATUSES, PAUSE_BEHAVIORS, PRORATION_BEHAVIORS, SUBSCRIPTION_STATUSES,
} from '../../domain/billing';
import { PAYMENT_METHOD_TYPES } from '../../domain/payment';
import { Amount, Currency, Email, listOf, ListQuery, Metadata, Timestamp, z, text } from './common';

/**
 * The zones a subscription may bill in: UTC and the canonical IANA names of this runtime's
 * time-zone data (no legacy aliases such as `US/Eastern`), so the API and its document agree.
 * Listed here, not in billing/calendar.ts: every workflow evaluates that module as it starts, and
 * ICU's list of zones is not cheap.
 */
const TIME_ZONES: readonly [string, ...string[]] = ['UTC', ...Intl.supportedValuesOf('timeZone').filter((tz) => tz !== 'UTC')];

const Id = text(100, 1);
const Text = text(500);
/** Unix seconds (as Stripe's) or RFC 3339; read as unix seconds. */
export const TimeInput = z
  .union([z.number().int().min(1).max(32503680000), z.iso.datetime({ offset: true }).transform((t) => Math.floor(Date.parse(t) / 1000))])
  .openapi({ description: 'Unix seconds or an RFC 3339 time.', example: 1767225600 });

export const CreateCustomerBody = z.strictObject({
  email: Email.optional(),
  name: Text.optional(),
  metadata: Metadata.optional(),
  /** Test mode: the customer (and its subscriptions) live on this test clock. */
  test_clock: Id.optional(),
}).openapi('CreateCustomer');

export const UpdateCustomerBody = z.strictObject({
  email: Email.nullable().optional(),
  name: Text.nullable().optional(),
  metadata: Metadata.optional(),
  default_payment_method: Id.optional(),
}).openapi('UpdateCustomer');

export const SavePaymentMethodBody = z.strictObject({
  type: z.literal('card').openapi({ description: 'Saved methods are cards (charged off-session for renewals).' }),
  token: text(255, 1).openapi({ description: 'The provider token: a Stripe PaymentMethod (pm_…), or a sandbox token (tok_ok …).' }),
}).openapi('SavePaymentMethod');

export const CustomerListQuery = ListQuery.extend({ email: text(254).optional(), test_clock: Id.optional() });

const MAX_INTERVAL_COUNT = { day: 365, week: 52, month: 12, year: 3 } as const;

const Price = z.strictObject({
  amount: Amount,
  currency: Currency,
  interval: z.enum(INTERVALS),
  interval_count: z.number().int().min(1).max(365).default(1),
}).refine((p) => p.interval_count <= MAX_INTERVAL_COUNT[p.interval], {
  error: 'interval_count may span at most three years', path: ['interval_count'],
}).openapi({
  anyOf: Object.entries(MAX_INTERVAL_COUNT).map(([interval, max]) => ({ properties: { interval: { const: interval }, interval_count: { maximum: max } } })),
});

export const CreateSubscriptionBody = z.strictObject({
  customer_id: Id,
  price: Price,
  quantity: z.number().int().min(1).max(10_000).default(1),
  trial_period_days: z.number().int().min(1).max(730).optional(),
  billing_cycle_anchor: TimeInput.optional(),
  payment_method: Id.optional(),
  collection_method: z.enum(COLLECTION_METHODS).default('charge_automatically'),
  days_until_due: z.number().int().min(0).max(365).optional(),
  /** `send_invoice`: the method each invoice's payment opens with (the customer pays it: a QR, a redirect). */
  invoice_payment_method_type: z.enum(PAYMENT_METHOD_TYPES).optional(),
  time_zone: z.enum(TIME_ZONES, { error: 'unknown IANA time zone: use a canonical name such as Europe/Berlin' }).openapi('TimeZone', { description: 'Canonical IANA name (or UTC).' }).default('UTC'),
  metadata: Metadata.optional(),
}).openapi('CreateSubscription', {
  // What the handler checks across fields: send_invoice names how invoices are paid; an anchor and a trial do not combine.
  allOf: [
    { anyOf: [{ not: { required: ['collection_method'], properties: { collection_method: { const: 'send_invoice' } } } }, { required: ['invoice_payment_method_type'] }] },
    { not: { required: ['billing_cycle_anchor', 'trial_period_days'] } },
  ],
});

export const UpdateSubscriptionBody = z.strictObject({
  price: Price.optional(),
  quantity: z.number().int().min(1).max(10_000).optional(),
  proration_behavior: z.enum(PRORATION_BEHAVIORS).default('create_prorations'),
  payment_method: Id.optional(),
  metadata: Metadata.optional(),
}).openapi('UpdateSubscription');

export const CancelSubscriptionBody = z.strictObject({
  at_period_end: z.boolean().default(false),
  prorate: z.boolean().default(false),
}).openapi('CancelSubscription');

export const PauseSubscriptionBody = z.strictObject({
  behavior: z.enum(PAUSE_BEHAVIORS),
  resumes_at: TimeInput.optional(),
}).openapi('PauseSubscription');

export const EmptyBody = z.strictObject({});

export const SubscriptionListQuery = ListQuery.extend({ customer_id: Id.optional(), status: z.enum(SUBSCRIPTION_STATUSES).optional() });
export const InvoiceListQuery = ListQuery.extend({ subscription_id: Id.optional(), customer_id: Id.optional(), status: z.enum(INVOICE_STATUSES).optional() });

export const CreateTestClockBody = z.strictObject({
  frozen_time: z.number().int().min(1).max(32503680000).openapi({ description: 'Unix seconds.' }),
  name: Text.optional(),
}).openapi('CreateTestClock');
export const AdvanceTestClockBody = z.strictObject({
  frozen_time: z.number().int().min(1).max(32503680000).openapi({ description: 'Unix seconds, later than the clock; at most two years ahead.' }),
}).openapi('AdvanceTestClock');

/** Retry days sorted, the first of those falling on one second kept. */
function retryDays(days: number[]): number[] {
  const bySecond = new Map<number, number>();
  for (const d of days) if (!bySecond.has(Math.round(d * 86_400))) bySecond.set(Math.round(d * 86_400), d);
  return [...bySecond].sort(([a], [b]) => a - b).map(([, d]) => d);
}

export const BillingSettingsBody = z.strictObject({
  dunning: z.strictObject({
    schedule: z.union([z.enum(['default', 'smart']), z.array(z.number().min(1 / 24, { error: 'a retry comes at least an hour after the first failure' }).max(60)).min(1).max(12)])
      // The days are a set of moments: kept in order, a moment (to the second) named twice is one retry.
      .transform((s) => (Array.isArray(s) ? retryDays(s) : s))
      .openapi({ description: '`default` (1, 3, 5, 7 days), `smart` (8 tries within 14 days), or the days after the first failure when retries come (any order; answered sorted, a moment named twice is one retry).' }),
    on_exhausted: z.enum(['unpaid', 'canceled']),
  }),
}).openapi('BillingSettings');

// ---- answers (documentation) ----
const Line = z.object({ description: z.string(), amount: z.number().int(), unit_amount: z.number().int().optional(), quantity: z.number().int().optional(), proration: z.boolean(), period_start: Timestamp, period_end: Timestamp });

export const CustomerObject = z.object({
  id: z.string(), object: z.literal('customer'), livemode: z.boolean(), email: z.string().nullable(), name: z.string().nullable(), metadata: z.record(z.string(), z.string()),
  test_clock: z.string().nullable(), default_payment_method: z.string().nullable(), credit_balance: z.record(z.string(), z.number().int()), created_at: Timestamp, updated_at: Timestamp,
}).openapi('Customer');
export const PaymentMethodObject = z.object({
  id: z.string(), object: z.literal('payment_method'), livemode: z.boolean(), customer_id: z.string(), type: z.enum(PAYMENT_METHOD_TYPES), provider: z.string(),
  provider_reference: z.string(), card: z.object({ brand: z.string(), last4: z.string(), exp_month: z.number(), exp_year: z.number() }).nullable(), created_at: Timestamp,
  detached: z.boolean().optional().openapi({ description: 'Present (true) on the answer to a detach.' }),
}).openapi('SavedPaymentMethod');
export const SubscriptionObject = z.object({
  id: z.string(), object: z.literal('subscription'), livemode: z.boolean(), customer_id: z.string(), status: z.enum(SUBSCRIPTION_STATUSES),
  price: z.object({ amount: z.number().int(), currency: z.string(), interval: z.enum(INTERVALS), interval_count: z.number().int() }), quantity: z.number().int(),
  collection_method: z.enum(COLLECTION_METHODS), days_until_due: z.number().int().nullable(), payment_method: z.string().nullable(),
  invoice_payment_method_type: z.enum(PAYMENT_METHOD_TYPES).nullable(), billing_cycle_anchor: Timestamp, time_zone: z.string(),
  trial_start: Timestamp.nullable(), trial_end: Timestamp.nullable(), current_period_start: Timestamp, current_period_end: Timestamp,
  cancel_at_period_end: z.boolean(), canceled_at: Timestamp.nullable(), ended_at: Timestamp.nullable(),
  pause_collection: z.object({ behavior: z.enum(PAUSE_BEHAVIORS), resumes_at: Timestamp.nullable() }).nullable(), latest_invoice: z.string().nullable(),
  test_clock: z.string().nullable(), metadata: z.record(z.string(), z.string()), created_at: Timestamp, updated_at: Timestamp,
}).openapi('Subscription');
export const InvoiceObject = z.object({
  id: z.string(), object: z.literal('invoice'), livemode: z.boolean(), customer_id: z.string(), subscription_id: z.string(), status: z.enum(INVOICE_STATUSES),
  billing_reason: z.string(), collection_method: z.enum(COLLECTION_METHODS), currency: z.string(), lines: z.array(Line), subtotal: z.number().int(),
  credit_applied: z.number().int(), amount_due: z.number().int(), amount_paid: z.number().int(), amount_remaining: z.number().int(), attempt_count: z.number().int(),
  next_payment_attempt: Timestamp.nullable(), payment_id: z.string().nullable(), last_payment_error: z.object({ code: z.string(), message: z.string() }).nullable(),
  due_date: Timestamp.nullable(), period_start: Timestamp, period_end: Timestamp, created_at: Timestamp, finalized_at: Timestamp.nullable(), paid_at: Timestamp.nullable(),
  updated_at: Timestamp,
}).openapi('Invoice');
export const TestClockObject = z.object({
  id: z.string(), object: z.literal('test_clock'), livemode: z.literal(false), name: z.string().nullable(), frozen_time: z.number().int(), status: z.enum(['ready', 'advancing']), created_at: Timestamp,
}).openapi('TestClock');
export const BillingSettingsObject = z.object({
  object: z.literal('billing_settings'), livemode: z.boolean(),
  dunning: z.object({ schedule: z.union([z.enum(['default', 'smart']), z.array(z.number())]), on_exhausted: z.enum(['unpaid', 'canceled']), retry_offsets_seconds: z.array(z.number().int()) }),
}).openapi('BillingSettingsObject');

export const CustomerList = listOf(CustomerObject, 'CustomerList');
export const PaymentMethodList = listOf(PaymentMethodObject, 'SavedPaymentMethodList');
export const SubscriptionList = listOf(SubscriptionObject, 'SubscriptionList');
export const InvoiceList = listOf(InvoiceObject, 'InvoiceList');
