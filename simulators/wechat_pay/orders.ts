import { isIP } from 'node:net';
import type { ApiAnswer } from './api';
import { ApiError, BodyReader, cnyOnly, mchNotExists, noContent, notifyUrlOf, ok, paramError } from './api';
import { canonicalJson, newPageToken, newPrepayId, parseRfc3339 } from './formats';
import type { Context, Order, TradeType } from './state';
import { transactionJson } from './state';

/**
 * The order APIs: place (Native, JSAPI, H5), query, close. `out_trade_no` is the merchant's
 * idempotency key: the same order again gets the same answer while it waits for the customer.
 */

export type OrderOutcome = { answer: ApiAnswer; order?: Order; created?: boolean };

export const TRADE_TYPES = { native: 'NATIVE', jsapi: 'JSAPI', h5: 'MWEB' } as const satisfies Record<string, TradeType>;
export type OrderKind = keyof typeof TRADE_TYPES;

/** 6 to 32 of digits, letters and `_-|*`, as WeChat's documentation puts it. */
const OUT_TRADE_NO = /^[0-9A-Za-z_\-|*]{6,32}$/;
const H5_TYPES = new Set(['iOS', 'Android', 'Wap']);

const orderNotExist = () => new ApiError(404, 'ORDER_NOT_EXIST', '订单不存在');

export function createOrder(ctx: Context, kind: OrderKind, body: Record<string, unknown>): OrderOutcome {
  const tradeType = TRADE_TYPES[kind];
  const r = new BodyReader(body);
  const appid = r.string('/appid', { required: true, maxBytes: 32 });
  const mchid = r.string('/mchid', { required: true, maxBytes: 32 });
  if (mchid !== ctx.merchant.mchid) throw mchNotExists();
  if (appid !== ctx.merchant.appid) throw new ApiError(400, 'APPID_MCHID_NOT_MATCH', 'AppID和mch_id不匹配');
  const description = r.string('/description', { required: true, maxBytes: 127 });
  const outTradeNo = r.string('/out_trade_no', { required: true, pattern: OUT_TRADE_NO });
  const timeExpire = r.string('/time_expire', { maxBytes: 64 });
  const attach = r.string('/attach', { maxBytes: 128 });
  const notifyUrl = notifyUrlOf(r, '/notify_url', true) as string;
  r.object('/amount', true);
  const totalFen = r.fen('/amount/total');
  cnyOnly(r, '/amount/currency', false);
  const openid = tradeType === 'JSAPI' ? r.string('/payer/openid', { required: true, maxBytes: 128 }) : undefined;
  if (tradeType === 'MWEB') {
    const ip = r.string('/scene_info/payer_client_ip', { required: true, maxBytes: 45 });
    if (!isIP(ip)) throw paramError('/scene_info/payer_client_ip', 'must be an IPv4 or IPv6 address', ip);
    const type = r.string('/scene_info/h5_info/type', { required: true });
    if (!H5_TYPES.has(type)) throw paramError('/scene_info/h5_info/type', 'must be iOS, Android or Wap', type);
  }
  const expiresAtMs = timeExpire === undefined ? undefined : parseRfc3339(timeExpire);
  if (timeExpire !== undefined && expiresAtMs === undefined) throw paramError('/time_expire', 'must be RFC 3339, e.g. 2026-06-08T10:34:56+08:00', timeExpire);

  // Trade type included: reusing an out_trade_no across Native and JSAPI is the duplicate WeChat refuses most often.
  const terms = canonicalJson({ tradeType, body });
  const existing = ctx.state.order(outTradeNo);
  if (existing) {
    if (existing.status === 'SUCCESS') throw new ApiError(400, 'ORDERPAID', '该订单已支付');
    if (existing.status === 'CLOSED') throw new ApiError(400, 'ORDER_CLOSED', '订单已关闭');
    // Observed on v3 (not only v2): INVALID_REQUEST "201 商户订单号重复" rather than the documented 403 OUT_TRADE_NO_USED.
    if (existing.terms !== terms) throw new ApiError(400, 'INVALID_REQUEST', '201 商户订单号重复');
    return { answer: ok(prepayAnswer(existing)), order: existing, created: false };
  }
  if (expiresAtMs !== undefined && expiresAtMs <= Date.now()) throw paramError('/time_expire', 'is in the past', timeExpire);

  const now = new Date();
  const token = newPageToken();
  const order: Order = {
    outTradeNo, tradeType, appid, description, attach, notifyUrl, totalFen, terms, token, timeExpire, expiresAtMs, openid,
    status: 'NOTPAY', createdAt: now, refunds: [],
  };
  if (tradeType === 'NATIVE') order.codeUrl = ctx.pageUrl(token);
  else order.prepayId = newPrepayId(now);
  // Like a real h5_url, it names the prepay; the merchant may append `&redirect_url=` for the way back.
  if (tradeType === 'MWEB') order.h5Url = `${ctx.pageUrl(token)}?prepay_id=${order.prepayId}`;
  ctx.state.addOrder(order);
  ctx.log('order created', { outTradeNo, tradeType, total: totalFen, timeExpire });
  return { answer: ok(prepayAnswer(order)), order, created: true };
}

function prepayAnswer(order: Order): Record<string, unknown> {
  if (order.tradeType === 'NATIVE') return { code_url: order.codeUrl };
  if (order.tradeType === 'MWEB') return { h5_url: order.h5Url };
  return { prepay_id: order.prepayId };
}

/** `?mchid=` is required and must be ours; an order is found by transaction_id only once paid (it has none before). */
export function queryOrder(ctx: Context, by: { outTradeNo: string } | { transactionId: string }, query: URLSearchParams): OrderOutcome {
  const mchid = query.get('mchid');
  if (!mchid) throw paramError('mchid', 'required', undefined, 'query');
  if (mchid !== ctx.merchant.mchid) throw mchNotExists();
  const order = 'outTradeNo' in by ? ctx.state.order(by.outTradeNo) : ctx.state.orderByTransactionId(by.transactionId);
  if (!order) throw orderNotExist();
  return { answer: ok(transactionJson(order, ctx.merchant)), order };
}

/** 204 without a body; closing a closed order is a success again, closing a paid one is refused. */
export function closeOrder(ctx: Context, outTradeNo: string, body: Record<string, unknown>): OrderOutcome {
  const mchid = new BodyReader(body).string('/mchid', { required: true });
  if (mchid !== ctx.merchant.mchid) throw mchNotExists();
  const order = ctx.state.order(outTradeNo);
  if (!order) throw orderNotExist();
  if (order.status === 'SUCCESS') throw new ApiError(400, 'ORDERPAID', '订单已支付');
  if (order.status === 'NOTPAY') {
    ctx.state.close(order, new Date());
    ctx.log('order closed', { outTradeNo });
  }
  return { answer: noContent(), order };
}
