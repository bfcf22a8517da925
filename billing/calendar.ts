import { DateTime, IANAZone } from 'luxon';

export type Interval = 'day' | 'week' | 'month' | 'year';

/** amount is in the currency's minor units (see domain/money.ts). */
export interface Price {
  amount: number;
  currency: string;
  interval: Interval;
  interval_count: number;
}

// A price whose interval changes mid-subscription starts a new anchor; these functions assume one fixed interval.

const SECONDS_PER_DAY = 86_400;
/** Mean Gregorian month (365.2425 / 12 days): only used to guess an index that is then corrected. */
const SECONDS_PER_MEAN_MONTH = 2_629_746;

/** Every interval is a whole number of wall-clock days or calendar months, so one code path handles all four. */
function unitsPerInterval(interval: Interval): { unit: 'days' | 'months'; per: number } {
  switch (interval) {
    case 'day':
      return { unit: 'days', per: 1 };
    case 'week':
      return { unit: 'days', per: 7 };
    case 'month':
      return { unit: 'months', per: 1 };
    case 'year':
      return { unit: 'months', per: 12 };
    default:
      throw new RangeError(`unknown interval ${String(interval)}`);
  }
}

/**
 * Only real IANA names: luxon also takes "local"/"system" and fixed offsets, which would make
 * a stored subscription bill differently depending on the host or ignore DST.
 */
export function isValidTimeZone(tz: string): boolean {
  return typeof tz === 'string' && !/^(local|system)$/i.test(tz) && IANAZone.isValidZone(tz);
}

function assertSeconds(name: string, value: number): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${name} must be an integer number of unix seconds`);
}

function inZone(t: number, timeZone: string): DateTime {
  if (!isValidTimeZone(timeZone)) throw new RangeError(`unknown time zone ${timeZone}`);
  return DateTime.fromSeconds(t, { zone: timeZone });
}

function shifted(t: number, unit: 'days' | 'months', amount: number, timeZone: string): number {
  const result = inZone(t, timeZone).plus({ [unit]: amount });
  if (!result.isValid) throw new RangeError(`date out of range: ${t} + ${amount} ${unit}`);
  return result.toUnixInteger();
}

/**
 * Start of period n, always measured from the anchor so a Jan 31 anchor clamps to Feb 28/29 and
 * returns to Mar 31 instead of drifting to the 28th. Calendar arithmetic is wall-clock in timeZone,
 * so the anchor's local time of day survives DST changes.
 */
export function periodStart(anchor: number, interval: Interval, intervalCount: number, n: number, timeZone = 'UTC'): number {
  assertSeconds('anchor', anchor);
  if (!Number.isSafeInteger(intervalCount) || intervalCount < 1) throw new RangeError('intervalCount must be a positive integer');
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('period index must be a non-negative integer');
  const { unit, per } = unitsPerInterval(interval);
  return shifted(anchor, unit, n * intervalCount * per, timeZone);
}

/** Periods are contiguous by construction: the end of n is the start of n + 1. */
export function periodEnd(anchor: number, interval: Interval, intervalCount: number, n: number, timeZone = 'UTC'): number {
  return periodStart(anchor, interval, intervalCount, n + 1, timeZone);
}

/** The n with periodStart(n) <= t < periodStart(n + 1), or -1 before the anchor. */
export function periodIndexAt(anchor: number, interval: Interval, intervalCount: number, t: number, timeZone = 'UTC'): number {
  assertSeconds('t', t);
  const start = (n: number) => periodStart(anchor, interval, intervalCount, n, timeZone);
  if (t < start(0)) return -1;
  const { unit, per } = unitsPerInterval(interval);
  const approxLength = (unit === 'days' ? SECONDS_PER_DAY : SECONDS_PER_MEAN_MONTH) * per * intervalCount;
  // The guess is off by at most a period or two (month lengths, DST hours), so the walks below stay short.
  let n = Math.max(0, Math.floor((t - anchor) / approxLength));
  while (n > 0 && start(n) > t) n--;
  while (start(n + 1) <= t) n++;
  return n;
}

/** Wall-clock days in timeZone, so a trial ending "in 14 days" keeps its local time across DST. */
export function addDays(t: number, days: number, timeZone = 'UTC'): number {
  assertSeconds('t', t);
  if (!Number.isSafeInteger(days)) throw new RangeError('days must be an integer');
  return shifted(t, 'days', days, timeZone);
}
