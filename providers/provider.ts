import type { CaptureMethod, Channel, NextAction, PaymentMethodType, ProviderName } from '../domain/payment';

/**
 * What every payment provider (sandbox, Stripe, Alipay, ...) implements. Every call that moves
 * money carries an idempotency key derived from the payment and the operation, so a retry after
 * a crash or a timeout converges on one effect at the provider.
 *
 * A decline is a result (`status: 'declined'`), never an exception. Exceptions are faults:
 * `ProviderFault` with a `retryable` flag.
 */
export interface PaymentProvider {
  readonly name: ProviderName;
  authorize(req: AuthorizeRequest): Promise<AuthorizeResult>;
  capture(req: CaptureRequest): Promise<OperationResult>;
  cancel(req: CancelRequest): Promise<OperationResult>;
  refund(req: RefundRequest): Promise<RefundResult>;
  /** Where the provider stands on this payment: used for polling and to settle unknown outcomes. */
  getStatus(req: StatusRequest): Promise<ProviderPaymentState>;
  /** Why this provider cannot take this payment (methods, currency rules, channels), checked before anything is written. */
  problemWith?(p: PaymentShape): PaymentProblem | undefined;
  /** The fingerprint of the card behind a token (the same card number gives the same one), for risk velocity; undefined when unknown. */
  cardFingerprint?(req: InMode & { token: string }): Promise<string | undefined>;
}

/** `hasToken`: whether the payment names the customer's payment method (undefined: not known here). */
export type PaymentShape = { amount: number; currency: string; methodType: PaymentMethodType; captureMethod: CaptureMethod; channel: Channel; hasToken?: boolean };
/** A 400 before any provider call: which parameter, our error code, and why. */
export type PaymentProblem = { param: string; code: string; message: string };

/** Every request names the payment's mode: a live payment is only ever sent to a live provider. */
type InMode = { livemode?: boolean };

export type AuthorizeRequest = InMode & {
  paymentId: string;
  merchantId: string;
  amount: number;
  currency: string;
  method: { type: PaymentMethodType; token?: string };
  captureMethod: CaptureMethod;
  channel: Channel;
  returnUrl: string | null;
  /** When the customer's chance to act (QR, redirect) ends. */
  actionExpiresAt: string;
  idempotencyKey: string;
  /** Another candidate provider is there: an unhealthy (open-circuit) provider is skipped, not tried. */
  skipIfUnhealthy?: boolean;
  /** The payer's IP address, when the merchant gave it (WeChat Pay H5 requires it). */
  clientIp?: string;
  /**
   * `method.token` is a payment method saved on this provider customer (for Stripe: the attached
   * `pm_…` and its `cus_…`). The charge is then made off-session: the customer is not present, so
   * a card that needs authentication declines (`authentication_required`) instead of asking for it.
   */
  savedMethod?: { customer: string };
  /**
   * Automatic capture in this same call where the provider can (Stripe confirms with capture; the
   * sandbox logs both effects, the capture under this key): the result is then `captured`. A
   * provider that cannot answers `authorized`, and the capture follows as its own call.
   */
  captureNow?: { idempotencyKey: string };
};

/**
 * What a provider that can keep a customer's card implements (optional): used when a merchant
 * saves a card on one of our customers, which later charges (subscription invoices) use off-session
 * through `AuthorizeRequest.savedMethod`. Errors are `ProviderFault`s; a card the provider refuses
 * to save (declined when verified, an invalid token) is a `ProviderFault` with `retryable: false`.
 */
export interface SavedMethods {
  /** Creates (or finds, by idempotency key) the provider's customer for ours; returns its reference. */
  ensureCustomer(req: { customerId: string; merchantId: string; livemode?: boolean; email: string | null; name: string | null; idempotencyKey: string }): Promise<string>;
  /** Attaches the customer's payment method (a token or pm_…) to the provider customer; returns the saved method's reference and card details when known. */
  attachMethod(req: { providerCustomer: string; token: string; livemode?: boolean; idempotencyKey: string }): Promise<{ reference: string; card?: { brand: string; last4: string; exp_month: number; exp_year: number; fingerprint?: string } }>;
  /** Detaches a saved method; one that is already detached counts as done. */
  detachMethod(req: { reference: string; livemode?: boolean }): Promise<void>;
}

export type AuthorizeResult =
  | { status: 'authorized'; reference: string }
  /** Only when the request asked for `captureNow`. */
  | { status: 'captured'; reference: string }
  | { status: 'requires_action'; reference: string; nextAction: NextAction }
  | { status: 'declined'; reference: string | null; code: string; message: string };

export type CaptureRequest = InMode & { paymentId: string; reference: string; amount: number; currency: string; idempotencyKey: string };
export type CancelRequest = InMode & { paymentId: string; reference: string | null; idempotencyKey: string };
export type RefundRequest = InMode & {
  paymentId: string;
  refundId: string;
  reference: string;
  amount: number;
  /** The payment's whole amount (WeChat Pay's refund names the order total). */
  paymentAmount?: number;
  currency: string;
  idempotencyKey: string;
};
/** `currency`, when known, lets a provider that writes amounts in major units read them exactly. */
export type StatusRequest = InMode & { paymentId: string; reference: string | null; currency?: string };

export type OperationResult = { status: 'succeeded' } | { status: 'declined'; code: string; message: string };
/** A refund may also be accepted but not settled yet (Stripe's `pending`): neither done nor failed, asked again. */
export type RefundResult = OperationResult | { status: 'pending' };

/** Provider-side truth, in our vocabulary. `unknown` means the provider has no record. */
export type ProviderPaymentState =
  | { status: 'unknown' }
  | { status: 'requires_action'; reference: string }
  | { status: 'authorized'; reference: string }
  | { status: 'captured'; reference: string; amountCaptured: number }
  | { status: 'canceled'; reference: string }
  | { status: 'failed'; reference: string; code: string; message: string };

export type ProviderNotification = {
  provider: ProviderName;
  /** The provider's event id: callbacks are deduplicated by it. */
  eventId: string;
  paymentId: string;
  outcome: 'action_succeeded' | 'action_failed';
  failure?: { code: string; message: string };
};

/** A provider's later word on one of our refunds: it may fail after having succeeded (a card closed, a bank return). */
export type RefundNotification = {
  provider: ProviderName;
  eventId: string;
  paymentId: string;
  refundId: string;
  status: 'succeeded' | 'failed';
  amount: number;
  failure?: { code: string; message: string };
};

/** The customer's next step at a wallet: a code to scan, or a cashier page to open. */
export function qrCodeAction(qrCode: string, expiresAt: string): NextAction {
  return { type: 'display_qr_code', qr_code: qrCode, expires_at: expiresAt };
}

export function redirectAction(url: string, expiresAt: string): NextAction {
  return { type: 'redirect_to_url', url, expires_at: expiresAt };
}

/**
 * A provider fault. `retryable` decides whether Temporal retries the activity; `outcomeUnknown`
 * says the provider may have acted (a timeout after sending), so the workflow must ask before
 * acting again. `retryAfterMs` honours the provider's Retry-After.
 */
export class ProviderFault extends Error {
  /** The provider certainly did nothing (the request never reached it, or it said so): another provider may be tried. */
  notProcessed = false;

  static notProcessed(message: string): ProviderFault {
    const fault = new ProviderFault(message, true);
    fault.notProcessed = true;
    return fault;
  }

  constructor(
    message: string,
    readonly retryable: boolean,
    readonly outcomeUnknown = false,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Connection failures that happen before a request is written: the provider cannot have acted. */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** Whether an error (or what it wraps: `cause`, `detail`, an AggregateError's `errors`) says the request never left. */
export function neverSent(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 5) return false;
  const e = err as { code?: unknown; cause?: unknown; detail?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && NEVER_SENT.has(e.code)) return true;
  if (Array.isArray(e.errors) && e.errors.length > 0 && e.errors.every((x) => neverSent(x, depth + 1))) return true;
  return neverSent(e.cause, depth + 1) || neverSent(e.detail, depth + 1);
}
