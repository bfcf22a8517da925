import { Router } from 'express';
import { findRouting, saveRouting } from '../../db/routing';
import { invalidRequest } from '../../domain/errors';
import { isKnownCurrency } from '../../domain/money';
import type { PaymentMethodType, ProviderName } from '../../domain/payment';
import { capabilityProblem, PROVIDER_METHODS } from '../../routing/capabilities';
import type { RoutingConfig } from '../../routing/rules';
import type { ApiContext } from '../context';
import { requireTenant } from '../middleware/auth';
import { parse } from '../middleware/errors';
import { RoutingConfigBody } from '../schemas/routing';

const unavailableInLive = (param: string) =>
  invalidRequest('The sandbox serves test mode only: a live rule must name providers that move real money.', param, 'provider_unavailable');

/**
 * What a schema cannot see: each provider named must take the rule's method and currency, the
 * sandbox appears in test mode only, and `lowest_fee` needs a fee schedule for each provider.
 */
export function checkRouting(config: RoutingConfig, livemode: boolean): void {
  const checkProvider = (provider: ProviderName, param: string, method?: PaymentMethodType, currency?: string) => {
    if (livemode && provider === 'sandbox') throw unavailableInLive(param);
    const problem = capabilityProblem(provider, method, currency);
    if (problem) throw invalidRequest(`Invalid ${param}: ${problem}.`, param, 'routing_invalid');
  };
  config.rules.forEach((rule, i) => {
    const method = rule.if['payment_method.type'];
    const { currency } = rule.if;
    rule.providers?.forEach((p, j) => checkProvider(p, `rules.${i}.providers.${j}`, method, currency));
    rule.split?.forEach((s, j) => checkProvider(s.provider, `rules.${i}.split.${j}.provider`, method, currency));
    if (rule.strategy === 'lowest_fee') {
      rule.providers!.forEach((p, j) => {
        const schedules = config.fees[p];
        const covered = method ? schedules?.[method] : schedules && Object.keys(schedules).length > 0;
        if (!covered) throw invalidRequest(`Invalid rules.${i}.providers.${j}: lowest_fee needs fees.${p}${method ? `.${method}` : ''}.`, `rules.${i}.providers.${j}`, 'routing_invalid');
      });
    }
  });
  for (const [method, providers] of Object.entries(config.default) as [PaymentMethodType, ProviderName[]][]) {
    providers.forEach((p, j) => checkProvider(p, `default.${method}.${j}`, method));
  }
  for (const [provider, byMethod] of Object.entries(config.fees) as [ProviderName, RoutingConfig['fees'][ProviderName]][]) {
    for (const [method, schedule] of Object.entries(byMethod ?? {}) as [PaymentMethodType, { fixed?: Record<string, number> }][]) {
      if (!PROVIDER_METHODS[provider].includes(method)) throw invalidRequest(`Invalid fees.${provider}.${method}: ${provider} does not take ${method} payments.`, `fees.${provider}.${method}`, 'routing_invalid');
      for (const currency of Object.keys(schedule.fixed ?? {})) {
        if (!isKnownCurrency(currency)) throw invalidRequest(`Invalid fees.${provider}.${method}.fixed: unknown currency ${currency}.`, `fees.${provider}.${method}.fixed.${currency}`, 'invalid_currency');
      }
    }
  }
}

/** Fixed fees keyed by upper-case currency, as amounts are. */
function normalized(config: RoutingConfig): RoutingConfig {
  const fees = Object.fromEntries(
    Object.entries(config.fees).map(([provider, byMethod]) => [
      provider,
      Object.fromEntries(Object.entries(byMethod ?? {}).map(([method, s]) => [
        method,
        { ...s, ...(s?.fixed ? { fixed: Object.fromEntries(Object.entries(s.fixed).map(([c, v]) => [c.toUpperCase(), v])) } : {}) },
      ])),
    ]),
  );
  return { ...config, fees };
}

const view = (livemode: boolean, r: Partial<RoutingConfig> & { updated_at: string | null }) => ({
  object: 'routing', livemode, rules: r.rules ?? [], fees: r.fees ?? {}, default: r.default ?? {}, updated_at: r.updated_at,
});

/** `GET/POST /v1/routing`: the merchant's routing rules for the key's mode; a POST replaces them whole. */
export function routingRouter(ctx: ApiContext): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    const tenant = requireTenant(req);
    res.json(view(tenant.livemode, (await findRouting(ctx.pool, tenant)) ?? { updated_at: null }));
  });
  router.post('/', async (req, res) => {
    const tenant = requireTenant(req);
    const config = normalized(parse(RoutingConfigBody, req.body) as RoutingConfig);
    checkRouting(config, tenant.livemode);
    res.json(view(tenant.livemode, await saveRouting(ctx.pool, tenant, config)));
  });
  return router;
}
