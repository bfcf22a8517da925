import { createHash, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { Aes, Rsa, Wechatpay } from 'wechatpay-axios-plugin';
import type { SettlementLine, SettlementReports } from '../../reconciliation/report';
import type {
  AuthorizeRequest, AuthorizeResult, CancelRequest, CaptureRequest, OperationResult, PaymentProblem, PaymentProvider, PaymentShape,
  ProviderPaymentState, RefundRequest, RefundResult, StatusRequest,
} from '../provider';
import { ProviderFault, qrCodeAction, redirectAction } from '../provider';
import type { WechatError, WechatTransaction } from './wechatpay.mapper';
import {
  REFUND_REFUSALS, TRADE_TYPE_OF_CHANNEL, declineOf, errorOf, fenProblem, jsapiMessage, jsapiParameters, orderBody,
  refundResultOf, stateOf,
} from './wechatpay.mapper';
import { TradeBillFormatError, readTradeBill, totalsProblem } from './wechatpay.bill';

export type WechatPayOptions = {
  mchid: string;
  appid: string;
  /** The merchant API certificate's serial: names our key in every request's signature. */
  merchantSerial: string;
  merchantPrivateKey: string;
  /** WeChat Pay's verification keys by platform certificate serial or `PUB_KEY_ID_…` (both at once during a switch-over). */
  platformKeys: Record<string, string>;
  /** The APIv3 key (32 characters): decrypts notification resources. */
  apiV3Key: string;
  baseUrl: string;
  /** Where WeChat Pay POSTs its notifications: this API's /webhooks/wechat_pay. */
  notifyUrl: string;
  timeoutMs: number;
};

/** Chained calls of the SDK (`wx.v3.pay.transactions.native.post(body)`): typed loosely by the package. */
type Chain = { [segment: string]: Chain } & {
  get(config?: object): Promise<{ status: number; data: unknown }>;
  post(data?: object, config?: object): Promise<{ status: number; data: unknown }>;
};

/** Refuses a notify whose timestamp is this far from ours, either way (WeChat's rule). */
const MAX_SKEW_SECONDS = 300;

/** What `GET /v3/bill/tradebill` answers: where to download the day's bill, and the SHA-1 of the (uncompressed) file. */
type BillTicket = { hash_type: string; hash_value: string; download_url: string };

const gunzipped = promisify(gunzip);
/** A day's bill can run to megabytes: WECHATPAY_TIMEOUT_MS is sized for API calls, not for it. */
const BILL_DOWNLOAD_TIMEOUT_MS = 120_000;
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/**
 * WeChat Pay API v3 through `wechatpay-axios-plugin`: every request signed with the merchant key,
 * every answer's signature verified with the platform key its `Wechatpay-Serial` names (±300 s),
 * notifications verified and decrypted (AES-256-GCM, tag checked). The payment id is the
 * `out_trade_no` and the refund id the `out_refund_no`: WeChat's own idempotency keys, so a
 * request sent again after a timeout or `SYSTEM_ERROR` acts once.
 */
export class WechatPayProvider implements PaymentProvider, SettlementReports {
  readonly name = 'wechat_pay' as const;
  /** WeChat Pay's bill day runs midnight to midnight, Beijing time. */
  readonly reportTimeZone = 'Asia/Shanghai';
  private readonly wx: { v3: Chain };
  private readonly merchantKey: KeyObject;
  private readonly platformKeys: Record<string, KeyObject>;

  /** Throws a readable error for a key that cannot be parsed, never echoing it. */
  constructor(private readonly opts: WechatPayOptions) {
    this.merchantKey = parsed(() => createPrivateKey(opts.merchantPrivateKey), 'WECHATPAY_MERCHANT_PRIVATE_KEY is not an RSA private key (PEM).');
    this.platformKeys = Object.fromEntries(Object.entries(opts.platformKeys).map(([serial, pem]) => [
      serial, parsed(() => createPublicKey(pem), `WECHATPAY_PLATFORM_KEYS[${serial}] is not an RSA public key (PEM).`),
    ]));
    if (Object.keys(this.platformKeys).length === 0) throw new Error('WECHATPAY_PLATFORM_KEYS names no platform key.');
    if (Buffer.byteLength(opts.apiV3Key) !== 32) throw new Error('WECHATPAY_APIV3_KEY must be 32 characters.');
    this.wx = new Wechatpay({
      mchid: opts.mchid, serial: opts.merchantSerial, privateKey: this.merchantKey as never, certs: this.platformKeys as never,
      baseURL: opts.baseUrl, timeout: opts.timeoutMs,
    }) as unknown as { v3: Chain };
  }

  get ids(): { mchid: string; appid: string } {
    return { mchid: this.opts.mchid, appid: this.opts.appid };
  }

  problemWith(p: PaymentShape): PaymentProblem | undefined {
    if (p.methodType !== 'wechat_pay') return { param: 'payment_method.type', code: 'provider_unavailable', message: 'WeChat Pay serves `wechat_pay` payments only.' };
    if (p.captureMethod !== 'automatic') {
      return { param: 'capture_method', code: 'parameter_invalid', message: 'WeChat Pay settles when the customer pays: capture_method must be automatic.' };
    }
    const trade = TRADE_TYPE_OF_CHANNEL[p.channel];
    if (!trade) return { param: 'channel', code: 'parameter_invalid', message: `WeChat Pay has no ${p.channel} payments: use qr, pos, web, app or phone.` };
    if (trade === 'jsapi' && p.hasToken === false) {
      return { param: 'payment_method.token', code: 'parameter_missing', message: 'Missing required parameter: payment_method.token (the payer\'s openid for a payment inside WeChat).' };
    }
    const problem = fenProblem(p.amount, p.currency);
    return problem ? { param: problem.includes('CNY') ? 'currency' : 'amount', code: problem.includes('CNY') ? 'invalid_currency' : 'invalid_amount', message: problem } : undefined;
  }

  /** A QR code to scan (Native), the signed parameters for WeChat's in-app cashier (JSAPI), or the H5 cashier URL. */
  async authorize(req: AuthorizeRequest): Promise<AuthorizeResult> {
    const trade = TRADE_TYPE_OF_CHANNEL[req.channel];
    const problem = fenProblem(req.amount, req.currency);
    if (!trade || problem) throw new ProviderFault(`wechat_pay: cannot take this payment (${req.channel}, ${req.currency})`, false);
    if (trade === 'h5' && !req.clientIp) throw new ProviderFault('wechat_pay: an H5 payment needs the payer\'s IP address (client_ip)', false);
    const body = orderBody(req, trade, { ...this.ids, notifyUrl: this.opts.notifyUrl });
    const answer = await this.call('order', () => this.wx.v3.pay!.transactions![trade]!.post(body));
    if ('answered' in answer) {
      // Sent again after a lost answer, and paid meanwhile: the order is there and settled.
      if (answer.answered.code === 'ORDERPAID') return { status: 'authorized', reference: req.paymentId };
      return { status: 'declined', reference: req.paymentId, ...declineOf(answer.answered) };
    }
    const data = answer.data as { code_url?: string; prepay_id?: string; h5_url?: string };
    if (trade === 'native' && data.code_url) return { status: 'requires_action', reference: req.paymentId, nextAction: qrCodeAction(data.code_url, req.actionExpiresAt) };
    if (trade === 'h5' && data.h5_url) return { status: 'requires_action', reference: req.paymentId, nextAction: redirectAction(data.h5_url, req.actionExpiresAt) };
    if (trade === 'jsapi' && data.prepay_id) {
      const params = jsapiParameters(this.opts.appid, data.prepay_id, String(Math.floor(Date.now() / 1000)), randomBytes(16).toString('hex'));
      const paySign = Rsa.sign(jsapiMessage(params), this.merchantKey as never);
      return { status: 'requires_action', reference: req.paymentId, nextAction: { type: 'wechat_jsapi', jsapi_parameters: { ...params, paySign }, expires_at: req.actionExpiresAt } };
    }
    throw new ProviderFault(`wechat_pay: the ${trade} order answered without its ${trade === 'native' ? 'code_url' : trade === 'h5' ? 'h5_url' : 'prepay_id'}`, true, true);
  }

  /** A paid WeChat Pay order is already settled: capturing confirms it was paid, in full. */
  async capture(req: CaptureRequest): Promise<OperationResult> {
    const state = await this.getStatus({ paymentId: req.paymentId, reference: req.reference, currency: req.currency });
    if (state.status === 'captured') {
      if (state.amountCaptured === req.amount) return { status: 'succeeded' };
      return { status: 'declined', code: 'amount_mismatch', message: `WeChat Pay settled ${state.amountCaptured}, not ${req.amount}.` };
    }
    if (state.status === 'canceled') return { status: 'declined', code: 'order_closed', message: 'The WeChat Pay order is closed.' };
    throw new ProviderFault(`wechat_pay: order ${req.paymentId} is not paid yet (${state.status})`, true);
  }

  /** Closes an order still waiting for the customer (204, also when already closed). */
  async cancel(req: CancelRequest): Promise<OperationResult> {
    const answer = await this.call('close', () => this.order(req.paymentId).close!.post({ mchid: this.opts.mchid }, { out_trade_no: req.paymentId }));
    if (!('answered' in answer) || answer.answered.code === 'ORDER_NOT_EXIST' || answer.answered.code === 'ORDER_CLOSED') return { status: 'succeeded' };
    return { status: 'declined', ...declineOf(answer.answered) };
  }

  /**
   * The refund id is the `out_refund_no`: a refund sent again after `SYSTEM_ERROR` or a timeout is
   * the same refund at WeChat, answered with its current status (PROCESSING until it settles).
   */
  async refund(req: RefundRequest): Promise<RefundResult> {
    const problem = fenProblem(req.amount, req.currency);
    if (problem) return { status: 'declined', code: 'invalid_amount', message: problem };
    const total = req.paymentAmount ?? (await this.paidTotal(req.paymentId));
    const body = {
      out_trade_no: req.paymentId, out_refund_no: req.refundId, notify_url: this.opts.notifyUrl,
      amount: { refund: req.amount, total, currency: 'CNY' },
    };
    const answer = await this.call('refund', () => this.wx.v3.refund!.domestic!.refunds!.post(body));
    if (!('answered' in answer)) return refundResultOf(answer.data as { status: string; out_refund_no?: string });
    // A refusal may follow an earlier attempt that did refund: the refund query says.
    const known = await this.refundQuery(req.refundId);
    if (known) return refundResultOf(known);
    if (REFUND_REFUSALS.has(answer.answered.code)) return { status: 'declined', ...declineOf(answer.answered) };
    throw new ProviderFault(`wechat_pay: refund ${req.refundId} answered ${answer.answered.code}`, true, true);
  }

  async getStatus(req: StatusRequest): Promise<ProviderPaymentState> {
    const answer = await this.call('query', () => this.order(req.paymentId).get({ params: { mchid: this.opts.mchid }, out_trade_no: req.paymentId }));
    if ('answered' in answer) {
      if (answer.answered.code === 'ORDER_NOT_EXIST') return { status: 'unknown' };
      throw new ProviderFault(`wechat_pay: order query refused: ${answer.answered.code}`, true);
    }
    return stateOf(answer.data as WechatTransaction);
  }

  /**
   * A notification whose signature verifies with the platform key its serial names, within
   * ±5 minutes, decrypted with the APIv3 key (the GCM tag proves the resource unaltered).
   * Answers null for anything else, including WeChat's deliberate `WECHATPAY/SIGNTEST/` probes.
   */
  openNotification(raw: Buffer, headers: Record<string, string | string[] | undefined>, now = Date.now()): { id: string; eventType: string; resource: Record<string, unknown> } | null {
    const header = (name: string) => {
      const v = headers[name.toLowerCase()];
      return Array.isArray(v) ? v[0] : v;
    };
    const [timestamp, nonce, signature, serial] = ['Wechatpay-Timestamp', 'Wechatpay-Nonce', 'Wechatpay-Signature', 'Wechatpay-Serial'].map(header);
    if (!timestamp || !nonce || !signature || !serial || signature.startsWith('WECHATPAY/SIGNTEST/')) return null;
    const key = Object.prototype.hasOwnProperty.call(this.platformKeys, serial) ? this.platformKeys[serial] : undefined;
    if (!key || !/^\d+$/.test(timestamp) || Math.abs(now / 1000 - Number(timestamp)) >= MAX_SKEW_SECONDS) return null;
    const body = raw.toString('utf8');
    try {
      if (!Rsa.verify(`${timestamp}\n${nonce}\n${body}\n`, signature, key as never)) return null;
      const event = JSON.parse(body) as { id?: string; event_type?: string; resource?: { algorithm?: string; ciphertext?: string; nonce?: string; associated_data?: string } };
      const r = event.resource;
      if (!event.id || !event.event_type || r?.algorithm !== 'AEAD_AES_256_GCM' || !r.ciphertext || !r.nonce) return null;
      const plain = Aes.AesGcm.decrypt(r.ciphertext, this.opts.apiV3Key, r.nonce, r.associated_data ?? '');
      return { id: event.id, eventType: event.event_type, resource: JSON.parse(plain) as Record<string, unknown> };
    } catch {
      return null; // a tampered ciphertext fails its GCM tag; anything unparsable is no notification
    }
  }

  /**
   * The trade bill (ALL) of a Beijing day, read into lines: applied for, downloaded gzipped, its
   * SHA-1 checked against the signed answer's hash_value (the download is not signed), and its
   * lines checked against its own summary. A day without a payment or refund has no bill: [].
   * `livemode` is not looked at: these credentials serve one mode, the one the caller asks for.
   */
  async settlementReport(req: { date: string; livemode: boolean }): Promise<SettlementLine[]> {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(req.date)) throw new ProviderFault(`wechat_pay: trade bill date ${req.date} is not YYYY-MM-DD`, false);
    const ticket = await this.tradeBillTicket(req.date);
    if (!ticket) return [];
    const text = await this.billText(await this.downloadBill(ticket.download_url), ticket.hash_value, req.date);
    return this.billLines(text, req.date);
  }

  /** WeChat bills a day from about 10:00 the next morning: until then STATEMENT_CREATING, asked again later. */
  private async tradeBillTicket(date: string): Promise<BillTicket | undefined> {
    const params = { bill_date: date, bill_type: 'ALL', tar_type: 'GZIP' };
    const answer = await this.call('trade bill', () => this.wx.v3.bill!.tradebill!.get({ params }));
    if ('answered' in answer) {
      if (answer.answered.code === 'NO_STATEMENT_EXIST') return undefined;
      const notYet = answer.answered.code === 'STATEMENT_CREATING';
      throw new ProviderFault(`wechat_pay: trade bill of ${date} refused: ${answer.answered.code} ${answer.answered.message}`, notYet);
    }
    const ticket = answer.data as Partial<BillTicket>;
    if (ticket.hash_type !== 'SHA1' || !/^[0-9a-f]{40}$/i.test(ticket.hash_value ?? '') || typeof ticket.download_url !== 'string') {
      throw new ProviderFault(`wechat_pay: trade bill of ${date} answered without a SHA1 hash_value and a download_url`, true);
    }
    return ticket as BillTicket;
  }

  /**
   * A signed GET of the download_url through the SDK, as WeChat requires; our Authorization only
   * goes to WeChat's own host. The answer is a file, not signed JSON: the SDK's verifier (and its
   * JSON parsing) is replaced for this call, and the hash_value vouches for the file instead.
   */
  private async downloadBill(downloadUrl: string): Promise<Buffer> {
    const path = this.apiPathOf(downloadUrl);
    if (!path) throw new ProviderFault(`wechat_pay: the bill's download_url is not on ${this.opts.baseUrl}: not sending our signature there`, false);
    const endpoint = (this.wx.v3 as unknown as { chain(path: string): Chain }).chain(path.pathname);
    const config = { params: path.params, responseType: 'arraybuffer', transformResponse: [fileOrError], timeout: BILL_DOWNLOAD_TIMEOUT_MS };
    const answer = await this.call('bill download', () => endpoint.get(config));
    // An expired link or a passing refusal: the next attempt applies for a fresh one.
    if ('answered' in answer) throw new ProviderFault(`wechat_pay: bill download refused: ${answer.answered.code} ${answer.answered.message}`, true);
    return Buffer.from(answer.data as Uint8Array);
  }

  /** The path under `{baseUrl}/v3/` and the query of a URL on our WeChat Pay host; undefined for anywhere else. */
  private apiPathOf(url: string): { pathname: string; params: Record<string, string> } | undefined {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return undefined;
    }
    const base = new URL(this.opts.baseUrl.endsWith('/') ? this.opts.baseUrl : `${this.opts.baseUrl}/`);
    const prefix = `${base.pathname}v3/`;
    if (target.origin !== base.origin || !target.pathname.startsWith(prefix)) return undefined;
    return { pathname: target.pathname.slice(prefix.length), params: Object.fromEntries(target.searchParams) };
  }

  /** Gunzipped (unless the transport already did) and checked against the hash: a damaged file is fetched again. */
  private async billText(raw: Buffer, hashValue: string, date: string): Promise<string> {
    let bill: Buffer;
    try {
      bill = raw.subarray(0, 2).equals(GZIP_MAGIC) ? await gunzipped(raw) : raw;
    } catch (err) {
      throw new ProviderFault(`wechat_pay: the trade bill of ${date} is not a readable gzip file (${(err as Error).message})`, true);
    }
    const sha1 = createHash('sha1').update(bill).digest('hex');
    if (sha1 !== hashValue.toLowerCase()) throw new ProviderFault(`wechat_pay: the trade bill of ${date} has SHA-1 ${sha1}, not the hash_value ${hashValue}`, true);
    return bill.toString('utf8');
  }

  /** A bill that verifies but cannot be read, or whose lines contradict its summary, is WeChat's to explain: no retry fixes it. */
  private billLines(text: string, date: string): SettlementLine[] {
    try {
      const bill = readTradeBill(text);
      const problem = totalsProblem(bill);
      if (problem) throw new ProviderFault(`wechat_pay: the trade bill of ${date} does not add up: ${problem}`, false);
      return bill.lines;
    } catch (err) {
      if (err instanceof TradeBillFormatError) throw new ProviderFault(`wechat_pay: the trade bill of ${date} is malformed: ${err.message}`, false);
      throw err;
    }
  }

  private order(outTradeNo: string): Chain {
    void outTradeNo;
    return this.wx.v3.pay!.transactions!['out-trade-no']!['{out_trade_no}']!;
  }

  private async paidTotal(paymentId: string): Promise<number> {
    const state = await this.getStatus({ paymentId, reference: paymentId });
    if (state.status !== 'captured') throw new ProviderFault(`wechat_pay: order ${paymentId} is not paid (${state.status}): nothing to refund`, true);
    return state.amountCaptured;
  }

  private async refundQuery(refundId: string): Promise<{ status: string; out_refund_no?: string } | undefined> {
    const answer = await this.call('refund query', () => this.wx.v3.refund!.domestic!.refunds!['{out_refund_no}']!.get({ out_refund_no: refundId }));
    if ('answered' in answer) {
      if (answer.answered.code === 'RESOURCE_NOT_EXISTS' || answer.answered.status === 404) return undefined;
      throw new ProviderFault(`wechat_pay: refund query refused: ${answer.answered.code}`, true);
    }
    return answer.data as { status: string; out_refund_no?: string };
  }

  /** One API call with a verified answer, or WeChat's error answer; transport failures and system errors become faults. */
  private async call(op: string, send: () => Promise<{ status: number; data: unknown }>): Promise<{ data: unknown } | { answered: WechatError }> {
    try {
      const res = await send();
      return { data: res.data };
    } catch (err) {
      const e = errorOf(op, err);
      if ('fault' in e) throw e.fault;
      return e;
    }
  }
}

/**
 * The download's transform: a 2xx is the file, bytes as they came; an error answer is WeChat's
 * JSON `{ code, message }`, parsed so that the refusal can be named.
 */
function fileOrError(data: unknown, _headers: unknown, status?: number): unknown {
  if (status === undefined || status < 300 || !Buffer.isBuffer(data)) return data;
  try {
    return JSON.parse(data.toString('utf8')) as unknown;
  } catch {
    return data;
  }
}

/** Node's own key errors may quote the input: replaced by one that names the setting only. */
function parsed<T>(load: () => T, problem: string): T {
  try {
    return load();
  } catch {
    throw new Error(problem);
  }
}
