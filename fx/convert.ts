/**
 * The one place money changes currency, with one rounding rule: half-even to the target currency's
 * minor unit (ISO 4217 exponents, see domain/money). Amounts are integer minor units in and out; rates
 * are decimal strings; the arithmetic is BigInt, exact until that single rounding.
 *
 * Policy (what we promise merchants): the rate is locked at authorization — mid rate with our margin
 * applied (applyMargin). Captures settle at that locked rate, and refunds give back at that same rate,
 * both allocated with settlementShare. The merchant does not bear FX moves after authorization; the
 * margin is what pays us for carrying them.
 */
import { currencyExponent } from '../domain/money';
import { isPositiveDecimal } from './rates';

/** The largest margin we accept: 10 %. Anything above is a configuration mistake. */
const MAX_MARGIN_BPS = 1000;

/** A positive decimal string as an exact fraction: "1.0812" → 10812 / 10^4. */
function fraction(rate: string): { numerator: bigint; scale: number } {
  if (!isPositiveDecimal(rate)) throw new RangeError(`rate "${rate}" must be a positive decimal string`);
  const [whole = '', decimals = ''] = rate.split('.');
  return { numerator: BigInt(whole + decimals), scale: decimals.length };
}

/** numerator / denominator, rounded half-even; both non-negative, denominator positive. */
function divideHalfEven(numerator: bigint, denominator: bigint): bigint {
  const quotient = numerator / denominator;
  const twice = 2n * (numerator % denominator);
  if (twice > denominator || (twice === denominator && quotient % 2n === 1n)) return quotient + 1n;
  return quotient;
}

function safe(value: bigint, what: string): number {
  const result = Number(value);
  if (!Number.isSafeInteger(result)) throw new RangeError(`${what} exceeds the safe integer range`);
  return result;
}

function assertNonNegativeInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer`);
}

function exponent(code: string): number {
  const digits = currencyExponent(code);
  if (digits === undefined) throw new RangeError(`unknown currency ${code}`);
  return digits;
}

/**
 * The rate the merchant gets converting the customer's (payment) currency into its settlement currency:
 * mid × (1 − bps / 10 000), settlement units per payment unit. The merchant receives LESS than mid; the
 * difference is our FX revenue. Exact: a decimal times an integer over 10^4 is a decimal.
 */
export function applyMargin(midRate: string, marginBps: number): string {
  if (!Number.isInteger(marginBps) || marginBps < 0 || marginBps > MAX_MARGIN_BPS) {
    throw new RangeError(`marginBps must be an integer within 0..${MAX_MARGIN_BPS}`);
  }
  const { numerator, scale } = fraction(midRate);
  const digits = (numerator * BigInt(10_000 - marginBps)).toString().padStart(scale + 5, '0');
  const whole = digits.slice(0, -(scale + 4));
  const decimals = digits.slice(-(scale + 4)).replace(/0+$/, '');
  return decimals === '' ? whole : `${whole}.${decimals}`;
}

/**
 * `amountMinor` of `from` in minor units of `to` at `rate` (units of `to` per 1 `from`):
 * amountMinor / 10^exp(from) × rate × 10^exp(to), rounded half-even to an integer.
 */
export function convertMinor(amountMinor: number, from: string, to: string, rate: string): number {
  assertNonNegativeInteger('amountMinor', amountMinor);
  const shift = exponent(to) - exponent(from);
  const { numerator, scale } = fraction(rate);
  const top = BigInt(amountMinor) * numerator * 10n ** BigInt(Math.max(shift, 0));
  const bottom = 10n ** BigInt(scale + Math.max(-shift, 0));
  return safe(divideHalfEven(top, bottom), 'converted amount');
}

export interface SettlementShareParams {
  /** What moves now, in the payment currency. */
  amountMinor: number;
  /** The authorized amount, in the payment currency. */
  totalMinor: number;
  /** totalMinor converted at the locked rate, in the settlement currency. */
  settledTotal: number;
  /** Moved before this, in the payment currency. */
  alreadyMoved: number;
  /** Moved before this, in the settlement currency (what earlier calls returned, summed). */
  alreadyMovedSettled: number;
}

/**
 * Settlement-currency amount for a partial capture or refund at the locked rate. Cumulative allocation:
 * round_half_even(settledTotal × (alreadyMoved + amountMinor) / totalMinor) − alreadyMovedSettled.
 * Rounding the running total rather than each slice means the slices never add up to more than
 * settledTotal, and the move that completes totalMinor gets exactly the remainder. Captures and refunds
 * each keep their own history against the same totalMinor/settledTotal, so refunding everything captured
 * gives back exactly what was captured in the settlement currency.
 *
 * A history that already holds more than this rule allocates would need a negative share — money flowing
 * the wrong way — so it throws rather than guess; one holding less catches up on this move.
 */
export function settlementShare(params: SettlementShareParams): number {
  const { amountMinor, totalMinor, settledTotal, alreadyMoved, alreadyMovedSettled } = params;
  for (const [name, value] of Object.entries(params)) assertNonNegativeInteger(name, value as number);
  if (totalMinor === 0) throw new RangeError('totalMinor must be positive');
  if (alreadyMoved + amountMinor > totalMinor) throw new RangeError('cannot move more than totalMinor');
  const cumulative = divideHalfEven(BigInt(settledTotal) * BigInt(alreadyMoved + amountMinor), BigInt(totalMinor));
  const share = cumulative - BigInt(alreadyMovedSettled);
  if (share < 0n) throw new RangeError('alreadyMovedSettled exceeds what settlementShare allocates for alreadyMoved');
  return safe(share, 'settlement share');
}
