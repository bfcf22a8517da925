import { CsvError, parse as parseCsv } from 'csv-parse/sync';
import { unzipSync } from 'fflate';
import iconv from 'iconv-lite';
import { fromMajorUnitString } from '../../domain/money';
import type { SettlementLine } from '../../reconciliation/report';

/**
 * Alipay's trade bill (业务明细, `bill_type: trade`), read: the zip that
 * `alipay.data.dataservice.bill.downloadurl.query` points at holds GBK CSVs, the detail (业务明细)
 * and its summary (业务明细(汇总)); the detail has `#` preamble lines, a header, one row per trade
 * paid (交易) and per refund (退款), then `#` summary lines. Pure: no I/O here.
 */

/** A bill that cannot be read; `line` is the physical line of the CSV (1-based) when one is to blame. */
export class AlipayBillError extends Error {
  constructor(message: string, readonly line?: number) {
    super(line === undefined ? message : `line ${line}: ${message}`);
    this.name = 'AlipayBillError';
  }
}

const COLUMNS = {
  tradeNo: '支付宝交易号',
  outTradeNo: '商户订单号',
  type: '业务类型',
  finishedAt: '完成时间',
  received: '商家实收（元）',
  refundNo: '退款批次号/请求号',
  fee: '服务费（元）',
} as const;

type Column = keyof typeof COLUMNS;

/** What no honest bill is: far more than a day's detail, and a zip bomb's usual trick. */
const MAX_CSV_BYTES = 256 * 1024 * 1024;

/**
 * The detail CSVs of a downloaded bill, decoded. Entries are told apart by their first line
 * (`#支付宝业务明细查询`), not by name: Alipay writes the names in GBK without the zip's UTF-8 flag,
 * so no reader agrees on them.
 */
export function tradeBillCsvs(zip: Uint8Array): string[] {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(zip, { filter: (f) => f.originalSize <= MAX_CSV_BYTES });
  } catch (err) {
    throw new AlipayBillError(`the bill is not a zip archive (${err instanceof Error ? err.message : String(err)})`);
  }
  const details = Object.values(entries).map(decodeGbk).filter((text) => text.startsWith('#支付宝业务明细查询'));
  if (details.length === 0) throw new AlipayBillError('the zip holds no trade bill detail (#支付宝业务明细查询)');
  return details;
}

/** GB18030 is a superset of GBK with the same bytes for every GBK character: what Alipay calls GBK reads either way. */
function decodeGbk(bytes: Uint8Array): string {
  return iconv.decode(Buffer.from(bytes), 'gb18030').replace(/^\uFEFF/, '');
}

/** Every trade and refund row of one detail CSV, as settlement lines; throws naming the first malformed row. */
export function parseTradeBill(csv: string): SettlementLine[] {
  const records = readRecords(csv);
  const header = records.shift();
  if (!header) throw new AlipayBillError('the bill has no header row (支付宝交易号,商户订单号,…)');
  const index = columnIndex(header.cells, header.line);
  return records.map(({ cells, line }) => {
    if (cells.length !== header.cells.length) throw new AlipayBillError(`${cells.length} cells where the header has ${header.cells.length}`, line);
    return settlementLine((c) => cells[index[c]] ?? '', line);
  });
}

type CsvRecord = { cells: string[]; line: number };

/** Non-comment records with their line numbers; the `#` preamble and summary are comments. */
function readRecords(csv: string): CsvRecord[] {
  try {
    // csv-parse's types do not follow `info: true`, which wraps each record with where it was read.
    const records = parseCsv(csv.replace(/\r\n?/g, '\n'), {
      bom: true,
      comment: '#',
      // A `#` inside a subject or remark is text; only a line starting with one is Alipay's commentary.
      comment_no_infix: true,
      skip_empty_lines: true,
      relax_column_count: true,
      info: true,
    }) as unknown as Array<{ record: string[]; info: { lines: number } }>;
    // Alipay pads identifiers with a tab to keep spreadsheets from reading them as numbers.
    return records.map(({ record, info }) => ({ cells: record.map((cell) => cell.trim()), line: info.lines }));
  } catch (err) {
    if (err instanceof CsvError) throw new AlipayBillError(err.message, typeof err.lines === 'number' ? err.lines : undefined);
    throw err;
  }
}

function columnIndex(header: string[], line: number): Record<Column, number> {
  const entries = (Object.entries(COLUMNS) as Array<[Column, string]>).map(([key, name]) => {
    const at = header.indexOf(name);
    if (at < 0) throw new AlipayBillError(`the header has no ${name} column: not a trade bill (业务明细)`, line);
    return [key, at] as const;
  });
  return Object.fromEntries(entries) as Record<Column, number>;
}

/**
 * One row in our vocabulary. The row's type decides the signs: a charge's amount is positive and a
 * refund's negative (a row that disagrees is malformed); the fee is what Alipay kept, so a refund's
 * is the fee given back. Bills have written the 服务费 of either kind with either sign over the
 * years, so its sign is taken from the type, not from the cell.
 */
function settlementLine(cell: (c: Column) => string, line: number): SettlementLine {
  const fail = (problem: string) => new AlipayBillError(problem, line);
  const type = typeOf(cell('type'), fail);
  const gross = fen(cell('received'), COLUMNS.received, fail);
  if (type === 'charge' ? gross < 0 : gross > 0) throw fail(`a ${cell('type')} row with ${COLUMNS.received} ${cell('received')}`);
  const feeAbs = Math.abs(fen(cell('fee'), COLUMNS.fee, fail));
  const fee = type === 'charge' ? feeAbs : 0 - feeAbs;
  const providerReference = cell('tradeNo');
  if (!providerReference) throw fail(`no ${COLUMNS.tradeNo}`);
  return {
    provider: 'alipay',
    provider_reference: providerReference,
    payment_id: cell('outTradeNo') || null,
    refund_id: type === 'refund' ? cell('refundNo') || null : null,
    type,
    gross,
    fee,
    net: gross - fee,
    currency: 'CNY',
    settled_at: beijingRfc3339(cell('finishedAt'), fail),
  };
}

function typeOf(value: string, fail: (problem: string) => Error): 'charge' | 'refund' {
  if (value === '交易') return 'charge';
  if (value === '退款') return 'refund';
  throw fail(`业务类型 '${value}' is neither 交易 nor 退款`);
}

/** Exact fen from a signed yuan string ("-12.34"), through the repository's one decimal parser: never a float. */
function fen(value: string, column: string, fail: (problem: string) => Error): number {
  const negative = value.startsWith('-');
  const minor = fromMajorUnitString(negative ? value.slice(1) : value, 'CNY');
  if (minor === undefined) throw fail(`${column} '${value}' is not an amount in yuan`);
  // 0 - x, not -x: a refunded "0.00" is zero, not negative zero.
  return negative ? 0 - minor : minor;
}

/** `2026-06-05 16:01:38` (Beijing, no zone written) as RFC 3339 with Beijing's offset. */
function beijingRfc3339(value: string, fail: (problem: string) => Error): string {
  const match = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(value);
  const [y, mo, d, h, mi, s] = (match?.slice(1) ?? []).map(Number) as [number, number, number, number, number, number];
  const at = match ? new Date(Date.UTC(y, mo - 1, d, h, mi, s)) : undefined;
  // Date.UTC rolls 2026-02-31 over into March: a round trip catches it.
  if (!at || at.toISOString().slice(0, 19) !== `${value.slice(0, 10)}T${value.slice(11)}`) throw fail(`完成时间 '${value}' is not a yyyy-MM-dd HH:mm:ss time`);
  return `${value.slice(0, 10)}T${value.slice(11)}+08:00`;
}
