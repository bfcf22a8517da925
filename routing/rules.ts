import { createHash } from 'node:crypto';
import type { Channel, PaymentMethodType, ProviderName, RoutingDecision } from '../domain/payment';

/** A merchant's routing document for one mode, as `POST /v1/routing` takes it (already validated). */
export type RoutingConfig = {
  rules: RoutingRule[];
  fees: Partial<Record<ProviderName, Partial<Record<PaymentMethodType, FeeSchedule>>>>;
  default: Partial<Record<PaymentMethodType, ProviderName[]>>;
};

export type RoutingCondition = {
  'payment_method.type'?: PaymentMethodType;
  currency?: string;
  amount_gte?: number;
  amount_lt?: number;
  channel?: Channel;
};

export type RoutingRule = { id?: string; if: RoutingCondition } & (
  | { providers: ProviderName[]; strategy?: 'priority' | 'lowest_fee'; split?: undefined }
  | { split: { provider: ProviderName; weight: number }[]; providers?: undefined; strategy?: undefined }
);

/** Percent of the amount plus a fixed amount per currency (minor units). */
export type FeeSchedule = { percent: number; fixed?: Record<string, number> };

export type PaymentFacts = { id: string; amount: number; currency: string; method: PaymentMethodType; channel: Channel };

/** The name a payment records for the rule that chose its provider. */
export const ruleName = (rule: RoutingRule, index: number): string => rule.id ?? `rules[${index}]`;

export function matches(cond: RoutingCondition, p: PaymentFacts): boolean {
  return (
    (cond['payment_method.type'] === undefined || cond['payment_method.type'] === p.method) &&
    (cond.currency === undefined || cond.currency === p.currency) &&
    (cond.amount_gte === undefined || p.amount >= cond.amount_gte) &&
    (cond.amount_lt === undefined || p.amount < cond.amount_lt) &&
    (cond.channel === undefined || cond.channel === p.channel)
  );
}

/** What a provider charges for this payment, in its minor units; undefined when its schedule does not say. */
export function feeOf(config: Pick<RoutingConfig, 'fees'>, provider: ProviderName, p: Pick<PaymentFacts, 'amount' | 'currency' | 'method'>): number | undefined {
  const schedule = config.fees[provider]?.[p.method];
  if (!schedule) return undefined;
  return Math.round((p.amount * schedule.percent) / 100) + (schedule.fixed?.[p.currency] ?? 0);
}

/**
 * A point in [0, total) fixed by the payment id: the same payment lands on the same provider
 * on every retry, and over many payments each provider gets its weight's share.
 */
export function splitPoint(paymentId: string, total: number): number {
  return createHash('sha256').update(paymentId).digest().readUInt32BE(0) % total;
}

function splitOrder(split: { provider: ProviderName; weight: number }[], paymentId: string): ProviderName[] {
  const total = split.reduce((sum, s) => sum + s.weight, 0);
  let point = splitPoint(paymentId, total);
  const chosen = split.find((s) => (point -= s.weight) < 0)!.provider;
  // The others follow by weight, as fallbacks if the chosen one cannot take the payment.
  const rest = [...split].filter((s) => s.provider !== chosen).sort((a, b) => b.weight - a.weight).map((s) => s.provider);
  return [chosen, ...rest];
}

/**
 * Where a payment goes: the first rule that matches decides the order of candidates; with none,
 * the merchant's default list for the method, else the built-in one. Candidates that cannot serve
 * it (not configured in this mode, or refusing its shape) are dropped; none left means no route.
 */
export function route(
  config: RoutingConfig | undefined,
  p: PaymentFacts,
  builtIn: ProviderName[],
  canServe: (provider: ProviderName) => boolean,
): RoutingDecision {
  const serving = (list: ProviderName[]) => [...new Set(list)].filter(canServe);
  const index = config?.rules.findIndex((r) => matches(r.if, p)) ?? -1;
  const rule = index >= 0 ? config!.rules[index]! : undefined;
  if (rule?.split) return { rule: ruleName(rule, index), strategy: 'split', candidates: serving(splitOrder(rule.split, p.id)) };
  if (rule?.strategy === 'lowest_fee') {
    const fee = (provider: ProviderName) => feeOf(config!, provider, p) ?? Number.POSITIVE_INFINITY;
    // A stable sort: equal fees keep the rule's order.
    const cheapest = [...rule.providers].sort((a, b) => fee(a) - fee(b));
    return { rule: ruleName(rule, index), strategy: 'lowest_fee', candidates: serving(cheapest) };
  }
  if (rule) return { rule: ruleName(rule, index), strategy: 'priority', candidates: serving(rule.providers) };
  return { rule: 'default', strategy: 'default', candidates: serving(config?.default[p.method] ?? builtIn) };
}
