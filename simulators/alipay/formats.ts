/**
 * Alipay's wire formats for money and time: decimal strings in major units, and wall-clock
 * times in Beijing time (UTC+8, no daylight saving) without a zone designator. Written apart
 * from the provider's mapper on purpose: the simulator judges what the mapper sends, and a
 * shared helper would let one mistake pass on both sides.
 */

/** Alipay's cross-border `trans_currency` list; CNY is the default when none is given. */
export const SUPPORTED_CURRENCIES = new Set([
  'CNY', 'USD', 'HKD', 'JPY', 'EUR', 'GBP', 'AUD', 'CAD', 'SGD', 'CHF', 'NZD', 'THB', 'KRW', 'SEK', 'DKK', 'NOK', 'MOP',
]);

const ZERO_DECIMAL = new Set(['JPY', 'KRW']);

/** Alipay's per-trade ceiling, in major units. */
const MAX_MAJOR = 100_000_000;

export function decimalsOf(currency: string): number {
  return ZERO_DECIMAL.has(currency) ? 0 : 2;
}

/**
 * Minor units of an Alipay amount, or undefined when Alipay would refuse it. Parsed from the
 * digits so that "0.1" and "0.10" are the same amount and no float ever rounds one.
 */
export function parseAmount(value: string, currency: string): number | undefined {
  const decimals = decimalsOf(currency);
  const match = (decimals === 0 ? /^(\d{1,9})$/ : /^(\d{1,9})(?:\.(\d{1,2}))?$/).exec(value);
  if (!match) return undefined;
  const minor = Number(match[1]) * 10 ** decimals + Number((match[2] ?? '').padEnd(decimals, '0') || '0');
  if (minor < 1 || minor > MAX_MAJOR * 10 ** decimals) return undefined;
  return minor;
}

/** Alipay answers amounts in their canonical form: "10.00", never "10" (except zero-decimal currencies). */
export function formatAmount(minor: number, currency: string): string {
  const decimals = decimalsOf(currency);
  if (decimals === 0) return String(minor);
  const unit = 10 ** decimals;
  return `${Math.floor(minor / unit)}.${String(minor % unit).padStart(decimals, '0')}`;
}

const BEIJING_OFFSET_MS = 8 * 3_600_000;

/** `yyyy-MM-dd HH:mm:ss`, Beijing time. */
export function beijingTime(at: Date | number): string {
  return new Date(new Date(at).getTime() + BEIJING_OFFSET_MS).toISOString().slice(0, 19).replace('T', ' ');
}

/** `yyyy-MM-dd HH:mm:ss.SSS`, Beijing time: the precision of `gmt_refund` in refund notifications. */
export function beijingTimeMs(at: Date | number): string {
  return new Date(new Date(at).getTime() + BEIJING_OFFSET_MS).toISOString().slice(0, 23).replace('T', ' ');
}

/** `yyyyMMdd` of the Beijing calendar day, the prefix of Alipay trade numbers. */
export function beijingDay(at: Date | number): string {
  return beijingTime(at).slice(0, 10).replaceAll('-', '');
}

/** Epoch milliseconds of a Beijing `yyyy-MM-dd HH:mm:ss`; undefined for anything else, including impossible dates. */
export function parseBeijingTime(value: string): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(value);
  if (!match) return undefined;
  const [y, mo, d, h, mi, s] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s) - BEIJING_OFFSET_MS;
  // Date.UTC rolls 2026-02-31 over into March: a round trip catches it.
  return beijingTime(ms) === value ? ms : undefined;
}

/** `timeout_express` ("90m", "2h", "1d"): the older relative form of `time_expire`. */
export function parseTimeoutExpress(value: string): number | undefined {
  const match = /^(\d{1,5})([mhd])$/.exec(value);
  if (!match) return undefined;
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'm' | 'h' | 'd'];
  const ms = Number(match[1]) * unit;
  return ms >= 60_000 && ms <= 15 * 86_400_000 ? ms : undefined;
}
