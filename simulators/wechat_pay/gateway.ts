import type { KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BillDiscrepancy } from './bill';
import { DEFAULT_FEE_RATE_BPS, TradeBills } from './bill';
import { WechatPaySimulatorError, serveControl } from './control';
import type { WechatPayFault } from './faults';
import { FaultQueue, parseFault } from './faults';
import { newOpenid, newTransactionId } from './formats';
import { errorMessage, readBody, sendJson } from '../http';
import type { NotificationRecord, NotifyEventType, NotifySubject, SignedNotification } from './notify';
import { Notifier, WECHAT_NOTIFY_SCHEDULE_MS } from './notify';
import { servePage } from './qr-page';
import type { ApiDeps, RequestRecord } from './routes';
import { serveApi } from './routes';
import { loadPrivateKey, loadPublicKey, signedHeaders } from './signing';
import type { Context, Order, OrderView, Refund, RefundView } from './state';
import { SimState, orderView, refundNotifyJson, refundView, tradeState, transactionJson } from './state';

export { generateKeyPair, randomCertificateSerial, randomPublicKeyId } from './signing';
export { parseFault } from './faults';
export { WechatPaySimulatorError } from './control';
export type { RequestRecord } from './routes';
export type { WechatPayFault } from './faults';
export type { BillDiscrepancy as WechatPayBillDiscrepancy } from './bill';
export type { NotificationRecord, NotifyEventType } from './notify';
export type { OrderView, RefundStatus, RefundView, TradeState, TradeType } from './state';

/**
 * A local WeChat Pay API v3 that the real `wechatpay-axios-plugin` talks to over HTTP: signed
 * requests in, signed answers out, notifies encrypted with the APIv3 key and retried on WeChat's
 * schedule, WeChat's order and refund states and idempotency rules, and injectable faults for
 * the cases that hurt in production.
 */

export type WechatPaySimulatorOptions = {
  mchid: string;
  appid: string;
  /** Verifies request signatures; the merchant certificate serial the SDK sends as serial_no. */
  merchantSerial: string;
  /** PEM (SPKI). */
  merchantPublicKey: string;
  /** Signs answers and notifies: a platform certificate serial (hex) or a public-key id `PUB_KEY_ID_…` (public-key mode). */
  platformSerial: string;
  /** PEM (PKCS#8). */
  platformPrivateKey: string;
  /** 32 ASCII characters: encrypts notify resources. */
  apiV3Key: string;
  /** Delays between notify attempts; WeChat's by default: 15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m, 30m, 60m, 3h, 3h, 3h, 6h, 6h (about 24 h). */
  notifyRetryScheduleMs?: number[];
  /** Per notify attempt; 5000 by default. */
  notifyTimeoutMs?: number;
  /** The fee WeChat keeps on each payment, in basis points (60 = 0.6 %, the default), as the trade bill shows it. */
  feeRateBps?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
};

export class WechatPaySimulator {
  readonly requests: RequestRecord[] = [];
  readonly notifications: NotificationRecord[];

  private readonly merchantKey: KeyObject;
  private readonly platformKey: KeyObject;
  private readonly state: SimState;
  private readonly ctx: Context;
  private readonly notifier: Notifier;
  private readonly faults = new FaultQueue();
  private readonly bills: TradeBills;
  private server: Server | undefined;
  private base = '';
  private lifetime = new AbortController();

  constructor(private readonly opts: WechatPaySimulatorOptions) {
    if (!opts.mchid || !opts.appid || !opts.merchantSerial || !opts.platformSerial) throw new TypeError('mchid, appid, merchantSerial and platformSerial are required');
    // AES-256 takes the key's 32 bytes as they are: WeChat's merchant console accepts only 32 ASCII characters.
    if (!/^[\x21-\x7e]{32}$/.test(opts.apiV3Key)) throw new TypeError('apiV3Key must be 32 ASCII characters');
    this.merchantKey = loadPublicKey(opts.merchantPublicKey);
    this.platformKey = loadPrivateKey(opts.platformPrivateKey);
    const scheduleMs = [...(opts.notifyRetryScheduleMs ?? WECHAT_NOTIFY_SCHEDULE_MS)];
    if (scheduleMs.some((ms) => !Number.isFinite(ms) || ms < 0)) throw new TypeError('notifyRetryScheduleMs: delays must be finite and >= 0');
    const log = (msg: string, fields?: Record<string, unknown>) => this.log(msg, fields);
    this.state = new SimState(log);
    this.ctx = { state: this.state, merchant: { mchid: opts.mchid, appid: opts.appid }, pageUrl: (token) => this.pageUrl(token), log };
    this.notifier = new Notifier({ serial: opts.platformSerial, key: this.platformKey, apiV3Key: opts.apiV3Key, scheduleMs, timeoutMs: opts.notifyTimeoutMs ?? 5000, log });
    this.notifications = this.notifier.records;
    const feeRateBps = opts.feeRateBps ?? DEFAULT_FEE_RATE_BPS;
    if (!Number.isInteger(feeRateBps) || feeRateBps < 0 || feeRateBps > 10_000) throw new TypeError('feeRateBps must be an integer from 0 to 10000');
    this.bills = new TradeBills({
      state: this.state, merchant: this.ctx.merchant, feeRateBps, log,
      downloadUrl: (token) => `${this.base}/v3/billdownload/file?token=${encodeURIComponent(token)}`,
    });
  }

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    if (this.server) throw new Error('the WeChat Pay simulator is already started');
    const server = createServer((req, res) => {
      this.onRequest(req, res).catch((err: unknown) => {
        this.log('simulator request failed', { url: req.url, error: errorMessage(err) });
        if (!res.headersSent) sendJson(res, 500, { code: 'SYSTEM_ERROR', message: errorMessage(err) });
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
    this.notifier.start();
    this.server = server;
    const address = server.address() as AddressInfo;
    this.base = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
    this.log('wechat pay simulator listening', { baseUrl: this.base });
    return this.base;
  }

  /** Where the SDK's `baseURL` points: the API paths (`/v3/…`) hang off it. */
  get baseUrl(): string {
    if (!this.base) throw new Error('the WeChat Pay simulator is not started');
    return this.base;
  }

  /** Stops answering, drops open connections and cancels every pending notify retry. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.lifetime.abort();
    this.notifier.stop();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** The customer pays: NOTPAY -> SUCCESS with a transaction_id, then TRANSACTION.SUCCESS goes to the order's notify_url. */
  pay(outTradeNo: string, payer?: { openid?: string }): OrderView {
    const order = this.mustFindOrder(outTradeNo);
    if (order.status !== 'NOTPAY') throw new WechatPaySimulatorError(`order ${outTradeNo} is ${tradeState(order)}: it cannot be paid`, 409);
    if (order.tradeType === 'JSAPI' && payer?.openid !== undefined && payer.openid !== order.openid) {
      throw new WechatPaySimulatorError(`order ${outTradeNo} was placed for openid ${order.openid}`, 409);
    }
    void this.payOrder(order, payer?.openid);
    return this.orderView(order);
  }

  order(outTradeNo: string): OrderView | undefined {
    const order = this.state.order(outTradeNo);
    return order && this.orderView(order);
  }

  orders(): OrderView[] {
    return this.state.allOrders().map((o) => this.orderView(o));
  }

  refund(outRefundNo: string): RefundView | undefined {
    const refund = this.state.refund(outRefundNo);
    return refund && refundView(refund);
  }

  /** A PROCESSING refund ends; REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED goes to its notify_url. CLOSED gives the amount back to the order. */
  settleRefund(outRefundNo: string, status: 'SUCCESS' | 'ABNORMAL' | 'CLOSED'): RefundView {
    const refund = this.state.refund(outRefundNo);
    if (!refund) throw new WechatPaySimulatorError(`no refund with out_refund_no ${outRefundNo}`, 404);
    if (refund.status !== 'PROCESSING') throw new WechatPaySimulatorError(`refund ${outRefundNo} is ${refund.status}: only a PROCESSING refund settles`, 409);
    if (!['SUCCESS', 'ABNORMAL', 'CLOSED'].includes(status)) throw new TypeError('status must be SUCCESS, ABNORMAL or CLOSED');
    refund.status = status;
    if (status === 'SUCCESS') refund.successAt = new Date();
    this.log('refund settled', { outRefundNo, status });
    void this.notifyRefund(refund);
    return refundView(refund);
  }

  /** Queued in order; each API call or notification consumes at most one matching fault. */
  injectFault(f: WechatPayFault): void {
    const fault = parseFault(f);
    this.faults.push(fault);
    this.log('fault injected', { fault });
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /** Faults still queued, with how many uses each has left. */
  pendingFaults(): Array<{ fault: WechatPayFault; remaining: number }> {
    return this.faults.pending();
  }

  /**
   * Every trade bill served from now on disagrees with the books: a payment's line missing, its
   * amount or fee changed (fen), or a payment we never made added to the day. The bill's summary
   * counts what its lines say, as a genuine bill would.
   */
  injectBillDiscrepancy(d: BillDiscrepancy): void {
    this.bills.plant(d);
    this.log('bill discrepancy injected', { discrepancy: d });
  }

  clearBillDiscrepancies(): void {
    this.bills.clear();
  }

  /** The trade bill (ALL) of a Beijing day (`YYYY-MM-DD`) as the download would serve it now, uncompressed; undefined when the day has none. */
  tradeBill(date: string): string | undefined {
    return this.bills.bill(date);
  }

  /**
   * A correctly signed and encrypted notify carrying `resource` (e.g. `order(…).transaction`), for
   * tests of forged notifies: sign it with another key, name another serial, date it, or alter it after.
   */
  buildNotification(
    eventType: NotifyEventType,
    resource: object,
    opts: { timestamp?: number; serial?: string; signWith?: string } = {},
  ): SignedNotification {
    const { body } = this.notifier.envelope(eventType, resource);
    const key = opts.signWith !== undefined ? loadPrivateKey(opts.signWith) : undefined;
    return { headers: this.notifier.headers(body, { timestamp: opts.timestamp, serial: opts.serial, key }), body };
  }

  /** POSTs once, as a notify attempt does; resolves with the receiver's answer, rejects on transport failure. */
  async deliverNotification(url: string, n: SignedNotification): Promise<{ status: number; body: string }> {
    const result = await this.notifier.post(url, n);
    if (result.status === undefined) throw new Error(`notify to ${url} failed: ${result.error ?? 'no answer'}`);
    return { status: result.status, body: result.answer ?? '' };
  }

  // ---- HTTP ----

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const method = req.method ?? 'GET';
    if (url.pathname.startsWith('/v3/')) return serveApi(this.apiDeps(), req, res, url);
    let parts: string[];
    try {
      parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      return sendJson(res, 400, { code: 'INVALID_REQUEST', message: 'malformed path' });
    }
    if (parts[0] === 'qr' && parts.length === 2 && (method === 'GET' || method === 'POST')) {
      if (method === 'POST') await readBody(req);
      const deps = { orderByToken: (token: string) => this.state.orderByToken(token), pay: (order: Order) => void this.payOrder(order) };
      return servePage(deps, method, parts[1] ?? '', url, res);
    }
    if (parts[0] === 'sim') return serveControl(this, method, parts.slice(1), req, res);
    if (url.pathname === '/' && method === 'GET') {
      return sendJson(res, 200, { simulator: 'wechat_pay', baseUrl: this.base, orders: this.state.allOrders().length, control: '/sim/orders, /sim/refunds/<out_refund_no>, /sim/faults, /sim/bill-discrepancies, /sim/requests, /sim/notifications' });
    }
    return sendJson(res, 404, { code: 'NOT_FOUND', message: `no route for ${method} ${url.pathname}` });
  }

  private apiDeps(): ApiDeps {
    return {
      ctx: this.ctx,
      credentials: { mchid: this.opts.mchid, merchantSerial: this.opts.merchantSerial, merchantKey: this.merchantKey },
      faults: this.faults,
      signal: this.lifetime.signal,
      sign: (body) => signedHeaders(body, this.opts.platformSerial, this.platformKey),
      record: (r) => {
        this.requests.push(r);
        this.log('api answered', { ...r });
      },
      payOrder: (order) => this.payOrder(order),
      notifyRefund: (refund) => this.notifyRefund(refund),
      bills: this.bills,
    };
  }

  // ---- effects and notifies ----

  private payOrder(order: Order, openid?: string): Promise<void> {
    const at = new Date();
    this.state.markPaid(order, openid ?? order.openid ?? newOpenid(), at, newTransactionId(at));
    this.log('order paid', { outTradeNo: order.outTradeNo, transactionId: order.transactionId });
    return this.notify(order.notifyUrl, 'TRANSACTION.SUCCESS', transactionJson(order, this.ctx.merchant), { outTradeNo: order.outTradeNo });
  }

  /** Only when the refund named a notify_url: the merchant platform's configured URL is not simulated. */
  private notifyRefund(refund: Refund): Promise<void> {
    if (!refund.notifyUrl || refund.status === 'PROCESSING') return Promise.resolve();
    const subject = { outTradeNo: refund.order.outTradeNo, outRefundNo: refund.outRefundNo };
    return this.notify(refund.notifyUrl, `REFUND.${refund.status}`, refundNotifyJson(refund, this.ctx.merchant), subject);
  }

  private notify(url: string, eventType: NotifyEventType, resource: object, subject: NotifySubject): Promise<void> {
    const fault = this.faults.take((f) => f.kind === 'lose_notify' || f.kind === 'duplicate_notify' || f.kind === 'tamper_notify');
    if (fault) this.log('fault applied', { eventType, ...subject, fault });
    const mode = fault?.kind === 'lose_notify' ? 'lose' : fault?.kind === 'duplicate_notify' ? 'duplicate' : fault?.kind === 'tamper_notify' ? 'tamper' : 'deliver';
    return this.notifier.send(url, eventType, resource, subject, mode);
  }

  // ---- helpers ----

  private pageUrl(token: string): string {
    return `${this.base}/qr/${encodeURIComponent(token)}`;
  }

  private mustFindOrder(outTradeNo: string): Order {
    const order = this.state.order(outTradeNo);
    if (!order) throw new WechatPaySimulatorError(`no order with out_trade_no ${outTradeNo}`, 404);
    return order;
  }

  private orderView(order: Order): OrderView {
    return orderView(order, this.ctx.merchant, this.pageUrl(order.token));
  }

  private log(msg: string, fields?: Record<string, unknown>): void {
    this.opts.log?.(msg, fields);
  }
}
