import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { ApiAnswer } from './api';
import { ApiError, paramError } from './api';
import type { Credentials } from './auth';
import { authenticate } from './auth';
import type { TradeBills } from './bill';
import type { FaultKind, FaultQueue } from './faults';
import { newRequestId } from './formats';
import { isRecord, readBody } from '../http';
import type { OrderKind } from './orders';
import { TRADE_TYPES, closeOrder, createOrder, queryOrder } from './orders';
import { createRefund, queryRefund } from './refunds';
import type { Context, Order, Refund } from './state';

/**
 * The `/v3/…` API: authenticate, route, apply the injected faults around the handler, and answer
 * with a signed response. Every call is recorded, refusals included.
 */

/** One API call as answered. */
export type RequestRecord = {
  requestId: string;
  method: string;
  path: string;
  status: number;
  /** The error code of a 4xx/5xx answer. */
  code?: string;
  outTradeNo?: string;
  outRefundNo?: string;
  /** The fault applied to this call, if any. */
  fault?: FaultKind;
  at: string;
};

export type ApiDeps = {
  ctx: Context;
  credentials: Credentials;
  faults: FaultQueue;
  /** Aborted when the simulator stops: a `slow` answer is then never sent. */
  signal: AbortSignal;
  /** The four `Wechatpay-*` headers (and the signature type) for an answer body. */
  sign: (body: string) => Record<string, string>;
  record: (r: RequestRecord) => void;
  /** The customer pays; resolves once the notify's first attempt is over. */
  payOrder: (order: Order) => Promise<void>;
  /** Resolves once the refund notify's first attempt is over (at once without a notify_url). */
  notifyRefund: (refund: Refund) => Promise<void>;
  bills: TradeBills;
};

type RouteName = OrderKind | 'query' | 'query_by_id' | 'close' | 'refund' | 'refund_query' | 'tradebill' | 'bill_download';
const ROUTES: Array<{ method: 'GET' | 'POST'; pattern: RegExp; name: RouteName }> = [
  { method: 'POST', pattern: /^\/v3\/pay\/transactions\/native$/, name: 'native' },
  { method: 'POST', pattern: /^\/v3\/pay\/transactions\/jsapi$/, name: 'jsapi' },
  { method: 'POST', pattern: /^\/v3\/pay\/transactions\/h5$/, name: 'h5' },
  { method: 'GET', pattern: /^\/v3\/pay\/transactions\/out-trade-no\/([^/]+)$/, name: 'query' },
  { method: 'GET', pattern: /^\/v3\/pay\/transactions\/id\/([^/]+)$/, name: 'query_by_id' },
  { method: 'POST', pattern: /^\/v3\/pay\/transactions\/out-trade-no\/([^/]+)\/close$/, name: 'close' },
  { method: 'POST', pattern: /^\/v3\/refund\/domestic\/refunds$/, name: 'refund' },
  { method: 'GET', pattern: /^\/v3\/refund\/domestic\/refunds\/([^/]+)$/, name: 'refund_query' },
  { method: 'GET', pattern: /^\/v3\/bill\/tradebill$/, name: 'tradebill' },
  // Where WeChat's download_url points: signed by the merchant like any call, answered unsigned.
  { method: 'GET', pattern: /^\/v3\/billdownload\/file$/, name: 'bill_download' },
];

const systemError = (): ApiAnswer => new ApiError(500, 'SYSTEM_ERROR', '系统错误').answer;

export async function serveApi(deps: ApiDeps, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const method = req.method ?? 'GET';
  const record: RequestRecord = { requestId: newRequestId(), method, path: url.pathname, status: 0, at: new Date().toISOString() };
  const respond = (answer: ApiAnswer): void => {
    record.status = answer.status;
    if (answer.status >= 400 && typeof answer.body?.code === 'string') record.code = answer.body.code;
    deps.record(record);
    sendAnswer(res, answer, record.requestId, deps.sign);
  };

  const body = await readBody(req);
  if (body === undefined) return respond(paramError('/', 'request body over 1 MiB').answer);
  // The signature covers the request line exactly as sent: req.url, not a re-serialised URL.
  const denied = authenticate(req.headers, method, req.url ?? url.pathname, body, deps.credentials);
  if (denied) return respond(denied.answer);
  const route = ROUTES.find((r) => r.method === method && r.pattern.test(url.pathname));
  if (!route) return respond(new ApiError(404, 'NOT_FOUND', `no API ${method} ${url.pathname}`).answer);
  let param: string;
  let json: Record<string, unknown> = {};
  try {
    param = decodeURIComponent(route.pattern.exec(url.pathname)?.[1] ?? '');
    if (method === 'POST') {
      const parsed: unknown = JSON.parse(body);
      if (!isRecord(parsed)) throw new TypeError('not an object');
      json = parsed;
    }
  } catch {
    return respond(paramError('/', 'the body must be a JSON object').answer);
  }
  const named = (value: unknown) => (typeof value === 'string' ? value : undefined);
  const outTradeNo = route.name === 'query' || route.name === 'close' ? param : named(json.out_trade_no);
  const outRefundNo = route.name === 'refund_query' ? param : named(json.out_refund_no);
  if (outTradeNo !== undefined) record.outTradeNo = outTradeNo;
  if (outRefundNo !== undefined) record.outRefundNo = outRefundNo;

  const creates = route.name in TRADE_TYPES || route.name === 'refund';
  const fault = deps.faults.take((f) => (f.kind === 'slow' || f.kind === 'system_error')
    ? f.path === undefined || url.pathname.startsWith(f.path)
    : f.kind === 'notify_before_answer' && creates);
  if (fault) {
    record.fault = fault.kind;
    deps.ctx.log('fault applied', { path: url.pathname, fault });
  }

  let answer: ApiAnswer;
  if (fault?.kind === 'system_error' && !fault.afterEffect) {
    answer = systemError();
  } else {
    answer = await perform(deps, route.name, param, json, url.searchParams, fault?.kind === 'notify_before_answer');
    if (fault?.kind === 'system_error') answer = systemError();
  }
  if (fault?.kind === 'slow') {
    try {
      await delay(fault.delayMs, undefined, { signal: deps.signal });
    } catch {
      res.destroy();
      return;
    }
  }
  respond(answer);
}

/** `notifyFirst`: the customer (or the refund) is faster than the network, and the first notify attempt is over before the answer leaves. */
async function perform(
  deps: ApiDeps, name: RouteName, param: string, json: Record<string, unknown>, query: URLSearchParams, notifyFirst: boolean,
): Promise<ApiAnswer> {
  const { ctx } = deps;
  try {
    switch (name) {
      case 'native':
      case 'jsapi':
      case 'h5': {
        const outcome = createOrder(ctx, name, json);
        if (notifyFirst && outcome.order?.status === 'NOTPAY') await deps.payOrder(outcome.order);
        return outcome.answer;
      }
      case 'query':
        return queryOrder(ctx, { outTradeNo: param }, query).answer;
      case 'query_by_id':
        return queryOrder(ctx, { transactionId: param }, query).answer;
      case 'close':
        return closeOrder(ctx, param, json).answer;
      case 'refund': {
        const outcome = createRefund(ctx, json, () => {
          const processing = deps.faults.take((f) => f.kind === 'refund_processing');
          if (processing) ctx.log('fault applied', { fault: processing });
          return processing ? 'PROCESSING' : 'SUCCESS';
        });
        if (outcome.created && outcome.refund) {
          const sent = deps.notifyRefund(outcome.refund);
          if (notifyFirst) await sent;
        }
        return outcome.answer;
      }
      case 'refund_query':
        return queryRefund(ctx, param).answer;
      case 'tradebill':
        return deps.bills.apply(query);
      case 'bill_download': {
        const tamper = deps.faults.take((f) => f.kind === 'tamper_bill');
        if (tamper) ctx.log('fault applied', { fault: tamper });
        return deps.bills.download(query, tamper !== undefined);
      }
    }
  } catch (err) {
    if (err instanceof ApiError) return err.answer;
    throw err;
  }
}

/** Every answer is signed, errors and 204 (over an empty body) included, and carries a Request-ID; a downloaded file is not signed. */
function sendAnswer(res: ServerResponse, answer: ApiAnswer, requestId: string, sign: (body: string) => Record<string, string>): void {
  if (answer.file) {
    res.writeHead(answer.status, { 'Content-Type': answer.file.contentType, 'Content-Length': answer.file.data.length, 'Request-ID': requestId }).end(answer.file.data);
    return;
  }
  const body = answer.body === undefined ? '' : JSON.stringify(answer.body);
  const headers: Record<string, string | number> = { ...sign(body), 'Request-ID': requestId };
  if (body) {
    headers['Content-Type'] = 'application/json; charset=utf-8';
    headers['Content-Length'] = Buffer.byteLength(body);
  }
  res.writeHead(answer.status, headers).end(body);
}
