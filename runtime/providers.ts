import type { Pool } from 'pg';
import type { Config } from '../config';
import { sandboxNotifyUrl } from '../config';
import type { PaymentMethodType, ProviderName } from '../domain/payment';
import type { PaymentProvider } from '../providers/provider';
import { SandboxProvider } from '../providers/sandbox/sandbox.provider';
import { StripeProvider } from '../providers/stripe/stripe.provider';
import type { Logger } from './logger';

export type Providers = { sandbox: SandboxProvider; stripe?: StripeProvider } & Partial<Record<ProviderName, PaymentProvider>>;

/** Providers with credentials configured; the sandbox serves every method otherwise. */
export function createProviders(pool: Pool, config: Config, log: Logger): Providers {
  return {
    sandbox: new SandboxProvider(pool, {
      notifyUrl: sandboxNotifyUrl(config),
      webhookSecret: config.SANDBOX_WEBHOOK_SECRET,
      customerDelayMs: config.SANDBOX_CUSTOMER_DELAY_MS,
      latencyMs: config.SANDBOX_LATENCY_MS,
      log: (msg, fields) => log.warn(fields ?? {}, msg),
    }),
    ...(config.STRIPE_SECRET_KEY
      ? { stripe: new StripeProvider({ secretKey: config.STRIPE_SECRET_KEY, webhookSecret: config.STRIPE_WEBHOOK_SECRET, apiBase: config.STRIPE_API_BASE }) }
      : {}),
  };
}

/** Which provider serves a payment: the forced one if configured, Stripe for cards when it is, else the sandbox. */
export function routeProvider(providers: Providers, forced: ProviderName | undefined, method: PaymentMethodType): ProviderName | undefined {
  if (forced) return providers[forced] ? forced : undefined;
  if (method === 'card' && providers.stripe) return 'stripe';
  return 'sandbox';
}
