import type { Channel, CaptureMethod, PaymentMethodType, ProviderName, RoutingDecision } from '../domain/payment';
import type { PaymentProblem } from '../providers/provider';
import type { Providers } from '../runtime/providers';
import { providerFor, providersOfMode } from '../runtime/providers';
import type { PaymentFacts, RoutingConfig } from './rules';
import { route } from './rules';

/** The provider each method goes to without rules, when configured in the payment's mode; else the sandbox (test mode only). */
const PREFERRED: Partial<Record<PaymentMethodType, ProviderName>> = { card: 'stripe', alipay: 'alipay', wechat_pay: 'wechat_pay', bank_transfer: 'bank' };

export type RouteRequest = Omit<PaymentFacts, 'id'> & { captureMethod: CaptureMethod; channel: Channel; forced?: ProviderName; livemode: boolean; hasToken: boolean };

/** Why a payment cannot be routed: answered as a 400 before anything is written. */
export type RouteRefusal = PaymentProblem;

/**
 * Plans where a payment goes, before anything is written: a refusal (no provider in this mode
 * can take it), or the decision for a given payment id (a split is fixed by the id).
 */
export function planRoute(providers: Providers, config: RoutingConfig | undefined, req: RouteRequest): RouteRefusal | ((paymentId: string) => RoutingDecision) {
  const mode = req.livemode ? 'live' : 'test';
  const configured = providersOfMode(providers, req.livemode);
  const problemAt = (p: ProviderName) =>
    providerFor(providers, p, req.livemode)?.problemWith?.({ amount: req.amount, currency: req.currency, methodType: req.method, captureMethod: req.captureMethod, channel: req.channel, hasToken: req.hasToken });

  if (req.forced) {
    if (!configured.includes(req.forced)) {
      const why = req.forced === 'sandbox' ? 'The sandbox serves test mode only; use a test key (sk_test_…).' : `Provider ${req.forced} is not configured for ${mode} mode.`;
      return { param: 'provider', code: 'provider_unavailable', message: why };
    }
    const problem = problemAt(req.forced);
    if (problem) return problem;
    return () => ({ rule: 'forced', strategy: 'forced', candidates: [req.forced!] });
  }

  const preferred = PREFERRED[req.method];
  const builtIn: ProviderName[] = preferred && configured.includes(preferred) ? [preferred] : ['sandbox'];
  const facts = (id: string): PaymentFacts => ({ id, amount: req.amount, currency: req.currency, method: req.method, channel: req.channel });
  // Which candidates exist in this mode is the same for every id; only a split's order depends on it.
  const reachable = route(config, facts(''), builtIn, (p) => configured.includes(p)).candidates;
  if (reachable.length === 0) {
    return {
      param: 'payment_method.type',
      code: 'provider_unavailable',
      message: req.livemode
        ? `No live provider is configured for ${req.method} payments: live payments go to a real provider only (the sandbox serves test mode).`
        : `No provider is configured for ${req.method} payments.`,
    };
  }
  const serving = reachable.filter((p) => !problemAt(p));
  if (serving.length === 0) return problemAt(reachable[0]!)!;
  return (id) => route(config, facts(id), builtIn, (p) => serving.includes(p));
}
