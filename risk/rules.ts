import { Amount, anyCase, Currency, z } from '../api/schemas/common';
import type { Channel, PaymentMethodType } from '../domain/payment';
import { MAX_AMOUNT } from '../domain/money';
import { CHANNELS, PAYMENT_METHOD_TYPES } from '../domain/payment';

/**
 * A merchant's risk rules, evaluated before a payment is authorized. Pure: the caller counts
 * velocity in PostgreSQL (`velocityWindows` says what) and passes the clock in.
 */

export const RISK_ACTIONS = ['allow', 'review', 'block'] as const;
export type RiskAction = (typeof RISK_ACTIONS)[number];

export const VELOCITY_KEYS = ['client_ip', 'customer_id', 'email', 'fingerprint'] as const;
export type VelocityKey = (typeof VELOCITY_KEYS)[number];

export const MAX_RISK_RULES = 50;
export const MAX_WINDOW_SECONDS = 30 * 86_400;

/**
 * ISO 3166-1 alpha-2 codes officially assigned, plus XK: not assigned, but what card networks and
 * Stripe put in Kosovo billing addresses. Withdrawn or reserved codes (UK, EU, AN, YU…) are refused
 * rather than silently never matching.
 */
const COUNTRIES = new Set(
  ('AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR ' +
    'CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT ' +
    'HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO ' +
    'MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE ' +
    'SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE ' +
    'YT ZA ZM ZW').split(' '),
);

// Labels of letters, digits and inner hyphens (punycode included), at least two of them.
const DOMAIN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

const Country = z
  .string()
  .transform((c) => c.toUpperCase())
  .refine((c) => COUNTRIES.has(c), { error: 'not an ISO 3166-1 alpha-2 country code' })
  .openapi('CountryCode', {
    type: 'string', pattern: `^(?:${[...COUNTRIES].map(anyCase).join('|')})$`, description: 'ISO 3166-1 alpha-2, any case on input, upper case on output.', example: 'US',
  });

const Domain = z
  .string()
  .max(253)
  .regex(DOMAIN, { error: 'not an email domain (such as example.com, without @)' })
  .transform((d) => d.toLowerCase())
  .openapi({ type: 'string', maxLength: 253, pattern: DOMAIN.source, description: 'Any case on input, lower case on output.', example: 'example.com' });

// Bounded as amounts are (past 2^53 a JSON number is not the one sent); the upper bound is checked first so that is what a too-large one is told.
const Threshold = z
  .number()
  .max(MAX_AMOUNT, { error: `must be at most ${MAX_AMOUNT}` })
  .int({ error: 'must be a whole number (payments, or minor units)' })
  .min(0, { error: 'must be at least 0' });

const Velocity = z
  .strictObject({
    key: z.enum(VELOCITY_KEYS).openapi({ description: '`fingerprint`: the card\'s fingerprint. A payment without a value for the key never matches.' }),
    window_seconds: z
      .number()
      .int({ error: 'window_seconds must be a whole number of seconds' })
      .min(1, { error: 'window_seconds is at least 1' })
      .max(MAX_WINDOW_SECONDS, { error: `window_seconds is at most 30 days (${MAX_WINDOW_SECONDS})` }),
    count_gt: Threshold.optional().openapi({ description: 'Matches when more payments than this share the key in the window, this one included.' }),
    sum_gt: Threshold.optional().openapi({ description: 'Matches when their amounts in this payment\'s currency (minor units) add up to more than this, this one included.' }),
  })
  .refine((v) => (v.count_gt === undefined) !== (v.sum_gt === undefined), { error: 'give exactly one of count_gt or sum_gt' })
  .openapi({
    oneOf: [{ required: ['count_gt'] }, { required: ['sum_gt'] }],
    description: 'This merchant\'s payments in this mode sharing this payment\'s value of `key` within the last `window_seconds`.',
  });

const Condition = z
  .strictObject({
    amount_gte: Amount.optional(),
    amount_lt: Amount.optional(),
    reference_amount_gte: Amount.optional()
      .openapi({ description: 'The amount converted at the mid rate to the reference currency (RISK_REFERENCE_CURRENCY, USD by default), in its minor units. Never matches when no fresh rate converts it.' }),
    reference_amount_lt: Amount.optional(),
    currency: Currency.optional(),
    'payment_method.type': z.enum(PAYMENT_METHOD_TYPES).optional(),
    channel: z.enum(CHANNELS).optional(),
    country_in: z.array(Country).min(1, { error: 'name at least one country' }).max(250).optional()
      .openapi({ description: 'Matches the billing country (`payment_method.billing_details.address.country`).' }),
    ip_country_in: z.array(Country).min(1, { error: 'name at least one country' }).max(250).optional()
      .openapi({ description: 'Matches the country of `client_ip` (GeoLite2 data); never matches a payment without one, or an address with no known country.' }),
    email_domain_in: z.array(Domain).min(1, { error: 'name at least one domain' }).max(500).optional()
      .openapi({ description: 'Matches the domain of `receipt_email` exactly (a subdomain is another domain).' }),
    score_gte: z.number().min(0, { error: 'score_gte is 0 to 100' }).max(100, { error: 'score_gte is 0 to 100' }).optional()
      .openapi({ description: 'The external scorer\'s score (0–100); never matches a payment that has none.' }),
    velocity: Velocity.optional(),
  })
  .openapi({
    description: 'Every condition given must hold; an empty `if` always holds (and a range with `amount_gte` ≥ `amount_lt` never does). '
      + 'Amounts are in the payment\'s minor units, reference amounts in the reference currency\'s.',
  });

const Rule = z.strictObject({
  if: Condition,
  action: z.enum(RISK_ACTIONS),
});

export const RiskRulesBody = z
  .strictObject({
    rules: z.array(Rule).max(MAX_RISK_RULES, { error: `at most ${MAX_RISK_RULES} rules` })
      .openapi({ description: 'The first rule whose conditions all hold decides; none matching allows the payment.' }),
  })
  .openapi('RiskRules');

export type RiskRules = z.infer<typeof RiskRulesBody>;
export type RiskRule = RiskRules['rules'][number];
export type RiskCondition = RiskRule['if'];
export type VelocityCondition = NonNullable<RiskCondition['velocity']>;

/** What the rules look at, for one payment. `keys`: its values of the velocity keys (absent: none). */
export type RiskFacts = {
  amount: number;
  /** The amount in the reference currency's minor units, when a fresh rate converts it. */
  referenceAmount?: number;
  currency: string;
  method: PaymentMethodType;
  channel: Channel;
  billingCountry?: string;
  /** Where `client_ip` is, when known. */
  ipCountry?: string;
  emailDomain?: string;
  score?: number;
  keys: Partial<Record<VelocityKey, string>>;
};

/**
 * This merchant's payments in this mode sharing this payment's value of `key`, `inWindow` of this
 * payment's time, THIS PAYMENT INCLUDED (record it before counting): their count, whatever their
 * status (a declined card-testing attempt is still an attempt), and the sum of their amounts.
 * Minor units of different currencies do not add up: sum only those in this payment's currency.
 * undefined: the payment has no value for `key` (the condition does not match).
 */
export type VelocityCounts = (key: VelocityKey, windowSeconds: number) => { count: number; sum: number } | undefined;

/** The velocity conditions the rules use, deduplicated: what the caller must count (in PostgreSQL) before evaluating. */
export function velocityWindows(rules: RiskRules): { key: VelocityKey; window_seconds: number }[] {
  const seen = new Map<string, { key: VelocityKey; window_seconds: number }>();
  for (const { if: cond } of rules.rules) {
    if (!cond.velocity) continue;
    const { key, window_seconds } = cond.velocity;
    seen.set(`${key}:${window_seconds}`, { key, window_seconds });
  }
  return [...seen.values()];
}

/** The conditions any of the rules uses (`amount_gte`, `ip_country_in`…): what is worth looking up before evaluating. */
export function conditionsUsed(rules: RiskRules): Set<keyof RiskCondition> {
  return new Set(rules.rules.flatMap((r) => Object.keys(r.if) as (keyof RiskCondition)[]));
}

function velocityHolds(v: VelocityCondition, facts: RiskFacts, velocity: VelocityCounts): boolean {
  if (!facts.keys[v.key]) return false;
  const counted = velocity(v.key, v.window_seconds);
  if (!counted) return false;
  return v.count_gt !== undefined ? counted.count > v.count_gt : counted.sum > v.sum_gt!;
}

function holds(cond: RiskCondition, facts: RiskFacts, velocity: VelocityCounts): boolean {
  const country = facts.billingCountry?.toUpperCase();
  const domain = facts.emailDomain?.toLowerCase();
  return (
    (cond.amount_gte === undefined || facts.amount >= cond.amount_gte) &&
    (cond.amount_lt === undefined || facts.amount < cond.amount_lt) &&
    (cond.reference_amount_gte === undefined || (facts.referenceAmount !== undefined && facts.referenceAmount >= cond.reference_amount_gte)) &&
    (cond.reference_amount_lt === undefined || (facts.referenceAmount !== undefined && facts.referenceAmount < cond.reference_amount_lt)) &&
    (cond.currency === undefined || cond.currency === facts.currency.toUpperCase()) &&
    (cond['payment_method.type'] === undefined || cond['payment_method.type'] === facts.method) &&
    (cond.channel === undefined || cond.channel === facts.channel) &&
    (cond.country_in === undefined || (country !== undefined && cond.country_in.includes(country))) &&
    (cond.ip_country_in === undefined || (facts.ipCountry !== undefined && cond.ip_country_in.includes(facts.ipCountry.toUpperCase()))) &&
    (cond.email_domain_in === undefined || (domain !== undefined && cond.email_domain_in.includes(domain))) &&
    (cond.score_gte === undefined || (facts.score !== undefined && facts.score >= cond.score_gte)) &&
    // Last: the only condition that asks the caller's counts.
    (cond.velocity === undefined || velocityHolds(cond.velocity, facts, velocity))
  );
}

/** The name a payment records for the rule that decided it. */
export const riskRuleId = (index: number): string => `rule_${index}`;

/** The first rule whose conditions all hold decides; none: allow. `rules` as RiskRulesBody outputs them. */
export function evaluateRules(rules: RiskRules, facts: RiskFacts, velocity: VelocityCounts): { decision: RiskAction; rules_matched: string[] } {
  const index = rules.rules.findIndex((r) => holds(r.if, facts, velocity));
  if (index < 0) return { decision: 'allow', rules_matched: [] };
  return { decision: rules.rules[index]!.action, rules_matched: [riskRuleId(index)] };
}

/**
 * A new merchant's rules. Blocks come first: with first-match, a review placed above a block
 * would let the blocked payment through to review.
 */
export const DEFAULT_RISK_RULES: RiskRules = {
  rules: [
    // Card testing: one machine trying many cards. Card only, so that a shop's wallet QR orders behind one NAT are not caught;
    // a payment without client_ip (most server-to-server and test payments) never matches.
    { if: { 'payment_method.type': 'card', velocity: { key: 'client_ip', window_seconds: 3600, count_gt: 20 } }, action: 'block' },
    // Only when an external scorer is configured: near-certain fraud is blocked, likely fraud reviewed.
    { if: { score_gte: 90 }, action: 'block' },
    { if: { score_gte: 75 }, action: 'review' },
    // Large card payments (about 10 000 USD) are reviewed whoever pays: "first-time" cannot be told from the counts, which
    // include failed attempts, so a fraudster's second try would pass as a returning customer. Wallets and bank transfers
    // are authenticated by the payer's own wallet or bank. Other currencies have no default threshold.
    { if: { 'payment_method.type': 'card', currency: 'USD', amount_gte: 1_000_000 }, action: 'review' },
    { if: { 'payment_method.type': 'card', currency: 'EUR', amount_gte: 1_000_000 }, action: 'review' },
    { if: { 'payment_method.type': 'card', currency: 'GBP', amount_gte: 1_000_000 }, action: 'review' },
    { if: { 'payment_method.type': 'card', currency: 'JPY', amount_gte: 1_500_000 }, action: 'review' },
    { if: { 'payment_method.type': 'card', currency: 'CNY', amount_gte: 7_000_000 }, action: 'review' },
    // Any other currency, by its value in the reference currency (10 000 with the default USD reference) where a rate converts it.
    { if: { 'payment_method.type': 'card', reference_amount_gte: 1_000_000 }, action: 'review' },
  ],
};

/**
 * The sliding window for a payment at `nowMs`: earlier payments count when `at > windowStart`
 * (a payment exactly `window_seconds` old has left the window) and `at <= nowMs` (one stamped
 * later, by another process's clock, belongs to that payment's own window). In SQL:
 * `created_at > $start AND created_at <= $now`.
 */
export function windowStart(nowMs: number, windowSeconds: number): number {
  return nowMs - windowSeconds * 1000;
}

export function inWindow(atMs: number, nowMs: number, windowSeconds: number): boolean {
  return atMs > windowStart(nowMs, windowSeconds) && atMs <= nowMs;
}

/** The domain of an email, lower-case, or undefined. The last `@` splits: a quoted local part may hold one. */
export function emailDomain(email: string | null | undefined): string | undefined {
  if (!email) return undefined;
  const at = email.lastIndexOf('@');
  if (at < 0) return undefined;
  const domain = email.slice(at + 1).trim().toLowerCase().replace(/\.$/, '');
  return domain || undefined;
}
