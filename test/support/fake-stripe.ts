import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import Stripe from 'stripe';

/**
 * A stateful local Stripe for behaviour tests (stripe-mock is stateless): PaymentIntents with
 * their state machine, Stripe's test payment methods (declines, 3-D Secure), partial capture,
 * refunds, idempotency keys replayed like Stripe's, signed webhooks, and outages on demand;
 * Customers with saved (attached) PaymentMethods charged off-session.
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

/** `live`: an account in live mode, as Stripe runs it: `sk_live_` keys, objects and events with `livemode: true`. */
export async function startFakeStripe(webhookSecret: string, opts: { mode?: 'test' | 'live' } = {}) {
  const livemode = opts.mode === 'live';
  const intents = new Map<string, PaymentIntent>();
  const refunds: { id: string; payment_intent: string; amount: number; status: string; failure_reason: string | null; metadata: Record<string, string> }[] = [];
  const idempotent = new Map<string, { status: number; body: unknown }>();
  const effects: Effect[] = [];
  /** Every API call, with its form fields (e.g. `off_session`, `customer`) as sent. */
  const requests: { method: string; path: string; idempotencyKey?: string; form: Record<string, string> }[] = [];
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
  const state = { webhookUrl: '', webhookMode: 'after' as WebhookMode, outage: 0, base: '', keyRevoked: false, failAfterEffect: 0, searchLagMs: 0, pendingRefunds: false };
  const signer = new Stripe('sk_test_fake');

  async function sendEvent(type: string, object: object, created = Math.floor(Date.now() / 1000)): Promise<void> {
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
        last_payment_error: null, next_action: null, latest_charge: null, created: Math.floor(Date.now() / 1000), livemode, refunded: 0,
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
      const data = [...intents.values()].filter((pi) => pi.metadata.payment_id === paymentId && pi.created * 1000 <= Date.now() - state.searchLagMs);
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
      const metadata = { payment_id: form.get('metadata[payment_id]') ?? '', refund_id: form.get('metadata[refund_id]') ?? '' };
      // Some refunds take days at Stripe (bank transfers, some cards): `pending` until settled.
      const refund = { id: id('re'), object: 'refund', amount, currency: pi.currency, payment_intent: pi.id, status: state.pendingRefunds ? 'pending' : 'succeeded', failure_reason: null, metadata };
      refunds.push(refund);
      effects.push({ operation: 'refund', paymentIntent: pi.id, amount, idempotencyKey: key });
      pendingEvents.push(['refund.created', refund], ['charge.refunded', { id: pi.latest_charge, object: 'charge', amount_refunded: pi.refunded, payment_intent: pi.id }]);
      return { status: 200, body: refund };
    }
    if (method === 'GET' && path === '/v1/refunds') {
      const data = refunds.filter((r) => !query.get('payment_intent') || r.payment_intent === query.get('payment_intent'));
      return { status: 200, body: { object: 'list', data, has_more: false, url: '/v1/refunds' } };
    }
    if (method === 'POST' && path === '/v1/customers') {
      const customer: Customer = {
        id: id('cus'), object: 'customer', email: form.get('email') || null, name: form.get('name') || null, metadata: formMetadata(form),
        created: Math.floor(Date.now() / 1000), livemode,
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
    if (method === 'GET' && !action) return stored ? { status: 200, body: stored } : noSuch('PaymentMethod', pmId, 'payment_method');
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
      id: id('pm'), object: 'payment_method', type: 'card', card: cardOf(pmId), customer, created: Math.floor(Date.now() / 1000), livemode, metadata: {},
      billing_details: { address: null, email: null, name: null, phone: null },
    };
    paymentMethods.set(pm.id, pm);
    behaviours.set(pm.id, pmId);
    pendingEvents.push(['payment_method.attached', { ...pm }]);
    return { status: 200, body: pm };
  }

  function authorized(pi: PaymentIntent, key: string): void {
    effects.push({ operation: 'authorize', paymentIntent: pi.id, amount: pi.amount, idempotencyKey: key });
    pi.latest_charge = id('ch');
    pi.next_action = null;
    if (pi.capture_method === 'manual') {
      Object.assign(pi, { status: 'requires_capture', amount_capturable: pi.amount });
      emit('payment_intent.amount_capturable_updated', pi);
    } else {
      Object.assign(pi, { status: 'succeeded', amount_received: pi.amount });
      emit('payment_intent.succeeded', pi);
    }
  }

  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const idempotencyKey = req.headers['idempotency-key'] as string | undefined;
      requests.push({ method: req.method!, path: url.pathname, ...(idempotencyKey ? { idempotencyKey } : {}), form: Object.fromEntries(new URLSearchParams(raw)) });
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
      intents.get(refund.payment_intent)!.refunded -= refund.amount;
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
      await sendEvent('refund.updated', { ...refund });
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
