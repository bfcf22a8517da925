import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import fc from 'fast-check';
import { CHANNELS, PAYMENT_METHOD_TYPES } from '../domain/payment';
import type { RiskCondition, RiskFacts, RiskRule, RiskRules, VelocityCounts, VelocityKey } from '../risk/rules';
import {
  DEFAULT_RISK_RULES, emailDomain, evaluateRules, inWindow, MAX_WINDOW_SECONDS, RISK_ACTIONS, RiskRulesBody, VELOCITY_KEYS, velocityWindows, windowStart,
} from '../risk/rules';

const facts = (f: Partial<RiskFacts> = {}): RiskFacts => ({ amount: 1000, currency: 'USD', method: 'card', channel: 'web', keys: {}, ...f });
// For payments without velocity keys: nothing to count.
const noHistory: VelocityCounts = () => undefined;
const one = (cond: RiskCondition, f: Partial<RiskFacts> = {}, velocity: VelocityCounts = noHistory) =>
  evaluateRules({ rules: [{ if: cond, action: 'block' }] }, facts(f), velocity).decision === 'block';

/** The first issue, as the API's `parse` reports it: the dotted path and the message. */
const firstIssue = (body: unknown) => {
  const result = RiskRulesBody.safeParse(body);
  if (result.success) return undefined;
  const issue = result.error.issues[0]!;
  const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
  return { path: [...issue.path, ...keys].join('.'), message: issue.message };
};

describe('conditions', () => {
  test('amount_gte is inclusive, amount_lt exclusive, in minor units', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000_000 }), fc.integer({ min: 1, max: 10_000_000 }), (amount, bound) => {
        expect(one({ amount_gte: bound }, { amount })).toBe(amount >= bound);
        expect(one({ amount_lt: bound }, { amount })).toBe(amount < bound);
      }),
    );
  });

  test('currency, payment method and channel must equal the payment\'s', () => {
    expect(one({ currency: 'EUR' }, { currency: 'EUR' })).toBe(true);
    expect(one({ currency: 'EUR' }, { currency: 'eur' })).toBe(true);
    expect(one({ currency: 'EUR' }, { currency: 'USD' })).toBe(false);
    expect(one({ 'payment_method.type': 'alipay' }, { method: 'alipay' })).toBe(true);
    expect(one({ 'payment_method.type': 'alipay' }, { method: 'card' })).toBe(false);
    expect(one({ channel: 'pos' }, { channel: 'pos' })).toBe(true);
    expect(one({ channel: 'pos' }, { channel: 'web' })).toBe(false);
  });

  test('country_in matches the billing country in any case; no billing country never matches', () => {
    const { rules } = RiskRulesBody.parse({ rules: [{ if: { country_in: ['ng', 'Gh'] }, action: 'block' }] });
    expect(rules[0]!.if.country_in).toEqual(['NG', 'GH']);
    const block = (billingCountry?: string) => evaluateRules({ rules }, facts(billingCountry ? { billingCountry } : {}), noHistory).decision;
    expect([block('NG'), block('gh'), block('US'), block(undefined)]).toEqual(['block', 'block', 'allow', 'allow']);
  });

  test('ip_country_in matches the country of client_ip in any case; no known country never matches', () => {
    const { rules } = RiskRulesBody.parse({ rules: [{ if: { ip_country_in: ['ng'] }, action: 'review' }] });
    expect(rules[0]!.if.ip_country_in).toEqual(['NG']);
    const decide = (ipCountry?: string, billingCountry?: string) => evaluateRules({ rules }, facts({ ...(ipCountry ? { ipCountry } : {}), ...(billingCountry ? { billingCountry } : {}) }), noHistory).decision;
    expect([decide('NG'), decide('ng'), decide('US'), decide(undefined, 'NG')]).toEqual(['review', 'review', 'allow', 'allow']);
  });

  test('reference amounts compare the converted amount, never the payment\'s own, and never match without one', () => {
    expect(one({ reference_amount_gte: 10_000 }, { amount: 9_000, referenceAmount: 10_000 })).toBe(true);
    expect(one({ reference_amount_gte: 10_000 }, { amount: 20_000, referenceAmount: 9_999 })).toBe(false);
    expect(one({ reference_amount_lt: 10_000 }, { amount: 20_000, referenceAmount: 9_999 })).toBe(true);
    expect(one({ reference_amount_lt: 10_000 }, { amount: 20_000, referenceAmount: 10_000 })).toBe(false);
    expect(one({ reference_amount_gte: 1 }, { amount: 20_000 })).toBe(false);
    expect(one({ reference_amount_lt: 1_000_000 }, { amount: 20_000 })).toBe(false);
  });

  test('email_domain_in matches the receipt email\'s domain exactly, in any case', () => {
    const { rules } = RiskRulesBody.parse({ rules: [{ if: { email_domain_in: ['Mailinator.COM'] }, action: 'review' }] });
    expect(rules[0]!.if.email_domain_in).toEqual(['mailinator.com']);
    const decide = (email: string | null) => evaluateRules({ rules }, facts({ emailDomain: emailDomain(email) }), noHistory).decision;
    expect(decide('Bob@MAILINATOR.com')).toBe('review');
    expect(decide('bob@eu.mailinator.com')).toBe('allow');
    expect(decide('bob@example.com')).toBe('allow');
    expect(decide(null)).toBe('allow');
  });

  test('score_gte is inclusive and never matches a payment without a score, not even score_gte 0', () => {
    expect(one({ score_gte: 80 }, { score: 80 })).toBe(true);
    expect(one({ score_gte: 80 }, { score: 79.9 })).toBe(false);
    expect(one({ score_gte: 0 }, { score: 0 })).toBe(true);
    expect(one({ score_gte: 0 })).toBe(false);
  });

  test('velocity count_gt: the counts include the payment itself, so "more than 5 from one IP" blocks the sixth', () => {
    const cond: RiskCondition = { velocity: { key: 'client_ip', window_seconds: 600, count_gt: 5 } };
    const counted = (count: number): VelocityCounts => (key, window) => {
      expect([key, window]).toEqual(['client_ip', 600]);
      return { count, sum: 0 };
    };
    const ip = { keys: { client_ip: '203.0.113.7' } };
    expect(one(cond, ip, counted(5))).toBe(false); // the fifth
    expect(one(cond, ip, counted(6))).toBe(true); // the sixth
    // count_gt 0 matches every payment with the key: it counts at least itself.
    expect(one({ velocity: { key: 'client_ip', window_seconds: 600, count_gt: 0 } }, ip, counted(1))).toBe(true);
  });

  test('velocity sum_gt: the sum includes this payment\'s amount', () => {
    const cond: RiskCondition = { velocity: { key: 'customer_id', window_seconds: 86_400, sum_gt: 100_000 } };
    const f = { amount: 30_000, keys: { customer_id: 'cus_1' } };
    expect(one(cond, f, () => ({ count: 4, sum: 100_000 }))).toBe(false);
    expect(one(cond, f, () => ({ count: 4, sum: 100_001 }))).toBe(true);
  });

  test('a payment without a value for the key never matches its velocity condition, and nobody is asked to count', () => {
    const counts = jest.fn<ReturnType<VelocityCounts>, Parameters<VelocityCounts>>(() => ({ count: 1_000, sum: 1_000_000 }));
    for (const key of VELOCITY_KEYS) {
      expect(one({ velocity: { key, window_seconds: 60, count_gt: 0 } }, { keys: {} }, counts)).toBe(false);
      expect(one({ velocity: { key, window_seconds: 60, count_gt: 0 } }, { keys: { [key]: '' } }, counts)).toBe(false);
    }
    expect(counts).not.toHaveBeenCalled();
    // The caller's undefined means the same.
    expect(one({ velocity: { key: 'email', window_seconds: 60, count_gt: 0 } }, { keys: { email: 'a@b.co' } }, () => undefined)).toBe(false);
  });

  test('velocity is asked last: not counted when a cheaper condition already fails', () => {
    const counts = jest.fn<ReturnType<VelocityCounts>, Parameters<VelocityCounts>>(() => ({ count: 100, sum: 0 }));
    const cond: RiskCondition = { currency: 'EUR', velocity: { key: 'client_ip', window_seconds: 60, count_gt: 5 } };
    expect(one(cond, { keys: { client_ip: '203.0.113.7' } }, counts)).toBe(false);
    expect(counts).not.toHaveBeenCalled();
    expect(one(cond, { currency: 'EUR', keys: { client_ip: '203.0.113.7' } }, counts)).toBe(true);
  });

  test('every condition of one if must hold', () => {
    const cond: RiskCondition = { amount_gte: 500, currency: 'USD', channel: 'web', country_in: ['US'], score_gte: 50 };
    const all = { amount: 500, billingCountry: 'US', score: 50 };
    expect(one(cond, all)).toBe(true);
    expect(one(cond, { ...all, amount: 499 })).toBe(false);
    expect(one(cond, { ...all, channel: 'app' })).toBe(false);
    expect(one(cond, { ...all, billingCountry: 'CA' })).toBe(false);
    expect(one(cond, { ...all, score: 49 })).toBe(false);
  });
});

describe('evaluation', () => {
  test('the first matching rule decides and is named; none matching allows; an empty if always holds', () => {
    const rules: RiskRules = {
      rules: [
        { if: { amount_gte: 100_000 }, action: 'review' },
        { if: { country_in: ['KP'] }, action: 'block' },
        { if: {}, action: 'allow' },
        { if: {}, action: 'block' },
      ],
    };
    expect(evaluateRules(rules, facts({ amount: 200_000, billingCountry: 'KP' }), noHistory)).toEqual({ decision: 'review', rules_matched: ['rule_0'] });
    expect(evaluateRules(rules, facts({ billingCountry: 'KP' }), noHistory)).toEqual({ decision: 'block', rules_matched: ['rule_1'] });
    expect(evaluateRules(rules, facts(), noHistory)).toEqual({ decision: 'allow', rules_matched: ['rule_2'] });
    expect(evaluateRules({ rules: [] }, facts(), noHistory)).toEqual({ decision: 'allow', rules_matched: [] });
    expect(evaluateRules({ rules: rules.rules.slice(0, 2) }, facts(), noHistory)).toEqual({ decision: 'allow', rules_matched: [] });
  });

  // Zero to two conditions each, so that rules match often enough to tell the first from the others.
  const condition: fc.Arbitrary<RiskCondition> = fc
    .array(
      fc.oneof(
        fc.record({ amount_gte: fc.integer({ min: 1, max: 2000 }) }),
        fc.record({ amount_lt: fc.integer({ min: 1, max: 2000 }) }),
        fc.record({ currency: fc.constantFrom('USD', 'EUR') }),
        fc.record({ 'payment_method.type': fc.constantFrom(...PAYMENT_METHOD_TYPES) }),
        fc.record({ channel: fc.constantFrom(...CHANNELS) }),
        fc.record({ country_in: fc.subarray(['US', 'GB', 'NG'], { minLength: 1 }) }),
        fc.record({ email_domain_in: fc.subarray(['example.com', 'mailinator.com'], { minLength: 1 }) }),
        fc.record({ score_gte: fc.integer({ min: 0, max: 100 }) }),
        fc.record({ velocity: fc.record({ key: fc.constantFrom(...VELOCITY_KEYS), window_seconds: fc.constantFrom(60, 3600), count_gt: fc.integer({ min: 0, max: 5 }) }) }),
      ),
      { maxLength: 2 },
    )
    .map((parts): RiskCondition => Object.assign({}, ...parts));
  const rule: fc.Arbitrary<RiskRule> = fc.record({ if: condition, action: fc.constantFrom(...RISK_ACTIONS) });
  const paymentFacts: fc.Arbitrary<RiskFacts> = fc.record(
    {
      amount: fc.integer({ min: 1, max: 2000 }),
      currency: fc.constantFrom('USD', 'EUR'),
      method: fc.constantFrom(...PAYMENT_METHOD_TYPES),
      channel: fc.constantFrom(...CHANNELS),
      billingCountry: fc.constantFrom('US', 'GB', 'NG'),
      emailDomain: fc.constantFrom('example.com', 'mailinator.com'),
      score: fc.integer({ min: 0, max: 100 }),
      keys: fc.record({ client_ip: fc.constant('203.0.113.7'), customer_id: fc.constant('cus_1'), email: fc.constant('a@example.com') }, { requiredKeys: [] }),
    },
    { requiredKeys: ['amount', 'currency', 'method', 'channel', 'keys'] },
  );
  // Deterministic counts per window, as a database would answer.
  const history: VelocityCounts = (key: VelocityKey, window: number) => ({ count: 1 + ((key.length * window) % 7), sum: window });

  test('a trailing { if: {} } always decides, with exactly one rule named', () => {
    fc.assert(
      fc.property(fc.array(rule, { maxLength: 10 }), fc.constantFrom(...RISK_ACTIONS), paymentFacts, (rules, last, f) => {
        const list = [...rules, { if: {}, action: last }];
        const { decision, rules_matched } = evaluateRules({ rules: list }, f, history);
        expect(rules_matched).toHaveLength(1);
        const index = Number(rules_matched[0]!.replace('rule_', ''));
        expect(decision).toBe(list[index]!.action);
        if (index === rules.length) expect(decision).toBe(last);
      }),
    );
  });

  const at = (r: { rules_matched: string[] }) => (r.rules_matched.length ? Number(r.rules_matched[0]!.replace('rule_', '')) : undefined);

  test('rules after the first match are ignored', () => {
    let decidedByHead = 0;
    fc.assert(
      fc.property(fc.array(rule, { maxLength: 8 }), fc.array(rule, { maxLength: 8 }), fc.array(rule, { maxLength: 8 }), paymentFacts, (head, tail, other, f) => {
        const alone = evaluateRules({ rules: head }, f, history);
        const both = evaluateRules({ rules: [...head, ...tail] }, f, history);
        if (at(alone) !== undefined) {
          decidedByHead++;
          expect(both).toEqual(alone);
        } else {
          const inTail = evaluateRules({ rules: tail }, f, history);
          expect(at(both)).toBe(at(inTail) === undefined ? undefined : at(inTail)! + head.length);
          expect(both.decision).toBe(inTail.decision);
        }
        // Whatever follows the deciding rule can be replaced.
        const decided = at(both);
        if (decided !== undefined) expect(evaluateRules({ rules: [...head, ...tail].slice(0, decided + 1).concat(other) }, f, history)).toEqual(both);
      }),
      { numRuns: 300 },
    );
    expect(decidedByHead).toBeGreaterThan(30);
  });
});

describe('validation', () => {
  test('velocity needs exactly one of count_gt or sum_gt, reported at its path', () => {
    const rules = (velocity: object) => ({ rules: [{ if: {}, action: 'allow' }, { if: {}, action: 'allow' }, { if: { velocity }, action: 'block' }] });
    const expected = { path: 'rules.2.if.velocity', message: 'give exactly one of count_gt or sum_gt' };
    expect(firstIssue(rules({ key: 'client_ip', window_seconds: 600 }))).toEqual(expected);
    expect(firstIssue(rules({ key: 'client_ip', window_seconds: 600, count_gt: 5, sum_gt: 100 }))).toEqual(expected);
    expect(firstIssue(rules({ key: 'client_ip', window_seconds: 600, count_gt: 5 }))).toBeUndefined();
    expect(firstIssue(rules({ key: 'client_ip', window_seconds: 600, sum_gt: 0 }))).toBeUndefined();
  });

  test('an empty amount range is accepted, and never matches (JSON Schema cannot refuse it, so the API does not)', () => {
    for (const cond of [{ amount_gte: 5000, amount_lt: 5000 }, { amount_gte: 900, amount_lt: 500 }]) {
      expect(firstIssue({ rules: [{ if: cond, action: 'block' }] })).toBeUndefined();
      fc.assert(fc.property(fc.integer({ min: 1, max: 99_999_999_999 }), (amount) => !one(cond, { amount })));
    }
  });

  test('each mistake is refused with its path', () => {
    const v = { key: 'email', window_seconds: 60, count_gt: 1 };
    const cases: [object, string, RegExp][] = [
      [{ amount_gte: 0 }, 'rules.0.if.amount_gte', /positive/],
      [{ reference_amount_lt: -5 }, 'rules.0.if.reference_amount_lt', /positive/],
      [{ ip_country_in: ['EU'] }, 'rules.0.if.ip_country_in.0', /ISO 3166-1 alpha-2/],
      [{ amount_gte: 10.5 }, 'rules.0.if.amount_gte', /integer/],
      [{ currency: 'ABC' }, 'rules.0.if.currency', /unknown currency/],
      [{ 'payment_method.type': 'paypal' }, 'rules.0.if.payment_method.type', /card/],
      [{ channel: 'kiosk' }, 'rules.0.if.channel', /web/],
      [{ country_in: ['US', 'UK'] }, 'rules.0.if.country_in.1', /ISO 3166-1 alpha-2/],
      [{ country_in: [] }, 'rules.0.if.country_in', /at least one country/],
      [{ email_domain_in: ['@example.com'] }, 'rules.0.if.email_domain_in.0', /email domain/],
      [{ email_domain_in: ['localhost'] }, 'rules.0.if.email_domain_in.0', /email domain/],
      [{ score_gte: 101 }, 'rules.0.if.score_gte', /0 to 100/],
      [{ velocity: { ...v, key: 'device' } }, 'rules.0.if.velocity.key', /client_ip/],
      [{ velocity: { ...v, window_seconds: 0 } }, 'rules.0.if.velocity.window_seconds', /at least 1/],
      [{ velocity: { ...v, window_seconds: MAX_WINDOW_SECONDS + 1 } }, 'rules.0.if.velocity.window_seconds', /30 days/],
      [{ velocity: { ...v, count_gt: -1 } }, 'rules.0.if.velocity.count_gt', /at least 0/],
      // Past 2^53 the number parsed is not the one sent: bounded in the document, refused as too large.
      [{ velocity: { ...v, count_gt: undefined, sum_gt: 2 ** 61 } }, 'rules.0.if.velocity.sum_gt', /at most 99999999999/],
      [{ velocity: { ...v, period: 60 } }, 'rules.0.if.velocity.period', /Unrecognized/],
      [{ amount_gt: 100 }, 'rules.0.if.amount_gt', /Unrecognized/],
    ];
    for (const [cond, path, message] of cases) {
      const issue = firstIssue({ rules: [{ if: cond, action: 'block' }] });
      expect({ cond, path: issue?.path }).toEqual({ cond, path });
      expect(issue!.message).toMatch(message);
    }
    expect(firstIssue({ rules: [{ if: {}, action: 'deny' }] })?.path).toBe('rules.0.action');
    expect(firstIssue({ rules: [{ action: 'block' }] })?.path).toBe('rules.0.if');
    expect(firstIssue({ rules: [{ if: {}, action: 'block', id: 'x' }] })?.path).toBe('rules.0.id');
    expect(firstIssue({ rules: [], default: 'allow' })?.path).toBe('default');
    expect(firstIssue({})?.path).toBe('rules');
    expect(firstIssue({ rules: Array.from({ length: 51 }, () => ({ if: {}, action: 'allow' })) })).toEqual({ path: 'rules', message: 'at most 50 rules' });
    expect(firstIssue({ rules: Array.from({ length: 50 }, () => ({ if: {}, action: 'allow' })) })).toBeUndefined();
  });

  test('input in any case comes out normalized', () => {
    const body = { rules: [{ if: { currency: 'jpy', country_in: ['jp'], email_domain_in: ['Example.CO.JP'], velocity: { key: 'fingerprint', window_seconds: 86_400, sum_gt: 0 } }, action: 'review' }] };
    expect(RiskRulesBody.parse(body).rules[0]!.if).toEqual({
      currency: 'JPY', country_in: ['JP'], email_domain_in: ['example.co.jp'], velocity: { key: 'fingerprint', window_seconds: 86_400, sum_gt: 0 },
    });
  });

  test('the schema documents itself as the RiskRules component', () => {
    const registry = new OpenAPIRegistry();
    registry.register('RiskRules', RiskRulesBody);
    const doc = new OpenApiGeneratorV31(registry.definitions).generateDocument({ openapi: '3.1.0', info: { title: 't', version: '1' } });
    const schema = JSON.stringify(doc.components?.schemas?.RiskRules);
    expect(schema).toContain('"window_seconds"');
    expect(schema).toContain('billing_details');
    expect(doc.components?.schemas?.RiskRules).toMatchObject({ additionalProperties: false, required: ['rules'] });
  });
});

test('velocityWindows lists each key and window once, in rule order', () => {
  const v = (key: VelocityKey, window_seconds: number, t: { count_gt: number } | { sum_gt: number }) => ({ if: { velocity: { key, window_seconds, ...t } }, action: 'block' as const });
  const rules: RiskRules = {
    rules: [v('client_ip', 600, { count_gt: 5 }), { if: { amount_gte: 10 }, action: 'review' }, v('email', 600, { count_gt: 3 }), v('client_ip', 600, { sum_gt: 10_000 }), v('client_ip', 3600, { count_gt: 20 })],
  };
  expect(velocityWindows(rules)).toEqual([
    { key: 'client_ip', window_seconds: 600 },
    { key: 'email', window_seconds: 600 },
    { key: 'client_ip', window_seconds: 3600 },
  ]);
  expect(velocityWindows({ rules: [] })).toEqual([]);
});

describe('defaults', () => {
  test('are valid rules, unchanged by the schema, and need one count: card payments per IP in the last hour', () => {
    expect(RiskRulesBody.parse(DEFAULT_RISK_RULES)).toEqual(DEFAULT_RISK_RULES);
    expect(velocityWindows(DEFAULT_RISK_RULES)).toEqual([{ key: 'client_ip', window_seconds: 3600 }]);
  });

  test('let ordinary test payments through, whatever their method, channel, currency or history', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 250_000 }), fc.constantFrom('USD', 'EUR', 'GBP', 'JPY', 'CNY', 'ISK', 'KWD'), fc.constantFrom(...PAYMENT_METHOD_TYPES), fc.constantFrom(...CHANNELS),
        fc.integer({ min: 1, max: 20 }), fc.boolean(),
        (amount, currency, method, channel, count, withIp) => {
          const keys = { customer_id: 'cus_1', email: 'jenny@example.com', fingerprint: 'Xt5EWLLDS7FJjR1c', ...(withIp ? { client_ip: '127.0.0.1' } : {}) };
          const f: RiskFacts = { amount, currency, method, channel, billingCountry: 'US', emailDomain: 'example.com', keys };
          expect(evaluateRules(DEFAULT_RISK_RULES, f, () => ({ count, sum: count * amount }))).toEqual({ decision: 'allow', rules_matched: [] });
        },
      ),
    );
  });

  test('block the 21st card payment from one IP in an hour, large card payments go to review, high scores are acted on', () => {
    const ip = { keys: { client_ip: '198.51.100.4' } };
    expect(evaluateRules(DEFAULT_RISK_RULES, facts(ip), () => ({ count: 20, sum: 0 })).decision).toBe('allow');
    expect(evaluateRules(DEFAULT_RISK_RULES, facts(ip), () => ({ count: 21, sum: 0 })).decision).toBe('block');
    expect(evaluateRules(DEFAULT_RISK_RULES, facts({ ...ip, method: 'alipay', currency: 'CNY' }), () => ({ count: 21, sum: 0 })).decision).toBe('allow');
    expect(evaluateRules(DEFAULT_RISK_RULES, facts({ amount: 1_000_000 }), noHistory).decision).toBe('review');
    expect(evaluateRules(DEFAULT_RISK_RULES, facts({ amount: 1_000_000, method: 'bank_transfer', channel: 'web' }), noHistory).decision).toBe('allow');
    // Other currencies by their reference value: 1.5 million ISK is about 10 800 USD; without a rate, no match.
    expect(evaluateRules(DEFAULT_RISK_RULES, facts({ amount: 150_000_000, currency: 'ISK', referenceAmount: 1_080_000 }), noHistory).decision).toBe('review');
    expect(evaluateRules(DEFAULT_RISK_RULES, facts({ amount: 150_000_000, currency: 'ISK', referenceAmount: 999_999 }), noHistory).decision).toBe('allow');
    expect(evaluateRules(DEFAULT_RISK_RULES, facts({ amount: 150_000_000, currency: 'ISK' }), noHistory).decision).toBe('allow');
    expect(evaluateRules(DEFAULT_RISK_RULES, facts({ score: 95, amount: 1_000_000 }), noHistory).decision).toBe('block');
    expect(evaluateRules(DEFAULT_RISK_RULES, facts({ score: 80 }), noHistory).decision).toBe('review');
    expect(evaluateRules(DEFAULT_RISK_RULES, facts({ score: 74 }), noHistory).decision).toBe('allow');
  });
});

describe('the sliding window', () => {
  const MS = 1000;
  test('starts exclusive and ends inclusive: a payment exactly window_seconds old has left it', () => {
    const now = 1_790_000_000_000;
    expect(windowStart(now, 600)).toBe(now - 600 * MS);
    expect(inWindow(now - 600 * MS, now, 600)).toBe(false);
    expect(inWindow(now - 600 * MS + 1, now, 600)).toBe(true);
    expect(inWindow(now, now, 600)).toBe(true);
    expect(inWindow(now + 1, now, 600)).toBe(false);
  });

  const times = fc.array(fc.integer({ min: 0, max: 40 * 86_400 * MS }), { maxLength: 60 }).map((t) => t.sort((a, b) => a - b));
  const window = fc.integer({ min: 1, max: MAX_WINDOW_SECONDS });

  test('counting with inWindow equals the brute-force definition: at most window_seconds old, not after now', () => {
    fc.assert(
      fc.property(times, window, fc.integer({ min: 0, max: 40 * 86_400 * MS }), (ats, seconds, now) => {
        const brute = ats.filter((at) => now - at < seconds * MS && now - at >= 0).length;
        expect(ats.filter((at) => inWindow(at, now, seconds)).length).toBe(brute);
      }),
    );
    // Boundaries drawn on purpose: each payment is judged at its own time and at its time plus the window.
    fc.assert(
      fc.property(times, window, (ats, seconds) => {
        for (const at of ats) {
          expect(inWindow(at, at, seconds)).toBe(true);
          expect(inWindow(at, at + seconds * MS, seconds)).toBe(false);
          expect(inWindow(at, at + seconds * MS - 1, seconds)).toBe(true);
        }
      }),
    );
  });

  test('counted with inWindow, "more than k in the window" blocks exactly when more than k payments, this one included, are under window_seconds old', () => {
    fc.assert(
      fc.property(times, window, fc.integer({ min: 0, max: 10 }), (earlier, seconds, k) => {
        const now = (earlier.at(-1) ?? 0) + 1;
        const ats = [...earlier, now]; // this payment, recorded before counting
        const rules: RiskRules = { rules: [{ if: { velocity: { key: 'client_ip', window_seconds: seconds, count_gt: k } }, action: 'block' }] };
        const counts: VelocityCounts = (_key, w) => {
          const inside = ats.filter((at) => inWindow(at, now, w));
          return { count: inside.length, sum: 0 };
        };
        const recent = ats.filter((at) => now - at < seconds * MS).length;
        expect(evaluateRules(rules, facts({ keys: { client_ip: '203.0.113.7' } }), counts).decision).toBe(recent > k ? 'block' : 'allow');
      }),
    );
  });

  test('a longer window never counts fewer payments', () => {
    fc.assert(
      fc.property(times, window, window, fc.integer({ min: 0, max: 40 * 86_400 * MS }), (ats, a, b, now) => {
        const [short, long] = a <= b ? [a, b] : [b, a];
        const count = (s: number) => ats.filter((at) => inWindow(at, now, s)).length;
        expect(count(long)).toBeGreaterThanOrEqual(count(short));
      }),
    );
  });
});

test('emailDomain: the lower-case domain after the last @, or undefined', () => {
  expect(emailDomain('Jenny.Rosen@Example.COM')).toBe('example.com');
  expect(emailDomain('"a@b"@mail.example.org')).toBe('mail.example.org');
  expect(emailDomain('jenny@example.com.')).toBe('example.com');
  expect(['jenny', 'jenny@', '', null, undefined].map(emailDomain)).toEqual([undefined, undefined, undefined, undefined, undefined]);
});
