import type { FakeStripe } from './support/fake-stripe';
import { startFakeStripe } from './support/fake-stripe';
import { expectAllLedgersConsistent } from './support/ledger';
import type { TestStack } from './support/stack';
import { eventually, newMerchant, startTestStack } from './support/stack';

// Subscriptions charging a card saved on a Stripe Customer, off-session, through the real SDK.
const WEBHOOK_SECRET = 'whsec_subscriptions_0123456789';
let stripe: FakeStripe;
let running: TestStack;
beforeAll(async () => {
  stripe = await startFakeStripe(WEBHOOK_SECRET);
  running = await startTestStack({ STRIPE_SECRET_KEY: 'sk_test_subscriptions', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE: stripe.url });
  stripe.setWebhooks(`${running.url}/webhooks/stripe`);
});
afterAll(async () => {
  if (running) await expectAllLedgersConsistent(running.pool);
  await running?.stop();
  await stripe?.close();
});
const stack = () => running;

const DAY = 86_400;
const MAR1 = Date.UTC(2025, 2, 1) / 1000;
const APR1 = Date.UTC(2025, 3, 1) / 1000;

test('a card saved on a Stripe Customer is charged off-session each period; a decline is recovered by dunning once the card works again', async () => {
  const m = await newMerchant(stack());
  const clock = (await m.api.post('/v1/test_clocks', { frozen_time: MAR1 })).body;
  const customer = (await m.api.post('/v1/customers', { email: 'ada@example.com', name: 'Ada', test_clock: clock.id })).body;
  const refused = await m.api.post(`/v1/customers/${customer.id}/payment_methods`, { type: 'card', token: 'pm_card_visa_chargeDeclinedLostCard' });
  expect([refused.status, refused.body.error.code, refused.body.error.param]).toEqual([400, 'card_not_saved', 'token']);
  const saved = (await m.api.post(`/v1/customers/${customer.id}/payment_methods`, { type: 'card', token: 'pm_card_visa' })).body;
  expect(saved).toMatchObject({ provider: 'stripe', provider_reference: expect.stringMatching(/^pm_/), card: { brand: 'visa', last4: '4242' } });
  expect(saved.provider_reference).not.toBe('pm_card_visa');
  expect((await m.api.get(`/v1/customers/${customer.id}/payment_methods`)).body.data.map((p: { id: string }) => p.id)).toEqual([saved.id]);

  const sub = (await m.api.post('/v1/subscriptions', { customer_id: customer.id, price: { amount: 2500, currency: 'USD', interval: 'month' } })).body;
  expect(sub.status).toBe('active');
  const charges = () => stripe.requests.filter((r) => r.method === 'POST' && r.path === '/v1/payment_intents' && r.form.payment_method === saved.provider_reference);
  expect(charges()).toHaveLength(1);
  const cus = stripe.customers.get(charges()[0]!.form.customer!);
  expect(cus).toBeDefined();
  expect(charges()[0]!.form).toMatchObject({ off_session: 'true', confirm: 'true', amount: '2500' });
  expect(charges()[0]!.form.return_url).toBeUndefined();

  stripe.setCardBehaviour(saved.provider_reference, 'pm_card_chargeDeclinedInsufficientFunds');
  await m.api.post(`/v1/test_clocks/${clock.id}/advance`, { frozen_time: APR1 + 60 });
  const april = (await m.api.get(`/v1/invoices?subscription_id=${sub.id}`)).body.data[0];
  expect(april).toMatchObject({ status: 'open', attempt_count: 1, last_payment_error: { code: 'insufficient_funds' }, next_payment_attempt: new Date((APR1 + DAY) * 1000).toISOString() });
  expect((await m.api.get(`/v1/subscriptions/${sub.id}`)).body.status).toBe('past_due');

  stripe.setCardBehaviour(saved.provider_reference, 'pm_card_visa');
  await m.api.post(`/v1/test_clocks/${clock.id}/advance`, { frozen_time: APR1 + DAY + 60 });
  expect((await m.api.get(`/v1/invoices/${april.id}`)).body).toMatchObject({ status: 'paid', attempt_count: 2, amount_paid: 2500 });
  expect((await m.api.get(`/v1/subscriptions/${sub.id}`)).body.status).toBe('active');
  // Three charges of the saved card, each with its own idempotency key (one per invoice attempt).
  const keys = charges().map((r) => r.idempotencyKey);
  expect(keys).toHaveLength(3);
  expect(new Set(keys).size).toBe(3);
});

test('a saved card that needs authentication off-session is not retried: the customer is asked to update it', async () => {
  const m = await newMerchant(stack());
  const clock = (await m.api.post('/v1/test_clocks', { frozen_time: MAR1 })).body;
  const customer = (await m.api.post('/v1/customers', { test_clock: clock.id })).body;
  const saved = (await m.api.post(`/v1/customers/${customer.id}/payment_methods`, { type: 'card', token: 'pm_card_visa' })).body;
  const sub = (await m.api.post('/v1/subscriptions', { customer_id: customer.id, price: { amount: 900, currency: 'EUR', interval: 'month' } })).body;
  stripe.setCardBehaviour(saved.provider_reference, 'pm_card_authenticationRequired');
  await m.api.post(`/v1/test_clocks/${clock.id}/advance`, { frozen_time: APR1 + 5 * DAY });
  const april = (await m.api.get(`/v1/invoices?subscription_id=${sub.id}`)).body.data[0];
  expect(april).toMatchObject({ status: 'open', attempt_count: 1, next_payment_attempt: null, last_payment_error: { code: 'authentication_required' } });
  const events = (await m.api.get(`/v1/events?object_id=${customer.id}`)).body.data.map((e: { type: string }) => e.type);
  expect(events).toContain('customer.payment_method_update_requested');
  // Detaching the card detaches it at Stripe too.
  expect((await m.api.raw('DELETE', `/v1/customers/${customer.id}/payment_methods/${saved.id}`)).body).toMatchObject({ id: saved.id, detached: true });
  expect((await m.api.get(`/v1/customers/${customer.id}`)).body.default_payment_method).toBeNull();
  await eventually(async () => stripe.requests.some((r) => r.path === `/v1/payment_methods/${saved.provider_reference}/detach`), Boolean);
});
