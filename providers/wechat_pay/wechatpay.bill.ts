import { fromMajorUnitString } from '../../domain/money';
import type { SettlementLine } from '../../reconciliation/report';

/**
 * WeChat Pay's trade bill (交易账单, bill_type ALL) read into settlement lines. The file is CSV
 * with a header row, one row per payment (交易状态 SUCCESS) and per refund (REFUND), then a summary
 * header (总交易单数, …) and its row. Every data field carries a leading backtick (so that Excel
 * keeps 28-digit ids); amounts are yuan, fees written to five decimals (`0.32000`, a refund's
 * given-back fee negative). WeChat warns that the column order may change: columns are found by
 * name. Times are Beijing's, written without an offset.
 */

export class TradeBillFormatError extends Error {
  constructor(readonly line: number, problem: string) {
    super(`WeChat Pay trade bill, line ${line}: ${problem}`);
    this.name = 'TradeBillFormatError';
  }
}

/** What the summary row says, in fen: the caller checks the lines add up to it. */
export type TradeBillTotals = {
  /** 总交易单数: payment and refund rows alike. */
  rows: number;
  /** 应结订单总金额. */
  settlement: number;
  /** 退款总金额. */
  refunds: number;
  /** 手续费总金额: fees kept less fees given back. */
  fees: number;
};

export type TradeBill = { lines: SettlementLine[]; totals: TradeBillTotals };

const COLUMNS = {
  time: '交易时间',
  transactionId: '微信订单号',
  outTradeNo: '商户订单号',
  state: '交易状态',
  currency: '货币种类',
  settlement: '应结订单金额',
  outRefundNo: '商户退款单号',
  refund: '退款金额',
  fee: '手续费',
} as const;

const SUMMARY_COLUMNS = { rows: '总交易单数', settlement: '应结订单总金额', refunds: '退款总金额', fees: '手续费总金额' } as const;

type Row = { line: number; text: string };

/** The settlement lines of a bill; throws a TradeBillFormatError naming the first row it cannot read. */
export function parseTradeBill(csv: string): SettlementLine[] {
  return readTradeBill(csv).lines;
}

/** The lines and the summary's totals. */
export function readTradeBill(csv: string): TradeBill {
  const rows = csv.replace(/^\ufeff/, '').split(/\r?\n/).map((text, i) => ({ line: i + 1, text })).filter((r) => r.text.trim() !== '');
  const [header, ...rest] = rows;
  if (!header) throw new TradeBillFormatError(1, 'the bill is empty');
  const summaryAt = rest.findIndex((r) => r.text.startsWith(SUMMARY_COLUMNS.rows));
  if (summaryAt < 0) throw new TradeBillFormatError(rows.length, `no summary (${SUMMARY_COLUMNS.rows}, …) after the rows`);
  const [summaryHeader, summary, ...extra] = rest.slice(summaryAt) as [Row, Row | undefined, ...Row[]];
  if (!summary) throw new TradeBillFormatError(summaryHeader.line, 'the summary header has no values row');
  if (extra[0]) throw new TradeBillFormatError(extra[0].line, 'a row after the summary');
  const at = columnsOf(header, Object.values(COLUMNS));
  return { lines: rest.slice(0, summaryAt).map((r) => lineOf(r, at)), totals: totalsOf(summaryHeader, summary) };
}

/** Why the lines do not add up to the summary, or undefined when they do. */
export function totalsProblem(bill: TradeBill): string | undefined {
  const { lines, totals } = bill;
  const charges = lines.filter((l) => l.type === 'charge');
  const refunds = lines.filter((l) => l.type === 'refund');
  const sum = (ls: SettlementLine[], of: (l: SettlementLine) => number) => ls.reduce((total, l) => total + of(l), 0);
  const checks: Array<[string, number, number]> = [
    [SUMMARY_COLUMNS.rows, lines.length, totals.rows],
    [SUMMARY_COLUMNS.settlement, sum(charges, (l) => l.gross), totals.settlement],
    [SUMMARY_COLUMNS.refunds, -sum(refunds, (l) => l.gross), totals.refunds],
    [SUMMARY_COLUMNS.fees, sum(lines, (l) => l.fee), totals.fees],
  ];
  const wrong = checks.filter(([, counted, stated]) => counted !== stated);
  return wrong.length === 0 ? undefined : wrong.map(([name, counted, stated]) => `${name} says ${stated}, the rows ${counted}`).join('; ');
}

/** Column index by name; a bill without one of them cannot be reconciled. */
function columnsOf(header: Row, names: readonly string[]): Map<string, number> {
  const cells = header.text.split(',').map((c) => c.trim());
  const at = new Map(cells.map((name, i) => [name, i]));
  const missing = names.filter((n) => !at.has(n));
  if (missing.length > 0) throw new TradeBillFormatError(header.line, `the header lacks ${missing.join(', ')}`);
  return at;
}

/**
 * A row's fields without their backticks. Splitting on ",`" rather than "," keeps a comma inside
 * a product name or the merchant's attach in its field: WeChat quotes nothing.
 */
function fieldsOf(row: Row, count: number): string[] {
  if (!row.text.startsWith('`')) throw new TradeBillFormatError(row.line, 'a field without its leading backtick');
  const fields = row.text.slice(1).split(',`');
  if (fields.length !== count) throw new TradeBillFormatError(row.line, `${fields.length} fields where the header has ${count}`);
  return fields;
}

function lineOf(row: Row, at: Map<string, number>): SettlementLine {
  const fields = fieldsOf(row, at.size);
  const field = (name: string) => (fields[at.get(name) as number] as string).trim();
  const state = field(COLUMNS.state);
  if (state !== 'SUCCESS' && state !== 'REFUND') throw new TradeBillFormatError(row.line, `交易状态 ${state || '(empty)'} is neither SUCCESS nor REFUND`);
  const currency = field(COLUMNS.currency);
  const amount = (name: string) => fenOf(row, name, field(name), currency);
  const transactionId = field(COLUMNS.transactionId);
  const outTradeNo = field(COLUMNS.outTradeNo);
  if (!transactionId) throw new TradeBillFormatError(row.line, `no ${COLUMNS.transactionId}`);
  const refund = state === 'REFUND';
  const outRefundNo = refund ? field(COLUMNS.outRefundNo) : '';
  if (refund && !outRefundNo) throw new TradeBillFormatError(row.line, `a refund without its ${COLUMNS.outRefundNo}`);
  const gross = refund ? 0 - amount(COLUMNS.refund) : amount(COLUMNS.settlement);
  // Signed as written: a refund's row already shows the fee given back as negative.
  const fee = amount(COLUMNS.fee);
  return {
    provider: 'wechat_pay', provider_reference: transactionId, payment_id: outTradeNo || null, refund_id: refund ? outRefundNo : null,
    type: refund ? 'refund' : 'charge', gross, fee, net: gross - fee, currency, settled_at: beijingTime(row, field(COLUMNS.time)),
  };
}

function totalsOf(header: Row, values: Row): TradeBillTotals {
  const at = columnsOf(header, Object.values(SUMMARY_COLUMNS));
  const fields = fieldsOf(values, at.size);
  const field = (name: string) => (fields[at.get(name) as number] as string).trim();
  const rows = field(SUMMARY_COLUMNS.rows);
  if (!/^\d+$/.test(rows)) throw new TradeBillFormatError(values.line, `${SUMMARY_COLUMNS.rows} ${rows} is not a count`);
  // The summary has no currency column: the domestic bill is CNY throughout.
  const amount = (name: string) => fenOf(values, name, field(name), 'CNY');
  return { rows: Number(rows), settlement: amount(SUMMARY_COLUMNS.settlement), refunds: amount(SUMMARY_COLUMNS.refunds), fees: amount(SUMMARY_COLUMNS.fees) };
}

/** Yuan to fen exactly (`-0.27000` is -27); anything that is not a whole number of fen is refused, never rounded. */
function fenOf(row: Row, name: string, value: string, currency: string): number {
  const negative = value.startsWith('-');
  const minor = fromMajorUnitString(negative ? value.slice(1) : value, currency);
  if (minor === undefined) throw new TradeBillFormatError(row.line, `${name} ${value || '(empty)'} is not an amount in ${currency || '(no currency)'}`);
  // `-0.00000` is no money: 0, not -0.
  return negative && minor !== 0 ? -minor : minor;
}

/**
 * `2026-05-20 13:29:35` (Beijing, UTC+8 without daylight saving) as `2026-05-20T13:29:35+08:00`:
 * the offset kept, as WeChat's API writes its times, so the bill's wall time reads the same.
 */
function beijingTime(row: Row, value: string): string {
  const match = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(value);
  const [y, mo, d, h, mi, s] = (match?.slice(1) ?? []).map(Number) as [number, number, number, number, number, number];
  const wall = match ? new Date(Date.UTC(y, mo - 1, d, h, mi, s)) : undefined;
  // Date.UTC rolls 2026-02-31 over into March: the wall time must survive the round trip.
  if (!wall || wall.toISOString().slice(0, 19).replace('T', ' ') !== value) {
    throw new TradeBillFormatError(row.line, `${COLUMNS.time} ${value || '(empty)'} is not a time as YYYY-MM-DD HH:mm:ss`);
  }
  return `${value.replace(' ', 'T')}+08:00`;
}
