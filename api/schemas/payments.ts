import { CAPTURE_METHODS, CHANNELS, PAYMENT_METHOD_TYPES, PAYMENT_STATUSES, PROVIDERS, REFUND_STATUSES, ROUTING_STRATEGIES } from '../../domain/payment';
import { Amount, Currency, Email, IpAddress, listOf, ListQuery, Metadata, Timestamp, z, text } from './common';

export const CreatePaymentBody = z
  .strictObject({
    amount: Amount,
    currency: Currency,
    payment_method: z.strictObject({
      type: z.enum(PAYMENT_METHOD_TYPES),
      token: text(255, 1).optional(),
      billing_details: z.strictObject({
        address: z.strictObject({ country: z.string().regex(/^[A-Za-z]{2}$/, { error: 'an ISO 3166-1 alpha-2 country code' }).transform((c) => c.toUpperCase()).optional() }).optional(),
      }).optional().openapi({ description: 'The billing address\'s country, for risk rules (`country_in`). Not stored.' }),
    }),
    capture_method: z.enum(CAPTURE_METHODS).default('automatic'),
    settlement_currency: Currency.optional(),
    fx_quote_id: text(100).optional(),
    provider: z.enum(PROVIDERS).optional(),
    customer_id: text(255, 1).optional(),
    description: text(1000).optional(),
    metadata: Metadata.optional(),
    return_url: z.url().max(2048).optional(),
    receipt_email: Email.optional(),
    channel: z.enum(CHANNELS).default('web'),
    client_ip: IpAddress.optional().openapi({ description: 'The payer\'s IP address (WeChat Pay H5 requires it). Never stored.' }),
  })
  .openapi('CreatePayment', {
    // A bank transfer is captured when the money arrives: it cannot ask for manual capture.
    not: { required: ['payment_method', 'capture_method'], properties: { payment_method: { required: ['type'], properties: { type: { const: 'bank_transfer' } } }, capture_method: { const: 'manual' } } },
  });

export const ReviewBody = z.strictObject({ decision: z.enum(['approve', 'reject']), reason: text(500, 1) }).openapi('ReviewPayment');

export const CaptureBody = z.strictObject({ amount: Amount.optional() }).openapi('CapturePayment');
export const CancelBody = z.strictObject({}).openapi('CancelPayment');

export const CreateRefundBody = z
  .strictObject({
    payment_id: text(100, 1),
    amount: Amount.optional(),
    reason: text(500).optional(),
  })
  .openapi('CreateRefund');

export const PaymentListQuery = ListQuery.extend({
  status: z.enum(PAYMENT_STATUSES).optional(),
  customer_id: text(255).optional(),
});
export const RefundListQuery = ListQuery.extend({ payment_id: text(100).optional() });

const Failure = z.object({ code: z.string(), message: z.string() });
const Attention = z
  .object({ code: z.string(), message: z.string(), since: Timestamp })
  .nullable()
  .openapi({ description: 'Why a capture, void or refund is stuck until an operator acts (`POST /v1/admin/payments/:id/retry` once fixed).' });

export const PaymentObject = z
  .object({
    id: z.string().openapi({ example: 'pay_3xY9...' }),
    object: z.literal('payment'),
    livemode: z.boolean().openapi({ description: 'True when made with a live key: real money at a real provider.' }),
    status: z.enum(PAYMENT_STATUSES),
    amount: z.number().int(),
    currency: z.string(),
    amount_capturable: z.number().int(),
    amount_captured: z.number().int(),
    amount_refunded: z.number().int(),
    capture_method: z.enum(CAPTURE_METHODS),
    payment_method: z.object({ type: z.enum(PAYMENT_METHOD_TYPES) }),
    provider: z.enum(PROVIDERS),
    provider_reference: z.string().nullable(),
    routing: z
      .object({
        rule: z.string().openapi({ description: 'The rule that chose the provider (`default` when none matched, `forced` for `provider`).' }),
        strategy: z.enum(ROUTING_STRATEGIES),
        candidates: z.array(z.enum(PROVIDERS)).openapi({ description: 'Providers in the order they are tried: the next one takes over if one surely did nothing.' }),
      })
      .nullable(),
    channel: z.enum(CHANNELS),
    next_action: z
      .object({
        type: z.enum(['redirect_to_url', 'display_qr_code', 'bank_transfer_instructions', 'use_stripe_sdk', 'wechat_jsapi']),
        url: z.string().optional(),
        client_secret: z.string().optional().openapi({ description: '`use_stripe_sdk`: pass to Stripe.js `handleNextAction` in the customer\'s browser.' }),
        qr_code: z.string().optional(),
        jsapi_parameters: z.object({ appId: z.string(), timeStamp: z.string(), nonceStr: z.string(), package: z.string(), signType: z.literal('RSA'), paySign: z.string() }).optional()
          .openapi({ description: '`wechat_jsapi`: pass to `WeixinJSBridge.invoke(\'getBrandWCPayRequest\', …)` inside WeChat.' }),
        reference: z.string().optional(),
        display_bank_transfer_instructions: z.object({
          reference: z.string(), amount_remaining: z.number().int(), currency: z.string(),
          financial_addresses: z.array(z.object({
            type: z.enum(['iban', 'account_number']),
            iban: z.object({ iban: z.string(), bic: z.string(), account_holder_name: z.string(), bank_name: z.string().optional() }).optional(),
            account_number: z.object({ account_number: z.string(), bank_code: z.string(), account_holder_name: z.string(), bank_name: z.string().optional() }).optional(),
          })),
          expires_at: Timestamp,
        }).optional().openapi({ description: '`bank_transfer_instructions`: the account to pay into, the reference to quote (ISO 11649, with check digits), and what is still to be sent.' }),
        expires_at: Timestamp,
      })
      .nullable(),
    amount_received: z.number().int().optional().openapi({ description: 'Bank transfers: what has arrived so far (credits applied, customer balance drawn). The payment stays requires_action until it reaches amount.' }),
    failure: Failure.nullable(),
    requires_attention: z.boolean(),
    attention: Attention,
    customer_id: z.string().nullable(),
    description: z.string().nullable(),
    metadata: z.record(z.string(), z.string()),
    return_url: z.string().optional(),
    receipt_email: z.string().nullable(),
    fx: z.object({
      quote_id: z.string(), rate: z.string(), mid_rate: z.string(), settlement_currency: z.string(), settlement_amount: z.number().int(), fx_margin_amount: z.number().int(),
    }).nullable().openapi({ description: 'The locked FX quote when the merchant settles in another currency: captures and refunds settle their shares of settlement_amount.' }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi('Payment');

export const RefundObject = z
  .object({
    id: z.string(),
    object: z.literal('refund'),
    livemode: z.boolean(),
    payment_id: z.string(),
    amount: z.number().int(),
    currency: z.string(),
    status: z.enum(REFUND_STATUSES),
    reason: z.string().nullable(),
    failure: Failure.nullable(),
    requires_attention: z.boolean(),
    attention: Attention,
    created_at: Timestamp,
  })
  .openapi('Refund');

export const PaymentList = listOf(PaymentObject, 'PaymentList');
export const RefundList = listOf(RefundObject, 'RefundList');
