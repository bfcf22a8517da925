import { parse as parseCsv, CsvError } from 'csv-parse/sync';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { fromMajorUnitString, isKnownCurrency } from '../domain/money';

/**
 * Bank statements an operator imports: incoming transfers (credits) to match to payments and
 * outgoing payouts (debits) to confirm. Two formats: ISO 20022 camt.053 and our own CSV.
 */

export type StatementLine = {
  direction: 'credit' | 'debit';
  credit_id: string;            // the bank's id of the line
  value_date: string;           // YYYY-MM-DD
  amount: number;               // minor units, > 0
  currency: string;             // upper-case ISO 4217
  reference: string | null;     // structured creditor reference, else free text, trimmed; null when none
  payer: { name: string | null; account: string | null; bank_code: string | null }; // the counterparty (debtor for credits, creditor for debits)
};

/** A file we cannot read, or a line in it that is wrong: `line` is 1-based for CSV, the entry's position for camt. */
export class StatementError extends Error {
  constructor(message: string, readonly line?: number) {
    super(message);
    this.name = 'StatementError';
  }
}

type Fail = (message: string) => StatementError;

/** Exact minor units, or an error: a line we cannot read to the cent must not be matched to a payment. */
function toMinorUnits(amount: string, currency: string, fail: Fail): number {
  if (!isKnownCurrency(currency)) throw fail(`unknown currency '${currency}'`);
  if (!/^-?\d+(\.\d+)?$/.test(amount)) throw fail(`malformed amount '${amount}'`);
  if (amount.startsWith('-')) throw fail(`amount ${amount} is not positive`);
  const minor = fromMajorUnitString(amount, currency);
  if (minor === undefined) throw fail(`amount ${amount} is not an exact ${currency} amount`);
  if (minor === 0) throw fail(`amount ${amount} is not positive`);
  return minor;
}

function isCalendarDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const date = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(text);
}

/** Two lines with one id would make the importer drop one of them as already seen. */
function assertUniqueIds(lines: { line: StatementLine; at: number }[], where: (at: number) => string): StatementLine[] {
  const seen = new Map<string, number>();
  for (const { line, at } of lines) {
    const first = seen.get(line.credit_id);
    if (first !== undefined) {
      throw new StatementError(`${where(at)}: id '${line.credit_id}' is also on ${where(first)}`, at);
    }
    seen.set(line.credit_id, at);
  }
  return lines.map(({ line }) => line);
}

// ---------------------------------------------------------------- camt.053

/**
 * Numeric character references are legal XML, hence `htmlEntities` (their decoder drops code
 * points XML forbids). Entities a DOCTYPE could declare never reach it: such documents are refused.
 */
const xmlParser = new XMLParser({
  removeNSPrefix: true, // the namespace changes with every camt.053 version; element names do not
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false, // ids like "000123" and amounts stay text
  parseAttributeValue: false,
  processEntities: true,
  htmlEntities: true,
});

type XmlNode = Record<string, unknown>;

function isNode(value: unknown): value is XmlNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every node at a slash-separated path: a repeated element is an array, a single one is not. */
function all(node: unknown, path: string): unknown[] {
  return path.split('/').reduce<unknown[]>((nodes, name) => nodes.flatMap((parent) => {
    const child = isNode(parent) ? parent[name] : undefined;
    return child === undefined ? [] : Array.isArray(child) ? child : [child];
  }), [node]);
}

function text(node: unknown): string | null {
  const value = isNode(node) ? node['#text'] : node;
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : null;
}

/** The first non-empty text at any of the paths, in order of preference. */
function textAt(node: unknown, ...paths: string[]): string | null {
  for (const path of paths) {
    for (const found of all(node, path)) {
      const value = text(found);
      if (value !== null) return value;
    }
  }
  return null;
}

/** Statements may come wrapped in a business message envelope next to an application header. */
function findStatementMessage(node: unknown, depth = 0): XmlNode | undefined {
  if (!isNode(node) || depth > 3) return undefined;
  if (isNode(node.BkToCstmrStmt)) return node.BkToCstmrStmt;
  for (const [name, child] of Object.entries(node)) {
    if (name.startsWith('@') || name.startsWith('?')) continue;
    const found = findStatementMessage(child, depth + 1);
    if (found) return found;
  }
  return undefined;
}

function readCamtDocument(xml: string): XmlNode {
  // Leading blank lines are a common upload artefact; strictly they would make the declaration illegal.
  const body = xml.replace(/^\uFEFF?\s*/, '');
  // No DTD at all: it is how XXE and entity-expansion attacks get in, and no bank needs one.
  if (/<!(DOCTYPE|ENTITY)/i.test(body)) throw new StatementError('XML with a DOCTYPE is not accepted');
  const valid = XMLValidator.validate(body);
  if (valid !== true) throw new StatementError(`not well-formed XML at line ${valid.err.line}: ${valid.err.msg}`);
  const message = findStatementMessage(xmlParser.parse(body));
  if (!message) throw new StatementError('not a camt.053 statement (no BkToCstmrStmt)');
  return message;
}

function entryDate(entry: unknown, fail: Fail): string {
  const stamp = textAt(entry, 'ValDt/Dt', 'ValDt/DtTm', 'BookgDt/Dt', 'BookgDt/DtTm');
  if (stamp === null) throw fail('no value or booking date');
  const date = stamp.slice(0, 10);
  if (!isCalendarDate(date)) throw fail(`malformed date '${stamp}'`);
  return date;
}

/** One line per transaction of a booked entry: a batch credits several payers at once. */
function entryLines(entry: unknown, fail: Fail): StatementLine[] {
  const status = textAt(entry, 'Sts', 'Sts/Cd');
  if (status === null) throw fail('no status');
  // Pending and information-only entries may still change or vanish; reversals undo an earlier entry.
  if (status !== 'BOOK') return [];
  if (['true', '1'].includes(textAt(entry, 'RvslInd') ?? '')) return [];

  const indicator = textAt(entry, 'CdtDbtInd');
  if (indicator !== 'CRDT' && indicator !== 'DBIT') throw fail(`credit/debit indicator '${indicator ?? ''}' is neither CRDT nor DBIT`);
  const direction = indicator === 'CRDT' ? 'credit' : 'debit';
  const counterparty = direction === 'credit' ? 'Dbtr' : 'Cdtr';
  const value_date = entryDate(entry, fail);
  const entryAmount = all(entry, 'Amt')[0];
  const entryId = textAt(entry, 'AcctSvcrRef') ?? textAt(entry, 'NtryRef');

  const transactions = all(entry, 'NtryDtls/TxDtls');
  const details = transactions.length > 0 ? transactions : [{}];
  const batch = details.length > 1;
  return details.map((tx, i) => {
    const which = batch ? `transaction ${i + 1}: ` : '';
    const amountNode = all(tx, 'Amt')[0] ?? all(tx, 'AmtDtls/TxAmt/Amt')[0] ?? (batch ? undefined : entryAmount);
    const amount = text(amountNode);
    if (amount === null) throw fail(`${which}no amount`);
    const currency = ((isNode(amountNode) ? text(amountNode['@Ccy']) : null) ?? '').toUpperCase();
    if (currency === '') throw fail(`${which}amount without currency`);

    const suffix = batch ? `:${i + 1}` : '';
    const credit_id = textAt(tx, 'Refs/AcctSvcrRef') ?? (entryId === null ? null : `${entryId}${suffix}`);
    if (credit_id === null) throw fail(`${which}no bank reference (AcctSvcrRef or NtryRef) to tell it apart from other lines`);

    const unstructured = all(tx, 'RmtInf/Ustrd').map(text).filter((part) => part !== null).join(' ');
    return {
      direction,
      credit_id,
      value_date,
      amount: toMinorUnits(amount, currency, (message) => fail(`${which}${message}`)),
      currency,
      reference: textAt(tx, 'RmtInf/Strd/CdtrRefInf/Ref') ?? (unstructured === '' ? null : unstructured),
      payer: {
        name: textAt(tx, `RltdPties/${counterparty}/Nm`, `RltdPties/${counterparty}/Pty/Nm`),
        account: textAt(tx, `RltdPties/${counterparty}Acct/Id/IBAN`, `RltdPties/${counterparty}Acct/Id/Othr/Id`),
        bank_code: textAt(
          tx,
          `RltdAgts/${counterparty}Agt/FinInstnId/BICFI`,
          `RltdAgts/${counterparty}Agt/FinInstnId/BIC`,
          `RltdAgts/${counterparty}Agt/FinInstnId/ClrSysMmbId/MmbId`,
        ),
      },
    };
  });
}

/** Booked, non-reversed entries of every statement in the document; `line` of an error is the entry's position (1-based, across statements). */
export function parseCamt053(xml: string): StatementLine[] {
  const message = readCamtDocument(xml);
  const lines: { line: StatementLine; at: number }[] = [];
  let position = 0;
  for (const statement of all(message, 'Stmt')) {
    for (const entry of all(statement, 'Ntry')) {
      const at = ++position;
      const fail: Fail = (problem) => new StatementError(`entry ${at}: ${problem}`, at);
      for (const line of entryLines(entry, fail)) lines.push({ line, at });
    }
  }
  return assertUniqueIds(lines, (at) => `entry ${at}`);
}

// ---------------------------------------------------------------- CSV

const CSV_COLUMNS = ['credit_id', 'value_date', 'amount', 'currency', 'direction', 'reference', 'payer_name', 'payer_account', 'payer_bank_code'] as const;
type CsvColumn = typeof CSV_COLUMNS[number];
const REQUIRED_COLUMNS: CsvColumn[] = ['credit_id', 'value_date', 'amount', 'currency'];

/** Known columns by their canonical name; others (a bank export's extras) are dropped. */
function csvColumns(header: string[]): (CsvColumn | null)[] {
  const names = header.map((name) => name.trim().toLowerCase());
  const columns = names.map((name) => (CSV_COLUMNS as readonly string[]).includes(name) ? name as CsvColumn : null);
  const repeated = columns.find((column, i) => column !== null && columns.indexOf(column) !== i);
  if (repeated) throw new StatementError(`line 1: column '${repeated}' appears twice`, 1);
  const missing = REQUIRED_COLUMNS.filter((column) => !columns.includes(column));
  if (missing.length > 0) throw new StatementError(`line 1: missing column(s) ${missing.join(', ')}`, 1);
  return columns;
}

function csvLine(record: Partial<Record<CsvColumn, string>>, fail: Fail): StatementLine {
  const field = (column: CsvColumn): string | null => record[column]?.trim() || null;
  const required = (column: CsvColumn): string => {
    const value = field(column);
    if (value === null) throw fail(`${column} is empty`);
    return value;
  };
  const credit_id = required('credit_id');
  const value_date = required('value_date');
  if (!isCalendarDate(value_date)) throw fail(`value_date '${value_date}' is not a YYYY-MM-DD date`);
  const currency = required('currency').toUpperCase();
  const amount = toMinorUnits(required('amount'), currency, fail);
  const direction = (field('direction') ?? 'credit').toLowerCase();
  if (direction !== 'credit' && direction !== 'debit') throw fail(`direction '${direction}' is neither credit nor debit`);
  return {
    direction,
    credit_id,
    value_date,
    amount,
    currency,
    reference: field('reference'),
    payer: { name: field('payer_name'), account: field('payer_account'), bank_code: field('payer_bank_code') },
  };
}

/** Our documented CSV; `line` of an error is the physical line (1 = header) where the record starts. */
export function parseStatementCsv(text: string): StatementLine[] {
  // LF only, so that csv-parse's line count is the editor's even across quoted CRLFs.
  const normalized = text.replace(/\r\n?/g, '\n');
  let sawHeader = false;
  let records: { record: Partial<Record<CsvColumn, string>>; info: { lines: number } }[];
  try {
    records = parseCsv(normalized, {
      bom: true,
      columns: (header: string[]) => { sawHeader = true; return csvColumns(header); },
      skip_empty_lines: true,
      info: true,
    });
  } catch (error) {
    if (error instanceof CsvError) {
      const line = typeof error.lines === 'number' ? error.lines : undefined;
      throw new StatementError(`line ${line ?? '?'}: ${error.message}`, line);
    }
    throw error;
  }
  if (!sawHeader) throw new StatementError('empty file: a header row is required', 1);
  const lines = records.map(({ record, info }) => {
    // csv-parse counts to the record's last line; quoted newlines tell how far back it started.
    const embedded = Object.values(record).reduce((sum, value) => sum + (value?.split('\n').length ?? 1) - 1, 0);
    const at = info.lines - embedded;
    return { line: csvLine(record, (problem) => new StatementError(`line ${at}: ${problem}`, at)), at };
  });
  return assertUniqueIds(lines, (at) => `line ${at}`);
}

// ---------------------------------------------------------------- either

/** Picks the parser from the content type (application/xml, text/xml → camt; text/csv → csv) or, when absent/unknown, from the content (starts with '<' after BOM/whitespace → camt). */
export function parseStatement(body: string, contentType?: string): { format: 'camt.053' | 'csv'; lines: StatementLine[] } {
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  const camt = mediaType === 'application/xml' || mediaType === 'text/xml' ? true
    : mediaType === 'text/csv' ? false
      : /^\uFEFF?\s*</.test(body);
  return camt ? { format: 'camt.053', lines: parseCamt053(body) } : { format: 'csv', lines: parseStatementCsv(body) };
}
