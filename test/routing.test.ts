import type { FakeStripe } from './support/fake-stripe';
import { startFakeStripe } from './support/fake-stripe';
import type { Client, TestStack } from './support/stack';
import { ADMIN_KEY, client, eventually, newMerchant, startTestStack } from './support/stack';
import { expectAllLedgersConsistent } from './support/ledger';
import { splitPoint } from '../routing/rules';

// Routing over two real providers of test mode: Stripe (the stateful fake, test key) and the sandbox.
const WEBHOOK_SECRET = 'whsec_routing_0123456789';
let stripe: FakeStripe;
let stack: TestStack;
beforeAll(async () => {
  stripe = await startFakeStripe(WEBHOOK_SECRET);
  stack = await startTestStack({
    STRIPE_SECRET_KEY: 'sk_test_routing', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE: stripe.url,
    CIRCUIT_FAILURE_THRESHOLD: '2', CIRCUIT_OPEN_MS: '1500',
  });
  stripe.setWebhooks(`${stack.url}/webhooks/stripe`);
});
afterAll(async () => {
  if (stack) await expectAllLedgersConsistent(stack.pool);
  await stack?.stop();
  await stripe?.close();
});

const visa = { type: 'card', token: 'pm_card_visa' };
const sandboxCharges = async (m: { api: Client }, id: string) =>
  (await m.api.get(`/sandbox/charges?payment_id=${id}`)).body.data.map((c: { operation: string; idempotency_key: string }) => `${c.operation}:${c.idempotency_key}`);
const stripeEffects = (paymentId: string) =>
  stripe.effects.filter((e) => stripe.intents.get(e.paymentIntent)?.metadata.payment_id === paymentId).map((e) => `${e.operation}:${e.idempotencyKey}`);

describe('rules', () => {
  test('GET answers the empty document; invalid rules are a 400 naming the field, and nothing is saved', async () => {
    const m = await newMerchant(stack);
    expect((await m.api.get('/v1/routing')).body).toEqual({ object: 'routing', livemode: false, rules: [], fees: {}, default: {}, updated_at: null });
    const good = { rules: [{ if: { currency: 'eur' }, providers: ['stripe', 'sandbox'] }] };
    const saved = await m.api.post('/v1/routing', good);
    expect(saved.status).toBe(200);
    expect(saved.body).toMatchObject({ object: 'routing', livemode: false, rules: [{ if: { currency: 'EUR' }, providers: ['stripe', 'sandbox'] }] });

    const refused: [unknown, string, string][] = [
      [{ rules: [{ if: {}, providers: ['paypal'] }] }, 'rules.0.providers.0', 'parameter_invalid'],
      [{ rules: [{ if: { 'payment_method.type': 'alipay' }, providers: ['stripe'] }] }, 'rules.0.providers.0', 'routing_invalid'],
      [{ rules: [{ if: { currency: 'BRL' }, split: [{ provider: 'alipay', weight: 1 }] }] }, 'rules.0.split.0.provider', 'routing_invalid'],
      [{ rules: [{ if: {}, strategy: 'lowest_fee', providers: ['stripe', 'sandbox'] }], fees: { stripe: { card: { percent: 2.9 } } } }, 'rules.0.providers.1', 'routing_invalid'],
      [{ rules: [{ if: {}, providers: ['sandbox'], split: [{ provider: 'sandbox', weight: 1 }] }] }, 'rules.0.split', 'parameter_invalid'],
      [{ default: { alipay: ['stripe'] } }, 'default.alipay.0', 'routing_invalid'],
      [{ fees: { stripe: { alipay: { percent: 1 } } } }, 'fees.stripe.alipay', 'routing_invalid'],
      [{ rules: [{ if: {}, split: [{ provider: 'sandbox', weight: 0 }] }] }, 'rules.0.split.0.weight', 'parameter_invalid'],
    ];
    for (const [body, param, code] of refused) {
      const res = await m.api.post('/v1/routing', body);
      expect([res.status, res.body.error.param, res.body.error.code]).toEqual([400, param, code]);
    }
    expect((await m.api.get('/v1/routing')).body.rules).toEqual(saved.body.rules);

    // What JSON Schema cannot refuse is read plainly: an empty amount range never matches, and a provider
    // named twice in a split carries the sum of its weights.
    const plain = await m.api.post('/v1/routing', { rules: [
      { if: { amount_gte: 500, amount_lt: 100 }, providers: ['stripe'] },
      { if: {}, split: [{ provider: 'sandbox', weight: 2 }, { provider: 'stripe', weight: 1 }, { provider: 'sandbox', weight: 3 }] },
    ] });
    expect(plain.body.rules).toMatchObject([{ providers: ['stripe'] }, { split: [{ provider: 'sandbox', weight: 5 }, { provider: 'stripe', weight: 1 }] }]);
    await m.api.post('/v1/routing', good);

    // Live rules cannot name the sandbox, and live and test rules are kept apart.
    const live = await m.live.post('/v1/routing', { default: { card: ['sandbox'] } });
    expect([live.status, live.body.error.code, live.body.error.param]).toEqual([400, 'provider_unavailable', 'default.card.0']);
    expect((await m.live.get('/v1/routing')).body).toMatchObject({ livemode: true, rules: [] });
  });

  test('priority: the first matching rule decides, recorded on the payment; no match is `default`', async () => {
    const m = await newMerchant(stack);
    await m.api.post('/v1/routing', { rules: [{ id: 'eur-to-sandbox', if: { currency: 'EUR' }, providers: ['sandbox', 'stripe'] }] });
    const eur = (await m.api.post('/v1/payments', { amount: 1000, currency: 'EUR', payment_method: { type: 'card', token: 'tok_ok' } })).body;
    expect(eur).toMatchObject({ status: 'captured', provider: 'sandbox', routing: { rule: 'eur-to-sandbox', strategy: 'priority', candidates: ['sandbox', 'stripe'] } });
    const usd = (await m.api.post('/v1/payments', { amount: 1000, currency: 'USD', payment_method: visa })).body;
    expect(usd).toMatchObject({ status: 'captured', provider: 'stripe', routing: { rule: 'default', strategy: 'default', candidates: ['stripe'] } });
    expect((await m.api.get(`/v1/payments/${eur.id}`)).body.routing).toEqual(eur.routing);
  });

  test('lowest_fee picks the cheaper provider for each amount', async () => {
    const m = await newMerchant(stack);
    await m.api.post('/v1/routing', {
      rules: [{ if: { 'payment_method.type': 'card' }, strategy: 'lowest_fee', providers: ['sandbox', 'stripe'] }],
      fees: { stripe: { card: { percent: 2.9, fixed: { usd: 30 } } }, sandbox: { card: { percent: 1.5, fixed: { USD: 100 } } } },
    });
    // 1 000: Stripe 59, sandbox 115. 100 000: Stripe 2 930, sandbox 1 600.
    const small = (await m.api.post('/v1/payments', { amount: 1000, currency: 'USD', payment_method: visa })).body;
    const large = (await m.api.post('/v1/payments', { amount: 100_000, currency: 'USD', payment_method: { type: 'card', token: 'tok_ok' } })).body;
    expect([small.provider, small.routing.strategy, small.routing.candidates]).toEqual(['stripe', 'lowest_fee', ['stripe', 'sandbox']]);
    expect([large.provider, large.routing.candidates]).toEqual(['sandbox', ['sandbox', 'stripe']]);
  });

  test('a 3:1 volume split over 240 payments gives Stripe 75 % (± 9 points), fixed per payment id; a retried request stays on its provider', async () => {
    const m = await newMerchant(stack);
    await m.api.post('/v1/routing', { rules: [{ if: {}, split: [{ provider: 'stripe', weight: 3 }, { provider: 'sandbox', weight: 1 }] }] });
    const body = (i: number) => ({ amount: 500 + i, currency: 'USD', payment_method: visa });
    const payments: { id: string; provider: string; status: string; routing: { strategy: string } }[] = [];
    for (let batch = 0; batch < 24; batch++) {
      payments.push(...(await Promise.all(Array.from({ length: 10 }, async (_, j) => {
        const i = batch * 10 + j;
        return (await m.api.post('/v1/payments', body(i), { 'Idempotency-Key': `split-${i}` })).body;
      }))));
    }
    for (let i = 0; i < 20; i++) {
      const again = (await m.api.post('/v1/payments', body(i), { 'Idempotency-Key': `split-${i}` })).body;
      expect([again.id, again.provider]).toEqual([payments[i]!.id, payments[i]!.provider]);
    }
    for (const p of payments) {
      expect(p.status).toBe('captured');
      expect(p.routing.strategy).toBe('split');
      expect(p.provider).toBe(splitPoint(p.id, 4) < 3 ? 'stripe' : 'sandbox');
    }
    const share = payments.filter((p) => p.provider === 'stripe').length / payments.length;
    expect(share).toBeGreaterThan(0.66);
    expect(share).toBeLessThan(0.84);
    // Exactly one charge for each, at the provider that took it.
    for (const p of payments) {
      if (p.provider === 'stripe') expect(stripeEffects(p.id)).toEqual([`authorize:${p.id}:authorize`]);
      else expect(await sandboxCharges(m, p.id)).toEqual([`authorize:${p.id}:authorize`, `capture:${p.id}:capture`]);
    }
    // 240 payments take 40 to 60 s on two busy cores: a hang guard, not a speed limit.
  }, 180_000);
});

describe('failover', () => {
  test('with Stripe down, payments complete on the sandbox, charged once; the circuit opens, then closes when Stripe is back', async () => {
    const m = await newMerchant(stack);
    await m.api.post('/v1/routing', { default: { card: ['stripe', 'sandbox'] } });
    const admin = client(stack.url, ADMIN_KEY);
    const stripeHealth = async () => (await admin.get('/v1/admin/providers')).body.data.find((p: { provider: string }) => p.provider === 'stripe').circuit;
    expect(await stripeHealth()).toMatchObject({ state: 'closed' });

    await stripe.down();
    try {
      const during = [];
      for (let i = 0; i < 4; i++) during.push((await m.api.post('/v1/payments', { amount: 1500 + i, currency: 'USD', payment_method: visa, capture_method: 'manual' })).body);
      for (const p of during) {
        expect(p).toMatchObject({ status: 'authorized', provider: 'sandbox', routing: { candidates: ['stripe', 'sandbox'] } });
        expect(await sandboxCharges(m, p.id)).toEqual([`authorize:${p.id}:authorize:sandbox`]);
      }
      // Two refused connections opened the circuit: later payments skipped Stripe without trying.
      expect(await stripeHealth()).toMatchObject({ state: 'open', consecutive_failures: 2 });
      const metrics = await (await fetch(`${stack.url}/metrics`)).text();
      expect(metrics).toMatch(/payments_provider_circuit_state\{provider="stripe",mode="test"\} 2/);
      expect(metrics).toMatch(/payments_provider_skipped_total\{provider="stripe",mode="test"\} [1-9]/);
      // Captures go to the provider that holds the money.
      const captured = await m.api.post(`/v1/payments/${during[0].id}/capture`, {});
      expect(captured.body).toMatchObject({ status: 'captured', provider: 'sandbox' });
      expect(await sandboxCharges(m, during[0].id)).toEqual([`authorize:${during[0].id}:authorize:sandbox`, `capture:${during[0].id}:capture`]);
      for (const p of during) expect(stripeEffects(p.id)).toEqual([]);
    } finally {
      await stripe.up();
    }

    await new Promise((r) => setTimeout(r, 1600)); // the circuit's open time: the next payment probes Stripe
    const after = (await m.api.post('/v1/payments', { amount: 2000, currency: 'USD', payment_method: visa })).body;
    expect(after).toMatchObject({ status: 'captured', provider: 'stripe' });
    expect(stripeEffects(after.id)).toEqual([`authorize:${after.id}:authorize`]);
    expect(await stripeHealth()).toMatchObject({ state: 'closed', consecutive_failures: 0 });
    expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'USD', amount: 3500 }]);
  });

  test('an unknown outcome never fails over: the provider is asked, and the payment charged once where it was sent', async () => {
    const m = await newMerchant(stack);
    await m.api.post('/v1/routing', { default: { card: ['sandbox', 'stripe'] } });
    // tok_timeout: the sandbox charges, then the answer is lost.
    const p = (await m.api.post('/v1/payments', { amount: 990, currency: 'USD', payment_method: { type: 'card', token: 'tok_timeout' } })).body;
    // Stripe was a candidate to fail over to: it was never tried, the sandbox was asked instead.
    expect(p).toMatchObject({ status: 'captured', provider: 'sandbox', routing: { candidates: ['sandbox', 'stripe'] } });
    expect(await sandboxCharges(m, p.id)).toEqual([`authorize:${p.id}:authorize`, `capture:${p.id}:capture`]);
    expect(stripeEffects(p.id)).toEqual([]);
  });
});

test('once a send may have reached a provider, the payment never moves to the next one: no second charge elsewhere', async () => {
  const m = await newMerchant(stack);
  await m.api.post('/v1/routing', { default: { card: ['stripe', 'sandbox'] } });
  stripe.searchLag(6_000);
  stripe.failAfterEffect(1); // Stripe charges, and its answer is a 500 it keeps for the key
  const intentOf = (id: string) => [...stripe.intents.values()].find((pi) => pi.metadata.payment_id === id);
  try {
    const creating = m.api.post('/v1/payments', { amount: 3300, currency: 'USD', payment_method: visa });
    await eventually(async () => stripe.intents.size, () => [...stripe.intents.values()].some((pi) => pi.amount === 3300));
    await stripe.down(); // the retries are refused: Stripe looks down, but it may already hold the money
    await new Promise((r) => setTimeout(r, 4000));
    await stripe.up();
    const created = await creating;
    const id: string = created.body.id ?? created.body.error.payment.id;
    const settled = await eventually(() => m.api.get(`/v1/payments/${id}`), (r) => r.body.status === 'captured' || r.body.status === 'failed', 90_000);
    expect(settled.body.provider).toBe('stripe');
    expect(await sandboxCharges(m, id)).toEqual([]);
    expect(stripe.effects.filter((e) => e.paymentIntent === intentOf(id)!.id && e.operation === 'authorize')).toHaveLength(1);
    // Failed: what Stripe took goes back once; captured: it is the merchant's, charged once.
    if (settled.body.status === 'failed') {
      await eventually(async () => stripe.effects.filter((e) => e.paymentIntent === intentOf(id)!.id && e.operation === 'refund').length, (n) => n === 1, 60_000);
    } else {
      expect(settled.body.amount_captured).toBe(3300);
    }
  } finally {
    stripe.searchLag(0);
    stripe.failAfterEffect(0);
  }
}, 180_000);
