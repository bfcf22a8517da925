import type { Channel, Payment } from '../../domain/payment';
import type { AuthorizeRequest, ProviderNotification, ProviderPaymentState, RefundNotification, RefundResult } from '../provider';
import { ProviderFault, neverSent } from '../provider';

/**
 * Pure transforms between our model and WeChat Pay API v3. Amounts are integers in fen on both
 * sides (CNY's minor unit); the domestic API takes CNY only.
 */

export const WECHATPAY_PRODUCTION_HOST = 'https://api.mch.weixin.qq.com';
/** WeChat's `total` is an int32 in fen. */
const MAX_FEN = 2_147_483_647;

export type TradeType = 'native' | 'jsapi' | 'h5';

/**
 * Which WeChat Pay product serves a channel: Native (a QR code at the till or on a page), JSAPI
 * (inside WeChat: official accounts, mini-programs, our app's web view) or H5 (a phone browser
 * outside WeChat). Off-session charges need a signed contract (papay), so `subscription` is refused.
 */
export const TRADE_TYPE_OF_CHANNEL = {
  qr: 'native',
  pos: 'native',
  web: 'jsapi',
  app: 'jsapi',
  phone: 'h5',
  subscription: null,
} as const satisfies Record<Channel, TradeType | null>;

export function fenProblem(amount: number, currency: string): string | undefined {
  if (currency.toUpperCase() !== 'CNY') return `WeChat Pay's domestic API takes CNY only, not ${currency.toUpperCase()}.`;
  if (!Number.isSafeInteger(amount) || amount < 1 || amount > MAX_FEN) return `the amount must be 1 to ${MAX_FEN} fen.`;
  return undefined;
}

/** RFC 3339 in Beijing time, as WeChat writes `time_expire` (`2026-12-01T10:34:56+08:00`). */
export function beijingRfc3339(at: Date): string {
  return `${new Date(at.getTime() + 8 * 3600_000).toISOString().slice(0, 19)}+08:00`;
}

/** The order's body; `out_trade_no` is our payment id, WeChat's own idempotency key. */
export function orderBody(req: AuthorizeRequest, trade: TradeType, ids: { appid: string; mchid: string; notifyUrl: string }): Record<string, unknown> {
  return {
    appid: ids.appid,
    mchid: ids.mchid,
    description: `Payment ${req.paymentId}`.slice(0, 127),
    out_trade_no: req.paymentId,
    time_expire: beijingRfc3339(new Date(req.actionExpiresAt)),
    notify_url: ids.notifyUrl,
    amount: { total: req.amount, currency: 'CNY' },
    ...(trade === 'jsapi' ? { payer: { openid: req.method.token } } : {}),
    ...(trade === 'h5' ? { scene_info: { payer_client_ip: req.clientIp, h5_info: { type: 'Wap' } } } : {}),
  };
}

/** The parameters the page inside WeChat passes to `WeixinJSBridge.invoke('getBrandWCPayRequest', …)`; `paySign` added by the provider. */
export function jsapiParameters(appId: string, prepayId: string, timeStamp: string, nonceStr: string): { appId: string; timeStamp: string; nonceStr: string; package: string; signType: 'RSA' } {
  return { appId, timeStamp, nonceStr, package: `prepay_id=${prepayId}`, signType: 'RSA' };
}

/** What `paySign` signs: appId, timeStamp, nonceStr and package, each followed by a line feed. */
export const jsapiMessage = (p: { appId: string; timeStamp: string; nonceStr: string; package: string }) => `${p.appId}\n${p.timeStamp}\n${p.nonceStr}\n${p.package}\n`;

export type WechatTradeState = 'SUCCESS' | 'REFUND' | 'NOTPAY' | 'CLOSED' | 'REVOKED' | 'USERPAYING' | 'PAYERROR';

/** A paid order is settled (no separate capture); REFUND is a paid order with refunds. */
const TRADE_STATE = {
  SUCCESS: 'captured',
  REFUND: 'captured',
  NOTPAY: 'requires_action',
  USERPAYING: 'requires_action',
  CLOSED: 'canceled',
  REVOKED: 'canceled',
  PAYERROR: 'failed',
} as const satisfies Record<WechatTradeState, ProviderPaymentState['status']>;

export type WechatTransaction = {
  appid?: string;
  mchid?: string;
  out_trade_no: string;
  transaction_id?: string;
  trade_state: WechatTradeState;
  trade_state_desc?: string;
  amount?: { total?: number; currency?: string };
};

/** The order in our vocabulary; a state WeChat adds later never maps to a success. */
export function stateOf(t: WechatTransaction): ProviderPaymentState {
  const status = (TRADE_STATE as Record<string, ProviderPaymentState['status'] | undefined>)[t.trade_state];
  const reference = t.out_trade_no;
  switch (status) {
    case 'captured':
      return { status, reference, amountCaptured: t.amount?.total ?? 0 };
    case 'requires_action':
    case 'canceled':
      return { status, reference };
    case 'failed':
      return { status, reference, code: 'payerror', message: `WeChat Pay: ${t.trade_state_desc ?? 'the payment failed'}` };
    default:
      throw new ProviderFault(`wechat_pay: unknown trade_state ${t.trade_state}`, true);
  }
}

export type WechatRefundStatus = 'SUCCESS' | 'PROCESSING' | 'CLOSED' | 'ABNORMAL';

/**
 * A refund in our vocabulary. ABNORMAL means the money could not reach the payer's account (a
 * closed bank card): WeChat will not finish it by itself, so it goes to an operator.
 */
const REFUND_STATUS = {
  SUCCESS: 'succeeded',
  PROCESSING: 'pending',
  CLOSED: 'declined',
  ABNORMAL: 'attention',
} as const satisfies Record<WechatRefundStatus, RefundResult['status'] | 'attention'>;

export function refundResultOf(r: { status: string; out_refund_no?: string }): RefundResult {
  const mapped = (REFUND_STATUS as Record<string, RefundResult['status'] | 'attention' | undefined>)[r.status];
  switch (mapped) {
    case 'succeeded':
    case 'pending':
      return { status: mapped };
    case 'declined':
      return { status: 'declined', code: 'refund_closed', message: 'WeChat Pay closed the refund: nothing was refunded.' };
    case 'attention':
      throw new ProviderFault(`wechat_pay: refund ${r.out_refund_no ?? ''} is ABNORMAL (the payer's account refused it): an operator must resolve it in the merchant platform`, false);
    default:
      throw new ProviderFault(`wechat_pay: unknown refund status ${r.status}`, true, true);
  }
}

/** An error answer of the API (`{ code, message }`) with its HTTP status. */
export type WechatError = { status: number; code: string; message: string };

/** Business refusals of a refund that will not change by sending it again. */
export const REFUND_REFUSALS = new Set(['NOT_ENOUGH', 'USER_ACCOUNT_ABNORMAL', 'INVALID_REQUEST', 'PARAM_ERROR', 'ORDER_NOT_EXIST', 'RESOURCE_NOT_EXISTS', 'MCH_NOT_EXISTS']);

/**
 * A failed call: `answered` with WeChat's error body, or a fault. Nothing sent: not processed.
 * A 5xx, a timeout, or an answer whose signature does not verify: the outcome is unknown, and
 * the request is sent again with the same `out_trade_no` / `out_refund_no`.
 */
export function errorOf(op: string, err: unknown): { answered: WechatError } | { fault: ProviderFault } {
  const e = err as { code?: string; message?: string; response?: { status?: number; data?: unknown } };
  const message = `wechat_pay ${op}: ${(e?.message ?? String(err)).slice(0, 200)}`;
  if (typeof e?.code === 'string' && e.code.startsWith('EV3_RES_')) return { fault: new ProviderFault(`${message} (unverifiable answer)`, true, true) };
  const status = e?.response?.status;
  if (status === undefined) return { fault: neverSent(err) ? ProviderFault.notProcessed(message) : new ProviderFault(message, true, true) };
  const body = (typeof e.response?.data === 'object' && e.response.data !== null ? e.response.data : {}) as { code?: string; message?: string };
  if (status === 429 || body.code === 'FREQUENCY_LIMITED') return { fault: ProviderFault.notProcessed(`${message} (rate limited)`) };
  if (status >= 500 || body.code === 'SYSTEM_ERROR' || body.code === 'SYSTEMERROR') return { fault: new ProviderFault(message, true, true) };
  if (status === 401 || body.code === 'SIGN_ERROR') return { fault: new ProviderFault(`${message} (WeChat Pay refused our signature: check the merchant key and serial)`, false) };
  return { answered: { status, code: body.code ?? `HTTP_${status}`, message: body.message ?? message } };
}

/**
 * A refusal in our vocabulary. NOT_ENOUGH is the merchant's WeChat balance running short for a
 * refund: named as Alipay's equivalent, so the late-payment refund waits it out instead of giving up.
 */
export const declineOf = (e: WechatError) => ({
  code: e.code === 'NOT_ENOUGH' ? 'seller_balance_not_enough' : e.code.toLowerCase(),
  message: `WeChat Pay refused: ${e.message}`,
});

/** The decrypted `resource` of a notification. */
export type TransactionResource = WechatTransaction & { mchid: string; appid: string; amount: { total: number; currency: string; payer_total?: number } };
export type RefundResource = { mchid: string; out_trade_no: string; out_refund_no: string; refund_status: WechatRefundStatus; amount: { total: number; refund: number } };

export type NotifyVerdict =
  | { kind: 'deliver'; notification: ProviderNotification }
  | { kind: 'refund'; notification: RefundNotification }
  | { kind: 'acknowledge'; reason: string }
  | { kind: 'reject'; code: string; message: string };

/**
 * A verified and decrypted notification checked against our payment: a genuine signature is
 * not enough — the merchant, the app, the order and its amount must be ours.
 */
export function notifyVerdict(
  eventId: string,
  eventType: string,
  resource: Record<string, unknown>,
  ids: { mchid: string; appid: string },
  payment: Pick<Payment, 'id' | 'provider' | 'amount' | 'currency'> | undefined,
): NotifyVerdict {
  if (resource.mchid !== ids.mchid) return { kind: 'reject', code: 'mchid_mismatch', message: 'The notification is for another merchant.' };
  if (!payment || payment.provider !== 'wechat_pay') return { kind: 'reject', code: 'unknown_trade', message: 'No WeChat Pay payment has this out_trade_no.' };
  if (eventType.startsWith('REFUND.')) {
    const r = resource as unknown as RefundResource;
    if (r.amount?.total !== payment.amount) return { kind: 'reject', code: 'amount_mismatch', message: "The refund's order total does not match the payment." };
    if (r.refund_status === 'PROCESSING') return { kind: 'acknowledge', reason: 'refund processing' };
    return {
      kind: 'refund',
      notification: {
        provider: 'wechat_pay', eventId, paymentId: payment.id, refundId: r.out_refund_no, amount: r.amount.refund,
        status: r.refund_status === 'SUCCESS' ? 'succeeded' : 'failed',
        ...(r.refund_status === 'SUCCESS' ? {} : { failure: { code: `refund_${r.refund_status.toLowerCase()}`, message: `WeChat Pay: the refund is ${r.refund_status}.` } }),
      },
    };
  }
  const t = resource as unknown as TransactionResource;
  if (t.appid !== ids.appid) return { kind: 'reject', code: 'appid_mismatch', message: 'The notification is for another app.' };
  if (t.amount?.currency !== payment.currency.toUpperCase() || t.amount?.total !== payment.amount) {
    return { kind: 'reject', code: 'amount_mismatch', message: "The notification's amount does not match the payment." };
  }
  if (eventType !== 'TRANSACTION.SUCCESS' || t.trade_state !== 'SUCCESS') return { kind: 'acknowledge', reason: `${eventType} ${t.trade_state}` };
  return { kind: 'deliver', notification: { provider: 'wechat_pay', eventId, paymentId: payment.id, outcome: 'action_succeeded' } };
}
