import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { ApiAnswer } from './api';
import { ApiError, ok, paramError } from './api';
import { newTransactionId, randomDigits, rfc3339 } from './formats';
import { randomString } from './signing';
import type { Merchant, Order, Refund, SimState } from './state';

/**
 * WeChat Pay's trade bill (交易账单, bill_type ALL) written from the simulator's own books:
 * `GET /v3/bill/tradebill` answers the SHA-1 of the bill and a `download_url`, the download serves
 * the bill (gzipped with `tar_type=GZIP`) unsigned: its integrity is the hash of the signed answer.
 *
 * The file is WeChat's CSV: a header row, one row per payment (交易状态 SUCCESS, on its Beijing
 * day of payment) and per refund (REFUND, on the day it was accepted), every field prefixed with a
 * backtick so that Excel keeps long numbers, amounts in yuan, then a summary header and its row.
 * Real bills start with a byte-order mark and end lines with CRLF: so do these.
 */

/** A bill that disagrees with the books, for reconciliation tests. Amounts in fen. */
export type BillDiscrepancy =
  | { kind: 'missing_line'; outTradeNo: string }
  | { kind: 'amount'; outTradeNo: string; amount: number }
  | { kind: 'unknown_trade'; amount: number; outTradeNo?: string }
  | { kind: 'fee'; outTradeNo: string; fee: number };

/** WeChat's standard rate for most merchant categories: 0.6 %. */
export const DEFAULT_FEE_RATE_BPS = 60;

/** How long a download_url serves its bill, as WeChat's (30 s). */
const DOWNLOAD_TTL_MS = 30_000;

const DETAIL_HEADER = [
  '交易时间', '公众账号ID', '商户号', '特约商户号', '设备号', '微信订单号', '商户订单号', '用户标识', '交易类型', '交易状态', '付款银行', '货币种类',
  '应结订单金额', '代金券金额', '微信退款单号', '商户退款单号', '退款金额', '充值券退款金额', '退款类型', '退款状态', '商品名称', '商户数据包',
  '手续费', '费率', '订单金额', '申请退款金额', '费率备注',
];
const SUMMARY_HEADER = ['总交易单数', '应结订单总金额', '退款总金额', '充值券退款总金额', '手续费总金额', '订单总金额', '申请退款总金额'];

/** One row of the bill, amounts in fen; `fee` is signed (a refund's is the fee given back, negative). */
type BillRow = {
  at: Date;
  state: 'SUCCESS' | 'REFUND';
  appid: string;
  transactionId: string;
  outTradeNo: string;
  openid: string;
  tradeType: string;
  bankType: string;
  settlement: number;
  refundId: string;
  outRefundNo: string;
  refund: number;
  refundType: string;
  refundStatus: string;
  description: string;
  attach: string;
  fee: number;
  orderAmount: number;
  appliedRefund: number;
};

/** The fee WeChat keeps on a payment: the rate on the total, rounded half up to the fen. */
export function tradeFee(totalFen: number, feeRateBps: number): number {
  return Math.floor((totalFen * feeRateBps + 5000) / 10_000);
}

/**
 * The fee each refund of the order gives back: its share of the payment's fee, rounded half up
 * on the cumulative amount refunded so that partial refunds never give back more than was kept
 * and a full refund gives back the whole fee. CLOSED refunds gave nothing back.
 */
export function returnedFees(order: Order, feeRateBps: number): Map<string, number> {
  const fee = BigInt(tradeFee(order.totalFen, feeRateBps));
  const total = BigInt(order.totalFen);
  const shareOf = (refunded: bigint) => (2n * fee * refunded + total) / (2n * total);
  const returned = new Map<string, number>();
  let refunded = 0n;
  for (const refund of order.refunds.filter((r) => r.status !== 'CLOSED')) {
    const before = shareOf(refunded);
    refunded += BigInt(refund.refundFen);
    returned.set(refund.outRefundNo, Number(shareOf(refunded) - before));
  }
  return returned;
}

/** `2026-05-20 13:29:35`: how the bill writes a time, in Beijing. */
export function billTime(at: Date): string {
  return rfc3339(at).slice(0, 19).replace('T', ' ');
}

const billDay = (at: Date) => billTime(at).slice(0, 10);

const yuan = (fen: number): string => {
  const abs = Math.abs(fen);
  return `${fen < 0 ? '-' : ''}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
};
/** Fees are written to five decimals, as real bills do (`0.32000`, `-0.27000`), though always whole fen. */
const feeYuan = (fen: number): string => `${yuan(fen)}000`;
/** `0.60%` for 60 basis points. */
const rate = (bps: number): string => `${yuan(bps)}%`;

function paymentRow(order: Order, feeRateBps: number): BillRow {
  return {
    at: order.paidAt as Date, state: 'SUCCESS', appid: order.appid, transactionId: order.transactionId ?? '', outTradeNo: order.outTradeNo,
    openid: order.openid ?? '', tradeType: order.tradeType, bankType: order.bankType ?? 'OTHERS', settlement: order.totalFen,
    refundId: '0', outRefundNo: '0', refund: 0, refundType: '', refundStatus: '', description: order.description, attach: order.attach ?? '',
    fee: tradeFee(order.totalFen, feeRateBps), orderAmount: order.totalFen, appliedRefund: 0,
  };
}

function refundRow(refund: Refund, returnedFee: number): BillRow {
  const { order } = refund;
  return {
    at: refund.createdAt, state: 'REFUND', appid: order.appid, transactionId: order.transactionId ?? '', outTradeNo: order.outTradeNo,
    openid: order.openid ?? '', tradeType: order.tradeType, bankType: order.bankType ?? 'OTHERS', settlement: 0,
    refundId: refund.refundId, outRefundNo: refund.outRefundNo, refund: refund.refundFen, refundType: 'ORIGINAL', refundStatus: refund.status,
    description: order.description, attach: order.attach ?? '', fee: -returnedFee, orderAmount: 0, appliedRefund: refund.refundFen,
  };
}

/** The rows of one Beijing day from the books, in time order. */
function rowsOfDay(state: SimState, day: string, feeRateBps: number): BillRow[] {
  const rows: BillRow[] = [];
  for (const order of state.allOrders()) {
    if (!order.paidAt) continue;
    if (billDay(order.paidAt) === day) rows.push(paymentRow(order, feeRateBps));
    const returned = returnedFees(order, feeRateBps);
    for (const refund of order.refunds) {
      if (refund.status !== 'CLOSED' && billDay(refund.createdAt) === day) rows.push(refundRow(refund, returned.get(refund.outRefundNo) ?? 0));
    }
  }
  return rows.sort((a, b) => a.at.getTime() - b.at.getTime());
}

/** An injected discrepancy, its invented ids fixed when injected so that every bill shows the same trade. */
type Planted = BillDiscrepancy & { transactionId?: string };

function withDiscrepancies(rows: BillRow[], planted: Planted[], day: string, appid: string, feeRateBps: number): BillRow[] {
  let out = rows;
  for (const d of planted) {
    const isPayment = (r: BillRow) => r.state === 'SUCCESS' && d.kind !== 'unknown_trade' && r.outTradeNo === d.outTradeNo;
    if (d.kind === 'missing_line') out = out.filter((r) => !isPayment(r));
    else if (d.kind === 'amount') out = out.map((r) => (isPayment(r) ? { ...r, settlement: d.amount, orderAmount: d.amount } : r));
    else if (d.kind === 'fee') out = out.map((r) => (isPayment(r) ? { ...r, fee: d.fee } : r));
    else out = [...out, unknownTradeRow(d, day, appid, feeRateBps)];
  }
  return out;
}

function unknownTradeRow(d: Planted & { kind: 'unknown_trade' }, day: string, appid: string, feeRateBps: number): BillRow {
  return {
    at: new Date(`${day}T12:00:00+08:00`), state: 'SUCCESS', appid, transactionId: d.transactionId ?? '', outTradeNo: d.outTradeNo ?? '',
    openid: '', tradeType: 'NATIVE', bankType: 'OTHERS', settlement: d.amount, refundId: '0', outRefundNo: '0', refund: 0, refundType: '', refundStatus: '',
    description: 'unknown', attach: '', fee: tradeFee(d.amount, feeRateBps), orderAmount: d.amount, appliedRefund: 0,
  };
}

const tick = (fields: string[]) => fields.map((f) => `\`${f}`).join(',');
const sum = (rows: BillRow[], of: (r: BillRow) => number) => rows.reduce((total, r) => total + of(r), 0);

function detailLine(r: BillRow, mchid: string, feeRateBps: number): string {
  return tick([
    billTime(r.at), r.appid, mchid, '0', '', r.transactionId, r.outTradeNo, r.openid, r.tradeType, r.state, r.bankType, 'CNY',
    yuan(r.settlement), '0.00', r.refundId, r.outRefundNo, yuan(r.refund), '0.00', r.refundType, r.refundStatus, r.description, r.attach,
    feeYuan(r.fee), rate(feeRateBps), yuan(r.orderAmount), yuan(r.appliedRefund), '',
  ]);
}

/** The whole file: totals count what the rows say, discrepancies included, so the bill is consistent with itself. */
function renderTradeBill(rows: BillRow[], mchid: string, feeRateBps: number): string {
  const summary = tick([
    String(rows.length), yuan(sum(rows, (r) => r.settlement)), yuan(sum(rows, (r) => r.refund)), '0.00',
    feeYuan(sum(rows, (r) => r.fee)), yuan(sum(rows, (r) => r.orderAmount)), yuan(sum(rows, (r) => r.appliedRefund)),
  ]);
  const lines = [DETAIL_HEADER.join(','), ...rows.map((r) => detailLine(r, mchid, feeRateBps)), SUMMARY_HEADER.join(','), summary];
  return `\ufeff${lines.join('\r\n')}\r\n`;
}

/** Validates a discrepancy (from code or from JSON), so a typo fails loudly instead of never matching. */
export function parseBillDiscrepancy(input: unknown): BillDiscrepancy {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new TypeError('a bill discrepancy is an object with a kind');
  const { kind, outTradeNo, amount, fee } = input as Record<string, unknown>;
  const fen = (value: unknown, name: string, min: number) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) throw new TypeError(`${name} must be an integer (fen) >= ${min}`);
    return value;
  };
  const no = (value: unknown) => {
    if (typeof value !== 'string' || value === '') throw new TypeError('outTradeNo must be a non-empty string');
    return value;
  };
  switch (kind) {
    case 'missing_line':
      return { kind, outTradeNo: no(outTradeNo) };
    case 'amount':
      return { kind, outTradeNo: no(outTradeNo), amount: fen(amount, 'amount', 0) };
    case 'fee':
      return { kind, outTradeNo: no(outTradeNo), fee: fen(fee, 'fee', 0) };
    case 'unknown_trade':
      return { kind, amount: fen(amount, 'amount', 1), ...(outTradeNo !== undefined ? { outTradeNo: no(outTradeNo) } : {}) };
    default:
      throw new TypeError('kind must be one of missing_line, amount, unknown_trade, fee');
  }
}

const noStatement = () => new ApiError(400, 'NO_STATEMENT_EXIST', '账单文件不存在');

/** `2026-05-20`, a real calendar day. */
function billDateOf(query: URLSearchParams): string {
  const date = query.get('bill_date');
  if (!date) throw paramError('bill_date', 'required', undefined, 'query');
  // Date rolls 2026-02-31 over into March (and refuses month 13): the day must survive the round trip.
  const day = /^\d{4}-\d{2}-\d{2}$/.test(date) ? new Date(`${date}T00:00:00Z`) : undefined;
  const valid = day !== undefined && !Number.isNaN(day.getTime()) && day.toISOString().startsWith(date);
  if (!valid) throw paramError('bill_date', 'must be a day as YYYY-MM-DD', date, 'query');
  if (date > billDay(new Date())) throw paramError('bill_date', 'is in the future', date, 'query');
  return date;
}

export type TradeBillsOptions = {
  state: SimState;
  merchant: Merchant;
  feeRateBps: number;
  /** The download_url of an issued bill, by its token (on the simulator's own host). */
  downloadUrl: (token: string) => string;
  log: (msg: string, fields?: Record<string, unknown>) => void;
};

/**
 * The bill APIs. A bill is written when it is applied for and kept behind its download token, so
 * the hash answered and the file served are of the same snapshot. Unlike WeChat (which bills a
 * day after 10:00 the next morning), today is billed as it stands: tests pay and reconcile at once.
 */
export class TradeBills {
  private planted: Planted[] = [];
  private readonly issued = new Map<string, { bill: Buffer; gzip: boolean; expiresAtMs: number }>();

  constructor(private readonly opts: TradeBillsOptions) {}

  plant(d: BillDiscrepancy): void {
    const discrepancy = parseBillDiscrepancy(d);
    const invented = discrepancy.kind === 'unknown_trade'
      ? { outTradeNo: discrepancy.outTradeNo ?? `unknown_${randomDigits(12)}`, transactionId: newTransactionId(new Date()) }
      : {};
    this.planted.push({ ...discrepancy, ...invented });
  }

  clear(): void {
    this.planted = [];
  }

  /** The bill of a Beijing day as WeChat would write it now, or undefined when that day has no bill. */
  bill(day: string): string | undefined {
    const { state, merchant, feeRateBps } = this.opts;
    const rows = withDiscrepancies(rowsOfDay(state, day, feeRateBps), this.planted, day, merchant.appid, feeRateBps);
    return rows.length === 0 ? undefined : renderTradeBill(rows, merchant.mchid, feeRateBps);
  }

  /** `GET /v3/bill/tradebill`: only bill_type ALL is simulated; absent means ALL, as WeChat's default. */
  apply(query: URLSearchParams): ApiAnswer {
    const day = billDateOf(query);
    const billType = query.get('bill_type') ?? 'ALL';
    if (!['ALL', 'SUCCESS', 'REFUND'].includes(billType)) throw paramError('bill_type', 'must be ALL, SUCCESS or REFUND', billType, 'query');
    if (billType !== 'ALL') throw paramError('bill_type', 'the simulator writes ALL bills only', billType, 'query');
    const tarType = query.get('tar_type');
    if (tarType !== null && tarType !== 'GZIP') throw paramError('tar_type', 'must be GZIP', tarType, 'query');
    const text = this.bill(day);
    if (text === undefined) throw noStatement();
    const bill = Buffer.from(text, 'utf8');
    const token = this.issue(bill, tarType === 'GZIP');
    this.opts.log('trade bill applied for', { day, bytes: bill.length, gzip: tarType === 'GZIP' });
    return ok({ hash_type: 'SHA1', hash_value: createHash('sha1').update(bill).digest('hex'), download_url: this.opts.downloadUrl(token) });
  }

  /** `GET /v3/billdownload/file?token=…`; `tamper`: the file is altered on its way, and no longer matches its hash. */
  download(query: URLSearchParams, tamper: boolean): ApiAnswer {
    const token = query.get('token') ?? '';
    const issued = this.issued.get(token);
    if (!issued || issued.expiresAtMs <= Date.now()) throw new ApiError(400, 'INVALID_REQUEST', '下载链接已失效，请重新申请账单');
    const bill = tamper ? tampered(issued.bill) : issued.bill;
    return issued.gzip
      ? { status: 200, file: { contentType: 'application/x-gzip', data: gzipSync(bill) } }
      : { status: 200, file: { contentType: 'text/plain;charset=utf-8', data: bill } };
  }

  private issue(bill: Buffer, gzip: boolean): string {
    const now = Date.now();
    for (const [token, entry] of this.issued) if (entry.expiresAtMs <= now) this.issued.delete(token);
    const token = randomString(43);
    this.issued.set(token, { bill, gzip, expiresAtMs: now + DOWNLOAD_TTL_MS });
    return token;
  }
}

/** The last digit of the file (a summary amount) moved by one: still a well-formed bill, but not the one hashed. */
function tampered(bill: Buffer): Buffer {
  const copy = Buffer.from(bill);
  for (let i = copy.length - 1; i >= 0; i -= 1) {
    const c = copy[i] as number;
    if (c >= 0x30 && c <= 0x39) {
      copy[i] = c === 0x39 ? 0x30 : c + 1;
      return copy;
    }
  }
  return Buffer.concat([copy, Buffer.from('\r\n')]);
}
