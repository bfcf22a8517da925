import { createHash, createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from 'pg';
import { inTransaction, prepared } from '../db/pool';
import { signPayload } from '../domain/signature';
import type { Channel, PaymentMethodType, ProviderName } from '../domain/payment';
import type { RiskAction, RiskRules, VelocityKey } from '../risk/rules';
import { ipCountryOf } from '../risk/geoip';
import { DEFAULT_RISK_RULES, conditionsUsed, emailDomain, evaluateRules, velocityWindows } from '../risk/rules';
import type { Metrics } from '../runtime/metrics';

/** What a payment offers the risk check: its attributes, and the values velocity is counted by. */
export type RiskInput = {
  paymentId: string;
  merchantId: string;
  livemode: boolean;
  amount: number;
  currency: string;
  method: PaymentMethodType;
  channel: Channel;
  createdAt: string;
  customerId: string | null;
  receiptEmail: string | null;
  clientIp?: string;
  billingCountry?: string;
  /** The payment method token: the provider names its card's fingerprint (never stored itself). */
  token?: string;
  /** The provider the payment goes to first: the one asked for the card's fingerprint. */
  provider?: ProviderName;
};

export type RiskAssessment = { score?: number; decision: RiskAction; rules_matched: string[] };

/**
 * `hashKey`: a server secret: velocity only needs equality, so addresses and emails are kept as keyed hashes (a plain hash of an IPv4 address is reversed in minutes).
 * `referenceAmount`: the amount in the reference currency's minor units, or undefined without a fresh rate.
 * `cardFingerprint`: the provider's fingerprint of the card behind a token.
 */
export type RiskDeps = {
  pool: Pool;
  hashKey: string;
  metrics?: Metrics;
  scorer?: { url: string; secret: string; timeoutMs: number };
  referenceAmount?: (amount: number, currency: string) => Promise<number | undefined>;
  cardFingerprint?: (provider: ProviderName, livemode: boolean, token: string) => Promise<string | undefined>;
};

/** Rows older than the longest window (30 days) count for nothing: dropped as their key is counted again. */
const KEEP_DAYS = 30;
/** How long the provider may take to name a card's fingerprint before the token's hash stands in. */
const FINGERPRINT_TIMEOUT_MS = 3000;


/** The velocity hash key, derived from the payload keys every worker shares (a rotation starts the windows afresh). */
export const riskHashKey = (config: { PAYLOAD_ENCRYPTION_KEYS?: string }): string =>
  createHash('sha256').update(`risk-velocity:${config.PAYLOAD_ENCRYPTION_KEYS?.split(',')[0] ?? ''}`).digest('hex');

/** The merchant's rules in this mode, or the defaults. */
export async function riskRulesOf(pool: Pool, merchantId: string, livemode: boolean): Promise<RiskRules> {
  const { rows } = await pool.query<{ rules: RiskRules }>(prepared('SELECT rules FROM risk_rules WHERE merchant_id = $1 AND livemode = $2', [merchantId, livemode]));
  return rows[0]?.rules ?? DEFAULT_RISK_RULES;
}

export function createRiskActivities({ pool, hashKey, metrics, scorer, referenceAmount, cardFingerprint }: RiskDeps) {
  const keyHash = (key: VelocityKey, value: string): string => createHmac('sha256', hashKey).update(`${key}:${value}`).digest('hex');

  /** The external scorer's opinion, if it answers in time; otherwise the rules decide alone. */
  async function externalScore(input: RiskInput, ipCountry: string | undefined): Promise<number | undefined> {
    if (!scorer) return undefined;
    const body = JSON.stringify({
      payment_id: input.paymentId, livemode: input.livemode, amount: input.amount, currency: input.currency, payment_method_type: input.method, channel: input.channel,
      customer_id: input.customerId, email_domain: emailDomain(input.receiptEmail) ?? null, client_ip: input.clientIp ?? null, billing_country: input.billingCountry ?? null,
      ip_country: ipCountry ?? null,
    });
    try {
      const res = await fetch(scorer.url, {
        method: 'POST', body, signal: AbortSignal.timeout(scorer.timeoutMs),
        headers: { 'content-type': 'application/json', 'risk-signature': signPayload(scorer.secret, body) },
      });
      if (!res.ok) return undefined;
      const { score } = (await res.json()) as { score?: unknown };
      return typeof score === 'number' && score >= 0 && score <= 100 ? score : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * The card's fingerprint as its provider knows it (Stripe: the PaymentMethod's `card.fingerprint`:
   * the same card number behind any token). Where the provider cannot say (unreachable, or no such
   * method), a hash of the token stands in: the same token, the same card.
   */
  async function fingerprintOf(input: RiskInput): Promise<string | undefined> {
    if (input.method !== 'card' || !input.token) return undefined;
    // Bounded well inside the local activity's timeout: a provider that hangs costs the lookup, never the payment.
    const asked = input.provider && cardFingerprint ? cardFingerprint(input.provider, input.livemode, input.token).catch(() => undefined) : undefined;
    const known = asked && (await Promise.race([asked, sleep(FINGERPRINT_TIMEOUT_MS).then(() => undefined)]));
    return known ?? createHash('sha256').update(`fingerprint:${input.token}`).digest('hex').slice(0, 16);
  }

  return {
    /**
     * Counts the payment into its velocity windows and evaluates the merchant's rules. The counts
     * are exact under concurrency: each key is locked while this payment is added and counted,
     * and a retry of the same payment adds nothing.
     */
    async evaluateRisk(input: RiskInput): Promise<RiskAssessment> {
      const rules = await riskRulesOf(pool, input.merchantId, input.livemode);
      const windows = velocityWindows(rules);
      // Asking the provider costs a call before every card payment: only while a rule counts fingerprints.
      const fingerprint = windows.some((w) => w.key === 'fingerprint') ? await fingerprintOf(input) : undefined;
      const keys: Partial<Record<VelocityKey, string>> = {
        ...(input.clientIp ? { client_ip: input.clientIp } : {}),
        ...(input.customerId ? { customer_id: input.customerId } : {}),
        ...(input.receiptEmail ? { email: input.receiptEmail.toLowerCase() } : {}),
        ...(fingerprint ? { fingerprint } : {}),
      };
      const counts = new Map<string, { count: number; sum: number }>();
      const at = new Date(input.createdAt);
      // Nothing to count by (no address, customer, email or card): no transaction at all.
      if (Object.keys(keys).length > 0) await inTransaction(pool, async (client) => {
        for (const [key, value] of Object.entries(keys) as [VelocityKey, string][]) {
          await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`risk:${input.merchantId}:${input.livemode}:${key}:${keyHash(key, value)}`]);
          await client.query(
            `INSERT INTO risk_velocity (payment_id, key_type, merchant_id, livemode, key_value, amount, currency, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
            [input.paymentId, key, input.merchantId, input.livemode, keyHash(key, value), input.amount, input.currency, at],
          );
          await client.query(
            `DELETE FROM risk_velocity WHERE merchant_id = $1 AND livemode = $2 AND key_type = $3 AND key_value = $4 AND at < now() - make_interval(days => $5)`,
            [input.merchantId, input.livemode, key, keyHash(key, value), KEEP_DAYS],
          );
        }
        for (const w of windows) {
          const value = keys[w.key];
          if (!value) continue;
          // Counts take every payment; sums only those in this payment's currency (minor units of two currencies do not add up).
          const { rows } = await client.query<{ count: number; sum: string }>(
            `SELECT count(*)::int AS count, COALESCE(sum(amount) FILTER (WHERE currency = $7), 0)::text AS sum FROM risk_velocity
             WHERE merchant_id = $1 AND livemode = $2 AND key_type = $3 AND key_value = $4 AND at > $5::timestamptz - make_interval(secs => $6)
               AND seq <= (SELECT seq FROM risk_velocity WHERE payment_id = $8 AND key_type = $3)`,
            [input.merchantId, input.livemode, w.key, keyHash(w.key, value), at, w.window_seconds, input.currency, input.paymentId],
          );
          counts.set(`${w.key}:${w.window_seconds}`, { count: rows[0]!.count, sum: Number(rows[0]!.sum) });
        }
      });
      // Looked up only when something reads them: a rule, or (the IP's country) the scorer.
      const uses = conditionsUsed(rules);
      const ipCountry = input.clientIp && (uses.has('ip_country_in') || scorer) ? ipCountryOf(input.clientIp) : undefined;
      const inReference = uses.has('reference_amount_gte') || uses.has('reference_amount_lt') ? await referenceAmount?.(input.amount, input.currency) : undefined;
      const score = await externalScore(input, ipCountry);
      const outcome = evaluateRules(rules, {
        amount: input.amount, currency: input.currency, method: input.method, channel: input.channel, keys,
        ...(inReference !== undefined ? { referenceAmount: inReference } : {}),
        ...(ipCountry ? { ipCountry } : {}),
        ...(input.billingCountry ? { billingCountry: input.billingCountry.toUpperCase() } : {}),
        ...(emailDomain(input.receiptEmail) ? { emailDomain: emailDomain(input.receiptEmail)! } : {}),
        ...(score !== undefined ? { score } : {}),
      }, (key, windowSeconds) => counts.get(`${key}:${windowSeconds}`));
      metrics?.riskDecisions.inc({ decision: outcome.decision, mode: input.livemode ? 'live' : 'test' });
      return { ...(score !== undefined ? { score } : {}), ...outcome };
    },
  };
}

export type RiskActivities = ReturnType<typeof createRiskActivities>;
