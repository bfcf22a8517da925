import { randomBytes } from 'node:crypto';
import { zipSync } from 'fflate';
import iconv from 'iconv-lite';
import { isRecord } from '../http';
import { beijingTime, formatAmount, parseAmount, parseBeijingTime } from './formats';

/**
 * Alipay's trade bill (业务明细, `bill_type: trade`) as the simulator serves it: one row per trade
 * paid and per refund made in the period, in the layout merchants download through
 * `alipay.data.dataservice.bill.downloadurl.query`: a zip of GBK CSVs, `#` preamble and summary
 * lines around the rows, amounts in yuan, refunds negative. Only CNY trades are billed here:
 * cross-border (`trans_currency`) trades settle through a separate settlement file, not simulated.
 */

/** What a test makes the bill say that the gateway's own records do not (each stays until cleared). */
export type BillDiscrepancy =
  /** The trade's rows are not on the bill; with `outRequestNo`, only that refund's row. */
  | { kind: 'missing_line'; outTradeNo: string; outRequestNo?: string }
  /** The trade's row (or that refund's row) shows another amount, in yuan; its fee is unchanged. */
  | { kind: 'amount'; outTradeNo: string; amount: string; outRequestNo?: string }
  /** A paid trade the gateway never had, on the bill of the day it is injected. */
  | { kind: 'unknown_trade'; amount: string; outTradeNo?: string }
  /** The trade's row (or that refund's row) shows another 服务费, in yuan. */
  | { kind: 'fee'; outTradeNo: string; fee: string; outRequestNo?: string };

/** The parts of a gateway trade that a bill shows. */
export type BillableTrade = {
  tradeNo: string;
  outTradeNo: string;
  subject: string;
  body?: string;
  currency: string;
  totalMinor: number;
  createdAt: Date;
  paidAt?: Date;
  buyerLogonId?: string;
  refunds: Array<{ outRequestNo: string; amountMinor: number; at: Date; reason?: string }>;
};

/** One row of the bill; amounts in fen, signed as the bill writes them (a refund's are negative). */
export type BillRow = {
  tradeNo: string;
  outTradeNo: string;
  kind: 'trade' | 'refund';
  subject: string;
  createdAt: Date;
  finishedAt: Date;
  counterparty: string;
  amountMinor: number;
  feeMinor: number;
  outRequestNo?: string;
  remark: string;
};

/** A daily (`yyyy-MM-dd`) or monthly (`yyyy-MM`) bill's Beijing-time span, end excluded. */
export type BillPeriod = { billDate: string; startMs: number; endMs: number };

export const DEFAULT_FEE_RATE_BPS = 60;

export const TRADE_BILL_HEADER = [
  '支付宝交易号', '商户订单号', '业务类型', '商品名称', '创建时间', '完成时间', '门店编号', '门店名称', '操作员', '终端号', '对方账户',
  '订单金额（元）', '商家实收（元）', '支付宝红包（元）', '集分宝（元）', '支付宝优惠（元）', '商家优惠（元）', '券核销金额（元）', '券名称',
  '商家红包消费金额（元）', '卡消费金额（元）', '退款批次号/请求号', '服务费（元）', '分润（元）', '备注',
] as const;

const SUMMARY_HEADER = [
  '门店编号', '门店名称', '交易订单总笔数', '退款订单总笔数', '订单金额（元）', '商家实收（元）', '支付宝优惠（元）', '商家优惠（元）',
  '卡消费金额（元）', '服务费（元）', '分润（元）', '实收净额（元）',
];

const DETAIL_START = '#-----------------------------------------业务明细列表----------------------------------------';
const DETAIL_END = '#-----------------------------------------业务明细列表结束------------------------------------';
const SUMMARY_START = '#-----------------------------------------业务汇总列表----------------------------------------';
const SUMMARY_END = '#----------------------------------------业务汇总列表结束-------------------------------------';
const ZERO = '0.00';

// ---- the period ----

/** The span a `bill_date` names, or undefined when Alipay would refuse it. */
export function billPeriod(billDate: string): BillPeriod | undefined {
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(billDate);
  if (day) {
    const startMs = parseBeijingTime(`${billDate} 00:00:00`);
    return startMs === undefined ? undefined : { billDate, startMs, endMs: startMs + 86_400_000 };
  }
  const month = /^(\d{4})-(\d{2})$/.exec(billDate);
  if (!month) return undefined;
  const startMs = parseBeijingTime(`${billDate}-01 00:00:00`);
  if (startMs === undefined) return undefined;
  const [y, m] = [Number(month[1]), Number(month[2])];
  const next = m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
  return { billDate, startMs, endMs: parseBeijingTime(`${next}-01 00:00:00`) ?? startMs };
}

const within = (at: Date, p: BillPeriod) => at.getTime() >= p.startMs && at.getTime() < p.endMs;

// ---- fees ----

/** Half-up to the fen, in integers: `feeRateBps` of a trade's amount. */
export function tradeFee(totalMinor: number, feeRateBps: number): number {
  return Number((BigInt(totalMinor) * BigInt(feeRateBps) * 2n + 10_000n) / 20_000n);
}

/**
 * The fee a refund gives back: its proportional share of the trade's fee, half-up. The refund that
 * empties the trade gives back whatever is left, so a trade refunded in parts returns its whole fee.
 */
export function refundFees(totalMinor: number, feeMinor: number, refundsMinor: number[]): number[] {
  let refunded = 0;
  let returned = 0;
  return refundsMinor.map((amount) => {
    refunded += amount;
    const share = refunded >= totalMinor
      ? feeMinor - returned
      : Number((BigInt(feeMinor) * BigInt(amount) * 2n + BigInt(totalMinor)) / (2n * BigInt(totalMinor)));
    returned += share;
    return share;
  });
}

// ---- rows ----

/** Every row the period's bill holds for these trades, in the order Alipay lists them (completion time). */
export function billRows(trades: Iterable<BillableTrade>, period: BillPeriod, feeRateBps: number): BillRow[] {
  const rows: BillRow[] = [];
  for (const t of trades) {
    if (t.currency !== 'CNY' || !t.paidAt) continue;
    const fee = tradeFee(t.totalMinor, feeRateBps);
    if (within(t.paidAt, period)) rows.push(tradeRow(t, t.paidAt, t.totalMinor, fee));
    const fees = refundFees(t.totalMinor, fee, t.refunds.map((r) => r.amountMinor));
    t.refunds.forEach((r, i) => {
      if (within(r.at, period)) rows.push(refundRow(t, r, fees[i] ?? 0));
    });
  }
  return sortRows(rows);
}

function tradeRow(t: BillableTrade, at: Date, amountMinor: number, feeMinor: number): BillRow {
  return {
    tradeNo: t.tradeNo, outTradeNo: t.outTradeNo, kind: 'trade', subject: t.subject, createdAt: t.createdAt, finishedAt: at,
    counterparty: t.buyerLogonId ?? '', amountMinor, feeMinor, remark: t.body ?? '',
  };
}

function refundRow(t: BillableTrade, r: BillableTrade['refunds'][number], feeMinor: number): BillRow {
  return {
    tradeNo: t.tradeNo, outTradeNo: t.outTradeNo, kind: 'refund', subject: t.subject, createdAt: t.createdAt, finishedAt: r.at,
    counterparty: t.buyerLogonId ?? '', amountMinor: -r.amountMinor, feeMinor: -feeMinor, outRequestNo: r.outRequestNo, remark: r.reason ?? '',
  };
}

const sortRows = (rows: BillRow[]) => rows.sort((a, b) => a.finishedAt.getTime() - b.finishedAt.getTime() || a.tradeNo.localeCompare(b.tradeNo));

// ---- discrepancies ----

/** Validates a discrepancy (from code or JSON), so a typo fails loudly instead of never matching. */
export function parseBillDiscrepancy(input: unknown): BillDiscrepancy {
  if (!isRecord(input)) throw new TypeError('a bill discrepancy is an object with a kind');
  const { kind, outTradeNo, outRequestNo, amount, fee } = input;
  const text = (value: unknown, name: string) => {
    if (typeof value !== 'string' || value === '' || value.length > 64) throw new TypeError(`discrepancy.${name} must be a non-empty string of at most 64 characters`);
    return value;
  };
  const yuan = (value: unknown, name: string, zeroAllowed: boolean) => {
    const valid = typeof value === 'string' && (parseAmount(value, 'CNY') !== undefined || (zeroAllowed && /^0(\.0{1,2})?$/.test(value)));
    if (!valid) throw new TypeError(`discrepancy.${name} must be an amount in yuan, e.g. "12.34"`);
    return value;
  };
  const request = outRequestNo === undefined ? {} : { outRequestNo: text(outRequestNo, 'outRequestNo') };
  switch (kind) {
    case 'missing_line':
      return { kind, outTradeNo: text(outTradeNo, 'outTradeNo'), ...request };
    case 'amount':
      return { kind, outTradeNo: text(outTradeNo, 'outTradeNo'), amount: yuan(amount, 'amount', false), ...request };
    case 'fee':
      return { kind, outTradeNo: text(outTradeNo, 'outTradeNo'), fee: yuan(fee, 'fee', true), ...request };
    case 'unknown_trade':
      if (outRequestNo !== undefined) throw new TypeError('an unknown_trade discrepancy takes no outRequestNo');
      return { kind, amount: yuan(amount, 'amount', false), ...(outTradeNo === undefined ? {} : { outTradeNo: text(outTradeNo, 'outTradeNo') }) };
    default:
      throw new TypeError('discrepancy.kind must be missing_line, amount, unknown_trade or fee');
  }
}

/** An injected discrepancy, with when and under which numbers it appears. */
export type PlacedDiscrepancy = { discrepancy: BillDiscrepancy; at: Date; tradeNo: string; outTradeNo: string };

/** Pins what an unknown trade will be called and when it happened, so every bill shows it the same. */
export function placeDiscrepancy(discrepancy: BillDiscrepancy, at: Date, newTradeNo: () => string): PlacedDiscrepancy {
  const outTradeNo = 'outTradeNo' in discrepancy && discrepancy.outTradeNo ? discrepancy.outTradeNo : `unknown_${randomBytes(6).toString('hex')}`;
  return { discrepancy, at, tradeNo: newTradeNo(), outTradeNo };
}

/** The rows as the bill shows them once the discrepancies are applied, in order of injection. */
export function applyDiscrepancies(rows: BillRow[], placed: PlacedDiscrepancy[], period: BillPeriod, feeRateBps: number): BillRow[] {
  let out = rows.map((r) => ({ ...r }));
  for (const p of placed) {
    const d = p.discrepancy;
    if (d.kind === 'unknown_trade') {
      if (!within(p.at, period)) continue;
      const amountMinor = parseAmount(d.amount, 'CNY') ?? 0;
      out.push({
        tradeNo: p.tradeNo, outTradeNo: p.outTradeNo, kind: 'trade', subject: '未知交易', createdAt: p.at, finishedAt: p.at,
        counterparty: '', amountMinor, feeMinor: tradeFee(amountMinor, feeRateBps), remark: '',
      });
      continue;
    }
    const hit = (r: BillRow) => r.outTradeNo === d.outTradeNo && (d.outRequestNo === undefined
      ? d.kind === 'missing_line' || r.kind === 'trade'
      : r.outRequestNo === d.outRequestNo);
    if (d.kind === 'missing_line') out = out.filter((r) => !hit(r));
    else for (const r of out.filter(hit)) {
      const signed = (fen: number) => (r.kind === 'refund' ? 0 - fen : fen);
      if (d.kind === 'amount') r.amountMinor = signed(parseAmount(d.amount, 'CNY') ?? 0);
      else r.feeMinor = signed(yuanToFen(d.fee));
    }
  }
  return sortRows(out);
}

/** Also reads "0" and "0.00", which parseAmount (a trade amount's rules) refuses. */
function yuanToFen(value: string): number {
  return /^0(\.0{1,2})?$/.test(value) ? 0 : parseAmount(value, 'CNY') ?? 0;
}

// ---- the files ----

export type TradeBill = {
  /** The merchant's account as bills name it: its PID and `0156`. */
  account: string;
  period: BillPeriod;
  rows: BillRow[];
  exportedAt: Date;
};

/** The detail CSV (业务明细), as text before GBK encoding. */
export function tradeBillCsv(bill: TradeBill): string {
  const trades = bill.rows.filter((r) => r.kind === 'trade');
  const refunds = bill.rows.filter((r) => r.kind === 'refund');
  return lines([
    '#支付宝业务明细查询',
    ...preamble(bill),
    DETAIL_START,
    TRADE_BILL_HEADER.join(','),
    ...bill.rows.map(rowCsv),
    DETAIL_END,
    `#交易合计：${trades.length}笔，商家实收共${signedYuan(sum(trades, 'amountMinor'))}元，商家优惠共${ZERO}元`,
    `#退款合计：${refunds.length}笔，商家实收退款共${signedYuan(sum(refunds, 'amountMinor'))}元，商家优惠退款共${ZERO}元`,
    `#导出时间：[${chineseTime(bill.exportedAt)}]`,
  ]);
}

/** The summary CSV (业务明细(汇总)): one 合计 row for the period. */
export function tradeBillSummaryCsv(bill: TradeBill): string {
  const received = sum(bill.rows, 'amountMinor');
  const fees = sum(bill.rows, 'feeMinor');
  const counts = [bill.rows.filter((r) => r.kind === 'trade').length, bill.rows.filter((r) => r.kind === 'refund').length];
  return lines([
    '#支付宝业务汇总查询',
    ...preamble(bill),
    SUMMARY_START,
    SUMMARY_HEADER.join(','),
    ['合计', '', ...counts.map(String), signedYuan(received), signedYuan(received), ZERO, ZERO, ZERO, signedYuan(fees), ZERO, signedYuan(received - fees)].join(','),
    SUMMARY_END,
    `#导出时间：[${chineseTime(bill.exportedAt)}]`,
  ]);
}

/** `<account>_<date>.csv.zip`, as Alipay names the download. */
export function tradeBillFileName(bill: Pick<TradeBill, 'account' | 'period'>): string {
  return `${bill.account}_${bill.period.billDate.replaceAll('-', '')}.csv.zip`;
}

/** The download itself: both CSVs in GBK, zipped (deflate). */
export function tradeBillZip(bill: TradeBill): Uint8Array {
  const stem = `${bill.account}_${bill.period.billDate.replaceAll('-', '')}`;
  const options = { mtime: bill.exportedAt, level: 6 as const };
  return zipSync({
    [`${stem}_业务明细.csv`]: [iconv.encode(tradeBillCsv(bill), 'gbk'), options],
    [`${stem}_业务明细(汇总).csv`]: [iconv.encode(tradeBillSummaryCsv(bill), 'gbk'), options],
  });
}

function preamble(bill: TradeBill): string[] {
  return [
    `#账号：[${bill.account}]`,
    `#起始日期：[${chineseTime(new Date(bill.period.startMs))}]   终止日期：[${chineseTime(new Date(bill.period.endMs))}]`,
  ];
}

/**
 * Alipay appends a tab to identifiers (and to some empty cells) so that spreadsheet programs keep
 * them as text: a 28-digit trade number read as a number loses its last digits.
 */
function rowCsv(r: BillRow): string {
  const asText = (value: string) => cell(`${value}\t`);
  return [
    asText(r.tradeNo), asText(r.outTradeNo), asText(r.kind === 'trade' ? '交易' : '退款'), cell(r.subject),
    beijingTime(r.createdAt), beijingTime(r.finishedAt), asText(''), asText(''), asText(''), asText(''), asText(r.counterparty),
    signedYuan(r.amountMinor), signedYuan(r.amountMinor), ZERO, ZERO, ZERO, ZERO, ZERO, '', asText(ZERO), ZERO,
    asText(r.outRequestNo ?? ''), signedYuan(r.feeMinor), ZERO, cell(r.remark),
  ].join(',');
}

/** Quoted only when it must be: a comma, a quote or a line break in a subject or remark. */
function cell(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function signedYuan(minor: number): string {
  return minor < 0 ? `-${formatAmount(-minor, 'CNY')}` : formatAmount(minor, 'CNY');
}

function sum(rows: BillRow[], key: 'amountMinor' | 'feeMinor'): number {
  return rows.reduce((total, r) => total + r[key], 0);
}

/** `2019年09月16日 00:00:00`, Beijing time: how the preamble and summary write times. */
function chineseTime(at: Date): string {
  const t = beijingTime(at);
  return `${t.slice(0, 4)}年${t.slice(5, 7)}月${t.slice(8, 10)}日 ${t.slice(11)}`;
}

/** Windows line ends, as the bills Alipay exports have. */
function lines(all: string[]): string {
  return `${all.join('\r\n')}\r\n`;
}
