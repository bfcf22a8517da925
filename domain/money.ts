import currencyCodes from 'currency-codes';

/** Largest amount the API accepts, in minor units (API.md). */
export const MAX_AMOUNT = 99_999_999_999;

/**
 * ISO 4217 codes that are not money a merchant can be paid in: testing, "no currency",
 * precious metals and SDR/bond units.
 */
const NOT_SETTLEABLE = new Set(['XXX', 'XTS', 'XAU', 'XAG', 'XPD', 'XPT', 'XBA', 'XBB', 'XBC', 'XBD', 'XDR', 'XSU', 'XUA']);

/**
 * Minor-unit exponents from ISO 4217 data (not Intl, which disagrees for HUF, IDR, ...). Built in
 * one pass: every workflow run evaluates this module afresh, and a lookup per code made that
 * quadratic.
 */
const EXPONENTS: ReadonlyMap<string, number> = new Map(currencyCodes.data.filter((c) => !NOT_SETTLEABLE.has(c.code)).map((c) => [c.code, c.digits]));

export function currencyExponent(code: string): number | undefined {
  return EXPONENTS.get(code.toUpperCase());
}

/** Every code `isKnownCurrency` accepts, upper case. */
export const KNOWN_CURRENCIES: readonly string[] = [...EXPONENTS.keys()];

export function isKnownCurrency(code: string): boolean {
  return currencyExponent(code) !== undefined;
}

/** "12.34" for 1234 USD; exact string arithmetic, never floats. */
export function toMajorUnitString(amountMinor: number, currency: string): string {
  const exponent = currencyExponent(currency);
  if (exponent === undefined) throw new Error(`unknown currency ${currency}`);
  if (exponent === 0) return String(amountMinor);
  const digits = String(amountMinor).padStart(exponent + 1, '0');
  return `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

/**
 * 1234 for "12.34" USD; undefined for anything that is not an exact amount in that currency.
 * Trailing zeros past the currency's digits ("500.00" JPY) are exact and accepted.
 */
export function fromMajorUnitString(amount: string, currency: string): number | undefined {
  const exponent = currencyExponent(currency);
  const match = /^(\d+)(?:\.(\d+))?$/.exec(amount);
  if (exponent === undefined || !match) return undefined;
  const fraction = (match[2] ?? '').replace(/0+$/, '');
  if (fraction.length > exponent) return undefined;
  const minor = Number(`${match[1]}${fraction.padEnd(exponent, '0')}`);
  return Number.isSafeInteger(minor) ? minor : undefined;
}
