import type { PaymentMethodType, ProviderName } from '../domain/payment';
import { PAYMENT_METHOD_TYPES } from '../domain/payment';
import { ALIPAY_CURRENCIES } from '../providers/alipay/alipay.mapper';

/**
 * What each provider can take, known without credentials: routing rules are checked against it
 * when saved. Per-payment rules (amount formats, channels) stay with each provider's `problemWith`.
 */
export const PROVIDER_METHODS: Record<ProviderName, readonly PaymentMethodType[]> = {
  sandbox: PAYMENT_METHOD_TYPES,
  stripe: ['card'],
  alipay: ['alipay'],
  wechat_pay: ['wechat_pay'],
  bank: ['bank_transfer'],
};

/** Currencies a provider settles; undefined: any ISO 4217 currency. */
const PROVIDER_CURRENCIES: Partial<Record<ProviderName, ReadonlySet<string>>> = {
  alipay: ALIPAY_CURRENCIES,
  wechat_pay: new Set(['CNY']),
};

/** Why this provider cannot take this method or currency, if it cannot. */
export function capabilityProblem(provider: ProviderName, method: PaymentMethodType | undefined, currency: string | undefined): string | undefined {
  if (method && !PROVIDER_METHODS[provider].includes(method)) return `${provider} does not take ${method} payments`;
  const currencies = PROVIDER_CURRENCIES[provider];
  if (currency && currencies && !currencies.has(currency)) return `${provider} does not take ${currency}`;
  return undefined;
}
