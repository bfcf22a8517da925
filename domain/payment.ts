/**
 * The payment as API.md describes it. Pure types and rules: imported by the workflow sandbox,
 * so nothing here may touch Node, the network or the clock.
 */
export const PAYMENT_STATUSES = [
  'pending',
  /** Held by a risk rule until the merchant or an operator decides, or the review deadline acts. */
  'requires_review',
  'requires_action',
  'authorized',
  'captured',
  'partially_refunded',
  'refunded',
  'canceled',
  'failed',
] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

export const PAYMENT_METHOD_TYPES = ['card', 'alipay', 'wechat_pay', 'bank_transfer'] as const;
export type PaymentMethodType = (typeof PAYMENT_METHOD_TYPES)[number];

export const CAPTURE_METHODS = ['automatic', 'manual'] as const;
export type CaptureMethod = (typeof CAPTURE_METHODS)[number];

export const CHANNELS = ['web', 'app', 'pos', 'qr', 'phone', 'subscription'] as const;
export type Channel = (typeof CHANNELS)[number];

/** `bank`: our own receiving accounts (BANK_ACCOUNTS), for live bank transfers. */
export const PROVIDERS = ['sandbox', 'stripe', 'alipay', 'wechat_pay', 'bank'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export type NextAction = {
  /** `use_stripe_sdk`: 3-D Secure in the merchant's page through Stripe.js with `client_secret` (no `return_url` was given). */
  type: 'redirect_to_url' | 'display_qr_code' | 'bank_transfer_instructions' | 'use_stripe_sdk' | 'wechat_jsapi';
  url?: string;
  client_secret?: string;
  qr_code?: string;
  reference?: string;
  /** `wechat_jsapi`: what the page inside WeChat passes to `getBrandWCPayRequest` (signed by the merchant key). */
  jsapi_parameters?: { appId: string; timeStamp: string; nonceStr: string; package: string; signType: 'RSA'; paySign: string };
  /** `bank_transfer_instructions`: what the payer needs to send the money (as Stripe's `display_bank_transfer_instructions`). */
  display_bank_transfer_instructions?: BankTransferInstructions;
  expires_at: string;
};

/** A receiving account, as Stripe's `financial_addresses`: an IBAN with its BIC, or an account number with its bank code. */
export type FinancialAddress =
  | { type: 'iban'; iban: { iban: string; bic: string; account_holder_name: string; bank_name?: string } }
  | { type: 'account_number'; account_number: { account_number: string; bank_code: string; account_holder_name: string; bank_name?: string } };

export type BankTransferInstructions = {
  /** ISO 11649 creditor reference (`RF` + check digits): a mistyped one is caught, a swapped pair repaired. */
  reference: string;
  amount_remaining: number;
  currency: string;
  financial_addresses: FinancialAddress[];
  expires_at: string;
};

export type Failure = { code: string; message: string };

export type PaymentRisk = {
  score?: number;
  decision: 'allow' | 'review' | 'block';
  rules_matched: string[];
  review?: { decision: 'approve' | 'reject'; reason: string; reviewer: 'merchant' | 'operator' | 'deadline'; closed_at: string };
};

/** Why a money movement is stuck until an operator acts, and since when (RFC 3339). */
export type Attention = { code: string; message: string; since: string };

export const ROUTING_STRATEGIES = ['default', 'priority', 'split', 'lowest_fee', 'forced'] as const;
export type RoutingStrategy = (typeof ROUTING_STRATEGIES)[number];

/** Why the payment went where it went: the rule that matched (`default` when none did) and the providers in the order tried. */
export type RoutingDecision = { rule: string; strategy: RoutingStrategy; candidates: ProviderName[] };

/** A cross-border payment's locked quote: what it settles in the merchant's currency (minor units) and the FX margin on that. */
export type PaymentFx = {
  quote_id: string;
  /** Decimal strings: settlement units per unit of the payment currency (ours with the margin, and the mid rate). */
  rate: string;
  mid_rate: string;
  settlement_currency: string;
  /** The whole amount at the locked rate; captures and refunds settle their shares of it. */
  settlement_amount: number;
  /** What the whole amount is worth at the mid rate, less settlement_amount: our FX revenue. */
  fx_margin_amount: number;
};

export type Payment = {
  id: string;
  object: 'payment';
  merchant_id: string;
  /** Made with a live key: real money at a real provider. Absent in payments made before modes existed (test). */
  livemode?: boolean;
  status: PaymentStatus;
  amount: number;
  currency: string;
  amount_capturable: number;
  amount_captured: number;
  amount_refunded: number;
  capture_method: CaptureMethod;
  payment_method: { type: PaymentMethodType };
  provider: ProviderName;
  provider_reference: string | null;
  routing?: RoutingDecision | null;
  channel: Channel;
  next_action: NextAction | null;
  failure: Failure | null;
  /** Set while a capture, void or refund cannot finish without an operator; absent before this existed. */
  attention?: Attention | null;
  customer_id: string | null;
  description: string | null;
  metadata: Record<string, string>;
  return_url: string | null;
  /** Where the payer's receipts go (API.md: as Stripe's `receipt_email`); null sends none. */
  receipt_email: string | null;
  /** The risk check before authorization: its decision, the rule that made it, a review's outcome. Absent before risk checks existed. */
  risk?: PaymentRisk | null;
  /** Bank transfers: what has arrived so far (credits applied and customer balance drawn); absent for other methods. */
  amount_received?: number | null;
  /** Set when the merchant settles in another currency (null or absent: settled in `currency`). */
  fx?: PaymentFx | null;
  created_at: string;
  updated_at: string;
  /** Monotonic per payment: the read model never goes back to an older snapshot. */
  version: number;
};

export const REFUND_STATUSES = ['pending', 'succeeded', 'failed'] as const;
export type RefundStatus = (typeof REFUND_STATUSES)[number];

export type Refund = {
  id: string;
  object: 'refund';
  merchant_id: string;
  livemode?: boolean;
  payment_id: string;
  amount: number;
  currency: string;
  status: RefundStatus;
  reason: string | null;
  failure: Failure | null;
  attention?: Attention | null;
  created_at: string;
  updated_at: string;
};

export const CANCELABLE_STATUSES: readonly PaymentStatus[] = ['pending', 'requires_review', 'requires_action', 'authorized'];
export const REFUNDABLE_STATUSES: readonly PaymentStatus[] = ['captured', 'partially_refunded'];
/** Ended without the customer's money: money that arrives after all is not the merchant's to keep. */
export const CLOSED_UNPAID_STATUSES: readonly PaymentStatus[] = ['canceled', 'failed'];

/** Captured money not yet promised to a refund; pending refunds count as promised. */
export function refundableAmount(payment: Pick<Payment, 'amount_captured'>, refunds: readonly Pick<Refund, 'amount' | 'status'>[]): number {
  const promised = refunds.filter((r) => r.status !== 'failed').reduce((sum, r) => sum + r.amount, 0);
  return payment.amount_captured - promised;
}
