import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { SearchAttributePair } from '@temporalio/common';
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

/** The subscription a recurring payment belongs to: registered now, set by the subscription workflows when they land. */
export const SubscriptionIdKey = defineSearchAttributeKey('SubscriptionId', SearchAttributeType.KEYWORD);

export const PAYMENT_SEARCH_ATTRIBUTES = [PaymentStatusKey, MerchantIdKey, LivemodeKey, RequiresAttentionKey, ProviderKey, PaymentMethodKey, CurrencyKey, AmountMinorKey, CustomerIdKey, SubscriptionIdKey];

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
  ];
}
