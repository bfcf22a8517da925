import fc from 'fast-check';
import { DateTime } from 'luxon';
import type { Interval } from '../billing/calendar';
import { addDays, isValidTimeZone, periodEnd, periodIndexAt, periodStart } from '../billing/calendar';
import type { DunningConfig } from '../billing/dunning';
import { HARD_DECLINE_CODES, isHardDecline, nextRetryAt, retryOffsetsSeconds } from '../billing/dunning';
import { creditForUnusedTime, prorateAmount, prorationLines } from '../billing/proration';

const DAY = 86_400;
const utc = (iso: string) => DateTime.fromISO(iso, { zone: 'UTC' }).toUnixInteger();
const local = (t: number, zone: string) => DateTime.fromSeconds(t, { zone });
const ZONES = ['UTC', 'America/New_York', 'Asia/Shanghai', 'Australia/Lord_Howe'];

const anchorArb = fc.integer({ min: utc('2000-01-01T00:00:00'), max: utc('2100-01-01T00:00:00') });
const intervalArb = fc.constantFrom<Interval>('day', 'week', 'month', 'year');
const countArb = fc.integer({ min: 1, max: 12 });
const zoneArb = fc.constantFrom(...ZONES);
/** Enough periods to cross several DST changes and Februaries without leaving luxon's range. */
const indexArb = (interval: Interval) => fc.integer({ min: 0, max: interval === 'day' ? 800 : interval === 'week' ? 200 : 30 });
const scheduleArb = fc.record({ anchor: anchorArb, interval: intervalArb, count: countArb, zone: zoneArb }).chain((s) => indexArb(s.interval).map((n) => ({ ...s, n })));

const LENGTH_DAYS: Record<Interval, [number, number]> = { day: [1, 1], week: [7, 7], month: [28, 31], year: [365, 366] };
const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const daysInMonth = (y: number, m: number) => [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1] as number;

describe('billing calendar', () => {
  test('periods start at the anchor, are contiguous, strictly increasing and about one interval long', () => {
    fc.assert(
      fc.property(scheduleArb, ({ anchor, interval, count, zone, n }) => {
        const start = periodStart(anchor, interval, count, n, zone);
        const end = periodEnd(anchor, interval, count, n, zone);
        expect(periodStart(anchor, interval, count, 0, zone)).toBe(anchor);
        expect(end).toBe(periodStart(anchor, interval, count, n + 1, zone));
        expect(Number.isInteger(start)).toBe(true);
        // DST moves a wall-clock day by at most an hour in these zones (30 minutes on Lord Howe).
        const [minDays, maxDays] = LENGTH_DAYS[interval];
        expect(end - start).toBeGreaterThanOrEqual(minDays * count * DAY - 3_600);
        expect(end - start).toBeLessThanOrEqual(maxDays * count * DAY + 3_600);
      }),
    );
  });

  test("every period keeps the anchor's local time of day unless DST skips that time on that date", () => {
    fc.assert(
      fc.property(scheduleArb, ({ anchor, interval, count, zone, n }) => {
        const a = local(anchor, zone);
        const s = local(periodStart(anchor, interval, count, n, zone), zone);
        const wanted = DateTime.fromObject({ year: s.year, month: s.month, day: s.day, hour: a.hour, minute: a.minute, second: a.second }, { zone });
        const exists = wanted.hour === a.hour && wanted.minute === a.minute;
        if (exists) expect(s.toFormat('HH:mm:ss')).toBe(a.toFormat('HH:mm:ss'));
        else expect(s.toFormat('HH:mm:ss') > a.toFormat('HH:mm:ss')).toBe(true);
      }),
    );
  });

  test("monthly and yearly periods keep the anchor's day of month, or the month's last day when it has none", () => {
    const monthly = fc.record({ anchor: anchorArb, interval: fc.constantFrom<Interval>('month', 'year'), count: countArb, zone: zoneArb, n: fc.integer({ min: 0, max: 40 }) });
    fc.assert(
      fc.property(monthly, ({ anchor, interval, count, zone, n }) => {
        const a = local(anchor, zone);
        const months = a.year * 12 + (a.month - 1) + n * count * (interval === 'year' ? 12 : 1);
        const [year, month] = [Math.floor(months / 12), (months % 12) + 1];
        const s = local(periodStart(anchor, interval, count, n, zone), zone);
        expect([s.year, s.month, s.day]).toEqual([year, month, Math.min(a.day, daysInMonth(year, month))]);
      }),
    );
  });

  test('a Feb 29 anchor bills on Feb 28 in common years and returns to Feb 29 in leap years', () => {
    const leapYears = fc.integer({ min: 2000, max: 2096 }).filter(isLeap);
    fc.assert(
      fc.property(leapYears, fc.integer({ min: 0, max: 12 }), zoneArb, (year, n, zone) => {
        const anchor = DateTime.fromObject({ year, month: 2, day: 29, hour: 10 }, { zone }).toUnixInteger();
        const s = local(periodStart(anchor, 'year', 1, n, zone), zone);
        expect([s.year, s.month, s.day, s.hour]).toEqual([year + n, 2, isLeap(year + n) ? 29 : 28, 10]);
      }),
    );
    const anchor = utc('2024-02-29T10:00:00');
    expect([1, 2, 3, 4].map((n) => periodStart(anchor, 'year', 1, n))).toEqual(
      ['2025-02-28', '2026-02-28', '2027-02-28', '2028-02-29'].map((d) => utc(`${d}T10:00:00`)),
    );
  });

  test('a Jan 31 monthly anchor clamps to month ends without drifting to the 28th', () => {
    const anchor = utc('2024-01-31T00:00:00');
    expect([1, 2, 3].map((n) => periodStart(anchor, 'month', 1, n))).toEqual(['2024-02-29', '2024-03-31', '2024-04-30'].map((d) => utc(`${d}T00:00:00`)));
    expect(periodStart(anchor, 'month', 1, 12)).toBe(utc('2025-01-31T00:00:00'));
    expect(periodStart(anchor, 'month', 1, 13)).toBe(utc('2025-02-28T00:00:00'));
    expect(periodStart(anchor, 'month', 1, 14)).toBe(utc('2025-03-31T00:00:00'));
    expect(periodEnd(anchor, 'month', 3, 0)).toBe(utc('2024-04-30T00:00:00')); // quarterly
  });

  test('day intervals are wall-clock days in the zone: the DST night is 23 hours and a skipped local time moves forward', () => {
    const ny = 'America/New_York';
    const anchor = DateTime.fromISO('2024-03-09T09:00', { zone: ny }).toUnixInteger();
    expect(periodEnd(anchor, 'day', 1, 0, ny) - anchor).toBe(23 * 3_600);
    expect(periodEnd(anchor, 'day', 1, 0, 'UTC') - anchor).toBe(24 * 3_600);
    // 02:30 does not exist on 2024-03-10 in New York; the next day is back to 02:30.
    const early = DateTime.fromISO('2024-03-09T02:30', { zone: ny }).toUnixInteger();
    expect(local(periodStart(early, 'day', 1, 1, ny), ny).toISO()).toBe('2024-03-10T03:30:00.000-04:00');
    expect(local(periodStart(early, 'day', 1, 2, ny), ny).toISO()).toBe('2024-03-11T02:30:00.000-04:00');
    // Lord Howe moves its clocks by 30 minutes.
    const lh = 'Australia/Lord_Howe';
    const lhAnchor = DateTime.fromISO('2024-10-05T12:00', { zone: lh }).toUnixInteger();
    expect(periodEnd(lhAnchor, 'week', 1, 0, lh) - lhAnchor).toBe(7 * DAY - 1_800);
  });

  test('periodIndexAt finds the period containing t, and -1 before the anchor', () => {
    const tArb = fc.integer({ min: -10 * 365 * DAY, max: 60 * 365 * DAY });
    fc.assert(
      fc.property(anchorArb, intervalArb, countArb, zoneArb, tArb, (anchor, interval, count, zone, offset) => {
        const t = anchor + offset;
        const n = periodIndexAt(anchor, interval, count, t, zone);
        if (t < anchor) return expect(n).toBe(-1);
        expect(periodStart(anchor, interval, count, n, zone)).toBeLessThanOrEqual(t);
        expect(periodEnd(anchor, interval, count, n, zone)).toBeGreaterThan(t);
      }),
    );
    fc.assert(
      fc.property(scheduleArb, ({ anchor, interval, count, zone, n }) => {
        const start = periodStart(anchor, interval, count, n, zone);
        expect(periodIndexAt(anchor, interval, count, start, zone)).toBe(n);
        expect(periodIndexAt(anchor, interval, count, start - 1, zone)).toBe(n - 1);
      }),
    );
  });

  test('periodIndexAt over a century of daily periods estimates then walks, instead of looping from 0', () => {
    const ny = 'America/New_York';
    const anchor = utc('2000-01-01T00:00:00'); // 1999-12-31 19:00 in New York
    const t = utc('2099-12-31T12:00:00'); // 2099-12-31 07:00, before that day's 19:00 start
    expect(periodIndexAt(anchor, 'day', 1, t, ny)).toBe(36_525 - 1);
    // A walk from 0 would cost ~36 000 luxon calls per lookup; 200 lookups would take minutes.
    const started = Date.now();
    for (let i = 0; i < 200; i++) periodIndexAt(anchor, 'day', 1, t - i * 7_919, ny);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  test('addDays counts wall-clock days; time zones are IANA names only', () => {
    const ny = 'America/New_York';
    const start = DateTime.fromISO('2024-10-20T12:00', { zone: ny }).toUnixInteger();
    expect(local(addDays(start, 14, ny), ny).toISO()).toBe('2024-11-03T12:00:00.000-05:00');
    expect(addDays(start, 14) - start).toBe(14 * DAY);
    expect(addDays(start, -1) - start).toBe(-DAY);
    expect(isValidTimeZone('Australia/Lord_Howe')).toBe(true);
    expect(isValidTimeZone('UTC')).toBe(true);
    for (const bad of ['Mars/Olympus', 'local', 'system', 'UTC+8', '']) expect(isValidTimeZone(bad)).toBe(false);
    expect(() => periodStart(0, 'month', 1, 1, 'local')).toThrow(RangeError);
    expect(() => periodStart(0, 'month', 0, 1)).toThrow(RangeError);
    expect(() => periodStart(0.5, 'month', 1, 1)).toThrow(RangeError);
  });
});

describe('proration', () => {
  const period = { periodStart: utc('2024-03-01T00:00:00'), periodEnd: utc('2024-03-31T00:00:00'), currency: 'USD' };
  const mid = (period.periodStart + period.periodEnd) / 2;

  test('1000 → 2000 at exactly mid-period credits 500 and charges 1000', () => {
    const lines = prorationLines({ ...period, oldUnitAmount: 1000, oldQuantity: 1, newUnitAmount: 2000, newQuantity: 1, changeAt: mid });
    expect(lines.map((l) => l.amount)).toEqual([-500, 1000]);
    expect(lines.every((l) => l.proration && l.period_start === mid && l.period_end === period.periodEnd)).toBe(true);
    expect(lines[0]?.description).toContain('10.00 USD');
  });

  test('changes at or outside the period produce no lines; zero amounts are skipped', () => {
    const base = { ...period, oldUnitAmount: 1000, oldQuantity: 1, newUnitAmount: 2000, newQuantity: 1 };
    for (const changeAt of [period.periodStart - 1, period.periodStart, period.periodEnd, period.periodEnd + 1]) {
      expect(prorationLines({ ...base, changeAt })).toEqual([]);
    }
    expect(prorationLines({ ...base, oldUnitAmount: 0, changeAt: mid }).map((l) => l.amount)).toEqual([1000]);
    expect(prorationLines({ ...base, newQuantity: 0, changeAt: mid }).map((l) => l.amount)).toEqual([-500]);
  });

  test('each line is rounded once, half away from zero, and is an integer', () => {
    const arb = fc.record({ unit: fc.integer({ min: 0, max: 1_000_000 }), qty: fc.integer({ min: 0, max: 100 }), total: fc.integer({ min: 1, max: 400 * DAY }) });
    fc.assert(
      fc.property(arb, fc.double({ min: 0, max: 1, noNaN: true }), ({ unit, qty, total }, f) => {
        const remaining = Math.floor(total * f);
        const amount = prorateAmount(unit, qty, remaining, total);
        const exact = unit * qty * remaining; // < 2^53 here, so this oracle is exact
        expect(Number.isInteger(amount)).toBe(true);
        expect(2 * Math.abs(amount * total - exact)).toBeLessThanOrEqual(total);
        if (2 * Math.abs(amount * total - exact) === total) expect(amount * total).toBeGreaterThan(exact);
      }),
    );
    expect(prorateAmount(1, 1, 1, 2)).toBe(1);
    expect(prorationLines({ oldUnitAmount: 1, oldQuantity: 1, newUnitAmount: 3, newQuantity: 1, periodStart: 0, periodEnd: 2, changeAt: 1, currency: 'JPY' }).map((l) => l.amount)).toEqual([-1, 2]);
  });

  test('the full remaining period prorates to the full amount', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 99_999_999_999 }), fc.integer({ min: 1, max: 90 }), fc.integer({ min: 1, max: 400 * DAY }), (unit, qty, total) => {
        expect(prorateAmount(unit, qty, total, total)).toBe(unit * qty);
        expect(prorateAmount(unit, qty, 0, total)).toBe(0);
      }),
    );
  });

  test('an unchanged price credits exactly what it charges', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 99_999_999_999 }), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 31 * DAY - 1 }), (unit, qty, offset) => {
        const lines = prorationLines({ oldUnitAmount: unit, oldQuantity: qty, newUnitAmount: unit, newQuantity: qty, periodStart: 0, periodEnd: 31 * DAY, changeAt: offset, currency: 'EUR' });
        expect(lines.reduce((sum, l) => sum + l.amount, 0)).toBe(0);
        expect(lines.every((l) => Number.isSafeInteger(l.amount) && Math.abs(l.amount) <= unit * qty)).toBe(true);
      }),
    );
  });

  test('large amounts stay exact where float arithmetic rounds the half the wrong way', () => {
    const lines = prorationLines({ oldUnitAmount: 99_999_999_999, oldQuantity: 1103, newUnitAmount: 0, newQuantity: 1, periodStart: 0, periodEnd: 31 * DAY, changeAt: 15.5 * DAY, currency: 'USD' });
    expect(lines.map((l) => l.amount)).toEqual([-55_149_999_999_449]);
    expect(Math.round((99_999_999_999 * 1103 * 1_339_200) / 2_678_400)).toBe(55_149_999_999_448); // why BigInt
  });

  test('cancelling credits the unused remainder as a single negative line', () => {
    const credit = creditForUnusedTime({ ...period, unitAmount: 999, quantity: 3, cancelAt: period.periodStart + 10 * DAY });
    expect(credit).toMatchObject({ amount: -1998, proration: true, period_start: period.periodStart + 10 * DAY, period_end: period.periodEnd });
    expect(creditForUnusedTime({ ...period, unitAmount: 999, quantity: 3, cancelAt: period.periodEnd })).toBeNull();
    expect(() => creditForUnusedTime({ ...period, currency: 'XTS', unitAmount: 1, quantity: 1, cancelAt: mid })).toThrow(RangeError);
  });
});

describe('dunning', () => {
  const policy = (schedule: DunningConfig['schedule']): DunningConfig => ({ schedule, on_exhausted: 'unpaid' });
  const failedAt = utc('2024-05-01T08:00:00');

  test('the default schedule retries 1, 3, 5 and 7 days after the first failure, then gives up', () => {
    expect(retryOffsetsSeconds(policy('default'))).toEqual([1, 3, 5, 7].map((d) => d * DAY));
    expect([1, 2, 3, 4, 5].map((attempts) => nextRetryAt(policy('default'), failedAt, attempts))).toEqual([
      failedAt + DAY,
      failedAt + 3 * DAY,
      failedAt + 5 * DAY,
      failedAt + 7 * DAY,
      null,
    ]);
    expect(() => nextRetryAt(policy('default'), failedAt, 0)).toThrow(RangeError);
  });

  test('smart retries 8 times, strictly later each time, all within 14 days', () => {
    const offsets = retryOffsetsSeconds(policy('smart'));
    expect(offsets).toHaveLength(8);
    offsets.forEach((o, i) => expect(o).toBeGreaterThan(offsets[i - 1] ?? 0));
    expect(offsets.at(-1)).toBeLessThanOrEqual(14 * DAY);
    expect(nextRetryAt(policy('smart'), failedAt, 8)).toBe(failedAt + (offsets[7] as number));
    expect(nextRetryAt(policy('smart'), failedAt, 9)).toBeNull();
  });

  test('custom schedules are days after the first failure and must increase', () => {
    expect(retryOffsetsSeconds(policy([0.5, 2, 10]))).toEqual([DAY / 2, 2 * DAY, 10 * DAY]);
    expect(nextRetryAt(policy([]), failedAt, 1)).toBeNull();
    for (const bad of [[2, 2], [3, 1], [0], [Number.NaN]]) expect(() => retryOffsetsSeconds(policy(bad))).toThrow(RangeError);
  });

  test('hard declines are never retried; unknown or missing codes are soft', () => {
    for (const code of ['lost_card', 'stolen_card', 'pickup_card', 'fraudulent', 'do_not_honor']) expect(HARD_DECLINE_CODES).toContain(code);
    for (const code of HARD_DECLINE_CODES) expect(isHardDecline(code.toUpperCase())).toBe(true);
    expect(isHardDecline('Stolen_Card')).toBe(true);
    for (const code of ['insufficient_funds', 'generic_decline', 'try_again_later', 'processing_error', 'made_up_code', '', undefined]) {
      expect(isHardDecline(code)).toBe(false);
    }
  });
});
