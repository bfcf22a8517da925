import { currencyExponent, fromMajorUnitString, toMajorUnitString } from '../../domain/money';
import type { Channel, Payment } from '../../domain/payment';
import type { AuthorizeRequest, ProviderNotification, ProviderPaymentState } from '../provider';
import { ProviderFault, neverSent } from '../provider';

/**
 * Pure transforms between our model and Alipay's OpenAPI gateway (v1, RSA2). Amounts are
 * integers in minor units here and decimal strings in major units ("12.34") at Alipay.
 */

/** CNY, plus the currencies Alipay's cross-border acquiring takes as `trans_currency`. */
export const ALIPAY_CURRENCIES = new Set([
  'CNY', 'USD', 'HKD', 'JPY', 'EUR', 'GBP', 'AUD', 'CAD', 'SGD', 'CHF', 'NZD', 'THB', 'KRW', 'SEK', 'DKK', 'NOK', 'MOP',
]);

/** Alipay's `total_amount` ceiling, in major units. */
const MAX_MAJOR_AMOUNT = 100_000_000;

export function toAlipayAmount(amountMinor: number, currency: string): { value: string } | { problem: string } {
  const upper = currency.toUpperCase();
  const exponent = currencyExponent(upper);
  if (!ALIPAY_CURRENCIES.has(upper) || exponent === undefined) return { problem: `Alipay does not take ${upper}.` };
  if (!Number.isSafeInteger(amountMinor) || amountMinor < 1) return { problem: 'the amount must be a positive integer in minor units.' };
  if (amountMinor > MAX_MAJOR_AMOUNT * 10 ** exponent) return { problem: `Alipay takes at most ${MAX_MAJOR_AMOUNT} ${upper} per payment.` };
  return { value: toMajorUnitString(amountMinor, upper) };
}

/** Minor units from an Alipay amount; undefined when it is not an exact amount of that currency. */
export function fromAlipayAmount(value: string, currency: string): number | undefined {
  return fromMajorUnitString(value, currency.toUpperCase());
}

export type AlipayProduct = 'precreate' | 'page' | 'wap';

/**
 * Which Alipay product serves a channel: a QR code the customer scans (POS, kiosk, printed),
 * the desktop cashier, or the mobile-web cashier. Alipay has no off-session wallet payment
 * without a signed agreement, so `subscription` is refused.
 */
export const PRODUCT_OF_CHANNEL = {
  qr: 'precreate',
  pos: 'precreate',
  web: 'page',
  app: 'wap',
  phone: 'wap',
  subscription: null,
} as const satisfies Record<Channel, AlipayProduct | null>;

export const METHOD_OF_PRODUCT = {
  precreate: 'alipay.trade.precreate',
  page: 'alipay.trade.page.pay',
  wap: 'alipay.trade.wap.pay',
} as const satisfies Record<AlipayProduct, string>;

const PRODUCT_CODE = {
  precreate: 'FACE_TO_FACE_PAYMENT',
  page: 'FAST_INSTANT_TRADE_PAY',
  wap: 'QUICK_WAP_WAY',
} as const satisfies Record<AlipayProduct, string>;

export type AlipayTradeStatus = 'WAIT_BUYER_PAY' | 'TRADE_SUCCESS' | 'TRADE_FINISHED' | 'TRADE_CLOSED';

/** A paid Alipay trade is settled: there is no separate capture. */
const TRADE_STATUS = {
  WAIT_BUYER_PAY: 'requires_action',
  TRADE_SUCCESS: 'captured',
  TRADE_FINISHED: 'captured',
  TRADE_CLOSED: 'canceled',
} as const satisfies Record<AlipayTradeStatus, ProviderPaymentState['status']>;

/** `yyyy-MM-dd HH:mm:ss` in Beijing time (UTC+8, no daylight saving), as Alipay reads `time_expire`. */
export function beijingTime(at: Date): string {
  return new Date(at.getTime() + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
}

/** `biz_content` of a trade creation; the payment id is the `out_trade_no`, Alipay's idempotency key. */
export function tradeBizContent(req: AuthorizeRequest, product: AlipayProduct, totalAmount: string): Record<string, string> {
  const currency = req.currency.toUpperCase();
  return {
    out_trade_no: req.paymentId,
    total_amount: totalAmount,
    subject: `Payment ${req.paymentId}`,
    product_code: PRODUCT_CODE[product],
    time_expire: beijingTime(new Date(req.actionExpiresAt)),
    // Settlement is in the merchant's contracted currency, which Alipay knows: not ours to say.
    ...(currency !== 'CNY' ? { trans_currency: currency } : {}),
  };
}

/** An Alipay answer as the SDK hands it over (camel-cased keys). */
export type AlipayAnswer = { code: string; msg?: string; subCode?: string; subMsg?: string } & Record<string, unknown>;

export const isSuccess = (a: AlipayAnswer) => a.code === '10000';

/** Some gateways prefix business sub-codes (`aop.ACQ.SYSTEM_ERROR`): one spelling for the rest of the code. */
export function normalizeAnswer(a: AlipayAnswer): AlipayAnswer {
  return typeof a.subCode === 'string' && a.subCode.startsWith('aop.ACQ.') ? { ...a, subCode: a.subCode.slice(4) } : a;
}

/**
 * Refusals after which a refund certainly did not happen and will not: the refund is failed and
 * its amount refundable again. Any other answer (an undocumented sub-code included) leaves the
 * outcome unknown, and the same `out_request_no` is asked about and sent again instead.
 */
export const REFUND_REFUSALS = new Set([
  'ACQ.TRADE_NOT_EXIST', 'ACQ.TRADE_STATUS_ERROR', 'ACQ.TRADE_NOT_ALLOW_REFUND', 'ACQ.TRADE_HAS_FINISHED', 'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL',
  'ACQ.REASON_TRADE_REFUND_FEE_ERR', 'ACQ.REFUND_FEE_ERROR', 'ACQ.SELLER_BALANCE_NOT_ENOUGH', 'ACQ.DISCORDANT_REPEAT_REQUEST',
  'ACQ.CONTEXT_INCONSISTENT', 'ACQ.INVALID_PARAMETER',
]);

/**
 * Faults from an answer that is neither a success nor a business refusal. `20000` and
 * `ACQ.SYSTEM_ERROR` mean Alipay may or may not have acted: the same request (same
 * `out_trade_no` / `out_request_no`) is sent again. `4000x` other than a business refusal is a
 * configuration problem (signature, app id, permissions) that no retry fixes.
 */
export function answerFault(method: string, a: AlipayAnswer): ProviderFault | undefined {
  const what = `alipay ${method}: ${a.code} ${a.subCode ?? ''} ${a.subMsg ?? a.msg ?? ''}`.trim();
  if (a.code === '20000' || a.subCode === 'ACQ.SYSTEM_ERROR' || a.subCode === 'aop.unknow-error') return new ProviderFault(what, true, true);
  if (a.code !== '10000' && a.code !== '40004') return new ProviderFault(what, false);
  return undefined;
}

/** The SDK throws for transport failures, non-200 answers and answers whose signature fails. */
export function transportFault(method: string, err: unknown): ProviderFault {
  const message = err instanceof Error ? err.message : String(err);
  if (neverSent(err)) return ProviderFault.notProcessed(`alipay ${method}: ${message.slice(0, 200)}`);
  // Whatever Alipay did is unknown: an unverifiable answer is no answer.
  return new ProviderFault(`alipay ${method}: ${message.slice(0, 200)}`, true, true);
}

/** A business refusal in our vocabulary: `ACQ.TRADE_HAS_CLOSE` → `trade_has_close`. */
export function declineOf(a: AlipayAnswer): { code: string; message: string } {
  return {
    code: (a.subCode ?? 'alipay_refused').replace(/^ACQ\./, '').toLowerCase(),
    message: `Alipay refused: ${a.subMsg ?? a.msg ?? a.subCode ?? a.code}`,
  };
}

/**
 * `alipay.trade.query` in our vocabulary; `ACQ.TRADE_NOT_EXIST` is "no record" (a cashier not yet
 * opened, a QR code not yet scanned). Amounts are read in the payment's currency when it is
 * known, else in the answer's `trans_currency` (CNY without one); a trade in another currency is unknown.
 */
export function stateOf(a: AlipayAnswer, currency?: string): ProviderPaymentState {
  const answered = typeof a.transCurrency === 'string' ? a.transCurrency.toUpperCase() : undefined;
  if (!isSuccess(a) || (currency && answered && answered !== currency.toUpperCase())) return { status: 'unknown' };
  currency = (currency ?? answered ?? 'CNY').toUpperCase();
  const reference = String(a.outTradeNo ?? a.tradeNo);
  const status = TRADE_STATUS[a.tradeStatus as AlipayTradeStatus] as ProviderPaymentState['status'] | undefined;
  switch (status) {
    case 'requires_action':
    case 'canceled':
      return { status, reference };
    case 'captured': {
      const amount = fromAlipayAmount(String(a.totalAmount), currency);
      // A paid trade whose amount we cannot read is not reported as a success.
      return amount === undefined ? { status: 'unknown' } : { status, reference, amountCaptured: amount };
    }
    default:
      return { status: 'unknown' };
  }
}

/** What a verified notify means for a payment: hand it to the workflow, acknowledge it only, or refuse it. */
export type NotifyVerdict =
  | { kind: 'deliver'; notification: ProviderNotification }
  | { kind: 'acknowledge'; reason: string }
  | { kind: 'reject'; code: string; message: string };

/**
 * Checks a notify whose signature is already verified against our own records: a genuine
 * Alipay signature on another app's trade, another payment or another amount completes nothing.
 */
export function notifyVerdict(params: Record<string, string>, appId: string, payment: Pick<Payment, 'id' | 'provider' | 'amount' | 'currency'> | undefined): NotifyVerdict {
  if (!params.notify_id) return { kind: 'reject', code: 'missing_notify_id', message: 'The notification has no notify_id.' };
  if (params.app_id !== appId) return { kind: 'reject', code: 'app_id_mismatch', message: 'The notification is for another Alipay app.' };
  if (!payment || payment.provider !== 'alipay') return { kind: 'reject', code: 'unknown_trade', message: 'No Alipay payment has this out_trade_no.' };
  const currency = payment.currency.toUpperCase();
  // The trade was created by us in the payment's currency; a notify naming another is not about it.
  if (params.trans_currency && params.trans_currency.toUpperCase() !== currency) {
    return { kind: 'reject', code: 'currency_mismatch', message: `The notification is in ${params.trans_currency}, the payment in ${currency}.` };
  }
  if (fromAlipayAmount(params.total_amount ?? '', currency) !== payment.amount) {
    return { kind: 'reject', code: 'amount_mismatch', message: "The notification's total_amount does not match the payment." };
  }
  // Refund notices carry the trade's status too; refunds settle through their own calls.
  if (params.out_biz_no || params.refund_fee) return { kind: 'acknowledge', reason: 'refund notice' };
  if (params.trade_status !== 'TRADE_SUCCESS' && params.trade_status !== 'TRADE_FINISHED') {
    // A closed trade is settled by our own expiry or cancel, which closes it at Alipay first.
    return { kind: 'acknowledge', reason: `trade status ${params.trade_status}` };
  }
  return { kind: 'deliver', notification: { provider: 'alipay', eventId: params.notify_id ?? '', paymentId: payment.id, outcome: 'action_succeeded' } };
}
