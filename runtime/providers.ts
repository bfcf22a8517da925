import type { Pool } from 'pg';
import type { Config } from '../config';
import { ConfigError, alipayNotifyUrl, sandboxNotifyUrl, wechatPayNotifyUrl } from '../config';
import type { Payment, ProviderName } from '../domain/payment';
import type { PaymentProblem, PaymentProvider } from '../providers/provider';
import { AlipayProvider } from '../providers/alipay/alipay.provider';
import { SandboxProvider } from '../providers/sandbox/sandbox.provider';
import { StripeProvider } from '../providers/stripe/stripe.provider';
import { WechatPayProvider } from '../providers/wechat_pay/wechatpay.provider';
import { BankProvider } from '../providers/bank/bank.provider';
import type { SimulatedTransfer } from '../providers/sandbox/sandbox.provider';
import { BankRail } from '../bank/rail';
import { receivingAccounts } from '../bank/accounts';
import type { Logger } from './logger';

export type Mode = 'test' | 'live';
export const modeOf = (livemode: boolean | undefined): Mode => (livemode ? 'live' : 'test');

/**
 * The providers with credentials configured, and the one mode each set of credentials serves.
 * The sandbox moves no real money: it serves test mode only, and nothing live ever reaches it.
 */
export type Providers = {
  sandbox: SandboxProvider;
  stripe?: StripeProvider;
  alipay?: AlipayProvider;
  wechat_pay?: WechatPayProvider;
  bank?: BankProvider;
  modes: Partial<Record<ProviderName, Mode>>;
};

/** Stripe keys say their mode (`sk_live_…`, `rk_live_…`); anything else is a test key or a local fake's. */
export const stripeModeOf = (secretKey: string): Mode => (/^(sk|rk)_live_/.test(secretKey) ? 'live' : 'test');
/**
 * Alipay's sandbox (alipaydev.com) and a simulator on this machine are test mode; any other
 * gateway, the production one first, is taken to move real money.
 */
export const alipayModeOf = (gateway: string): Mode => {
  const host = new URL(gateway).hostname;
  const local = host === 'localhost' || host === '[::1]' || /^127\./.test(host);
  return local || /(^|\.)alipaydev\.com$/.test(host) ? 'test' : 'live';
};

/**
 * WeChat Pay has no API v3 sandbox: a simulator on this machine is test mode, any other host
 * (the production one first) is taken to move real money.
 */
export const wechatPayModeOf = (baseUrl: string): Mode => {
  const host = new URL(baseUrl).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\./.test(host) ? 'test' : 'live';
};

function wechatPayProvider(config: Config): WechatPayProvider {
  // WeChat Pay itself must reach the notify URL: a local default would leave late payments unseen.
  if (wechatPayModeOf(config.WECHATPAY_BASE_URL) === 'live' && !config.WECHATPAY_NOTIFY_URL?.startsWith('https://')) {
    throw new ConfigError('Invalid configuration:\n  WECHATPAY_NOTIFY_URL: required with WeChat Pay\'s host: the public https URL of /webhooks/wechat_pay');
  }
  let platformKeys: Record<string, string>;
  try {
    platformKeys = JSON.parse(config.WECHATPAY_PLATFORM_KEYS ?? '') as Record<string, string>;
    if (typeof platformKeys !== 'object' || platformKeys === null || Object.values(platformKeys).some((v) => typeof v !== 'string')) throw new Error();
  } catch {
    throw new ConfigError('Invalid configuration:\n  WECHATPAY_PLATFORM_KEYS: a JSON object { "<serial or PUB_KEY_ID_…>": "<PEM public key>" }');
  }
  const pem = (v: string) => v.replace(/\\n/g, '\n');
  try {
    return new WechatPayProvider({
      mchid: config.WECHATPAY_MCHID!, appid: config.WECHATPAY_APPID!, merchantSerial: config.WECHATPAY_MERCHANT_SERIAL!,
      merchantPrivateKey: pem(config.WECHATPAY_MERCHANT_PRIVATE_KEY!), platformKeys: Object.fromEntries(Object.entries(platformKeys).map(([k, v]) => [k, pem(v)])),
      apiV3Key: config.WECHATPAY_APIV3_KEY!, baseUrl: config.WECHATPAY_BASE_URL, notifyUrl: wechatPayNotifyUrl(config), timeoutMs: config.WECHATPAY_TIMEOUT_MS,
    });
  } catch (err) {
    throw new ConfigError(`Invalid configuration:\n  ${(err as Error).message}`);
  }
}

function bankRails(pool: Pool, config: Config): { test: BankRail; live?: BankRail } {
  const read = (name: 'BANK_ACCOUNTS' | 'BANK_TEST_ACCOUNTS', fallback: 'test' | 'none') => {
    try {
      return receivingAccounts(config[name], fallback);
    } catch (err) {
      throw new ConfigError(`Invalid configuration:\n  ${name}: ${(err as Error).message}`);
    }
  };
  const live = read('BANK_ACCOUNTS', 'none');
  return { test: new BankRail(pool, read('BANK_TEST_ACCOUNTS', 'test')!), ...(live ? { live: new BankRail(pool, live) } : {}) };
}

/** `sendTransfer`: the credit intake the sandbox's simulated payers send their transfers to. */
export function createProviders(pool: Pool, config: Config, log: Logger, deps: { sendTransfer?: (t: SimulatedTransfer) => Promise<void> } = {}): Providers {
  const rails = bankRails(pool, config);
  const stripe = config.STRIPE_SECRET_KEY
    ? new StripeProvider({ secretKey: config.STRIPE_SECRET_KEY, webhookSecret: config.STRIPE_WEBHOOK_SECRET, apiBase: config.STRIPE_API_BASE })
    : undefined;
  const alipay = config.ALIPAY_APP_ID && config.ALIPAY_PRIVATE_KEY && config.ALIPAY_PUBLIC_KEY ? alipayProvider(config) : undefined;
  const wechatPay = config.WECHATPAY_MCHID ? wechatPayProvider(config) : undefined;
  return {
    sandbox: new SandboxProvider(pool, {
      notifyUrl: sandboxNotifyUrl(config),
      webhookSecret: config.SANDBOX_WEBHOOK_SECRET,
      customerDelayMs: config.SANDBOX_CUSTOMER_DELAY_MS,
      latencyMs: config.SANDBOX_LATENCY_MS,
      log: (msg, fields) => log.warn(fields ?? {}, msg),
      bank: rails.test,
      feeBps: config.SANDBOX_FEE_BPS,
      feeFixed: config.SANDBOX_FEE_FIXED,
      ...(deps.sendTransfer ? { sendTransfer: deps.sendTransfer } : {}),
    }),
    ...(rails.live ? { bank: new BankProvider(rails.live) } : {}),
    ...(stripe ? { stripe } : {}),
    ...(alipay ? { alipay } : {}),
    ...(wechatPay ? { wechat_pay: wechatPay } : {}),
    modes: {
      sandbox: 'test',
      ...(config.STRIPE_SECRET_KEY ? { stripe: stripeModeOf(config.STRIPE_SECRET_KEY) } : {}),
      ...(alipay ? { alipay: alipayModeOf(config.ALIPAY_GATEWAY) } : {}),
      ...(wechatPay ? { wechat_pay: wechatPayModeOf(config.WECHATPAY_BASE_URL) } : {}),
      // Our own receiving accounts: real ones, so live only.
      ...(rails.live ? { bank: 'live' as const } : {}),
    },
  };
}

/** The provider that serves this name in this mode, if any: a live payment never reaches a test provider, nor the reverse. */
export function providerFor(providers: Providers, name: ProviderName, livemode: boolean): PaymentProvider | undefined {
  if (providers.modes[name] !== modeOf(livemode)) return undefined;
  return (providers as unknown as Partial<Record<ProviderName, PaymentProvider>>)[name];
}

/**
 * Whether the payment's provider can move this amount of it (Stripe's three-decimal amounts end
 * in 0, ...): checked before a capture or refund is reserved, so the merchant gets a clear 400.
 */
export function amountProblem(providers: Providers, payment: Payment, amount: number): PaymentProblem | undefined {
  const problem = providerFor(providers, payment.provider, payment.livemode ?? false)?.problemWith?.({
    amount, currency: payment.currency, methodType: payment.payment_method.type, captureMethod: payment.capture_method, channel: payment.channel,
  });
  return problem?.param === 'amount' ? problem : undefined;
}

/** The providers configured for one mode, by name. */
export function providersOfMode(providers: Providers, livemode: boolean): ProviderName[] {
  return (Object.keys(providers.modes) as ProviderName[]).filter((name) => providerFor(providers, name, livemode));
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
