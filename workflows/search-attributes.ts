import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { SearchAttributePair } from '@temporalio/common';
import type { Subscription } from '../domain/billing';
import type { Payment } from '../domain/payment';

/**
 * Search attributes operators filter payments by in the Temporal UI. Stored in plain text by
 * the server: never put personal data here. Registered by `npm start` on the dev server; on a
 * cluster, see the README for the `temporal operator search-attribute create` commands.
 */
export const PaymentStatusKey = defineSearchAttributeKey('PaymentStatus', SearchAttributeType.KEYWORD);
export const MerchantIdKey = defineSearchAttributeKey('MerchantId', SearchAttributeType.KEYWORD);
export const ProviderKey = defineSearchAttributeKey('Provider', SearchAttributeType.KEYWORD);
export const PaymentMethodKey = defineSearchAttributeKey('PaymentMethod', SearchAttributeType.KEYWORD);
export const CurrencyKey = defineSearchAttributeKey('Currency', SearchAttributeType.KEYWORD);
export const AmountMinorKey = defineSearchAttributeKey('AmountMinor', SearchAttributeType.INT);
/** The merchant's own customer reference (an id, never a name or an email). */
/** Whether the payment moves real money (a live key made it). */
export const LivemodeKey = defineSearchAttributeKey('Livemode', SearchAttributeType.BOOL);
/** Set while a money movement of the payment waits for an operator (see the payment's `attention`). */
export const RequiresAttentionKey = defineSearchAttributeKey('RequiresAttention', SearchAttributeType.BOOL);
export const CustomerIdKey = defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD);

/** The subscription a recurring payment (an invoice's) or a subscription's own runs belong to. */
export const SubscriptionIdKey = defineSearchAttributeKey('SubscriptionId', SearchAttributeType.KEYWORD);

/** A subscription's status (trialing, active, past_due, unpaid, paused, canceled, ...). */
export const SubscriptionStatusKey = defineSearchAttributeKey('SubscriptionStatus', SearchAttributeType.KEYWORD);

export const PAYMENT_SEARCH_ATTRIBUTES = [
  PaymentStatusKey, MerchantIdKey, LivemodeKey, RequiresAttentionKey, ProviderKey, PaymentMethodKey, CurrencyKey, AmountMinorKey, CustomerIdKey, SubscriptionIdKey,
  SubscriptionStatusKey,
];

/** What a subscription's runs are found by: the customer, the subscription and its status. */
export function subscriptionSearchAttributes(s: Subscription): SearchAttributePair[] {
  return [
    { key: SubscriptionIdKey, value: s.id },
    { key: CustomerIdKey, value: s.customer_id },
    { key: SubscriptionStatusKey, value: s.status },
    { key: MerchantIdKey, value: s.merchant_id },
    { key: LivemodeKey, value: s.livemode },
  ];
}

/** What a payment's run is found by, set when it starts (and when it is started again for a late refund). */
export function paymentSearchAttributes(p: Payment): SearchAttributePair[] {
  return [
    { key: PaymentStatusKey, value: p.status },
    { key: MerchantIdKey, value: p.merchant_id },
    { key: LivemodeKey, value: p.livemode ?? false },
    { key: ProviderKey, value: p.provider },
    { key: PaymentMethodKey, value: p.payment_method.type },
    { key: CurrencyKey, value: p.currency },
    { key: AmountMinorKey, value: p.amount },
    ...(p.customer_id ? [{ key: CustomerIdKey, value: p.customer_id }] : []),
    ...(p.metadata.subscription_id && p.channel === 'subscription' ? [{ key: SubscriptionIdKey, value: p.metadata.subscription_id }] : []),
  ];
}
