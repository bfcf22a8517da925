import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import Stripe from 'stripe';

/**
 * A stateful local Stripe for behaviour tests (stripe-mock is stateless): PaymentIntents with
 * their state machine, Stripe's test payment methods (declines, 3-D Secure), partial capture,
 * refunds, idempotency keys replayed like Stripe's, signed webhooks, and outages on demand;
 * Customers with saved (attached) PaymentMethods charged off-session; the balance transactions
 * (with Stripe's fees) that captures and refunds book, which a settlement report lists.
 * Only what the provider uses is implemented, with Stripe's status codes and error shapes.
 */

type PaymentIntent = {
  id: string; object: 'payment_intent'; amount: number; amount_capturable: number; amount_received: number; currency: string;
  capture_method: 'automatic' | 'manual'; status: Stripe.PaymentIntent.Status; metadata: Record<string, string>; payment_method: string; customer: string | null;
  last_payment_error: { type: string; code: string; decline_code?: string; message: string } | null;
  next_action: { type: 'redirect_to_url'; redirect_to_url: { url: string; return_url: string | null } } | { type: 'use_stripe_sdk'; use_stripe_sdk: { type: string } } | null;
  client_secret: string;
  latest_charge: string | null; created: number; livemode: boolean; refunded: number;
};
type Charge = {
  id: string; object: 'charge'; amount: number; amount_captured: number; amount_refunded: number; balance_transaction: string | null; captured: boolean;
  created: number; currency: string; livemode: boolean; metadata: Record<string, string>; paid: true; payment_intent: string; payment_method: string;
  refunded: boolean; status: 'succeeded';
};
type Refund = {
  id: string; object: 'refund'; amount: number; balance_transaction: string | null; charge: string | null; created: number; currency: string;
  payment_intent: string; status: string; failure_reason: string | null; metadata: Record<string, string>;
};
/** As Stripe stores it; `status` (pending until `available_on`) is worked out when read. */
type BalanceTransaction = {
  id: string; object: 'balance_transaction'; amount: number; available_on: number; created: number; currency: string; description: string | null;
  exchange_rate: null; fee: number; fee_details: { amount: number; application: null; currency: string; description: string; type: 'stripe_fee' }[];
  net: number; reporting_category: string; source: string; type: 'charge' | 'refund' | 'refund_failure';
};
/**
 * What Stripe's books may say that ours do not: a capture with no balance transaction, one booked
 * for another amount or with another fee, and a charge we never made (from the Dashboard, another integration).
 */
export type BalanceDiscrepancy =
  | { kind: 'missing_line'; paymentIntent: string }
  | { kind: 'amount'; paymentIntent: string; amount: number }
  | { kind: 'unknown_charge'; amount: number; currency: string }
  | { kind: 'fee'; paymentIntent: string; fee: number };
type Customer = { id: string; object: 'customer'; email: string | null; name: string | null; metadata: Record<string, string>; created: number; livemode: boolean };
type Card = { brand: string; last4: string; exp_month: number; exp_year: number; fingerprint: string; country: string; funding: string };
type PaymentMethod = {
  id: string; object: 'payment_method'; type: 'card'; card: Card; customer: string | null; created: number; livemode: boolean; metadata: Record<string, string>;
  billing_details: { address: null; email: null; name: null; phone: null };
};
export type Effect = { operation: 'authorize' | 'capture' | 'cancel' | 'refund'; paymentIntent: string; amount: number; idempotencyKey: string };
/** When webhooks go out relative to the API answer that caused them. */
export type WebhookMode = 'after' | 'before' | 'twice' | 'none';

type Decline = { code: string; decline_code?: string; message: string };
const GENERIC: Decline = { code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' };
const INSUFFICIENT: Decline = { code: 'card_declined', decline_code: 'insufficient_funds', message: 'Your card has insufficient funds.' };
/** https://docs.stripe.com/testing#declined-payments: these decline every charge, and "can't be attached to a Customer object". */
const DECLINES: Record<string, Decline> = {
  pm_card_chargeDeclined: GENERIC,
  pm_card_visa_chargeDeclined: GENERIC,
  pm_card_chargeDeclinedInsufficientFunds: INSUFFICIENT,
  pm_card_visa_chargeDeclinedInsufficientFunds: INSUFFICIENT,
  pm_card_visa_chargeDeclinedLostCard: { code: 'card_declined', decline_code: 'lost_card', message: 'Your card was declined.' },
  pm_card_visa_chargeDeclinedStolenCard: { code: 'card_declined', decline_code: 'stolen_card', message: 'Your card was declined.' },
  pm_card_chargeDeclinedExpiredCard: { code: 'expired_card', message: 'Your card has expired.' },
};
/** "Decline after attaching": attaching succeeds, charging fails. */
const CHARGE_FAILS: Record<string, Decline> = { pm_card_chargeCustomerFail: GENERIC };
const THREE_DS = new Set(['pm_card_authenticationRequired', 'pm_card_threeDSecure2Required']);
/** Stripe's answer when a card that needs 3-D Secure is charged with `off_session=true`. */
const AUTHENTICATION_REQUIRED: Decline = { code: 'authentication_required', decline_code: 'authentication_required', message: 'Your card was declined. This transaction requires authentication.' };
/** The test PaymentMethods whose card is known (for attach and for card details): brand and number. */
const TEST_CARDS = {
  pm_card_visa: { brand: 'visa', number: '4242424242424242' },
  pm_card_mastercard: { brand: 'mastercard', number: '5555555555554444' },
  pm_card_amex: { brand: 'amex', number: '378282246310005' },
  pm_card_chargeDeclined: { brand: 'visa', number: '4000000000000002' },
  pm_card_visa_chargeDeclined: { brand: 'visa', number: '4000000000000002' },
  pm_card_chargeDeclinedInsufficientFunds: { brand: 'visa', number: '4000000000009995' },
  pm_card_visa_chargeDeclinedInsufficientFunds: { brand: 'visa', number: '4000000000009995' },
  pm_card_visa_chargeDeclinedLostCard: { brand: 'visa', number: '4000000000009987' },
  pm_card_visa_chargeDeclinedStolenCard: { brand: 'visa', number: '4000000000009979' },
  pm_card_chargeDeclinedExpiredCard: { brand: 'visa', number: '4000000000000069' },
  pm_card_chargeCustomerFail: { brand: 'visa', number: '4000000000000341' },
  pm_card_authenticationRequired: { brand: 'visa', number: '4000002760003184' },
  pm_card_threeDSecure2Required: { brand: 'visa', number: '4000000000003220' },
  pm_card_createDispute: { brand: 'visa', number: '4000000000000259' },
} satisfies Record<string, { brand: string; number: string }>;
/** The test cards a saved PaymentMethod can be made to behave like (`setCardBehaviour`). */
export type TestCard = keyof typeof TEST_CARDS;
const testCard = (pm: string): { brand: string; number: string } | undefined => (TEST_CARDS as Record<string, { brand: string; number: string }>)[pm];

const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;
const DAY_SECONDS = 86_400;
/** Funds of a day's charges become available for payout this many days later (Stripe's standard schedule in the US). */
const AVAILABLE_AFTER_DAYS = 2;
/** The parameters Stripe's GET /v1/balance_transactions takes; anything else is refused, as Stripe does. */
const BALANCE_LIST_PARAMS = /^(created(\[(gt|gte|lt|lte)\])?|limit|starting_after|ending_before|type|payout|currency|source|expand\[\d*\])$/;

/**
 * `live`: an account in live mode, as Stripe runs it: `sk_live_` keys, objects and events with `livemode: true`.
 * `feeBps`/`feeFixed`: Stripe's processing fee on a charge, in basis points of the amount (rounded
 * half up) plus a fixed part in minor units; Stripe's standard card pricing (2.9 % + 30) unless set.
 */
export async function startFakeStripe(webhookSecret: string, opts: { mode?: 'test' | 'live'; feeBps?: number; feeFixed?: number } = {}) {
  const livemode = opts.mode === 'live';
  const feeBps = opts.feeBps ?? 290;
  const feeFixed = opts.feeFixed ?? 30;
  const intents = new Map<string, PaymentIntent>();
  const refunds: Refund[] = [];
  const charges = new Map<string, Charge>();
  /** Stripe's balance history, oldest first. */
  const balance: BalanceTransaction[] = [];
  const discrepancies: BalanceDiscrepancy[] = [];
  /** The charges (and their balance transactions) `unknown_charge` discrepancies made: gone when cleared. */
  const strangers = { charges: new Map<string, Charge>(), balance: [] as BalanceTransaction[] };
  const idempotent = new Map<string, { status: number; body: unknown }>();
  const effects: Effect[] = [];
  /** Every API call, with its form fields (e.g. `off_session`, `customer`) and query (a list's `limit`, `starting_after`) as sent. */
  const requests: { method: string; path: string; idempotencyKey?: string; form: Record<string, string>; query: Record<string, string> }[] = [];
  const customers = new Map<string, Customer>();
  const paymentMethods = new Map<string, PaymentMethod>();
  /** Which test card each saved PaymentMethod charges like (the one it was attached from, unless changed). */
  const behaviours = new Map<string, string>();
  const behaviourOf = (pm: string) => behaviours.get(pm) ?? pm;
  const expYear = new Date().getUTCFullYear() + 3;
  const cardOf = (card: string): Card => {
    const { brand, number } = testCard(card)!;
    // Stripe's fingerprint is the same for the same card number (within an account).
    const fingerprint = createHash('sha256').update(`fake-stripe:${number}`).digest('base64url').replace(/[-_]/g, '').slice(0, 16);
    return { brand, last4: number.slice(-4), exp_month: 12, exp_year: expYear, fingerprint, country: 'US', funding: 'credit' };
  };
  const state = {
    webhookUrl: '', webhookMode: 'after' as WebhookMode, outage: 0, base: '', keyRevoked: false, failAfterEffect: 0, searchLagMs: 0, pendingRefunds: false,
    clockMs: null as number | null,
  };
  /** Stripe's clock: the real one unless `setClock` pinned it (objects created "yesterday", around midnight UTC). */
  const now = () => state.clockMs ?? Date.now();
  const nowSeconds = () => Math.floor(now() / 1000);
  const signer = new Stripe('sk_test_fake');

  async function sendEvent(type: string, object: object, created = nowSeconds()): Promise<void> {
    if (!state.webhookUrl || state.webhookMode === 'none') return;
    const payload = JSON.stringify({ id: id('evt'), object: 'event', type, created, api_version: '2025-09-30.clover', data: { object }, livemode });
    const header = signer.webhooks.generateTestHeaderString({ payload, secret: webhookSecret });
    const post = () => fetch(state.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': header }, body: payload }).catch(() => undefined);
    await post();
    if (state.webhookMode === 'twice') await post();
  }
  /** Webhooks of one API call, sent before or after it answers as the mode says. */
  const pendingEvents: [string, object][] = [];
  const emit = (type: string, pi: PaymentIntent) => pendingEvents.push([type, { ...pi }]);
  const flush = async () => {
    const batch = pendingEvents.splice(0);
    for (const [type, object] of batch) await sendEvent(type, object);
  };

  const stripeError = (status: number, type: string, code: string | null, message: string, extra: object = {}) => ({ status, body: { error: { type, ...(code ? { code } : {}), message, ...extra } } });
  const noSuch = (what: string, value: string, param: string) => stripeError(404, 'invalid_request_error', 'resource_missing', `No such ${what}: '${value}'`, { param });
  const formMetadata = (form: URLSearchParams) =>
    Object.fromEntries([...form.entries()].flatMap(([k, v]) => { const m = /^metadata\[(.+)\]$/.exec(k); return m ? [[m[1]!, v]] : []; }));
  const unexpectedState = (pi: PaymentIntent, action: string) =>
    stripeError(400, 'invalid_request_error', 'payment_intent_unexpected_state', `This PaymentIntent could not be ${action} because it has a status of ${pi.status}.`, { payment_intent: pi });

  function handle(method: string, path: string, form: URLSearchParams, query: URLSearchParams): { status: number; body: unknown } {
    const piMatch = /^\/v1\/payment_intents\/(pi_[0-9a-f]+)(?:\/(capture|cancel))?$/.exec(path);
    const key = requests.at(-1)!.idempotencyKey ?? '';
    if (method === 'POST' && path === '/v1/payment_intents') {
      const amount = Number(form.get('amount'));
      const paymentMethod = form.get('payment_method') ?? 'pm_card_visa';
      const customer = form.get('customer');
      const offSession = form.get('off_session') === 'true';
      if (customer && !customers.has(customer)) return noSuch('customer', customer, 'customer');
      // A saved PaymentMethod is charged only with its own customer (Stripe's spellings, refused before any PaymentIntent exists).
      const saved = paymentMethods.get(paymentMethod);
      if (saved && saved.customer === null) {
        return stripeError(400, 'invalid_request_error', null, 'The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, shared with a connected account without Customer attachment, or was detached from a Customer. It may not be used again. To use a PaymentMethod multiple times, you must attach it to a Customer first.', { param: 'payment_method' });
      }
      if (saved && !customer) {
        return stripeError(400, 'invalid_request_error', 'parameter_missing', `The \`payment_method\` parameter supplied ${saved.id} belongs to the Customer ${saved.customer}. Please include the Customer in the \`customer\` parameter on the PaymentIntent.`, { param: 'source' });
      }
      if (saved && saved.customer !== customer) {
        return stripeError(400, 'invalid_request_error', null, `The PaymentMethod ${saved.id} does not belong to the Customer you supplied ${customer}. Please use this PaymentMethod with the Customer that it belongs to instead.`, { param: 'payment_method' });
      }
      const behaviour = behaviourOf(paymentMethod);
      const pi: PaymentIntent = {
        id: '', client_secret: '', object: 'payment_intent', amount, amount_capturable: 0, amount_received: 0, currency: form.get('currency')!,
        capture_method: (form.get('capture_method') as 'manual') ?? 'automatic', status: 'requires_confirmation', payment_method: paymentMethod, customer,
        metadata: { payment_id: form.get('metadata[payment_id]') ?? '', merchant_id: form.get('metadata[merchant_id]') ?? '' },
        last_payment_error: null, next_action: null, latest_charge: null, created: nowSeconds(), livemode, refunded: 0,
      };
      pi.id = id('pi');
      pi.client_secret = `${pi.id}_secret_${randomBytes(12).toString('hex')}`;
      intents.set(pi.id, pi);
      // Off-session nobody can authenticate: Stripe declines at once (402) and the PaymentIntent waits for another payment method.
      const decline = DECLINES[behaviour] ?? CHARGE_FAILS[behaviour] ?? (offSession && THREE_DS.has(behaviour) ? AUTHENTICATION_REQUIRED : undefined);
      if (decline) {
        Object.assign(pi, { status: 'requires_payment_method', last_payment_error: { type: 'card_error', ...decline } });
        emit('payment_intent.payment_failed', pi);
        return stripeError(402, 'card_error', decline.code, decline.message, { ...(decline.decline_code ? { decline_code: decline.decline_code } : {}), payment_intent: pi });
      }
      if (THREE_DS.has(behaviour)) {
        // As Stripe: a redirect only where the customer can come back to (`return_url`); otherwise the page handles it with Stripe.js.
        const returnUrl = form.get('return_url');
        const next = returnUrl
          ? { type: 'redirect_to_url' as const, redirect_to_url: { url: `${state.base}/3ds/${pi.id}`, return_url: returnUrl } }
          : { type: 'use_stripe_sdk' as const, use_stripe_sdk: { type: 'three_d_secure_redirect' } };
        Object.assign(pi, { status: 'requires_action', next_action: next });
        emit('payment_intent.requires_action', pi);
        return { status: 200, body: pi };
      }
      authorized(pi, key);
      return { status: 200, body: pi };
    }
    if (method === 'GET' && path === '/v1/payment_intents/search') {
      const paymentId = /metadata\['payment_id'\]:'([^']+)'/.exec(query.get('query') ?? '')?.[1];
      // Stripe's search is eventually consistent: an object shows up only after the lag.
      const data = [...intents.values()].filter((pi) => pi.metadata.payment_id === paymentId && pi.created * 1000 <= now() - state.searchLagMs);
      return { status: 200, body: { object: 'search_result', data, has_more: false, url: '/v1/payment_intents/search' } };
    }
    if (piMatch) {
      const pi = intents.get(piMatch[1]!);
      if (!pi) return stripeError(404, 'invalid_request_error', 'resource_missing', `No such payment_intent: '${piMatch[1]}'`);
      if (method === 'GET' && !piMatch[2]) return { status: 200, body: pi };
      if (piMatch[2] === 'capture') {
        if (pi.status !== 'requires_capture') return unexpectedState(pi, 'captured');
        const amount = Number(form.get('amount_to_capture') ?? pi.amount_capturable);
        if (amount > pi.amount_capturable) return stripeError(400, 'invalid_request_error', 'amount_too_large', 'The amount to capture exceeds the capturable amount.');
        Object.assign(pi, { status: 'succeeded', amount_received: amount, amount_capturable: 0 });
        captured(pi, amount);
        effects.push({ operation: 'capture', paymentIntent: pi.id, amount, idempotencyKey: key });
        emit('payment_intent.succeeded', pi);
        return { status: 200, body: pi };
      }
      if (piMatch[2] === 'cancel') {
        if (!['requires_payment_method', 'requires_capture', 'requires_confirmation', 'requires_action'].includes(pi.status)) return unexpectedState(pi, 'canceled');
        Object.assign(pi, { status: 'canceled', amount_capturable: 0, next_action: null });
        effects.push({ operation: 'cancel', paymentIntent: pi.id, amount: 0, idempotencyKey: key });
        emit('payment_intent.canceled', pi);
        return { status: 200, body: pi };
      }
    }
    if (method === 'POST' && path === '/v1/refunds') {
      const pi = intents.get(form.get('payment_intent') ?? '');
      if (!pi) return stripeError(404, 'invalid_request_error', 'resource_missing', 'No such payment_intent.');
      if (pi.status !== 'succeeded') return stripeError(400, 'invalid_request_error', 'charge_not_refundable', 'This PaymentIntent has no successful charge to refund.');
      // Stripe's test card whose charge is disputed at once: a disputed charge cannot be refunded.
      if (behaviourOf(pi.payment_method) === 'pm_card_createDispute') return stripeError(400, 'invalid_request_error', 'charge_disputed', `Charge ${pi.latest_charge} has been charged back; cannot issue a refund.`);
      const remaining = pi.amount_received - pi.refunded;
      if (remaining === 0) return stripeError(400, 'invalid_request_error', 'charge_already_refunded', 'This charge has already been refunded.');
      const amount = Number(form.get('amount') ?? remaining);
      if (amount > remaining) return stripeError(400, 'invalid_request_error', 'amount_too_large', `Refund amount exceeds the ${remaining} remaining.`);
      pi.refunded += amount;
      chargeRefunded(pi);
      const metadata = { payment_id: form.get('metadata[payment_id]') ?? '', refund_id: form.get('metadata[refund_id]') ?? '' };
      // Some refunds take days at Stripe (bank transfers, some cards): `pending` until settled.
      const refund: Refund = {
        id: id('re'), object: 'refund', amount, balance_transaction: null, charge: pi.latest_charge, created: nowSeconds(), currency: pi.currency, payment_intent: pi.id,
        status: state.pendingRefunds ? 'pending' : 'succeeded', failure_reason: null, metadata,
      };
      refunds.push(refund);
      if (refund.status === 'succeeded') refundBooked(refund);
      effects.push({ operation: 'refund', paymentIntent: pi.id, amount, idempotencyKey: key });
      pendingEvents.push(['refund.created', refund], ['charge.refunded', { id: pi.latest_charge, object: 'charge', amount_refunded: pi.refunded, payment_intent: pi.id }]);
      return { status: 200, body: refund };
    }
    const refundMatch = /^\/v1\/refunds\/([^/]+)$/.exec(path);
    if (method === 'GET' && refundMatch) {
      const refund = refunds.find((r) => r.id === refundMatch[1]);
      return refund ? { status: 200, body: refund } : noSuch('refund', refundMatch[1]!, 'id');
    }
    const chargeMatch = /^\/v1\/charges\/([^/]+)$/.exec(path);
    if (method === 'GET' && chargeMatch) {
      const charge = chargeOf(chargeMatch[1]!);
      return charge ? { status: 200, body: charge } : noSuch('charge', chargeMatch[1]!, 'id');
    }
    if (method === 'GET' && path === '/v1/balance_transactions') return listBalance(query);
    const txnMatch = /^\/v1\/balance_transactions\/([^/]+)$/.exec(path);
    if (method === 'GET' && txnMatch) {
      const txn = balanceView().find((t) => t.id === txnMatch[1]);
      return txn ? { status: 200, body: withStatus(txn) } : noSuch('balance transaction', txnMatch[1]!, 'id');
    }
    if (method === 'GET' && path === '/v1/refunds') {
      const data = refunds.filter((r) => !query.get('payment_intent') || r.payment_intent === query.get('payment_intent'));
      return { status: 200, body: { object: 'list', data, has_more: false, url: '/v1/refunds' } };
    }
    if (method === 'POST' && path === '/v1/customers') {
      const customer: Customer = {
        id: id('cus'), object: 'customer', email: form.get('email') || null, name: form.get('name') || null, metadata: formMetadata(form),
        created: nowSeconds(), livemode,
      };
      customers.set(customer.id, customer);
      return { status: 200, body: customer };
    }
    const cusMatch = /^\/v1\/customers\/([^/]+)$/.exec(path);
    if (method === 'GET' && cusMatch) {
      const customer = customers.get(cusMatch[1]!);
      return customer ? { status: 200, body: customer } : noSuch('customer', cusMatch[1]!, 'id');
    }
    const pmMatch = /^\/v1\/payment_methods\/([^/]+?)(?:\/(attach|detach))?$/.exec(path);
    if (pmMatch) return paymentMethodCall(method, pmMatch[1]!, pmMatch[2], form);
    return stripeError(404, 'invalid_request_error', 'unrecognized_request', `Unrecognized request URL (${method}: ${path}).`);
  }

  /**
   * PaymentMethods as Stripe keeps them: attaching one of its test ids (`pm_card_visa`...) makes a
   * new `pm_…` on the customer, which charges like the test card it came from; the decline test
   * cards are verified and refused on attach (402), "Decline after attaching" ones attach and fail
   * when charged; a detached PaymentMethod cannot be used again.
   */
  function paymentMethodCall(method: string, pmId: string, action: string | undefined, form: URLSearchParams): { status: number; body: unknown } {
    const stored = paymentMethods.get(pmId);
    if (method === 'GET' && !action) {
      if (stored) return { status: 200, body: stored };
      // A test id reads as a fresh, unattached PaymentMethod of its card (Stripe answers pm_card_visa so too).
      if (testCard(pmId)) {
        return { status: 200, body: { id: pmId, object: 'payment_method', type: 'card', card: cardOf(pmId), customer: null, created: nowSeconds(), livemode, metadata: {}, billing_details: { address: null, email: null, name: null, phone: null } } };
      }
      return noSuch('PaymentMethod', pmId, 'payment_method');
    }
    if (method !== 'POST' || !action) return stripeError(404, 'invalid_request_error', 'unrecognized_request', `Unrecognized request URL (${method}: /v1/payment_methods/${pmId}).`);
    if (!stored && !testCard(pmId)) return noSuch('PaymentMethod', pmId, 'payment_method');
    if (action === 'detach') {
      // A test id names a fresh, unattached PaymentMethod: nothing to detach either.
      if (!stored || stored.customer === null) {
        return stripeError(400, 'invalid_request_error', null, 'The payment method you provided is not attached to a customer so detachment is impossible.');
      }
      stored.customer = null;
      pendingEvents.push(['payment_method.detached', { ...stored }]);
      return { status: 200, body: stored };
    }
    const customer = form.get('customer');
    if (!customer) return stripeError(400, 'invalid_request_error', 'parameter_missing', 'Must provide customer or customer_account.');
    if (!customers.has(customer)) return noSuch('customer', customer, 'customer');
    if (stored) {
      if (stored.customer === customer) return { status: 200, body: stored }; // attaching again to the same customer: a no-op
      if (stored.customer !== null) return stripeError(400, 'invalid_request_error', null, 'The payment method you provided has already been attached to a customer.');
      return stripeError(400, 'invalid_request_error', null, 'This PaymentMethod was previously used without being attached to a Customer or was detached from a Customer, and may not be used again.');
    }
    const refused = DECLINES[pmId];
    if (refused) {
      return stripeError(402, 'card_error', refused.code, refused.message, { ...(refused.decline_code ? { decline_code: refused.decline_code } : {}) });
    }
    const pm: PaymentMethod = {
      id: id('pm'), object: 'payment_method', type: 'card', card: cardOf(pmId), customer, created: nowSeconds(), livemode, metadata: {},
      billing_details: { address: null, email: null, name: null, phone: null },
    };
    paymentMethods.set(pm.id, pm);
    behaviours.set(pm.id, pmId);
    pendingEvents.push(['payment_method.attached', { ...pm }]);
    return { status: 200, body: pm };
  }

  function authorized(pi: PaymentIntent, key: string): void {
    effects.push({ operation: 'authorize', paymentIntent: pi.id, amount: pi.amount, idempotencyKey: key });
    const charge = newCharge(pi);
    charges.set(charge.id, charge);
    pi.latest_charge = charge.id;
    pi.next_action = null;
    if (pi.capture_method === 'manual') {
      Object.assign(pi, { status: 'requires_capture', amount_capturable: pi.amount });
      emit('payment_intent.amount_capturable_updated', pi);
    } else {
      Object.assign(pi, { status: 'succeeded', amount_received: pi.amount });
      captured(pi, pi.amount);
      emit('payment_intent.succeeded', pi);
    }
  }

  /** The charge of a confirmed PaymentIntent: Stripe copies the PaymentIntent's metadata onto it, once. */
  function newCharge(pi: Pick<PaymentIntent, 'id' | 'amount' | 'currency' | 'metadata' | 'payment_method'>): Charge {
    return {
      id: id('ch'), object: 'charge', amount: pi.amount, amount_captured: 0, amount_refunded: 0, balance_transaction: null, captured: false, created: nowSeconds(),
      currency: pi.currency, livemode, metadata: { ...pi.metadata }, paid: true, payment_intent: pi.id, payment_method: pi.payment_method, refunded: false, status: 'succeeded',
    };
  }
  const chargeOf = (chargeId: string) => charges.get(chargeId) ?? strangers.charges.get(chargeId);

  /** Stripe's processing fee on a charge of `amount`: basis points rounded half up, plus the fixed part. */
  const feeOf = (amount: number) => Math.floor((amount * feeBps + 5000) / 10_000) + feeFixed;

  /** A line of Stripe's balance history, booked now; its funds are available for payout some days later, at midnight UTC. */
  function book(type: BalanceTransaction['type'], amount: number, fee: number, currency: string, source: string, description: string | null): BalanceTransaction {
    const created = nowSeconds();
    return {
      id: id('txn'), object: 'balance_transaction', amount, available_on: (Math.floor(created / DAY_SECONDS) + AVAILABLE_AFTER_DAYS) * DAY_SECONDS, created, currency,
      description, exchange_rate: null, fee, fee_details: fee ? [{ amount: fee, application: null, currency, description: 'Stripe processing fees', type: 'stripe_fee' }] : [],
      net: amount - fee, reporting_category: type, source, type,
    };
  }

  /** The money moves at capture, not at authorization: the charge is booked then, Stripe's fee kept from it. */
  function captured(pi: PaymentIntent, amount: number): void {
    const charge = charges.get(pi.latest_charge!)!;
    const txn = book('charge', amount, feeOf(amount), pi.currency, charge.id, null);
    balance.push(txn);
    Object.assign(charge, { captured: true, amount_captured: amount, balance_transaction: txn.id });
  }

  /** The charge keeps count of what is refunded of it, as Stripe's does. */
  function chargeRefunded(pi: PaymentIntent): void {
    const charge = charges.get(pi.latest_charge!);
    if (charge) Object.assign(charge, { amount_refunded: pi.refunded, refunded: pi.refunded === charge.amount_captured });
  }

  /** A refund is booked once it succeeds: the money leaves the balance, and Stripe keeps its fee on the charge. */
  function refundBooked(refund: Refund): void {
    const txn = book('refund', -refund.amount, 0, refund.currency, refund.id, 'REFUND FOR CHARGE');
    balance.push(txn);
    refund.balance_transaction = txn.id;
  }

  /** A booked refund that fails later: the money comes back to the balance as a `refund_failure`. */
  function refundFailureBooked(refund: Refund): void {
    if (!refund.balance_transaction) return; // never booked (it was pending): nothing to give back
    balance.push(book('refund_failure', refund.amount, 0, refund.currency, refund.id, 'REFUND FAILURE'));
  }

  /** The charge line of a PaymentIntent's capture, the one a discrepancy names. */
  const isChargeOf = (txn: BalanceTransaction, paymentIntent: string) => txn.type === 'charge' && chargeOf(txn.source)?.payment_intent === paymentIntent;

  /** Stripe's balance history as the discrepancies injected say it reads, oldest first. */
  function balanceView(): BalanceTransaction[] {
    let view = [...balance, ...strangers.balance].sort((a, b) => a.created - b.created);
    for (const d of discrepancies) {
      if (d.kind === 'missing_line') view = view.filter((t) => !isChargeOf(t, d.paymentIntent));
      if (d.kind === 'amount') view = view.map((t) => (isChargeOf(t, d.paymentIntent) ? { ...t, amount: d.amount, net: d.amount - t.fee } : t));
      if (d.kind === 'fee') {
        view = view.map((t) => (isChargeOf(t, d.paymentIntent) ? { ...t, fee: d.fee, net: t.amount - d.fee, fee_details: t.fee_details.map((f) => ({ ...f, amount: d.fee })) } : t));
      }
    }
    return view;
  }
  const withStatus = (txn: BalanceTransaction) => ({ ...txn, status: txn.available_on * 1000 <= now() ? 'available' : 'pending' });
  const sourceOf = (sourceId: string) => chargeOf(sourceId) ?? refunds.find((r) => r.id === sourceId) ?? null;

  /**
   * GET /v1/balance_transactions as Stripe answers it: newest first, filtered by `created`, `type`,
   * `currency`, `source`, `payout`; a page of `limit` (10 unless set, 100 at most) after `starting_after`
   * or before `ending_before`; `expand[]=data.source` puts the charge or refund in place of its id.
   */
  function listBalance(query: URLSearchParams): { status: number; body: unknown } {
    const invalid = (message: string, param: string) => stripeError(400, 'invalid_request_error', 'parameter_invalid', message, { param });
    const unknown = [...query.keys()].find((k) => !BALANCE_LIST_PARAMS.test(k));
    if (unknown) return stripeError(400, 'invalid_request_error', 'parameter_unknown', `Received unknown parameter: ${unknown}`, { param: unknown });
    const expand = [...query.entries()].filter(([k]) => k.startsWith('expand[')).map(([, v]) => v);
    const unexpandable = expand.find((e) => e !== 'data.source');
    if (unexpandable) return invalid(`This property cannot be expanded (${unexpandable}).`, 'expand');
    const limit = Number(query.get('limit') ?? 10);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) return invalid('This value must be greater than or equal to 1 and less than or equal to 100.', 'limit');
    const payout = query.get('payout');
    // The fake pays nothing out: no payout can be named.
    if (payout) return noSuch('payout', payout, 'payout');
    const bounds: [string, (created: number, bound: number) => boolean][] = [
      ['created', (c, b) => c === b], ['created[gt]', (c, b) => c > b], ['created[gte]', (c, b) => c >= b], ['created[lt]', (c, b) => c < b], ['created[lte]', (c, b) => c <= b],
    ];
    let newestFirst = balanceView().reverse();
    for (const [param, holds] of bounds) {
      const value = query.get(param);
      if (value === null) continue;
      if (!/^\d+$/.test(value)) return invalid(`Invalid integer: ${value}`, param);
      newestFirst = newestFirst.filter((t) => holds(t.created, Number(value)));
    }
    for (const field of ['type', 'currency', 'source'] as const) {
      const value = query.get(field);
      if (value !== null) newestFirst = newestFirst.filter((t) => t[field] === value);
    }
    const page = pageOf(newestFirst, limit, query.get('starting_after'), query.get('ending_before'));
    if ('missing' in page) return noSuch('balance transaction', page.missing, page.param);
    const data = page.data.map((t) => ({ ...withStatus(t), ...(expand.length ? { source: sourceOf(t.source) ?? t.source } : {}) }));
    return { status: 200, body: { object: 'list', data, has_more: page.hasMore, url: '/v1/balance_transactions' } };
  }

  /** Stripe's cursor pagination over a list in its order: the page after (or before) an object of it. */
  function pageOf<T extends { id: string }>(list: T[], limit: number, after: string | null, before: string | null): { data: T[]; hasMore: boolean } | { missing: string; param: string } {
    if (before !== null) {
      const end = list.findIndex((t) => t.id === before);
      if (end < 0) return { missing: before, param: 'ending_before' };
      const start = Math.max(0, end - limit);
      return { data: list.slice(start, end), hasMore: start > 0 };
    }
    const start = after === null ? 0 : list.findIndex((t) => t.id === after) + 1;
    if (start === 0 && after !== null) return { missing: after, param: 'starting_after' };
    return { data: list.slice(start, start + limit), hasMore: start + limit < list.length };
  }

  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const idempotencyKey = req.headers['idempotency-key'] as string | undefined;
      requests.push({ method: req.method!, path: url.pathname, ...(idempotencyKey ? { idempotencyKey } : {}), form: Object.fromEntries(new URLSearchParams(raw)), query: Object.fromEntries(url.searchParams) });
      const reply = async (status: number, body: unknown) => {
        if (state.webhookMode === 'before') await flush(); // the webhook wins the race to our API
        res.writeHead(status, { 'content-type': 'application/json', 'request-id': id('req') }).end(JSON.stringify(body));
        if (state.webhookMode !== 'before') void flush();
      };
      if (url.pathname.startsWith('/_fake/3ds/')) {
        // The customer finishes (or fails) the bank's 3-D Secure page.
        const pi = intents.get(url.pathname.split('/')[3]!);
        if (!pi || pi.status !== 'requires_action') return reply(409, { error: 'not waiting for 3-D Secure' });
        if (url.searchParams.get('outcome') === 'failed') {
          Object.assign(pi, { status: 'requires_payment_method', next_action: null, last_payment_error: { type: 'card_error', code: 'payment_intent_authentication_failure', message: 'The customer failed 3-D Secure.' } });
          emit('payment_intent.payment_failed', pi);
        } else {
          authorized(pi, `3ds:${pi.id}`);
        }
        return reply(200, pi);
      }
      if (state.keyRevoked || !(req.headers.authorization ?? '').startsWith(livemode ? 'Bearer sk_live_' : 'Bearer sk_test_')) return reply(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided.' } });
      if (state.outage > 0) {
        state.outage--;
        return reply(500, { error: { type: 'api_error', message: 'An unknown error occurred (simulated outage).' } });
      }
      const cacheKey = idempotencyKey && `${req.method} ${url.pathname} ${idempotencyKey}`;
      const cached = cacheKey ? idempotent.get(cacheKey) : undefined;
      if (cached) return reply(cached.status, cached.body); // Stripe replays the first answer for a key
      let answer = handle(req.method!, url.pathname, new URLSearchParams(raw), url.searchParams);
      if (req.method === 'POST' && state.failAfterEffect > 0) {
        // An internal error after the effect: Stripe keeps the 500 for the key, so every retry with it gets the 500 again.
        state.failAfterEffect--;
        answer = { status: 500, body: { error: { type: 'api_error', message: 'An unknown error occurred (simulated, kept for this key).' } } };
        if (cacheKey) idempotent.set(cacheKey, answer);
      }
      if (cacheKey && req.method === 'POST' && answer.status < 500) idempotent.set(cacheKey, answer);
      return reply(answer.status, answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const base = `http://127.0.0.1:${port}`;
  state.base = base;
  const close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

  return {
    url: base,
    intents,
    effects,
    requests,
    customers,
    paymentMethods,
    /** Which test card a saved PaymentMethod charges like. */
    cardBehaviour: (pm: string) => behaviours.get(pm),
    /**
     * A saved card starts or stops declining (the customer's funds are back, the card is reported
     * lost...): from now on `pm` charges like the given test card. Its card details stay.
     */
    setCardBehaviour: (pm: string, card: TestCard) => {
      if (!paymentMethods.has(pm)) throw new Error(`no saved PaymentMethod ${pm}`);
      if (!testCard(card)) throw new Error(`unknown test card ${card}`);
      behaviours.set(pm, card);
    },
    /** Where webhooks go (our POST /webhooks/stripe), and when. */
    setWebhooks: (url: string, mode: WebhookMode = 'after') => Object.assign(state, { webhookUrl: url, webhookMode: mode }),
    /**
     * A refund that succeeded fails later (the customer's card closed): Stripe sends `refund.failed`
     * and `charge.refund.updated`, and the money is back on the charge.
     */
    failRefund: async (refundId: string, reason = 'expired_or_canceled_card') => {
      const refund = refunds.find((r) => r.metadata.refund_id === refundId);
      if (!refund) throw new Error(`no refund ${refundId}`);
      Object.assign(refund, { status: 'failed', failure_reason: reason });
      const pi = intents.get(refund.payment_intent)!;
      pi.refunded -= refund.amount;
      chargeRefunded(pi);
      refundFailureBooked(refund);
      await sendEvent('refund.failed', { ...refund });
      await sendEvent('charge.refund.updated', { ...refund });
    },
    /** New refunds stay `pending` until `settleRefund`. */
    pendingRefunds: (on = true) => (state.pendingRefunds = on),
    /** A pending refund settles: Stripe sends `refund.updated`. */
    settleRefund: async (refundId: string) => {
      const refund = refunds.find((r) => r.metadata.refund_id === refundId);
      if (!refund) throw new Error(`no refund ${refundId}`);
      refund.status = 'succeeded';
      refundBooked(refund);
      await sendEvent('refund.updated', { ...refund });
    },
    charges,
    /** Stripe's balance history as booked (oldest first), before any injected discrepancy. */
    balanceTransactions: balance,
    /**
     * Stripe's clock stops at `at`: what is created, captured or refunded from now on is dated then
     * (yesterday, a second before midnight UTC...), until `setClock(null)` returns to the real time.
     */
    setClock: (at: Date | string | null) => {
      state.clockMs = at === null ? null : new Date(at).getTime();
      if (Number.isNaN(state.clockMs)) throw new Error(`not a time: ${String(at)}`);
    },
    /**
     * From now on Stripe's balance history disagrees with ours, as `d` says, until cleared: the charge
     * line of a PaymentIntent's capture goes missing, or reads another gross or fee (its net follows);
     * or a charge we never made is booked now, at the standard fee, with a PaymentIntent and metadata not ours.
     */
    injectBalanceDiscrepancy: (d: BalanceDiscrepancy) => {
      if (d.kind !== 'unknown_charge') {
        if (!intents.has(d.paymentIntent)) throw new Error(`no PaymentIntent ${d.paymentIntent}`);
        discrepancies.push(d);
        return;
      }
      const charge = newCharge({ id: id('pi'), amount: d.amount, currency: d.currency.toLowerCase(), metadata: {}, payment_method: id('pm') });
      const txn = book('charge', d.amount, feeOf(d.amount), charge.currency, charge.id, null);
      strangers.charges.set(charge.id, Object.assign(charge, { captured: true, amount_captured: d.amount, balance_transaction: txn.id }));
      strangers.balance.push(txn);
    },
    /** Stripe's books agree with ours again: the injected discrepancies and the unknown charges are gone. */
    clearBalanceDiscrepancies: () => {
      discrepancies.length = 0;
      strangers.charges.clear();
      strangers.balance.length = 0;
    },
    /** The account's key is rolled (revoked) in the Dashboard: every call answers 401 until restored. */
    revokeKey: (revoked = true) => (state.keyRevoked = revoked),
    /** The next `n` POSTs take effect, then answer 500, which Stripe keeps for their idempotency keys. */
    failAfterEffect: (n: number) => (state.failAfterEffect = n),
    /** How long a new PaymentIntent stays invisible to search (Stripe's search is not real-time). */
    searchLag: (ms: number) => (state.searchLagMs = ms),
    /** The next `n` API calls answer 500, as during a Stripe incident. */
    outage: (n: number) => (state.outage = n),
    completeThreeDS: (pi: string, outcome: 'succeeded' | 'failed' = 'succeeded') => fetch(`${base}/_fake/3ds/${pi}?outcome=${outcome}`, { method: 'POST' }),
    /** Sends an event as Stripe would, e.g. a late or out-of-order one. */
    sendEvent,
    close,
    /** Stripe unreachable: connections are refused until `up()`, which listens on the same port with the books intact. */
    down: close,
    up: () => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve)),
  };
}
export type FakeStripe = Awaited<ReturnType<typeof startFakeStripe>>;
