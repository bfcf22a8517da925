import type Stripe from 'stripe';
import { currencyExponent } from '../../domain/money';
import type { NextAction } from '../../domain/payment';
import type { AuthorizeRequest, AuthorizeResult, CaptureRequest, ProviderNotification, ProviderPaymentState, RefundNotification, RefundRequest } from '../provider';
import { ProviderFault, neverSent } from '../provider';

/** Pure transforms between our payments and Stripe's API: no I/O here. */

// https://docs.stripe.com/currencies: zero-decimal, three-decimal, and ISK's two-decimal quirk.
// HUF and TWD charge as two-decimal (as ISO); their whole-unit rule applies to payouts only.
const STRIPE_ZERO_DECIMAL = new Set(['BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF', 'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF']);
const STRIPE_THREE_DECIMAL = new Set(['BHD', 'JOD', 'KWD', 'OMR', 'TND']);

const stripeExponent = (currency: string): number =>
  STRIPE_ZERO_DECIMAL.has(currency) ? 0 : STRIPE_THREE_DECIMAL.has(currency) ? 3 : 2; // ISK included: Stripe wants it ×100

/**
 * Our ISO 4217 minor units as Stripe's amount, or why it cannot be sent: ISK goes ×100, MGA
 * (ISO 2 decimals, zero-decimal at Stripe) must be whole ariary, three-decimal amounts must end
 * in 0. Checked before any call, so the merchant gets a clear 400 instead of a failed payment.
 */
export function toStripeAmount(amount: number, currency: string): { amount: number } | { problem: string } {
  const iso = currencyExponent(currency);
  if (iso === undefined || ![0, 2, 3].includes(iso)) return { problem: `${currency} cannot be charged through Stripe.` };
  const shift = stripeExponent(currency) - iso;
  let stripeAmount = amount;
  if (shift > 0) stripeAmount = amount * 10 ** shift;
  if (shift < 0) {
    const unit = 10 ** -shift;
    if (amount % unit !== 0) return { problem: `Stripe takes ${currency} in whole units only: amount must be a multiple of ${unit}.` };
    stripeAmount = amount / unit;
  }
  if (STRIPE_THREE_DECIMAL.has(currency) && stripeAmount % 10 !== 0) {
    return { problem: `Stripe takes ${currency} amounts rounded to ten (the last digit must be 0).` };
  }
  return { amount: stripeAmount };
}

export function fromStripeAmount(stripeAmount: number, currency: string): number {
  const shift = stripeExponent(currency) - (currencyExponent(currency) ?? 2);
  return shift >= 0 ? stripeAmount / 10 ** shift : stripeAmount * 10 ** -shift;
}

const mustConvert = (amount: number, currency: string): number => {
  const converted = toStripeAmount(amount, currency);
  if ('problem' in converted) throw new ProviderFault(converted.problem, false);
  return converted.amount;
};

export function paymentIntentParams(req: AuthorizeRequest): Stripe.PaymentIntentCreateParams {
  return {
    amount: mustConvert(req.amount, req.currency),
    currency: req.currency.toLowerCase(),
    capture_method: req.captureMethod,
    confirm: true,
    // The route refuses a Stripe card payment without a token; an old run without one fails at Stripe, never on a default card.
    payment_method: req.method.token ?? '',
    payment_method_types: ['card'],
    // A saved card charged with the customer away (https://docs.stripe.com/payments/save-and-reuse):
    // its customer, and `off_session`, so that a card needing authentication fails at once with a
    // 402 `authentication_required` rather than waiting for a customer who is not there. No
    // return_url: nobody comes back to it.
    ...(req.savedMethod
      ? { customer: req.savedMethod.customer, off_session: true }
      : req.returnUrl ? { return_url: req.returnUrl } : {}),
    // How a webhook or a search finds the payment again.
    metadata: { payment_id: req.paymentId, merchant_id: req.merchantId },
  };
}

/** Our customer as a Stripe Customer; empty name or email are left out (Stripe reads an empty string as "unset"). */
export function customerParams(req: { customerId: string; merchantId: string; email: string | null; name: string | null }): Stripe.CustomerCreateParams {
  return {
    ...(req.email ? { email: req.email } : {}),
    ...(req.name ? { name: req.name } : {}),
    metadata: { customer_id: req.customerId, merchant_id: req.merchantId },
  };
}

/** A saved PaymentMethod in our terms: its id, and the card details to show the merchant. */
export function savedMethodOf(pm: Stripe.PaymentMethod): { reference: string; card?: { brand: string; last4: string; exp_month: number; exp_year: number; fingerprint?: string } } {
  const card = pm.card;
  if (!card) return { reference: pm.id };
  return {
    reference: pm.id,
    card: { brand: card.brand, last4: card.last4, exp_month: card.exp_month, exp_year: card.exp_year, ...(card.fingerprint ? { fingerprint: card.fingerprint } : {}) },
  };
}

/**
 * Stripe's answer to detaching a PaymentMethod that is not attached (detached already, by an
 * earlier attempt or from the Dashboard): a 400 without a code, "The payment method you provided
 * is not attached to a customer so detachment is impossible." (`payment_method_unexpected_state`
 * accepted too). The end state is the one wanted.
 */
export function alreadyDetached(err: { type?: string; code?: string; message?: string; statusCode?: number }): boolean {
  if (err.type !== 'StripeInvalidRequestError' || err.statusCode !== 400) return false;
  return /not attached to a customer/i.test(err.message ?? '') || err.code === 'payment_method_unexpected_state';
}

export function captureParams(req: CaptureRequest): Stripe.PaymentIntentCaptureParams {
  return { amount_to_capture: mustConvert(req.amount, req.currency) };
}

export function refundParams(req: RefundRequest): Stripe.RefundCreateParams {
  return { payment_intent: req.reference, amount: mustConvert(req.amount, req.currency), metadata: { payment_id: req.paymentId, refund_id: req.refundId } };
}

/** Every PaymentIntent status in our vocabulary: a new Stripe status fails to compile. */
export const PAYMENT_INTENT_STATUS = {
  requires_payment_method: 'failed',
  requires_confirmation: 'requires_action',
  requires_action: 'requires_action',
  processing: 'requires_action',
  requires_capture: 'authorized',
  canceled: 'canceled',
  succeeded: 'captured',
} as const satisfies Record<Stripe.PaymentIntent.Status, ProviderPaymentState['status']>;

/** The decline code a merchant acts on: `insufficient_funds` rather than the generic `card_declined`. */
export function declineCode(error: { code?: string | null; decline_code?: string | null } | null | undefined): string {
  const specific = error?.decline_code && error.decline_code !== 'generic_decline' ? error.decline_code : undefined;
  return specific ?? error?.code ?? 'card_declined';
}

/**
 * The customer's step: a redirect to the bank's page when a `return_url` was given; without one
 * Stripe answers `use_stripe_sdk`, which the merchant's page completes with Stripe.js and the client secret.
 */
function nextActionOf(pi: Stripe.PaymentIntent, expiresAt: string): NextAction {
  if (pi.next_action?.type === 'use_stripe_sdk' && pi.client_secret) return { type: 'use_stripe_sdk', client_secret: pi.client_secret, expires_at: expiresAt };
  return { type: 'redirect_to_url', ...(pi.next_action?.redirect_to_url?.url ? { url: pi.next_action.redirect_to_url.url } : {}), expires_at: expiresAt };
}

/** `captureNow`: the caller asked for the capture in this call, so a succeeded PaymentIntent (automatic capture) answers `captured`. */
export function authorizeResultOf(pi: Stripe.PaymentIntent, actionExpiresAt: string, captureNow = false): AuthorizeResult {
  const status = PAYMENT_INTENT_STATUS[pi.status];
  if (status === 'captured' && captureNow) return { status: 'captured', reference: pi.id };
  if (status === 'authorized' || status === 'captured') return { status: 'authorized', reference: pi.id };
  if (status === 'requires_action') return { status: 'requires_action', reference: pi.id, nextAction: nextActionOf(pi, actionExpiresAt) };
  const error = pi.last_payment_error;
  if (status === 'failed') return { status: 'declined', reference: pi.id, code: declineCode(error), message: error?.message ?? 'The payment method was declined.' };
  return { status: 'declined', reference: pi.id, code: 'canceled', message: 'The payment was canceled at Stripe.' };
}

export function stateOf(pi: Stripe.PaymentIntent): ProviderPaymentState {
  const status = PAYMENT_INTENT_STATUS[pi.status] ?? 'unknown';
  switch (status) {
    case 'captured':
      return { status, reference: pi.id, amountCaptured: fromStripeAmount(pi.amount_received, pi.currency.toUpperCase()) };
    case 'failed':
      return { status, reference: pi.id, code: declineCode(pi.last_payment_error), message: pi.last_payment_error?.message ?? 'The payment method was declined.' };
    case 'requires_action':
    case 'authorized':
    case 'canceled':
      return { status, reference: pi.id };
    default:
      return { status: 'unknown' }; // an unknown runtime value never maps to success
  }
}

/**
 * The error taxonomy of stripe-node, by its `type` string: card errors are declines (the
 * caller turns them into results); rate limits, 5xx and connection trouble are retryable faults
 * honouring Retry-After; authentication, permission and invalid requests fail loudly.
 */
export function faultOf(err: { type?: string; code?: string; message?: string; statusCode?: number; headers?: Record<string, string | undefined>; detail?: unknown }): ProviderFault {
  const retryAfterSeconds = Number(err.headers?.['retry-after']);
  const retryAfterMs = Number.isFinite(retryAfterSeconds) && retryAfterSeconds > 0 ? retryAfterSeconds * 1000 : undefined;
  const message = `stripe: ${err.message ?? err.type ?? 'unknown error'}`;
  // The same key still being processed by Stripe (409): its answer is on the way; ask again.
  if (err.statusCode === 409 || err.code === 'idempotency_key_in_use' || err.code === 'lock_timeout') return new ProviderFault(message, true, false, retryAfterMs);
  switch (err.type) {
    case 'StripeRateLimitError':
      return new ProviderFault(message, true, false, retryAfterMs);
    case 'StripeConnectionError':
      // Refused before sending: Stripe never saw it. Broken after sending: it may have acted.
      return neverSent(err.detail) ? ProviderFault.notProcessed(message) : new ProviderFault(message, true, true, retryAfterMs);
    case 'StripeAPIError':
      // Stripe may have acted (a timeout, a 5xx it stored for the key): the workflow asks
      // before sending again, and then sends with the same key.
      return new ProviderFault(message, true, true, retryAfterMs);
    case 'StripeIdempotencyError':
    case 'StripeAuthenticationError':
    case 'StripePermissionError':
    case 'StripeInvalidRequestError':
      return new ProviderFault(message, false);
    default:
      return (err.statusCode ?? 500) >= 500 ? new ProviderFault(message, true, true, retryAfterMs) : new ProviderFault(message, false);
  }
}

/**
 * Stripe's refund events (`refund.updated`, `refund.failed`, `charge.refund.updated`) about one of
 * our refunds, in our terms; null for refunds that are not ours or not settled yet.
 */
export function refundNotificationOf(event: Stripe.Event): RefundNotification | null {
  if (!['refund.updated', 'refund.failed', 'charge.refund.updated'].includes(event.type)) return null;
  const refund = event.data.object as Stripe.Refund;
  const { payment_id: paymentId, refund_id: refundId } = refund.metadata ?? {};
  if (!paymentId || !refundId || (refund.status !== 'succeeded' && refund.status !== 'failed')) return null;
  return {
    provider: 'stripe', eventId: event.id, paymentId, refundId, status: refund.status,
    amount: fromStripeAmount(refund.amount, refund.currency.toUpperCase()),
    ...(refund.status === 'failed' ? { failure: { code: refund.failure_reason ?? 'refund_failed', message: `Stripe could not complete the refund: ${refund.failure_reason ?? 'failed'}.` } } : {}),
  };
}

/** Stripe webhook events that tell a waiting payment how the customer's step ended. */
export function notificationOf(event: Stripe.Event): ProviderNotification | null {
  if (!event.type.startsWith('payment_intent.')) return null;
  const pi = event.data.object as Stripe.PaymentIntent;
  const paymentId = pi.metadata?.payment_id;
  if (!paymentId) return null;
  const base = { provider: 'stripe' as const, eventId: event.id, paymentId };
  switch (event.type) {
    case 'payment_intent.succeeded':
    case 'payment_intent.amount_capturable_updated':
      return { ...base, outcome: 'action_succeeded' };
    case 'payment_intent.payment_failed':
      return { ...base, outcome: 'action_failed', failure: { code: declineCode(pi.last_payment_error), message: pi.last_payment_error?.message ?? 'The payment failed at Stripe.' } };
    case 'payment_intent.canceled':
      return { ...base, outcome: 'action_failed', failure: { code: 'canceled', message: 'The payment was canceled at Stripe.' } };
    default:
      return null;
  }
}
