import { createHash, randomBytes, randomInt } from 'node:crypto';
import { errorMessage, isRecord, readBody, readJson, sendHtml, sendJson } from '../http';
import type { KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { BillDiscrepancy, PlacedDiscrepancy } from './bill';
import {
  DEFAULT_FEE_RATE_BPS, applyDiscrepancies, billPeriod, billRows, parseBillDiscrepancy, placeDiscrepancy, tradeBillFileName, tradeBillZip,
} from './bill';
import { cashierPage, messagePage } from './cashier-page';
import {
  SUPPORTED_CURRENCIES, beijingDay, beijingTime, beijingTimeMs, formatAmount, parseAmount, parseBeijingTime, parseTimeoutExpress,
} from './formats';
import { generateKeyPair, loadPrivateKey, loadPublicKey, rsa2Sign, rsa2Verify, signedEnvelope, signingString } from './signing';

export { generateKeyPair };
export type { BillDiscrepancy };

/**
 * A local Alipay OpenAPI gateway (v1, RSA2) that the real `alipay-sdk` talks to over HTTP:
 * signed requests in, signed answers and signed asynchronous notifications out, with Alipay's
 * trade states, idempotency rules and notify retry schedule, plus injectable faults for the
 * cases that hurt in production (answers lost after the effect, late or duplicated notifies).
 */

export type AlipayGatewayOptions = {
  /** The only app accepted (others: 40002 isv.invalid-app-id). */
  appId: string;
  /** PEM (SPKI), or its bare base64 body: verifies request signatures. */
  appPublicKey: string;
  /** PEM (PKCS#8), or its bare base64 body: signs answers, notifications and return parameters. */
  alipayPrivateKey: string;
  /** Delays between notify attempts; Alipay's by default: 4m, 10m, 10m, 1h, 2h, 6h, 15h (8 attempts over ~25h). */
  notifyRetryScheduleMs?: number[];
  /** Per attempt; 5000 by default. */
  notifyTimeoutMs?: number;
  /**
   * Real Alipay knows a precreate trade only once its QR code is scanned: until then query and
   * close answer ACQ.TRADE_NOT_EXIST. Off by default; opening `/qr/<token>` or `pay()` counts as a scan.
   */
  precreateNeedsScan?: boolean;
  /** Alipay's service fee on a paid trade, in basis points: 60 (0.6 %) by default, rounded half-up to the fen. */
  feeRateBps?: number;
  /** How long a `bill_download_url` works: 30 s by default, as Alipay's. */
  billUrlTtlMs?: number;
  /**
   * Alipay bills a day only once it is over: before that, `isp.bill_not_exist`. Tests that cannot
   * wait a day set this to download the day (or month) so far.
   */
  billsBeforePeriodEnd?: boolean;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
};

/** `method` is the full Alipay method name, e.g. 'alipay.trade.refund'; absent = any method. `times` defaults to 1. */
export type AlipayFault =
  | { kind: 'slow'; method?: string; delayMs: number; times?: number }
  | { kind: 'system_error'; method?: string; times?: number; afterEffect?: boolean; subCode?: string }
  | { kind: 'lose_notify'; times?: number }
  | { kind: 'duplicate_notify'; times?: number }
  | { kind: 'notify_before_answer'; times?: number };

export type TradeStatus = 'WAIT_BUYER_PAY' | 'TRADE_SUCCESS' | 'TRADE_CLOSED' | 'TRADE_FINISHED';
export type TradeProduct = 'precreate' | 'page' | 'wap';

export type TradeView = {
  tradeNo: string;
  outTradeNo: string;
  status: TradeStatus;
  totalAmount: string;
  transCurrency?: string;
  product: TradeProduct;
  subject: string;
  qrCode?: string;
  notifyUrl?: string;
  returnUrl?: string;
  /** As sent: `yyyy-MM-dd HH:mm:ss`, Beijing time. */
  timeExpire?: string;
  buyerLogonId?: string;
  /** ISO 8601. */
  paidAt?: string;
  refunds: Array<{ outRequestNo: string; amount: string; at: string }>;
  refundedAmount: string;
};

export type GatewayRequestRecord = { method: string; outTradeNo?: string; outRequestNo?: string; code: string; subCode?: string; at: string };

/** One POST of a notification (a duplicated attempt is two records with the same attempt number). */
export type NotificationRecord = {
  notifyId: string;
  outTradeNo: string;
  tradeStatus: string;
  attempt: number;
  delivered: boolean;
  /** The receiver's answer body (first 1000 characters). */
  answer?: string;
  /** Why there is no answer: a transport error, a timeout, or a `lose_notify` fault. */
  error?: string;
  /** The refund's `out_request_no` for a refund notification. */
  outBizNo?: string;
  at: string;
};

/** Thrown by the control methods; `status` is what the HTTP control API answers. */
export class AlipaySimulatorError extends Error {
  constructor(message: string, readonly status: 404 | 409) {
    super(message);
    this.name = 'AlipaySimulatorError';
  }
}

const ALIPAY_NOTIFY_SCHEDULE_MS = [4 * 60_000, 10 * 60_000, 10 * 60_000, 3_600_000, 2 * 3_600_000, 6 * 3_600_000, 15 * 3_600_000];

const PRECREATE = 'alipay.trade.precreate';
const BILL_QUERY = 'alipay.data.dataservice.bill.downloadurl.query';
const BILL_DOWNLOAD_PATH = '/downloadBillFile.resource';
const PAGE_PRODUCTS: Partial<Record<string, 'page' | 'wap'>> = { 'alipay.trade.page.pay': 'page', 'alipay.trade.wap.pay': 'wap' };
const PRODUCT_CODES = { page: 'FAST_INSTANT_TRADE_PAY', wap: 'QUICK_WAP_WAY' } as const;
const METHODS = new Set([
  PRECREATE, 'alipay.trade.page.pay', 'alipay.trade.wap.pay', 'alipay.trade.query', 'alipay.trade.close', 'alipay.trade.refund',
  'alipay.trade.fastpay.refund.query', BILL_QUERY,
]);
const DEFAULT_BUYER_LOGON_ID = '138****8888';

type Refund = { outRequestNo: string; amountMinor: number; at: Date; reason?: string };

type Trade = {
  tradeNo: string;
  outTradeNo: string;
  status: TradeStatus;
  totalMinor: number;
  /** The currency amounts are in: `trans_currency`, else CNY. */
  currency: string;
  transCurrency?: string;
  subject: string;
  body?: string;
  product: TradeProduct;
  /** Names the cashier page: `/qr/<token>`. */
  token: string;
  qrCode: string;
  notifyUrl?: string;
  returnUrl?: string;
  timeExpire?: string;
  expiresAtMs?: number;
  createdAt: Date;
  paidAt?: Date;
  closedAt?: Date;
  buyerId?: string;
  buyerLogonId?: string;
  scanned: boolean;
  refunds: Refund[];
  refundedMinor: number;
};

type Answer = { code: string; msg: string; subCode?: string; subMsg?: string; fields?: Record<string, string | undefined> };
type Outcome = { answer: Answer; trade?: Trade };
type Biz = Record<string, unknown>;

type Notification = {
  notifyId: string;
  url: string;
  outTradeNo: string;
  outBizNo?: string;
  params: Record<string, string>;
  mode: 'deliver' | 'lose' | 'duplicate';
  attempt: number;
};

type PostResult = { status?: number; answer?: string; error?: string };

const ok = (fields: Record<string, string | undefined> = {}): Answer => ({ code: '10000', msg: 'Success', fields });
const refused = (subCode: string, subMsg: string): Answer => ({ code: '40004', msg: 'Business Failed', subCode, subMsg });
const invalidParameter = (detail: string): Answer => refused('ACQ.INVALID_PARAMETER', `参数无效 (${detail})`);
const missingArgument = (subCode: string, subMsg: string): Answer => ({ code: '40001', msg: 'Missing Required Arguments', subCode, subMsg });
const invalidArgument = (subCode: string, subMsg: string): Answer => ({ code: '40002', msg: 'Invalid Arguments', subCode, subMsg });
/** `20000` by default; another sub_code (e.g. `aop.ACQ.SYSTEM_ERROR`, or one nobody documented) comes as a `40004`. */
const systemError = (subCode?: string): Answer => subCode
  ? { code: '40004', msg: 'Business Failed', subCode, subMsg: '系统繁忙' }
  : { code: '20000', msg: 'Service Currently Unavailable', subCode: 'ACQ.SYSTEM_ERROR', subMsg: '系统错误' };
/** How far a request's `timestamp` (Beijing time) may be from the gateway's clock. */
const MAX_CLOCK_SKEW_MS = 15 * 60_000;
const tradeNotExist = (): Answer => refused('ACQ.TRADE_NOT_EXIST', '交易不存在');
const billNotExist = (): Answer => refused('isp.bill_not_exist', '账单不存在');
const invalidBillArguments = (detail: string): Answer => refused('isv.invalid_arguments', `参数不合法 (${detail})`);

/** A generated bill, downloadable by its token until it expires. */
type BillDownload = { zip: Uint8Array; fileName: string; expiresAtMs: number };

export class AlipayGateway {
  readonly requests: GatewayRequestRecord[] = [];
  readonly notifications: NotificationRecord[] = [];

  private readonly appPublicKey: KeyObject;
  private readonly alipayPrivateKey: KeyObject;
  private readonly schedule: number[];
  private readonly notifyTimeoutMs: number;
  /** Constant per app, as a real merchant's PID is. */
  private readonly sellerId: string;
  private readonly byOutTradeNo = new Map<string, Trade>();
  private readonly byToken = new Map<string, Trade>();
  private readonly tradeNos = new Set<string>();
  private readonly faults: Array<{ fault: AlipayFault; remaining: number }> = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly feeRateBps: number;
  private readonly billUrlTtlMs: number;
  private readonly billDownloads = new Map<string, BillDownload>();
  private readonly discrepancies: PlacedDiscrepancy[] = [];
  private server: Server | undefined;
  private base = '';
  private lifetime = new AbortController();

  constructor(private readonly opts: AlipayGatewayOptions) {
    this.appPublicKey = loadPublicKey(opts.appPublicKey);
    this.alipayPrivateKey = loadPrivateKey(opts.alipayPrivateKey);
    this.schedule = [...(opts.notifyRetryScheduleMs ?? ALIPAY_NOTIFY_SCHEDULE_MS)];
    if (this.schedule.some((ms) => !Number.isFinite(ms) || ms < 0)) throw new TypeError('notifyRetryScheduleMs: delays must be finite and >= 0');
    this.notifyTimeoutMs = opts.notifyTimeoutMs ?? 5000;
    this.feeRateBps = opts.feeRateBps ?? DEFAULT_FEE_RATE_BPS;
    if (!Number.isInteger(this.feeRateBps) || this.feeRateBps < 0 || this.feeRateBps > 10_000) throw new TypeError('feeRateBps must be an integer from 0 to 10000');
    this.billUrlTtlMs = opts.billUrlTtlMs ?? 30_000;
    if (!Number.isFinite(this.billUrlTtlMs) || this.billUrlTtlMs < 0) throw new TypeError('billUrlTtlMs must be finite and >= 0');
    const digest = createHash('sha256').update(opts.appId).digest();
    this.sellerId = `2088${String(digest.readUIntBE(0, 6) % 1e12).padStart(12, '0')}`;
  }

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    if (this.server) throw new Error('the Alipay gateway simulator is already started');
    const server = createServer((req, res) => {
      this.onRequest(req, res).catch((err: unknown) => {
        this.log('simulator request failed', { url: req.url, error: errorMessage(err) });
        if (!res.headersSent) sendJson(res, 500, { error: { code: 'internal', message: errorMessage(err) } });
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.lifetime = new AbortController();
    this.server = server;
    const address = server.address() as AddressInfo;
    this.base = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
    this.log('alipay simulator listening', { gateway: this.gatewayUrl });
    return this.base;
  }

  get gatewayUrl(): string {
    if (!this.base) throw new Error('the Alipay gateway simulator is not started');
    return `${this.base}/gateway.do`;
  }

  /** Stops answering, drops open connections and cancels every pending notify retry. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.lifetime.abort();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** The customer scans (or opens the cashier) and pays: WAIT_BUYER_PAY -> TRADE_SUCCESS, then the notify goes out. */
  pay(outTradeNo: string, buyer?: { buyerLogonId?: string }): TradeView {
    const trade = this.mustFind(outTradeNo);
    if (trade.status !== 'WAIT_BUYER_PAY') throw new AlipaySimulatorError(`trade ${outTradeNo} is ${trade.status}: it cannot be paid`, 409);
    void this.payTrade(trade, buyer?.buyerLogonId);
    return this.view(trade);
  }

  /** Time runs out at Alipay: -> TRADE_CLOSED, with no notify (Alipay's default). */
  expire(outTradeNo: string): TradeView {
    const trade = this.mustFind(outTradeNo);
    if (trade.status !== 'WAIT_BUYER_PAY') throw new AlipaySimulatorError(`trade ${outTradeNo} is ${trade.status}: it cannot expire`, 409);
    this.close(trade, new Date());
    this.log('trade expired', { outTradeNo });
    return this.view(trade);
  }

  trade(outTradeNo: string): TradeView | undefined {
    const trade = this.find(outTradeNo);
    return trade && this.view(trade);
  }

  trades(): TradeView[] {
    return [...this.byOutTradeNo.values()].map((t) => this.view(this.refresh(t)));
  }

  /** Queued in order; each gateway call or notification consumes at most one matching fault. */
  injectFault(f: AlipayFault): void {
    const fault = parseFault(f);
    this.faults.push({ fault, remaining: fault.times ?? 1 });
    this.log('fault injected', { fault });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Faults still queued, with how many uses each has left. */
  pendingFaults(): Array<{ fault: AlipayFault; remaining: number }> {
    return this.faults.map((f) => ({ fault: f.fault, remaining: f.remaining }));
  }

  /** Shows on every bill generated from now on, until cleared; a link already given keeps the bill it was made for. */
  injectBillDiscrepancy(d: BillDiscrepancy): void {
    const placed = placeDiscrepancy(parseBillDiscrepancy(d), new Date(), () => this.newTradeNo());
    this.discrepancies.push(placed);
    this.log('bill discrepancy injected', { discrepancy: placed.discrepancy, outTradeNo: placed.outTradeNo });
  }

  clearBillDiscrepancies(): void {
    this.discrepancies.length = 0;
  }

  /** The discrepancies in force, each with the out_trade_no it shows under (an unknown trade's is made up). */
  billDiscrepancies(): Array<BillDiscrepancy & { outTradeNo: string }> {
    return this.discrepancies.map((p) => ({ ...p.discrepancy, outTradeNo: p.outTradeNo }));
  }

  /** Adds `sign_type=RSA2` and `sign` as Alipay does: RSA2 over every other parameter, sorted, empty values left out. */
  signNotification(params: Record<string, string>): Record<string, string> {
    const unsigned = { ...params, sign_type: 'RSA2' };
    return { ...unsigned, sign: rsa2Sign(signingString(unsigned, ['sign', 'sign_type']), this.alipayPrivateKey) };
  }

  /** POSTs form-encoded once, as a notify attempt does; resolves with the answer body, rejects on transport failure. */
  async deliverNotification(url: string, params: Record<string, string>): Promise<string> {
    const result = await this.post(url, params);
    if (result.error !== undefined) throw new Error(`notify to ${url} failed: ${result.error}`);
    return result.answer ?? '';
  }

  // ---- HTTP ----

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator');
    let parts: string[];
    try {
      parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      return sendJson(res, 400, { error: { code: 'invalid_request', message: 'malformed path' } });
    }
    const method = req.method ?? 'GET';

    if (url.pathname === '/gateway.do') {
      if (method !== 'GET' && method !== 'POST') return sendJson(res, 405, { error: { code: 'method_not_allowed', message: 'GET or POST' } });
      const body = method === 'POST' ? await readBody(req) : '';
      if (body === undefined) return sendJson(res, 413, { error: { code: 'too_large', message: 'request body over 1 MiB' } });
      return this.onGatewayCall(gatewayParams(url.searchParams, body, req.headers['content-type']), res);
    }
    if (parts[0] === 'qr' && parts.length === 2 && method === 'GET') return this.onCashier(parts[1] ?? '', res);
    if (parts[0] === 'cashier' && parts.length === 3 && parts[2] === 'pay' && method === 'POST') {
      const body = await readBody(req);
      return this.onCashierPay(parts[1] ?? '', new URLSearchParams(body ?? ''), res);
    }
    if (url.pathname === BILL_DOWNLOAD_PATH && method === 'GET') return this.onBillDownload(url.searchParams.get('token') ?? '', res);
    if (parts[0] === 'sim') return this.onControl(method, parts.slice(1), req, res);
    if (url.pathname === '/' && method === 'GET') {
      return sendJson(res, 200, {
        simulator: 'alipay', gateway: this.gatewayUrl, trades: this.byOutTradeNo.size, control: '/sim/trades, /sim/faults, /sim/requests, /sim/notifications, /sim/bill-discrepancies',
      });
    }
    return sendJson(res, 404, { error: { code: 'not_found', message: `no route for ${method} ${url.pathname}` } });
  }

  private async onGatewayCall(params: Record<string, string>, res: ServerResponse): Promise<void> {
    const method = params.method ?? '';
    const page = PAGE_PRODUCTS[method];
    let biz: Biz = {};
    const respond = (outcome: Outcome): void => {
      this.record(method, biz, outcome.answer);
      if (page) this.sendPage(res, outcome);
      else this.sendAnswer(res, method, outcome.answer);
    };

    const protocolError = this.checkProtocol(params);
    if (protocolError) return respond({ answer: protocolError });
    const parsed = parseBizContent(params.biz_content);
    if (!parsed) return respond({ answer: invalidParameter('biz_content must be a JSON object') });
    biz = parsed;

    const fault = this.takeFault((f) => (f.kind === 'slow' || f.kind === 'system_error')
      ? f.method === undefined || f.method === method
      : f.kind === 'notify_before_answer' && method === PRECREATE);
    if (fault) this.log('fault applied', { method, fault });

    let outcome: Outcome;
    if (fault?.kind === 'system_error' && !fault.afterEffect) {
      outcome = { answer: systemError(fault.subCode) };
    } else {
      outcome = this.perform(method, params, biz);
      if (fault?.kind === 'notify_before_answer' && outcome.answer.code === '10000' && outcome.trade?.status === 'WAIT_BUYER_PAY') {
        // The customer is faster than the network: the first notify attempt completes before the answer leaves.
        await this.payTrade(outcome.trade);
      }
      if (fault?.kind === 'system_error') outcome = { answer: systemError(fault.subCode) };
    }
    if (fault?.kind === 'slow') {
      try {
        await delay(fault.delayMs, undefined, { signal: this.lifetime.signal });
      } catch {
        res.destroy();
        return;
      }
    }
    respond(outcome);
  }

  /** What Alipay's gateway checks before any business logic, in its order. */
  private checkProtocol(p: Record<string, string>): Answer | undefined {
    if (!p.app_id) return missingArgument('isv.missing-app-id', '缺少AppID参数');
    if (!p.method) return missingArgument('isv.missing-method', '缺少方法名参数');
    if (!p.sign_type) return missingArgument('isv.missing-signature-type', '缺少签名类型参数');
    if (!p.sign) return missingArgument('isv.missing-signature', '缺少签名参数');
    if (!p.timestamp) return missingArgument('isv.missing-timestamp', '缺少时间戳参数');
    if (!p.version) return missingArgument('isv.missing-version', '缺少版本参数');
    if (p.app_id !== this.opts.appId) return invalidArgument('isv.invalid-app-id', '无效的AppID参数');
    if (p.sign_type !== 'RSA2') return invalidArgument('isv.invalid-signature-type', '无效的签名类型参数');
    const content = signingString(p, ['sign']);
    if (!rsa2Verify(content, p.sign, this.appPublicKey)) {
      return invalidArgument('isv.invalid-signature', `验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：${content}`);
    }
    if (!METHODS.has(p.method)) return invalidArgument('isv.invalid-method', '不存在的方法名');
    const sentAt = parseBeijingTime(p.timestamp);
    // Alipay reads the timestamp as Beijing time: a client stamping its own zone is hours off.
    // (A cashier URL is opened whenever the customer gets to it: only its format is checked.)
    if (sentAt === undefined || (!PAGE_PRODUCTS[p.method] && Math.abs(sentAt - Date.now()) > MAX_CLOCK_SKEW_MS)) return invalidArgument('isv.invalid-timestamp', '非法的时间戳参数');
    if (p.version !== '1.0') return invalidArgument('isv.invalid-version', '非法的版本参数');
    if (p.charset && !/^utf-?8$/i.test(p.charset)) return invalidArgument('isv.invalid-charset', '字符集错误');
    if (p.format && p.format.toUpperCase() !== 'JSON') return invalidArgument('isv.invalid-format', '参数格式错误');
    return undefined;
  }

  private perform(method: string, params: Record<string, string>, biz: Biz): Outcome {
    switch (method) {
      case PRECREATE: {
        const outcome = this.createTrade('precreate', params, biz);
        if (!outcome.trade) return outcome;
        return { trade: outcome.trade, answer: ok({ out_trade_no: outcome.trade.outTradeNo, qr_code: outcome.trade.qrCode }) };
      }
      case 'alipay.trade.page.pay':
        return this.createTrade('page', params, biz);
      case 'alipay.trade.wap.pay':
        return this.createTrade('wap', params, biz);
      case 'alipay.trade.query':
        return this.query(biz);
      case 'alipay.trade.close':
        return this.closeCall(biz);
      case 'alipay.trade.refund':
        return this.refund(biz);
      case 'alipay.trade.fastpay.refund.query':
        return this.refundQuery(biz);
      case BILL_QUERY:
        return this.billQuery(biz);
      default:
        return { answer: invalidArgument('isv.invalid-method', '不存在的方法名') };
    }
  }

  // ---- trade methods ----

  /** precreate, page.pay and wap.pay: the same out_trade_no is the same trade while its terms are the same. */
  private createTrade(product: TradeProduct, params: Record<string, string>, biz: Biz): Outcome {
    const outTradeNo = field(biz, 'out_trade_no');
    if (!outTradeNo || outTradeNo.length > 64) return { answer: invalidParameter('out_trade_no') };
    const subject = field(biz, 'subject');
    if (!subject || subject.length > 256) return { answer: invalidParameter('subject') };
    if (product !== 'precreate' && field(biz, 'product_code') !== PRODUCT_CODES[product]) {
      return { answer: invalidParameter(`product_code must be ${PRODUCT_CODES[product]}`) };
    }
    const transCurrency = field(biz, 'trans_currency')?.toUpperCase();
    if (transCurrency !== undefined && !SUPPORTED_CURRENCIES.has(transCurrency)) return { answer: invalidParameter('trans_currency') };
    const currency = transCurrency ?? 'CNY';
    const totalText = field(biz, 'total_amount');
    const totalMinor = totalText === undefined ? undefined : parseAmount(totalText, currency);
    if (totalMinor === undefined) return { answer: invalidParameter('total_amount') };

    const existing = this.find(outTradeNo);
    if (existing) {
      if (existing.status === 'TRADE_SUCCESS' || existing.status === 'TRADE_FINISHED') return { answer: refused('ACQ.TRADE_HAS_SUCCESS', '交易已被支付') };
      if (existing.status === 'TRADE_CLOSED') return { answer: refused('ACQ.TRADE_HAS_CLOSE', '交易已经关闭') };
      if (existing.totalMinor !== totalMinor || existing.currency !== currency) return { answer: refused('ACQ.CONTEXT_INCONSISTENT', '交易信息被篡改') };
      if (product !== 'precreate') existing.scanned = true;
      return { answer: ok(), trade: existing };
    }

    const now = Date.now();
    const timeExpire = field(biz, 'time_expire');
    const timeoutExpress = field(biz, 'timeout_express');
    let expiresAtMs: number | undefined;
    if (timeExpire !== undefined) {
      expiresAtMs = parseBeijingTime(timeExpire);
      if (expiresAtMs === undefined) return { answer: invalidParameter('time_expire must be yyyy-MM-dd HH:mm:ss') };
      if (expiresAtMs <= now) return { answer: invalidParameter('time_expire is in the past') };
    } else if (timeoutExpress !== undefined) {
      const ms = parseTimeoutExpress(timeoutExpress);
      if (ms === undefined) return { answer: invalidParameter('timeout_express') };
      expiresAtMs = now + ms;
    }

    const token = cashierToken();
    const trade: Trade = {
      tradeNo: this.newTradeNo(),
      outTradeNo,
      status: 'WAIT_BUYER_PAY',
      totalMinor,
      currency,
      transCurrency,
      subject,
      body: field(biz, 'body'),
      product,
      token,
      qrCode: `${this.base}/qr/${token}`,
      notifyUrl: params.notify_url || undefined,
      returnUrl: params.return_url || undefined,
      timeExpire,
      expiresAtMs,
      createdAt: new Date(now),
      // The browser is at the cashier: Alipay knows the trade from now on.
      scanned: product !== 'precreate',
      refunds: [],
      refundedMinor: 0,
    };
    this.byOutTradeNo.set(outTradeNo, trade);
    this.byToken.set(token, trade);
    this.log('trade created', { outTradeNo, tradeNo: trade.tradeNo, product, totalAmount: formatAmount(totalMinor, currency), currency });
    return { answer: ok(), trade };
  }

  private query(biz: Biz): Outcome {
    const found = this.lookup(biz);
    if ('answer' in found) return found;
    const t = found.trade;
    const paid = t.paidAt !== undefined;
    const amount = formatAmount(t.totalMinor, t.currency);
    return {
      trade: t,
      answer: ok({
        trade_no: t.tradeNo,
        out_trade_no: t.outTradeNo,
        buyer_logon_id: t.buyerLogonId,
        trade_status: t.status,
        total_amount: amount,
        trans_currency: t.transCurrency,
        buyer_pay_amount: paid ? amount : undefined,
        receipt_amount: paid ? amount : undefined,
        send_pay_date: t.paidAt && beijingTime(t.paidAt),
        buyer_user_id: t.buyerId,
      }),
    };
  }

  private closeCall(biz: Biz): Outcome {
    const found = this.lookup(biz);
    if ('answer' in found) return found;
    const t = found.trade;
    if (t.status !== 'WAIT_BUYER_PAY') return { trade: t, answer: refused('ACQ.TRADE_STATUS_ERROR', '交易状态不合法') };
    this.close(t, new Date());
    this.log('trade closed', { outTradeNo: t.outTradeNo });
    return { trade: t, answer: ok({ trade_no: t.tradeNo, out_trade_no: t.outTradeNo }) };
  }

  /** `out_request_no` is the refund's idempotency key; without one Alipay uses the out_trade_no. */
  private refund(biz: Biz): Outcome {
    const found = this.lookup(biz);
    if ('answer' in found) return found;
    const t = found.trade;
    const amountText = field(biz, 'refund_amount');
    const amountMinor = amountText === undefined ? undefined : parseAmount(amountText, t.currency);
    if (amountMinor === undefined) return { trade: t, answer: invalidParameter('refund_amount') };
    const outRequestNo = field(biz, 'out_request_no') ?? t.outTradeNo;
    if (outRequestNo.length > 64) return { trade: t, answer: invalidParameter('out_request_no') };

    // Checked before the trade's status: the retry of a refund that closed the trade still succeeds.
    const prior = t.refunds.find((r) => r.outRequestNo === outRequestNo);
    if (prior) {
      if (prior.amountMinor !== amountMinor) return { trade: t, answer: refused('ACQ.CONTEXT_INCONSISTENT', '交易信息被篡改') };
      return { trade: t, answer: ok(this.refundFields(t, prior, 'N')) };
    }
    if (t.status !== 'TRADE_SUCCESS') return { trade: t, answer: refused('ACQ.TRADE_STATUS_ERROR', '交易状态不合法') };
    if (t.refundedMinor + amountMinor > t.totalMinor) return { trade: t, answer: refused('ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', '退款金额超限') };

    const refund: Refund = { outRequestNo, amountMinor, at: new Date(), reason: field(biz, 'refund_reason') };
    t.refunds.push(refund);
    t.refundedMinor += amountMinor;
    if (t.refundedMinor === t.totalMinor) this.close(t, refund.at);
    this.log('refund made', { outTradeNo: t.outTradeNo, outRequestNo, amount: formatAmount(amountMinor, t.currency), status: t.status });
    void this.notify(t, refund);
    return { trade: t, answer: ok(this.refundFields(t, refund, 'Y')) };
  }

  private refundFields(t: Trade, refund: Refund, fundChange: 'Y' | 'N'): Record<string, string | undefined> {
    return {
      trade_no: t.tradeNo,
      out_trade_no: t.outTradeNo,
      buyer_logon_id: t.buyerLogonId,
      fund_change: fundChange,
      refund_fee: formatAmount(t.refundedMinor, t.currency),
      gmt_refund_pay: beijingTime(refund.at),
      buyer_user_id: t.buyerId,
    };
  }

  /** An unknown refund is not an error: a success with no refund_amount is how Alipay says "no such refund". */
  private refundQuery(biz: Biz): Outcome {
    const found = this.lookup(biz);
    if ('answer' in found) return found;
    const t = found.trade;
    const outRequestNo = field(biz, 'out_request_no') ?? t.outTradeNo;
    const refund = t.refunds.find((r) => r.outRequestNo === outRequestNo);
    if (!refund) return { trade: t, answer: ok({ out_trade_no: t.outTradeNo, out_request_no: outRequestNo }) };
    const options = Array.isArray(biz.query_options) ? biz.query_options : [];
    return {
      trade: t,
      answer: ok({
        trade_no: t.tradeNo,
        out_trade_no: t.outTradeNo,
        out_request_no: outRequestNo,
        total_amount: formatAmount(t.totalMinor, t.currency),
        refund_amount: formatAmount(refund.amountMinor, t.currency),
        refund_status: 'REFUND_SUCCESS',
        refund_reason: refund.reason,
        // Alipay returns it only when asked for.
        gmt_refund_pay: options.includes('gmt_refund_pay') ? beijingTime(refund.at) : undefined,
      }),
    };
  }

  // ---- bills ----

  /**
   * The trade bill is generated when asked for and kept behind a URL that works for `billUrlTtlMs`.
   * A day with no trades is a bill all the same (header and summary, no rows): Alipay answers
   * `isp.bill_not_exist` only for a bill not generated yet (the day is not over) and for the fund
   * bill (`signcustomer`) of an account with no fund movement, which is every account here.
   */
  private billQuery(biz: Biz): Outcome {
    const billType = field(biz, 'bill_type');
    const billDate = field(biz, 'bill_date');
    if (billType !== 'trade' && billType !== 'signcustomer') return { answer: invalidBillArguments('bill_type must be trade or signcustomer') };
    const period = billDate === undefined ? undefined : billPeriod(billDate);
    if (!period) return { answer: invalidBillArguments('bill_date must be yyyy-MM-dd or yyyy-MM') };
    if (billType === 'signcustomer' || (!this.opts.billsBeforePeriodEnd && period.endMs > Date.now())) return { answer: billNotExist() };

    this.dropExpiredBills();
    const exportedAt = new Date();
    const rows = applyDiscrepancies(billRows(this.byOutTradeNo.values(), period, this.feeRateBps), this.discrepancies, period, this.feeRateBps);
    const bill = { account: `${this.sellerId}0156`, period, exportedAt, rows };
    const token = randomBytes(16).toString('hex');
    const fileName = tradeBillFileName(bill);
    this.billDownloads.set(token, { zip: tradeBillZip(bill), fileName, expiresAtMs: exportedAt.getTime() + this.billUrlTtlMs });
    this.log('bill generated', { billDate: period.billDate, rows: bill.rows.length });
    return { answer: ok({ bill_download_url: this.billUrl(token, period.billDate, fileName, exportedAt) }) };
  }

  /** Shaped like Alipay's own download links; only the token matters here. */
  private billUrl(token: string, billDate: string, fileName: string, at: Date): string {
    const query = new URLSearchParams({
      bizType: 'trade', userId: this.sellerId, fileType: 'csv.zip', bizDates: billDate.replaceAll('-', ''), downloadFileName: fileName,
      timestamp: String(Math.floor(at.getTime() / 1000)), token,
    });
    return `${this.base}${BILL_DOWNLOAD_PATH}?${query.toString()}`;
  }

  /** An expired or unknown link is refused as Alipay's object storage refuses it: 403 and an XML error. */
  private onBillDownload(token: string, res: ServerResponse): void {
    this.dropExpiredBills();
    const download = this.billDownloads.get(token);
    if (!download) {
      const body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>AccessDenied</Code>\n  <Message>Request has expired.</Message>\n</Error>\n';
      res.writeHead(403, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) }).end(body);
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/zip',
      'content-length': download.zip.byteLength,
      'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(download.fileName)}`,
    }).end(Buffer.from(download.zip));
  }

  private dropExpiredBills(): void {
    const now = Date.now();
    for (const [token, download] of this.billDownloads) if (now >= download.expiresAtMs) this.billDownloads.delete(token);
  }

  /** The trade named by out_trade_no (or trade_no), as the gateway sees it. */
  private lookup(biz: Biz): { trade: Trade } | { answer: Answer } {
    const outTradeNo = field(biz, 'out_trade_no');
    const tradeNo = field(biz, 'trade_no');
    if (outTradeNo === undefined && tradeNo === undefined) return { answer: invalidParameter('out_trade_no or trade_no is required') };
    const trade = outTradeNo !== undefined ? this.find(outTradeNo) : [...this.byOutTradeNo.values()].find((t) => t.tradeNo === tradeNo);
    if (!trade || (tradeNo !== undefined && trade.tradeNo !== tradeNo)) return { answer: tradeNotExist() };
    if (this.opts.precreateNeedsScan && !trade.scanned) return { answer: tradeNotExist() };
    return { trade: this.refresh(trade) };
  }

  // ---- state ----

  private find(outTradeNo: string): Trade | undefined {
    const trade = this.byOutTradeNo.get(outTradeNo);
    return trade && this.refresh(trade);
  }

  private mustFind(outTradeNo: string): Trade {
    const trade = this.find(outTradeNo);
    if (!trade) throw new AlipaySimulatorError(`no trade with out_trade_no ${outTradeNo}`, 404);
    return trade;
  }

  /** Expiry is evaluated on every access, so no timer has to fire for time_expire to hold. */
  private refresh(trade: Trade): Trade {
    if (trade.status === 'WAIT_BUYER_PAY' && trade.expiresAtMs !== undefined && Date.now() >= trade.expiresAtMs) {
      this.close(trade, new Date(trade.expiresAtMs));
      this.log('trade expired', { outTradeNo: trade.outTradeNo, timeExpire: trade.timeExpire });
    }
    return trade;
  }

  private close(trade: Trade, at: Date): void {
    trade.status = 'TRADE_CLOSED';
    trade.closedAt = at;
  }

  private payTrade(trade: Trade, buyerLogonId?: string): Promise<void> {
    trade.status = 'TRADE_SUCCESS';
    trade.paidAt = new Date();
    trade.scanned = true;
    trade.buyerLogonId = buyerLogonId || DEFAULT_BUYER_LOGON_ID;
    trade.buyerId = `2088${randomDigits(12)}`;
    this.log('trade paid', { outTradeNo: trade.outTradeNo, tradeNo: trade.tradeNo });
    return this.notify(trade);
  }

  private newTradeNo(): string {
    for (;;) {
      // Alipay's shape: the Beijing day, a channel code, then a serial (28 digits in all).
      const tradeNo = `${beijingDay(Date.now())}22001${randomDigits(15)}`;
      if (!this.tradeNos.has(tradeNo)) {
        this.tradeNos.add(tradeNo);
        return tradeNo;
      }
    }
  }

  private view(t: Trade): TradeView {
    return {
      tradeNo: t.tradeNo,
      outTradeNo: t.outTradeNo,
      status: t.status,
      totalAmount: formatAmount(t.totalMinor, t.currency),
      transCurrency: t.transCurrency,
      product: t.product,
      subject: t.subject,
      qrCode: t.product === 'precreate' ? t.qrCode : undefined,
      notifyUrl: t.notifyUrl,
      returnUrl: t.returnUrl,
      timeExpire: t.timeExpire,
      buyerLogonId: t.buyerLogonId,
      paidAt: t.paidAt?.toISOString(),
      refunds: t.refunds.map((r) => ({ outRequestNo: r.outRequestNo, amount: formatAmount(r.amountMinor, t.currency), at: r.at.toISOString() })),
      refundedAmount: formatAmount(t.refundedMinor, t.currency),
    };
  }

  private takeFault(matches: (f: AlipayFault) => boolean): AlipayFault | undefined {
    const index = this.faults.findIndex((f) => matches(f.fault));
    const active = this.faults[index];
    if (!active) return undefined;
    active.remaining -= 1;
    if (active.remaining <= 0) this.faults.splice(index, 1);
    return active.fault;
  }

  private record(method: string, biz: Biz, answer: Answer): void {
    const entry: GatewayRequestRecord = { method, code: answer.code, at: new Date().toISOString() };
    const outTradeNo = field(biz, 'out_trade_no');
    const outRequestNo = field(biz, 'out_request_no');
    if (outTradeNo !== undefined) entry.outTradeNo = outTradeNo;
    if (outRequestNo !== undefined) entry.outRequestNo = outRequestNo;
    if (answer.subCode !== undefined) entry.subCode = answer.subCode;
    this.requests.push(entry);
    this.log('gateway answered', { ...entry });
  }

  // ---- answers and pages ----

  /** Every answer is signed, errors included: the SDK verifies whatever it gets when validateSign is on. */
  private sendAnswer(res: ServerResponse, method: string, answer: Answer): void {
    // The SDK looks for `<method>_response` and can verify nothing else; Alipay uses error_response only when it cannot name the method.
    const key = /^[a-z0-9_.]+$/i.test(method) ? `${method.replaceAll('.', '_')}_response` : 'error_response';
    const inner = { code: answer.code, msg: answer.msg, sub_code: answer.subCode, sub_msg: answer.subMsg, ...answer.fields };
    const body = signedEnvelope(key, inner, this.alipayPrivateKey);
    res.writeHead(200, { 'content-type': 'application/json;charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
  }

  private sendPage(res: ServerResponse, { answer, trade }: Outcome): void {
    if (answer.code === '10000' && trade) return this.sendCashier(res, trade);
    const status = answer.code === '20000' ? 503 : answer.code === '40004' && answer.subCode !== 'ACQ.INVALID_PARAMETER' ? 409 : 400;
    sendHtml(res, status, messagePage('支付宝 · 错误 Error', [`${answer.code} ${answer.msg}`, `${answer.subCode ?? ''} ${answer.subMsg ?? ''}`.trim()]));
  }

  private sendCashier(res: ServerResponse, trade: Trade): void {
    if (trade.status !== 'WAIT_BUYER_PAY') {
      return sendHtml(res, 409, messagePage('支付宝 · 无法付款 Cannot pay', [`Trade ${trade.outTradeNo} is ${trade.status}.`]));
    }
    sendHtml(res, 200, cashierPage({
      subject: trade.subject,
      amount: formatAmount(trade.totalMinor, trade.currency),
      currency: trade.currency,
      outTradeNo: trade.outTradeNo,
      tradeNo: trade.tradeNo,
      product: trade.product,
      timeExpire: trade.timeExpire,
      payAction: `/cashier/${encodeURIComponent(trade.token)}/pay`,
    }));
  }

  /** A QR code "scanned" in a browser: the precreate trade's cashier. */
  private onCashier(token: string, res: ServerResponse): void {
    const trade = this.byToken.get(token);
    if (!trade) return sendHtml(res, 404, messagePage('支付宝 · 二维码无效 Unknown QR code', ['No trade has this QR code.']));
    this.refresh(trade).scanned = true;
    this.sendCashier(res, trade);
  }

  /** The cashier's Pay button; like Alipay, the browser then returns to return_url with signed parameters. */
  private onCashierPay(token: string, form: URLSearchParams, res: ServerResponse): void {
    const trade = this.byToken.get(token);
    if (!trade) return sendHtml(res, 404, messagePage('支付宝 · 交易不存在 Unknown trade', ['No trade has this cashier.']));
    this.refresh(trade);
    if (trade.status !== 'WAIT_BUYER_PAY') {
      return sendHtml(res, 409, messagePage('支付宝 · 无法付款 Cannot pay', [`Trade ${trade.outTradeNo} is ${trade.status}.`]));
    }
    void this.payTrade(trade, form.get('buyer_logon_id')?.trim() || undefined);
    if (!trade.returnUrl) {
      return sendHtml(res, 200, messagePage('支付宝 · 付款成功 Paid', [`${formatAmount(trade.totalMinor, trade.currency)} ${trade.currency} paid for ${trade.subject}.`]));
    }
    const back = new URL(trade.returnUrl);
    for (const [k, v] of Object.entries(this.returnParams(trade))) back.searchParams.set(k, v);
    res.writeHead(303, { location: back.toString(), 'content-type': 'text/plain;charset=utf-8' }).end(`See ${back.toString()}`);
  }

  /** The synchronous return to the merchant's page: signed like a notification, but it proves nothing about settlement. */
  private returnParams(t: Trade): Record<string, string> {
    return this.signNotification({
      charset: 'utf-8',
      out_trade_no: t.outTradeNo,
      method: t.product === 'wap' ? 'alipay.trade.wap.pay.return' : 'alipay.trade.page.pay.return',
      total_amount: formatAmount(t.totalMinor, t.currency),
      trade_no: t.tradeNo,
      auth_app_id: this.opts.appId,
      version: '1.0',
      app_id: this.opts.appId,
      seller_id: this.sellerId,
      timestamp: beijingTime(new Date()),
    });
  }

  // ---- notifications ----

  /** Starts a notification; resolves once its first attempt is over (later attempts follow the schedule). */
  private notify(t: Trade, refund?: Refund): Promise<void> {
    if (!t.notifyUrl || !this.server) return Promise.resolve();
    const fault = this.takeFault((f) => f.kind === 'lose_notify' || f.kind === 'duplicate_notify');
    const n: Notification = {
      notifyId: randomBytes(16).toString('hex'),
      url: t.notifyUrl,
      outTradeNo: t.outTradeNo,
      outBizNo: refund?.outRequestNo,
      params: this.notifyParams(t, refund),
      mode: fault?.kind === 'lose_notify' ? 'lose' : fault?.kind === 'duplicate_notify' ? 'duplicate' : 'deliver',
      attempt: 0,
    };
    if (fault) this.log('fault applied', { notifyId: n.notifyId, fault });
    return this.attempt(n);
  }

  private notifyParams(t: Trade, refund?: Refund): Record<string, string> {
    const amount = formatAmount(t.totalMinor, t.currency);
    const params: Record<string, string | undefined> = {
      notify_type: 'trade_status_sync',
      app_id: this.opts.appId,
      auth_app_id: this.opts.appId,
      charset: 'utf-8',
      version: '1.0',
      trade_no: t.tradeNo,
      out_trade_no: t.outTradeNo,
      trade_status: t.status,
      total_amount: amount,
      receipt_amount: amount,
      buyer_pay_amount: amount,
      invoice_amount: amount,
      point_amount: formatAmount(0, t.currency),
      buyer_id: t.buyerId,
      buyer_logon_id: t.buyerLogonId,
      seller_id: this.sellerId,
      gmt_create: beijingTime(t.createdAt),
      gmt_payment: t.paidAt && beijingTime(t.paidAt),
      subject: t.subject,
      body: t.body,
      fund_bill_list: JSON.stringify([{ amount, fundChannel: 'ALIPAYACCOUNT' }]),
      trans_currency: t.transCurrency,
    };
    if (refund) {
      params.out_biz_no = refund.outRequestNo;
      params.refund_fee = formatAmount(t.refundedMinor, t.currency);
      params.gmt_refund = beijingTimeMs(refund.at);
      if (t.status === 'TRADE_CLOSED' && t.closedAt) params.gmt_close = beijingTime(t.closedAt);
    }
    // Alipay sends no empty parameters, so none can disagree with the signature.
    return Object.fromEntries(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
  }

  private async attempt(n: Notification): Promise<void> {
    if (this.lifetime.signal.aborted) return;
    n.attempt += 1;
    // Each attempt is signed afresh: notify_time changes, notify_id does not.
    const params = this.signNotification({ notify_time: beijingTime(new Date()), notify_id: n.notifyId, ...n.params });
    let delivered = false;
    try {
      if (n.mode === 'lose') {
        this.recordAttempt(n, params, { error: 'dropped (lose_notify fault)' });
      } else {
        const copies = n.mode === 'duplicate' ? 2 : 1;
        const results = await Promise.all(Array.from({ length: copies }, () => this.post(n.url, params)));
        for (const result of results) delivered = this.recordAttempt(n, params, result) || delivered;
      }
    } catch (err) {
      this.log('notify attempt failed', { notifyId: n.notifyId, error: errorMessage(err) });
    }
    if (delivered || this.lifetime.signal.aborted) return;
    const wait = this.schedule[n.attempt - 1];
    if (wait === undefined) {
      this.log('notify abandoned', { notifyId: n.notifyId, outTradeNo: n.outTradeNo, attempts: n.attempt });
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.attempt(n);
    }, wait);
    // Pending retries (hours apart by default) must not keep a test process alive.
    timer.unref();
    this.timers.add(timer);
  }

  private recordAttempt(n: Notification, params: Record<string, string>, result: PostResult): boolean {
    const delivered = result.answer !== undefined && result.answer.trim() === 'success';
    const entry: NotificationRecord = {
      notifyId: n.notifyId,
      outTradeNo: n.outTradeNo,
      tradeStatus: params.trade_status ?? '',
      attempt: n.attempt,
      delivered,
      at: new Date().toISOString(),
    };
    if (result.answer !== undefined) entry.answer = result.answer;
    if (result.error !== undefined) entry.error = result.error;
    if (n.outBizNo !== undefined) entry.outBizNo = n.outBizNo;
    this.notifications.push(entry);
    this.log('notify attempt', { ...entry, url: n.url, status: result.status });
    return delivered;
  }

  private async post(url: string, params: Record<string, string>): Promise<PostResult> {
    const controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(new Error(`timeout after ${this.notifyTimeoutMs}ms`)), this.notifyTimeoutMs);
    const onStop = () => controller.abort(new Error('simulator stopped'));
    this.lifetime.signal.addEventListener('abort', onStop, { once: true });
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'user-agent': 'Mozilla/4.0 (alipay-simulator)' },
        body: new URLSearchParams(params).toString(),
        redirect: 'manual',
        signal: controller.signal,
      });
      const text = await res.text();
      return { status: res.status, answer: text.slice(0, 1000) };
    } catch (err) {
      const reason: unknown = controller.signal.reason;
      return { error: controller.signal.aborted && reason instanceof Error ? reason.message : errorMessage(err) };
    } finally {
      clearTimeout(timeout);
      this.lifetime.signal.removeEventListener('abort', onStop);
    }
  }

  // ---- control API ----

  private async onControl(method: string, parts: string[], req: IncomingMessage, res: ServerResponse): Promise<void> {
    const [resource, id, action] = parts;
    try {
      if (resource === 'trades') {
        if (id === undefined && method === 'GET') return sendJson(res, 200, this.trades());
        if (id !== undefined && action === undefined && method === 'GET') {
          const view = this.trade(id);
          return view ? sendJson(res, 200, view) : sendJson(res, 404, { error: { code: 'not_found', message: `no trade with out_trade_no ${id}` } });
        }
        if (id !== undefined && action === 'pay' && method === 'POST') {
          const body = await readJson(req);
          const buyerLogonId = isRecord(body) && typeof body.buyerLogonId === 'string' ? body.buyerLogonId : undefined;
          return sendJson(res, 200, this.pay(id, { buyerLogonId }));
        }
        if (id !== undefined && action === 'expire' && method === 'POST') return sendJson(res, 200, this.expire(id));
      }
      if (resource === 'faults' && id === undefined) {
        if (method === 'GET') return sendJson(res, 200, this.pendingFaults());
        if (method === 'POST') {
          const fault = parseFault(await readJson(req));
          this.injectFault(fault);
          return sendJson(res, 201, fault);
        }
        if (method === 'DELETE') {
          this.clearFaults();
          res.writeHead(204).end();
          return;
        }
      }
      if (resource === 'bill-discrepancies' && id === undefined) {
        if (method === 'GET') return sendJson(res, 200, this.billDiscrepancies());
        if (method === 'POST') {
          this.injectBillDiscrepancy(parseBillDiscrepancy(await readJson(req)));
          return sendJson(res, 201, this.billDiscrepancies().at(-1));
        }
        if (method === 'DELETE') {
          this.clearBillDiscrepancies();
          res.writeHead(204).end();
          return;
        }
      }
      if (resource === 'requests' && id === undefined && method === 'GET') return sendJson(res, 200, this.requests);
      if (resource === 'notifications' && id === undefined && method === 'GET') return sendJson(res, 200, this.notifications);
      return sendJson(res, 404, { error: { code: 'not_found', message: `no control route for ${method} /sim/${parts.join('/')}` } });
    } catch (err) {
      if (err instanceof AlipaySimulatorError) return sendJson(res, err.status, { error: { code: err.status === 404 ? 'not_found' : 'conflict', message: err.message } });
      if (err instanceof TypeError || err instanceof SyntaxError) return sendJson(res, 400, { error: { code: 'invalid_request', message: err.message } });
      throw err;
    }
  }

  private log(msg: string, fields?: Record<string, unknown>): void {
    this.opts.log?.(msg, fields);
  }
}

// ---- helpers ----

/** Validates a fault (from code or from JSON), so a typo fails loudly instead of never matching. */
export function parseFault(input: unknown): AlipayFault {
  if (!isRecord(input)) throw new TypeError('a fault is an object with a kind');
  const { kind, method, times, delayMs, afterEffect, subCode } = input;
  if (times !== undefined && !(typeof times === 'number' && Number.isInteger(times) && times >= 1)) throw new TypeError('fault.times must be an integer >= 1');
  if (method !== undefined && (typeof method !== 'string' || !METHODS.has(method))) throw new TypeError(`fault.method must be one of ${[...METHODS].join(', ')}`);
  const common = { ...(times !== undefined ? { times } : {}) };
  switch (kind) {
    case 'slow':
      if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0) throw new TypeError('fault.delayMs must be a number >= 0');
      return { kind, delayMs, ...common, ...(method !== undefined ? { method } : {}) };
    case 'system_error':
      if (afterEffect !== undefined && typeof afterEffect !== 'boolean') throw new TypeError('fault.afterEffect must be a boolean');
      if (subCode !== undefined && (typeof subCode !== 'string' || !subCode)) throw new TypeError('fault.subCode must be a non-empty string');
      return {
        kind, ...common, ...(method !== undefined ? { method } : {}), ...(afterEffect !== undefined ? { afterEffect } : {}), ...(subCode !== undefined ? { subCode } : {}),
      };
    case 'lose_notify':
    case 'duplicate_notify':
    case 'notify_before_answer':
      if (method !== undefined) throw new TypeError(`fault ${kind} takes no method`);
      return { kind, ...common };
    default:
      throw new TypeError('fault.kind must be slow, system_error, lose_notify, duplicate_notify or notify_before_answer');
  }
}

/** The SDK splits a call between the query string (protocol parameters) and a form body (biz_content): Alipay reads both. */
function gatewayParams(query: URLSearchParams, body: string, contentType: string | undefined): Record<string, string> {
  const params: Record<string, string> = Object.fromEntries(query);
  if (body && (!contentType || contentType.toLowerCase().includes('application/x-www-form-urlencoded'))) {
    for (const [k, v] of new URLSearchParams(body)) params[k] = v;
  }
  return params;
}

function parseBizContent(text: string | undefined): Biz | undefined {
  if (text === undefined || text === '') return {};
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A biz_content field as text: Alipay takes `"total_amount": 88.88` as readily as `"88.88"`. */
function field(biz: Biz, key: string): string | undefined {
  const value = biz[key];
  if (typeof value === 'string') return value.trim() === '' ? undefined : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function randomDigits(n: number): string {
  let digits = '';
  while (digits.length < n) digits += String(randomInt(0, 1_000_000_000)).padStart(9, '0');
  return digits.slice(0, n);
}

/** Shaped like Alipay's QR payloads (`https://qr.alipay.com/bax0…`). */
function cashierToken(): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  return `bax${Array.from(randomBytes(21), (b) => alphabet[b % alphabet.length]).join('')}`;
}
