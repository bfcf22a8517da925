import Decimal from 'decimal.js';
import { isKnownCurrency } from '../domain/money';

/**
 * Reference (mid) rates against the euro, the way the ECB publishes them: 1 EUR = rates[code] units.
 * EUR itself is implicit (1). Rates stay decimal strings end to end so no float ever touches money.
 */
export type RateTable = {
  base: 'EUR';
  /** YYYY-MM-DD the reference rates are for. */
  asOf: string;
  /** RFC 3339 instant we obtained the table. */
  fetchedAt: string;
  source: 'static' | 'ecb';
  rates: Record<string, string>;
};

export interface RateSource {
  current(): Promise<RateTable>;
}

/**
 * The FX Decimal: a clone, so the global Decimal config other code may rely on is untouched.
 * 34 digits (decimal128) is far more than any rate needs; half-even matches the conversion rule.
 * Never call `.set()` on it.
 */
export const FxDecimal = Decimal.clone({ precision: 34, rounding: Decimal.ROUND_HALF_EVEN, toExpNeg: -9e15, toExpPos: 9e15 });

/**
 * Significant digits of a cross rate. Converting the largest safe amount (~9e15 minor units) at a rate
 * off by half a unit in the 20th digit moves the result by well under a minor unit.
 */
const CROSS_RATE_DIGITS = 20;

/** Suggested `maxAgeHours` for ECB tables: a long weekend plus a failed day of polling (see isStale). */
export const ECB_MAX_AGE_HOURS = 96;

/**
 * Embedded default for `parseStaticRates`: ILLUSTRATIVE mid rates for 2026-11-27, shaped like the ECB's
 * list (its 29 currencies; BGN is gone since Bulgaria adopted the euro). Not published figures: for
 * development and tests, and a last-resort table when no feed is configured. The ECB publishes no rate
 * for KWD, BHD, AED, SAR, VND…; a merchant settling those needs an operator-configured rate.
 */
export const DEFAULT_STATIC_RATES = [
  'asOf=2026-11-27',
  'USD=1.0812', 'JPY=162.35', 'CZK=25.187', 'DKK=7.4598', 'GBP=0.84215', 'HUF=401.63', 'PLN=4.2681',
  'RON=4.9763', 'SEK=11.2140', 'CHF=0.9423', 'ISK=146.90', 'NOK=11.6745', 'TRY=37.5120', 'AUD=1.6604',
  'BRL=6.2310', 'CAD=1.5127', 'CNY=7.8531', 'HKD=8.4432', 'IDR=17245.66', 'ILS=3.9864', 'INR=91.4570',
  'KRW=1521.37', 'MXN=20.1842', 'MYR=4.7125', 'NZD=1.8451', 'PHP=62.893', 'SGD=1.4153', 'THB=36.712',
  'ZAR=19.4830',
].join(',');

const DECIMAL = /^\d+(?:\.\d+)?$/;
const CURRENCY = /^[A-Z]{3}$/;

/** Positive plain decimal ("1.0812"); no signs, exponents or hex that Number() or Decimal would take. */
export function isPositiveDecimal(value: string): boolean {
  return DECIMAL.test(value) && /[1-9]/.test(value);
}

function isCalendarDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value;
}

function instant(at: Date): string {
  if (Number.isNaN(at.getTime())) throw new RangeError('invalid date');
  return at.toISOString();
}

function freeze(table: RateTable): RateTable {
  Object.freeze(table.rates);
  return Object.freeze(table);
}

/**
 * Operator configuration: "USD=1.0812,HKD=8.4432,JPY=162.35" (1 EUR = x). An optional "asOf=YYYY-MM-DD"
 * entry dates the rates; without it they are taken as of `now`'s UTC date, the day they were configured.
 * Throws naming the first bad entry: a typo in a rate must stop the boot, not misprice payments.
 */
export function parseStaticRates(spec: string, now: Date): RateTable {
  const rates: Record<string, string> = {};
  let asOf: string | undefined;
  const entries = spec.split(',');
  for (const [index, raw] of entries.entries()) {
    const entry = raw.trim();
    const bad = (why: string) => new Error(`static FX rates: entry ${index + 1} "${entry}": ${why}`);
    const match = /^([^=\s]+)\s*=\s*(\S*)$/.exec(entry);
    if (!match) throw bad('expected CODE=rate');
    const [, key = '', value = ''] = match;
    if (key === 'asOf') {
      if (asOf !== undefined) throw bad('asOf given twice');
      if (!isCalendarDate(value)) throw bad('asOf must be a YYYY-MM-DD date');
      asOf = value;
      continue;
    }
    const code = key.toUpperCase();
    if (!CURRENCY.test(code) || !isKnownCurrency(code)) throw bad(`unknown currency ${key}`);
    if (code === 'EUR') throw bad('EUR is the base (1 EUR = 1 EUR); it takes no rate');
    if (code in rates) throw bad(`${code} given twice`);
    if (!DECIMAL.test(value.replace(/^-/, ''))) throw bad(`rate "${value}" is not a decimal number`);
    if (!isPositiveDecimal(value)) throw bad(`rate "${value}" must be positive`);
    rates[code] = value;
  }
  if (Object.keys(rates).length === 0) throw new Error('static FX rates: no currencies configured');
  const fetchedAt = instant(now);
  return freeze({ base: 'EUR', asOf: asOf ?? fetchedAt.slice(0, 10), fetchedAt, source: 'static', rates });
}

/** Attributes of one tag's inside; the ECB quotes with ', XML allows either. */
function attributes(inside: string): Map<string, string> {
  const found = new Map<string, string>();
  const rest = inside.replace(/\s*([A-Za-z_:][\w.:-]*)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/g, (_all, name: string, double?: string, single?: string) => {
    found.set(name, double ?? single ?? '');
    return '';
  });
  if (rest.trim() !== '') throw new Error(`ECB feed: cannot read attributes "${inside.trim()}"`);
  return found;
}

/**
 * The ECB's eurofxref-daily.xml: gesmes:Envelope > Cube > Cube[time] > Cube[currency, rate]*.
 * No XML library: none is among our dependencies (and a transitive one could vanish on any update), and
 * the format has kept this one fixed shape since 2002. The parser is strict on purpose: a truncated
 * download or an error page throws rather than yielding a partial table that would misprice payments.
 */
export function parseEcbDaily(xml: string, fetchedAt: Date): RateTable {
  const body = xml.replace(/<!--[\s\S]*?-->/g, '');
  if (!/^\s*(?:<\?xml[^>]*\?>\s*)?<gesmes:Envelope\b[^>]*>/.test(body) || !/<\/gesmes:Envelope>\s*$/.test(body)) {
    throw new Error('ECB feed: not a gesmes:Envelope document (truncated or not the rates feed?)');
  }
  const dated = [...body.matchAll(/<Cube\s+time\s*=\s*(?:"([^"]*)"|'([^']*)')\s*>([\s\S]*?)<\/Cube>/g)];
  if (dated.length === 0) throw new Error('ECB feed: no dated Cube');
  // The 90-day and historic files repeat the dated Cube; silently taking one of them would be a guess.
  if (dated.length > 1) throw new Error('ECB feed: more than one dated Cube (not the daily file?)');
  const [, double, single, inner = ''] = dated[0] ?? [];
  const asOf = double ?? single ?? '';
  if (!isCalendarDate(asOf)) throw new Error(`ECB feed: Cube time "${asOf}" is not a YYYY-MM-DD date`);

  const rates: Record<string, string> = {};
  const leftover = inner.replace(/<Cube\b([^<>]*?)\/>/g, (_all, inside: string) => {
    const attrs = attributes(inside);
    const code = attrs.get('currency') ?? '';
    const rate = attrs.get('rate') ?? '';
    if (!CURRENCY.test(code) || !isPositiveDecimal(rate)) throw new Error(`ECB feed: bad rate entry "${inside.trim()}"`);
    if (code in rates) throw new Error(`ECB feed: ${code} listed twice`);
    // The feed can carry codes our ISO 4217 table has retired or never had (HRK was listed until Croatia
    // adopted the euro in 2023, and our table no longer knows it). We cannot take payments in those, so
    // their rates are of no use. Codes that leave the feed (BGN in 2026) are simply absent: crossRate
    // answers undefined for them.
    if (code !== 'EUR' && isKnownCurrency(code)) rates[code] = rate;
    return '';
  });
  if (leftover.trim() !== '') throw new Error('ECB feed: unexpected content in the dated Cube');
  if (Object.keys(rates).length === 0) throw new Error(`ECB feed: no rates for ${asOf}`);
  return freeze({ base: 'EUR', asOf, fetchedAt: instant(fetchedAt), source: 'ecb', rates });
}

function eurRate(table: RateTable, code: string): string | undefined {
  const upper = code.toUpperCase();
  if (upper === 'EUR') return '1';
  return Object.hasOwn(table.rates, upper) ? table.rates[upper] : undefined;
}

/**
 * Mid rate: units of `to` per 1 `from`, through the euro (to per EUR ÷ from per EUR), to 20 significant
 * digits. '1' for the same currency, undefined when the table has no rate for either side.
 */
export function crossRate(table: RateTable, from: string, to: string): string | undefined {
  if (from.toUpperCase() === to.toUpperCase()) return isKnownCurrency(from) ? '1' : undefined;
  const fromRate = eurRate(table, from);
  const toRate = eurRate(table, to);
  if (fromRate === undefined || toRate === undefined) return undefined;
  return new FxDecimal(toRate).div(fromRate).toSignificantDigits(CROSS_RATE_DIGITS).toFixed();
}

/**
 * Stale when the table was fetched more than `maxAgeHours` ago; static tables never go stale (the
 * operator vouches for them until they change the config). We judge `fetchedAt`, not `asOf`: the ECB
 * publishes only on TARGET business days (about 16:00 CET), so `asOf` is legitimately Friday's on Monday
 * morning, four days old over Easter, and five over a Monday Christmas (22 → 27 Dec 2023). A poller that
 * fetches daily keeps `fetchedAt` fresh; ECB_MAX_AGE_HOURS (96) rides out a weekend, a holiday and a
 * failed poll. An unparseable `fetchedAt` counts as stale.
 */
export function isStale(table: RateTable, now: Date, maxAgeHours: number): boolean {
  if (!Number.isFinite(maxAgeHours) || maxAgeHours <= 0) throw new RangeError('maxAgeHours must be positive');
  if (table.source === 'static') return false;
  const fetched = Date.parse(table.fetchedAt);
  if (Number.isNaN(fetched)) return true;
  return now.getTime() - fetched > maxAgeHours * 3_600_000;
}

export class StaticRateSource implements RateSource {
  private readonly table: RateTable;

  /** Defaults to the embedded illustrative table (DEFAULT_STATIC_RATES). */
  constructor(table?: RateTable) {
    this.table = table ?? parseStaticRates(DEFAULT_STATIC_RATES, new Date());
  }

  current(): Promise<RateTable> {
    return Promise.resolve(this.table);
  }
}
