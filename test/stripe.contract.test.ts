import type { AuthorizeRequest } from '../providers/provider';
import { alreadyDetached, declineCode, faultOf, fromStripeAmount, paymentIntentParams, toStripeAmount } from '../providers/stripe/stripe.mapper';
import { StripeProvider } from '../providers/stripe/stripe.provider';
import { startStripeMock } from './support/stripe-mock';

// Every request shape the Stripe provider sends, replayed against a real stripe-mock, which
// validates parameters against Stripe's OpenAPI spec (a wrong one answers 400 and fails here).
let mock: Awaited<ReturnType<typeof startStripeMock>>;
let stripe: StripeProvider;
beforeAll(async () => {
  mock = await startStripeMock();
  stripe = new StripeProvider({ secretKey: 'sk_test_123', apiBase: mock.url });
});
afterAll(async () => mock?.stop());

const authorizeRequest = (over: Partial<AuthorizeRequest> = {}): AuthorizeRequest => ({
  paymentId: 'pay_contract', merchantId: 'mer_contract', amount: 2599, currency: 'EUR', method: { type: 'card', token: 'pm_card_visa' },
  captureMethod: 'manual', channel: 'web', returnUrl: 'https://shop.example/return', actionExpiresAt: new Date(Date.now() + 60_000).toISOString(),
  idempotencyKey: 'pay_contract:authorize', ...over,
});

test('authorize (manual and automatic capture, with and without return_url) is accepted by Stripe\'s spec', async () => {
  for (const req of [authorizeRequest(), authorizeRequest({ captureMethod: 'automatic', returnUrl: null, currency: 'JPY', amount: 500 })]) {
    const result = await stripe.authorize(req);
    expect(result.reference).toMatch(/^pi_/);
    expect(['authorized', 'requires_action', 'declined']).toContain(result.status);
  }
});

test('capture (partial), cancel, refund, retrieve and search are accepted by Stripe\'s spec', async () => {
  const common = { paymentId: 'pay_contract', reference: 'pi_123', currency: 'EUR' };
  expect(await stripe.capture({ ...common, amount: 1000, idempotencyKey: 'pay_contract:capture' })).toEqual({ status: 'succeeded' });
  expect(await stripe.cancel({ ...common, idempotencyKey: 'pay_contract:void' })).toEqual({ status: 'succeeded' });
  expect((await stripe.refund({ ...common, refundId: 're_1', amount: 500, idempotencyKey: 'pay_contract:refund:re_1' })).status).toMatch(/succeeded|declined/);
  expect((await stripe.getStatus({ paymentId: 'pay_contract', reference: 'pi_123' })).status).not.toBe('unknown');
  // Without a reference (an answer we never got), the PaymentIntent is searched by our payment id.
  await expect(stripe.getStatus({ paymentId: 'pay_contract', reference: null })).resolves.toBeDefined();
  await expect(stripe.cancel({ paymentId: 'pay_contract', reference: null, idempotencyKey: 'pay_contract:void' })).resolves.toBeDefined();
});

test('saved cards: ensureCustomer, attachMethod, detachMethod and an off-session authorize are accepted by Stripe\'s spec', async () => {
  const customer = { customerId: 'cust_contract', merchantId: 'mer_contract', idempotencyKey: 'cust_contract:stripe_customer' };
  const cus = await stripe.ensureCustomer({ ...customer, email: 'ada@example.com', name: 'Ada Lovelace' });
  expect(cus).toMatch(/^cus_/);
  await expect(stripe.ensureCustomer({ ...customer, email: null, name: null })).resolves.toMatch(/^cus_/);
  const saved = await stripe.attachMethod({ providerCustomer: cus, token: 'pm_card_visa', idempotencyKey: 'cust_contract:attach:pm_card_visa' });
  expect(saved.reference).toMatch(/^pm_/);
  expect(saved.card).toMatchObject({ brand: expect.any(String), last4: expect.stringMatching(/^\d{4}$/), exp_month: expect.any(Number), exp_year: expect.any(Number) });
  const offSession = authorizeRequest({ channel: 'subscription', captureMethod: 'automatic', method: { type: 'card', token: saved.reference }, savedMethod: { customer: cus }, idempotencyKey: 'pay_contract_saved:authorize' });
  const result = await stripe.authorize(offSession);
  expect(result.reference).toMatch(/^pi_/);
  expect(['authorized', 'declined']).toContain(result.status);
  await expect(stripe.detachMethod({ reference: saved.reference })).resolves.toBeUndefined();
  // The same endpoints refuse what Stripe does not know: the checks above are real.
  await expect(stripe.stripe.customers.create({ emial: 'ada@example.com' } as never)).rejects.toMatchObject({ type: 'StripeInvalidRequestError', statusCode: 400 });
  await expect(stripe.stripe.paymentMethods.attach(saved.reference, {} as never)).rejects.toMatchObject({ type: 'StripeInvalidRequestError', statusCode: 400 });
  await expect(stripe.stripe.paymentIntents.create({ ...paymentIntentParams(offSession), off_session: 'sometimes' } as never)).rejects.toMatchObject({ statusCode: 400 });
});

test('an off-session charge: customer, off_session and confirm, never a return_url; on-session requests are unchanged', () => {
  const offSession = paymentIntentParams(authorizeRequest({ method: { type: 'card', token: 'pm_saved' }, savedMethod: { customer: 'cus_saved' } }));
  expect(offSession).toMatchObject({ customer: 'cus_saved', off_session: true, confirm: true, payment_method: 'pm_saved' });
  expect(offSession).not.toHaveProperty('return_url');
  const onSession = paymentIntentParams(authorizeRequest());
  expect(onSession).toMatchObject({ return_url: 'https://shop.example/return', confirm: true, payment_method: 'pm_card_visa' });
  expect(onSession).not.toHaveProperty('off_session');
  expect(onSession).not.toHaveProperty('customer');
  // Stripe's 402 for a card that needs authentication off-session is a decline with that code.
  expect(declineCode({ code: 'authentication_required', decline_code: 'authentication_required' })).toBe('authentication_required');
  expect(declineCode({ code: 'authentication_required' })).toBe('authentication_required');
  // Detaching what is not attached is done already; other refusals are not.
  expect(alreadyDetached({ type: 'StripeInvalidRequestError', statusCode: 400, message: 'The payment method you provided is not attached to a customer so detachment is impossible.' })).toBe(true);
  expect(alreadyDetached({ type: 'StripeInvalidRequestError', statusCode: 404, code: 'resource_missing', message: "No such PaymentMethod: 'pm_x'" })).toBe(false);
  expect(alreadyDetached({ type: 'StripeAPIError', statusCode: 500, message: 'not attached to a customer' })).toBe(false);
});

test('settlement report: the balance-transactions list of a UTC day, sources expanded, is accepted by Stripe\'s spec', async () => {
  const lines = await stripe.settlementReport({ date: '2025-01-15', livemode: false });
  expect(lines.length).toBeGreaterThan(0); // stripe-mock answers its fixture, whatever the day
  for (const line of lines) expect(line).toMatchObject({ provider: 'stripe', provider_reference: expect.any(String), currency: expect.stringMatching(/^[A-Z]{3}$/) });
  await expect(stripe.stripe.balanceTransactions.list({ created: { gte: 0, lt: 1 }, expand: ['data.source'], colour: 'blue' } as never)).rejects.toMatchObject({ statusCode: 400 });
});

test('stripe-mock really validates: a parameter Stripe does not know is refused, and becomes a non-retryable fault', async () => {
  const params = { ...paymentIntentParams(authorizeRequest()), surcharge_mode: 'sneaky' };
  await expect(stripe.stripe.paymentIntents.create(params as never)).rejects.toMatchObject({ type: 'StripeInvalidRequestError', statusCode: 400 });
  await expect(stripe.authorize(authorizeRequest({ captureMethod: 'sometimes' as never }))).rejects.toMatchObject({ retryable: false });
});

test('the error taxonomy: rate limits, 5xx and connection errors retry (honouring Retry-After); auth and invalid requests fail loudly', () => {
  expect(faultOf({ type: 'StripeRateLimitError', headers: { 'retry-after': '3' } })).toMatchObject({ retryable: true, retryAfterMs: 3000 });
  expect(faultOf({ type: 'StripeAPIError', statusCode: 503 })).toMatchObject({ retryable: true });
  // Stripe may have acted: the workflow asks before re-sending with the same key.
  expect(faultOf({ type: 'StripeConnectionError' })).toMatchObject({ retryable: true, outcomeUnknown: true });
  expect(faultOf({ type: 'StripeInvalidRequestError', statusCode: 409, code: 'idempotency_key_in_use' })).toMatchObject({ retryable: true, outcomeUnknown: false });
  for (const type of ['StripeAuthenticationError', 'StripeInvalidRequestError', 'StripePermissionError', 'StripeIdempotencyError']) {
    expect(faultOf({ type, statusCode: 400 })).toMatchObject({ retryable: false });
  }
});

test('Stripe amounts: zero-, two- and three-decimal currencies, ISK and MGA quirks, and the way back', () => {
  expect(toStripeAmount(1999, 'USD')).toEqual({ amount: 1999 });
  expect(toStripeAmount(500, 'JPY')).toEqual({ amount: 500 });
  expect(toStripeAmount(1500, 'ISK')).toEqual({ amount: 150000 });
  expect(toStripeAmount(15000, 'MGA')).toEqual({ amount: 150 });
  expect(toStripeAmount(15050, 'MGA')).toHaveProperty('problem');
  expect(toStripeAmount(12340, 'KWD')).toEqual({ amount: 12340 });
  expect(toStripeAmount(12345, 'KWD')).toHaveProperty('problem');
  expect(toStripeAmount(12345, 'HUF')).toEqual({ amount: 12345 });
  expect(toStripeAmount(100, 'CLF')).toHaveProperty('problem'); // four decimals: not chargeable at Stripe
  for (const [amount, currency] of [[1999, 'USD'], [1500, 'ISK'], [15000, 'MGA'], [12340, 'KWD'], [500, 'JPY']] as const) {
    const converted = toStripeAmount(amount, currency);
    expect('amount' in converted && fromStripeAmount(converted.amount, currency)).toBe(amount);
  }
});
