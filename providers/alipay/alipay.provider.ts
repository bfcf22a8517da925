import type { KeyObject } from 'node:crypto';
import { AlipaySdk } from 'alipay-sdk';
import type { SettlementLine, SettlementReports } from '../../reconciliation/report';
import type {
  AuthorizeRequest, AuthorizeResult, CancelRequest, CaptureRequest, OperationResult, PaymentProblem, PaymentProvider,
  PaymentShape, ProviderPaymentState, RefundRequest, StatusRequest,
} from '../provider';
import { ProviderFault, qrCodeAction, redirectAction } from '../provider';
import { AlipayBillError, parseTradeBill, tradeBillCsvs } from './alipay.bill';
import { loadPrivateKey, loadPublicKey } from './alipay.keys';
import type { AlipayAnswer } from './alipay.mapper';
import {
  METHOD_OF_PRODUCT, PRODUCT_OF_CHANNEL, REFUND_REFUSALS, answerFault, beijingTime, declineOf, fromAlipayAmount, isSuccess, normalizeAnswer,
  stateOf, toAlipayAmount, tradeBizContent, transportFault,
} from './alipay.mapper';

export const ALIPAY_PRODUCTION_GATEWAY = 'https://openapi.alipay.com/gateway.do';
export const ALIPAY_SANDBOX_GATEWAY = 'https://openapi-sandbox.dl.alipaydev.com/gateway.do';

const BILL_QUERY = 'alipay.data.dataservice.bill.downloadurl.query';
/** The link is good for 30 s, which bounds when the download starts, not how long a large bill takes to arrive. */
const BILL_DOWNLOAD_TIMEOUT_MS = 120_000;

export type AlipayOptions = {
  appId: string;
  /** The app's RSA private key: PEM (PKCS#1 or PKCS#8) or the bare base64 body Alipay's key tool prints. */
  privateKey: string;
  /** Alipay's public key for this app (PEM or bare base64): verifies answers and notifications. */
  alipayPublicKey: string;
  gateway: string;
  /** Where Alipay POSTs its asynchronous notifications: this API's /webhooks/alipay. */
  notifyUrl: string;
  timeoutMs: number;
};

/**
 * Alipay through the official `alipay-sdk` (OpenAPI gateway, RSA2). The payment id is the
 * `out_trade_no` and the refund id the `out_request_no`: Alipay's own idempotency keys, so a
 * request sent again after a timeout or `SYSTEM_ERROR` acts once. Every answer's signature is
 * verified; an answer that fails verification counts as no answer.
 */
export class AlipayProvider implements PaymentProvider, SettlementReports {
  readonly name = 'alipay' as const;
  /** Alipay bills by the Beijing calendar day. */
  readonly reportTimeZone = 'Asia/Shanghai';
  private readonly sdk: AlipaySdk;

  /** Throws a readable error for a key that cannot be parsed, never echoing it. */
  constructor(private readonly opts: AlipayOptions) {
    this.sdk = new AlipaySdk({
      appId: opts.appId,
      privateKey: pem(parsed(() => loadPrivateKey(opts.privateKey), 'ALIPAY_PRIVATE_KEY is not an RSA private key (PEM, or base64 PKCS#8/PKCS#1).')),
      keyType: 'PKCS8',
      alipayPublicKey: pem(parsed(() => loadPublicKey(opts.alipayPublicKey), 'ALIPAY_PUBLIC_KEY is not an RSA public key (PEM, or base64 SPKI).')),
      gateway: opts.gateway,
      timeout: opts.timeoutMs,
      signType: 'RSA2',
    });
  }

  get appId(): string {
    return this.opts.appId;
  }

  problemWith(p: PaymentShape): PaymentProblem | undefined {
    if (p.methodType !== 'alipay') return { param: 'payment_method.type', code: 'provider_unavailable', message: 'Alipay serves `alipay` payments only.' };
    if (p.captureMethod !== 'automatic') {
      return { param: 'capture_method', code: 'parameter_invalid', message: 'Alipay settles when the customer pays: capture_method must be automatic.' };
    }
    if (!PRODUCT_OF_CHANNEL[p.channel]) {
      return { param: 'channel', code: 'parameter_invalid', message: `Alipay has no ${p.channel} payments: use qr, pos, web, app or phone.` };
    }
    const amount = toAlipayAmount(p.amount, p.currency);
    return 'problem' in amount ? { param: 'amount', code: 'invalid_amount', message: `Invalid amount: ${amount.problem}` } : undefined;
  }

  /** A QR code to scan (`precreate`), or the signed cashier URL to redirect to (`page.pay`, `wap.pay`). */
  async authorize(req: AuthorizeRequest): Promise<AuthorizeResult> {
    const product = PRODUCT_OF_CHANNEL[req.channel];
    const amount = toAlipayAmount(req.amount, req.currency);
    if (!product || 'problem' in amount) throw new ProviderFault(`alipay: cannot take this payment (${req.channel}, ${req.currency})`, false);
    const bizContent = tradeBizContent(req, product, amount.value);

    if (product !== 'precreate') {
      // The trade is created when the customer opens the cashier: nothing is sent yet.
      const url = this.sdk.pageExecute(METHOD_OF_PRODUCT[product], 'GET', {
        bizContent, notifyUrl: this.opts.notifyUrl, timestamp: beijingTime(new Date()), ...(req.returnUrl ? { returnUrl: req.returnUrl } : {}),
      });
      return { status: 'requires_action', reference: req.paymentId, nextAction: redirectAction(url, req.actionExpiresAt) };
    }

    const answer = await this.call('alipay.trade.precreate', bizContent, { notify_url: this.opts.notifyUrl });
    if (isSuccess(answer)) return { status: 'requires_action', reference: req.paymentId, nextAction: qrCodeAction(String(answer.qrCode), req.actionExpiresAt) };
    // Sent again after a lost answer: the trade is already there.
    if (answer.subCode === 'ACQ.TRADE_HAS_SUCCESS') return { status: 'authorized', reference: req.paymentId };
    return { status: 'declined', reference: req.paymentId, ...declineOf(answer) };
  }

  /** A paid Alipay trade is already settled: capturing confirms it was paid, in full. */
  async capture(req: CaptureRequest): Promise<OperationResult> {
    const state = await this.getStatus({ paymentId: req.paymentId, reference: req.reference, currency: req.currency });
    if (state.status === 'captured') {
      if (state.amountCaptured === req.amount) return { status: 'succeeded' };
      return { status: 'declined', code: 'amount_mismatch', message: `Alipay settled ${state.amountCaptured}, not ${req.amount}.` };
    }
    if (state.status === 'canceled') return { status: 'declined', code: 'trade_closed', message: 'The Alipay trade is closed.' };
    throw new ProviderFault(`alipay: trade ${req.paymentId} is not paid yet (${state.status})`, true);
  }

  /** Closes a trade still waiting for the customer. A trade Alipay never saw (cashier not opened) holds nothing. */
  async cancel(req: CancelRequest): Promise<OperationResult> {
    const answer = await this.call('alipay.trade.close', { out_trade_no: req.paymentId });
    if (isSuccess(answer) || answer.subCode === 'ACQ.TRADE_NOT_EXIST') return { status: 'succeeded' };
    if (answer.subCode === 'ACQ.TRADE_STATUS_ERROR') {
      const state = await this.getStatus({ paymentId: req.paymentId, reference: req.reference });
      if (state.status === 'canceled') return { status: 'succeeded' }; // closed already: an earlier attempt, or Alipay's own expiry
    }
    return { status: 'declined', ...declineOf(answer) };
  }

  /**
   * The refund id is the `out_request_no`, so a refund re-sent after `SYSTEM_ERROR` or a timeout
   * is the same refund at Alipay. Only `fund_change: "Y"` or the refund query proves a refund;
   * only a known refusal fails it. Anything else is unknown and sent again later.
   */
  async refund(req: RefundRequest): Promise<OperationResult> {
    const amount = toAlipayAmount(req.amount, req.currency);
    if ('problem' in amount) return { status: 'declined', code: 'invalid_amount', message: amount.problem };
    const answer = await this.call('alipay.trade.refund', { out_trade_no: req.paymentId, out_request_no: req.refundId, refund_amount: amount.value });
    if (isSuccess(answer) && answer.fundChange === 'Y') return { status: 'succeeded' };
    // "N" (nothing moved on this call) or a refusal: an earlier call with this number may have refunded.
    if (await this.refundSettled(req)) return { status: 'succeeded' };
    if (!isSuccess(answer) && REFUND_REFUSALS.has(String(answer.subCode))) return { status: 'declined', ...declineOf(answer) };
    throw new ProviderFault(`alipay: refund ${req.refundId} is not confirmed (${answer.subCode ?? `fund_change ${String(answer.fundChange)}`})`, true, true);
  }

  /** Alipay's refund query shows this refund (`out_request_no`) done, for exactly its amount. */
  private async refundSettled(req: RefundRequest): Promise<boolean> {
    const found = await this.call('alipay.trade.fastpay.refund.query', { out_trade_no: req.paymentId, out_request_no: req.refundId });
    return isSuccess(found) && found.refundStatus === 'REFUND_SUCCESS' && fromAlipayAmount(String(found.refundAmount), req.currency) === req.amount;
  }

  async getStatus(req: StatusRequest): Promise<ProviderPaymentState> {
    const answer = await this.call('alipay.trade.query', { out_trade_no: req.paymentId });
    if (!isSuccess(answer) && answer.subCode !== 'ACQ.TRADE_NOT_EXIST') throw new ProviderFault(`alipay: trade query refused: ${answer.subCode ?? answer.code}`, true);
    return stateOf(answer, req.currency);
  }

  /** The notification's parameters if its RSA2 signature verifies with Alipay's public key; null otherwise. */
  verifyNotification(rawBody: Buffer): Record<string, string> | null {
    const params = Object.fromEntries(new URLSearchParams(rawBody.toString('utf8')));
    // The SDK would verify with whatever algorithm the sender names: only RSA2 is ours.
    if (params.sign_type !== 'RSA2') return null;
    try {
      // V2 verifies the values as received: form decoding has already happened.
      return this.sdk.checkNotifySignV2(params) ? params : null;
    } catch {
      return null;
    }
  }

  /**
   * The day's trade bill: one line per trade paid (charge) and per refund, amounts in fen, the
   * refund's negative. One provider serves one app in one mode, so `livemode` is the caller's to
   * match (`providerFor`). A bill not generated yet (the day is not over at Alipay) and a failed
   * download are retryable faults; a refused query or a bill that cannot be read are not.
   */
  async settlementReport(req: { date: string; livemode: boolean }): Promise<SettlementLine[]> {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(req.date)) throw new ProviderFault(`alipay: ${req.date} is not a yyyy-MM-dd bill date`, false);
    const zip = await this.downloadBill(await this.billDownloadUrl(req.date));
    try {
      return tradeBillCsvs(zip).flatMap(parseTradeBill);
    } catch (err) {
      if (err instanceof AlipayBillError) throw new ProviderFault(`alipay: the trade bill of ${req.date} cannot be read: ${err.message}`, false);
      throw err;
    }
  }

  private async billDownloadUrl(date: string): Promise<string> {
    const answer = await this.call(BILL_QUERY, { bill_type: 'trade', bill_date: date });
    if (isSuccess(answer) && typeof answer.billDownloadUrl === 'string' && answer.billDownloadUrl) return answer.billDownloadUrl;
    const what = `alipay ${BILL_QUERY} (${date}): ${answer.subCode ?? answer.code} ${answer.subMsg ?? answer.msg ?? ''}`.trim();
    // Alipay generates a day's bill after the day is over: asking again later is the remedy.
    if (answer.subCode === 'isp.bill_not_exist') throw new ProviderFault(what, true);
    throw new ProviderFault(isSuccess(answer) ? `${what}: no bill_download_url` : what, false);
  }

  /** The link expires within 30 s of the query, so a fault here is retried from the query. */
  private async downloadBill(url: string): Promise<Uint8Array> {
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(BILL_DOWNLOAD_TIMEOUT_MS) });
    } catch (err) {
      throw new ProviderFault(`alipay: bill download failed: ${describe(err)}`, true);
    }
    if (!res.ok) {
      await res.body?.cancel();
      // 403 is the link expiring (or a clock far off): a fresh query gives a fresh link. Other 4xx will not change.
      throw new ProviderFault(`alipay: bill download answered ${res.status}`, res.status === 403 || res.status === 429 || res.status >= 500);
    }
    try {
      return new Uint8Array(await res.arrayBuffer());
    } catch (err) {
      throw new ProviderFault(`alipay: bill download broke off: ${describe(err)}`, true);
    }
  }

  /** One gateway call with a verified answer; transport failures and system errors become faults. */
  private async call(method: string, bizContent: Record<string, string>, params: Record<string, string> = {}): Promise<AlipayAnswer> {
    let answer: AlipayAnswer;
    try {
      // The SDK stamps the process's local time; Alipay reads the timestamp as Beijing time.
      answer = normalizeAnswer((await this.sdk.exec(method, { bizContent, timestamp: beijingTime(new Date()), ...params }, { validateSign: true })) as AlipayAnswer);
    } catch (err) {
      throw transportFault(method, err);
    }
    const fault = answerFault(method, answer);
    if (fault) throw fault;
    return answer;
  }
}

/** fetch says "fetch failed" and keeps the useful part (ECONNREFUSED, a timeout) in its cause. */
function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const cause: unknown = err instanceof Error ? err.cause : undefined;
  return `${message}${cause instanceof Error ? `: ${cause.message}` : ''}`.slice(0, 300);
}

function pem(key: KeyObject): string {
  return key.type === 'private' ? String(key.export({ format: 'pem', type: 'pkcs8' })) : String(key.export({ format: 'pem', type: 'spki' }));
}

/** Node's own key errors may quote the input: replaced by one that names the setting only. */
function parsed(load: () => KeyObject, problem: string): KeyObject {
  try {
    return load();
  } catch {
    throw new Error(problem);
  }
}
