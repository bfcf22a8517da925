import type { AuthorizeRequest } from '../providers/provider';
import { ProviderFault } from '../providers/provider';
import { StripeProvider } from '../providers/stripe/stripe.provider';
import type { FakeStripe } from './support/fake-stripe';
import { startFakeStripe } from './support/fake-stripe';

// Saved cards end to end at the Stripe edge: the real provider and SDK against the stateful fake
// Stripe (no Temporal): customers, attach/detach, and off-session charges of the saved card.
let fake: FakeStripe;
let stripe: StripeProvider;
beforeAll(async () => {
  fake = await startFakeStripe('whsec_saved_cards_0123456789');
  stripe = new StripeProvider({ secretKey: 'sk_test_saved_cards', apiBase: fake.url });
});
afterAll(async () => fake?.close());

let n = 0;
const ensureCustomer = (customerId = `cust_${++n}`, idempotencyKey = `${customerId}:stripe_customer`) =>
  stripe.ensureCustomer({ customerId, merchantId: 'mer_saved', email: 'ada@example.com', name: 'Ada Lovelace', idempotencyKey });
const save = (customer: string, token: string) => stripe.attachMethod({ providerCustomer: customer, token, idempotencyKey: `${customer}:${token}:attach` });
/** A subscription invoice's charge of a saved card (off-session); a return_url is given to prove it is not sent. */
const chargeSaved = (customer: string, pm: string, over: Partial<AuthorizeRequest> = {}) => {
  const paymentId = `pay_saved_${++n}`;
  return stripe.authorize({
    paymentId, merchantId: 'mer_saved', amount: 1500, currency: 'EUR', method: { type: 'card', token: pm }, captureMethod: 'automatic', channel: 'subscription',
    returnUrl: 'https://shop.example/return', actionExpiresAt: new Date(Date.now() + 60_000).toISOString(), idempotencyKey: `${paymentId}:authorize`,
    savedMethod: { customer }, ...over,
  });
};
const sentFor = (idempotencyKey: string) => fake.requests.filter((r) => r.path === '/v1/payment_intents' && r.idempotencyKey === idempotencyKey).map((r) => r.form);

test('ensureCustomer: one Stripe Customer per idempotency key, with our ids in its metadata; a retry after a 500 converges', async () => {
  const cus = await ensureCustomer('cust_ada', 'cust_ada:stripe_customer');
  expect(cus).toMatch(/^cus_/);
  expect(await ensureCustomer('cust_ada', 'cust_ada:stripe_customer')).toBe(cus);
  expect(fake.customers.get(cus)).toMatchObject({ email: 'ada@example.com', name: 'Ada Lovelace', metadata: { customer_id: 'cust_ada', merchant_id: 'mer_saved' } });
  expect([...fake.customers.values()].filter((c) => c.metadata.customer_id === 'cust_ada')).toHaveLength(1);
  // Another key is another customer.
  expect(await ensureCustomer('cust_ada', 'cust_ada:stripe_customer:2')).not.toBe(cus);

  // No email or name: left out, never sent as empty strings.
  const bare = await stripe.ensureCustomer({ customerId: 'cust_bare', merchantId: 'mer_saved', email: null, name: null, idempotencyKey: 'cust_bare:stripe_customer' });
  expect(fake.requests.find((r) => r.path === '/v1/customers' && r.idempotencyKey === 'cust_bare:stripe_customer')!.form).toEqual({ 'metadata[customer_id]': 'cust_bare', 'metadata[merchant_id]': 'mer_saved' });
  expect(fake.customers.get(bare)).toMatchObject({ email: null, name: null });

  fake.outage(1);
  const failed = await ensureCustomer('cust_outage', 'cust_outage:stripe_customer').catch((e: unknown) => e);
  expect(failed).toBeInstanceOf(ProviderFault);
  expect(failed).toMatchObject({ retryable: true });
  expect(await ensureCustomer('cust_outage', 'cust_outage:stripe_customer')).toMatch(/^cus_/);
});

test('attachMethod: a test card attaches as a NEW pm_ of the customer, with its card details; the same key replays it', async () => {
  const cus = await ensureCustomer();
  const visa = await save(cus, 'pm_card_visa');
  expect(visa.reference).toMatch(/^pm_[0-9a-f]+$/);
  expect(visa.card).toEqual({ brand: 'visa', last4: '4242', exp_month: 12, exp_year: expect.any(Number), fingerprint: expect.stringMatching(/^\w{16}$/) });
  expect(fake.paymentMethods.get(visa.reference)).toMatchObject({ customer: cus, card: { last4: '4242' } });
  expect(await save(cus, 'pm_card_visa')).toEqual(visa); // same idempotency key: the same PaymentMethod

  const mastercard = await save(cus, 'pm_card_mastercard');
  expect(mastercard.card).toMatchObject({ brand: 'mastercard', last4: '4444' });
  expect(mastercard.reference).not.toBe(visa.reference);
  // The same card number saved for another customer: another pm_, the same fingerprint (how duplicates are spotted).
  const other = await save(await ensureCustomer(), 'pm_card_visa');
  expect(other.reference).not.toBe(visa.reference);
  expect(other.card!.fingerprint).toBe(visa.card!.fingerprint);
  expect(mastercard.card!.fingerprint).not.toBe(visa.card!.fingerprint);
});

test('attachMethod: cards Stripe refuses to save are final faults with a clear message; an unknown customer too', async () => {
  const cus = await ensureCustomer();
  // Stripe's decline test cards "can't be attached to a Customer object" (docs.stripe.com/testing).
  for (const [token, code] of [['pm_card_visa_chargeDeclinedLostCard', 'lost_card'], ['pm_card_chargeDeclined', 'card_declined'], ['pm_card_chargeDeclinedExpiredCard', 'expired_card']]) {
    const refused = await save(cus, token!).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ProviderFault);
    expect(refused).toMatchObject({ retryable: false, message: expect.stringContaining(`declined it (${code})`) });
  }
  expect([...fake.paymentMethods.values()].filter((pm) => pm.customer === cus)).toEqual([]);
  await expect(save('cus_unknown', 'pm_card_visa')).rejects.toMatchObject({ retryable: false, message: expect.stringContaining("No such customer: 'cus_unknown'") });
  await expect(save(cus, 'pm_not_a_card')).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('cannot be saved') });
});

test('an off-session charge of the saved card succeeds, sent with its customer, off_session and no return_url', async () => {
  const cus = await ensureCustomer();
  const { reference: pm } = await save(cus, 'pm_card_visa');
  const result = await chargeSaved(cus, pm, { idempotencyKey: 'pay_off_session:authorize' });
  expect(result).toMatchObject({ status: 'authorized', reference: expect.stringMatching(/^pi_/) });
  const [form] = sentFor('pay_off_session:authorize');
  expect(form).toMatchObject({ customer: cus, off_session: 'true', confirm: 'true', payment_method: pm });
  expect(form).not.toHaveProperty('return_url');
  expect(fake.intents.get(result.reference!)).toMatchObject({ status: 'succeeded', customer: cus, payment_method: pm, amount_received: 1500 });
  expect(fake.effects.filter((e) => e.paymentIntent === result.reference)).toEqual([{ operation: 'authorize', paymentIntent: result.reference, amount: 1500, idempotencyKey: 'pay_off_session:authorize' }]);

  // Manual capture works off-session too: authorized, then captured.
  const held = await chargeSaved(cus, pm, { captureMethod: 'manual' });
  expect(held.status).toBe('authorized');
  expect(await stripe.capture({ paymentId: 'pay_held', reference: held.reference!, amount: 1500, currency: 'EUR', idempotencyKey: 'pay_held:capture' })).toEqual({ status: 'succeeded' });
});

test('a saved card reported lost declines lost_card; one that attaches but fails charges declines card_declined', async () => {
  const cus = await ensureCustomer();
  const { reference: pm } = await save(cus, 'pm_card_visa');
  fake.setCardBehaviour(pm, 'pm_card_visa_chargeDeclinedLostCard');
  const lost = await chargeSaved(cus, pm);
  expect(lost).toMatchObject({ status: 'declined', code: 'lost_card', reference: expect.stringMatching(/^pi_/) });
  expect(fake.intents.get(lost.reference!)).toMatchObject({ status: 'requires_payment_method', last_payment_error: { decline_code: 'lost_card' } });

  fake.setCardBehaviour(pm, 'pm_card_visa_chargeDeclinedStolenCard');
  expect(await chargeSaved(cus, pm)).toMatchObject({ status: 'declined', code: 'stolen_card' });

  const failing = await save(cus, 'pm_card_chargeCustomerFail');
  expect(failing.card).toMatchObject({ brand: 'visa', last4: '0341' });
  expect(await chargeSaved(cus, failing.reference)).toMatchObject({ status: 'declined', code: 'card_declined', message: 'Your card was declined.' });
});

test('a card needing 3-D Secure declines authentication_required off-session (the PaymentIntent is not left waiting for action)', async () => {
  const cus = await ensureCustomer();
  for (const card of ['pm_card_authenticationRequired', 'pm_card_threeDSecure2Required']) {
    const { reference: pm } = await save(cus, card);
    const result = await chargeSaved(cus, pm);
    expect(result).toMatchObject({ status: 'declined', code: 'authentication_required', reference: expect.stringMatching(/^pi_/) });
    const pi = fake.intents.get(result.reference!)!;
    expect(pi.status).toBe('requires_payment_method');
    expect(pi.next_action).toBeNull();
    expect(fake.effects.filter((e) => e.paymentIntent === pi.id)).toEqual([]);
  }
  // On-session (not saved, the customer present) the same test card still asks for 3-D Secure, as before.
  const onSession = await chargeSaved(cus, 'pm_card_authenticationRequired', { savedMethod: undefined, returnUrl: null });
  expect(onSession).toMatchObject({ status: 'requires_action', nextAction: { type: 'use_stripe_sdk' } });
});

test('setCardBehaviour: a declining saved card succeeds once the customer has funds again, and can fail again', async () => {
  const cus = await ensureCustomer();
  const { reference: pm } = await save(cus, 'pm_card_visa');
  fake.setCardBehaviour(pm, 'pm_card_chargeDeclinedInsufficientFunds');
  expect(await chargeSaved(cus, pm)).toMatchObject({ status: 'declined', code: 'insufficient_funds', message: 'Your card has insufficient funds.' });
  fake.setCardBehaviour(pm, 'pm_card_visa');
  expect(fake.cardBehaviour(pm)).toBe('pm_card_visa');
  expect(await chargeSaved(cus, pm)).toMatchObject({ status: 'authorized' });
  fake.setCardBehaviour(pm, 'pm_card_visa_chargeDeclinedInsufficientFunds');
  expect(await chargeSaved(cus, pm)).toMatchObject({ status: 'declined', code: 'insufficient_funds' });
  // Its card details stay those of the card saved.
  expect(fake.paymentMethods.get(pm)!.card.last4).toBe('4242');
  expect(() => fake.setCardBehaviour('pm_never_saved', 'pm_card_visa')).toThrow(/no saved PaymentMethod/);
});

test('detachMethod: detaching twice is fine; a detached card cannot be charged; an unknown one is a fault', async () => {
  const cus = await ensureCustomer();
  const { reference: pm } = await save(cus, 'pm_card_visa');
  await expect(stripe.detachMethod({ reference: pm })).resolves.toBeUndefined();
  expect(fake.paymentMethods.get(pm)!.customer).toBeNull();
  await expect(stripe.detachMethod({ reference: pm })).resolves.toBeUndefined(); // Stripe's 400 "not attached": already done
  expect(fake.requests.filter((r) => r.path === `/v1/payment_methods/${pm}/detach`)).toHaveLength(2);

  const before = fake.intents.size;
  await expect(chargeSaved(cus, pm)).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('detached from a Customer') });
  expect(fake.intents.size).toBe(before);
  await expect(stripe.detachMethod({ reference: 'pm_never_existed' })).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('No such PaymentMethod') });
});

test('a saved card is charged only with its own customer: another customer\'s pm_ is refused, nothing is charged', async () => {
  const owner = await ensureCustomer();
  const stranger = await ensureCustomer();
  const { reference: pm } = await save(owner, 'pm_card_visa');
  const before = fake.intents.size;
  const refused = await chargeSaved(stranger, pm).catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(ProviderFault);
  expect(refused).toMatchObject({ retryable: false, message: expect.stringContaining(`does not belong to the Customer you supplied ${stranger}`) });
  // Without the customer (an off-session request built wrong), Stripe refuses too.
  const params = { amount: 1500, currency: 'eur', confirm: true, payment_method: pm, off_session: true };
  await expect(stripe.stripe.paymentIntents.create(params)).rejects.toMatchObject({ statusCode: 400, code: 'parameter_missing' });
  expect(fake.intents.size).toBe(before);
  // The owner still can.
  expect(await chargeSaved(owner, pm)).toMatchObject({ status: 'authorized' });
});

test('cards that are not saved behave as before: declines by test id, a redirect for 3-D Secure with a return_url', async () => {
  const plain = (token: string) => chargeSaved('unused', token, { savedMethod: undefined });
  expect(await plain('pm_card_visa_chargeDeclinedLostCard')).toMatchObject({ status: 'declined', code: 'lost_card' });
  expect(await plain('pm_card_chargeDeclined')).toMatchObject({ status: 'declined', code: 'card_declined' });
  const threeDS = await plain('pm_card_threeDSecure2Required');
  expect(threeDS).toMatchObject({ status: 'requires_action', nextAction: { type: 'redirect_to_url' } });
  const sent = fake.requests.filter((r) => r.path === '/v1/payment_intents').at(-1)!.form;
  expect(sent).toMatchObject({ return_url: 'https://shop.example/return' });
  expect(sent).not.toHaveProperty('off_session');
  expect(sent).not.toHaveProperty('customer');
});
