import type { Pool } from 'pg';
import type { Config } from '../config';
import { ConfigError, alipayNotifyUrl, sandboxNotifyUrl } from '../config';
import type { PaymentMethodType, ProviderName } from '../domain/payment';
import type { PaymentProvider } from '../providers/provider';
import { AlipayProvider } from '../providers/alipay/alipay.provider';
import { SandboxProvider } from '../providers/sandbox/sandbox.provider';
import { StripeProvider } from '../providers/stripe/stripe.provider';
import type { Logger } from './logger';

export type Providers = { sandbox: SandboxProvider; stripe?: StripeProvider; alipay?: AlipayProvider } & Partial<Record<ProviderName, PaymentProvider>>;

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
    ...(config.ALIPAY_APP_ID && config.ALIPAY_PRIVATE_KEY && config.ALIPAY_PUBLIC_KEY ? { alipay: alipayProvider(config) } : {}),
  };
}

function alipayProvider(config: Config): AlipayProvider {
  const { ALIPAY_APP_ID: appId = '', ALIPAY_PRIVATE_KEY: privateKey = '', ALIPAY_PUBLIC_KEY: alipayPublicKey = '' } = config;
  // Alipay itself (production or sandbox) must reach the notify URL: a local default would leave
  // late payments, which only a notification reveals, unseen.
  const alipayItself = /(^|\.)(alipay|alipaydev)\.com$/.test(new URL(config.ALIPAY_GATEWAY).hostname);
  if (alipayItself && !config.ALIPAY_NOTIFY_URL?.startsWith('https://')) {
    throw new ConfigError('Invalid configuration:\n  ALIPAY_NOTIFY_URL: required with Alipay\'s gateway: the public https URL of /webhooks/alipay');
  }
  try {
    return new AlipayProvider({ appId, privateKey, alipayPublicKey, gateway: config.ALIPAY_GATEWAY, notifyUrl: alipayNotifyUrl(config), timeoutMs: config.ALIPAY_TIMEOUT_MS });
  } catch (err) {
    throw new ConfigError(`Invalid configuration:\n  ${(err as Error).message}`);
  }
}

/** Which provider serves a payment: the forced one if configured, else Stripe for cards and Alipay for `alipay` when configured, else the sandbox. */
export function routeProvider(providers: Providers, forced: ProviderName | undefined, method: PaymentMethodType): ProviderName | undefined {
  if (forced) return providers[forced] ? forced : undefined;
  if (method === 'card' && providers.stripe) return 'stripe';
  if (method === 'alipay' && providers.alipay) return 'alipay';
  return 'sandbox';
}
