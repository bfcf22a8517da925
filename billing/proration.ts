import { isKnownCurrency, toMajorUnitString } from '../domain/money';

export interface ProrationLine {
  description: string;
  /** Minor units; negative for a credit. */
  amount: number;
  proration: true;
  /** The prorated slice: from the change to the end of the current period. */
  period_start: number;
  period_end: number;
}

export interface ProrationParams {
  oldUnitAmount: number;
  oldQuantity: number;
  newUnitAmount: number;
  newQuantity: number;
  periodStart: number;
  periodEnd: number;
  changeAt: number;
  currency: string;
}

export interface UnusedTimeParams {
  unitAmount: number;
  quantity: number;
  periodStart: number;
  periodEnd: number;
  cancelAt: number;
  currency: string;
}

function assertNonNegativeInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer`);
}

function assertPeriod(periodStart: number, periodEnd: number, at: number, currency: string): void {
  for (const [name, value] of [['periodStart', periodStart], ['periodEnd', periodEnd], ['changeAt', at]] as const) {
    if (!Number.isSafeInteger(value)) throw new RangeError(`${name} must be an integer number of unix seconds`);
  }
  if (periodEnd <= periodStart) throw new RangeError('periodEnd must be after periodStart');
  if (!isKnownCurrency(currency)) throw new RangeError(`unknown currency ${currency}`);
}

/**
 * The one rounding rule for proration: each line is rounded once, half away from zero, to the
 * currency's minor unit. Amounts are already minor units, so that means to an integer. BigInt keeps
 * unit × quantity × seconds exact where a float product would lose cents on large amounts.
 */
export function prorateAmount(unitAmount: number, quantity: number, remaining: number, total: number): number {
  assertNonNegativeInteger('unitAmount', unitAmount);
  assertNonNegativeInteger('quantity', quantity);
  if (!Number.isSafeInteger(remaining) || !Number.isSafeInteger(total) || total <= 0 || remaining < 0 || remaining > total) {
    throw new RangeError('remaining must be an integer within 0..total seconds');
  }
  const numerator = BigInt(unitAmount) * BigInt(quantity) * BigInt(remaining);
  const denominator = BigInt(total);
  let rounded = numerator / denominator;
  if (2n * (numerator % denominator) >= denominator) rounded += 1n;
  const amount = Number(rounded);
  if (!Number.isSafeInteger(amount)) throw new RangeError('prorated amount exceeds the safe integer range');
  return amount;
}

function priceLabel(unitAmount: number, quantity: number, currency: string): string {
  return `${quantity} × ${toMajorUnitString(unitAmount, currency)} ${currency.toUpperCase()}`;
}

function line(description: string, amount: number, periodStart: number, periodEnd: number): ProrationLine {
  return { description, amount, proration: true, period_start: periodStart, period_end: periodEnd };
}

/**
 * Credit for the unused remainder of the current price, for cancel-with-proration.
 * Null when nothing is left to credit (cancel at or outside the period, or a zero amount).
 */
export function creditForUnusedTime(params: UnusedTimeParams): ProrationLine | null {
  const { unitAmount, quantity, periodStart, periodEnd, cancelAt, currency } = params;
  assertNonNegativeInteger('unitAmount', unitAmount);
  assertNonNegativeInteger('quantity', quantity);
  assertPeriod(periodStart, periodEnd, cancelAt, currency);
  if (cancelAt <= periodStart || cancelAt >= periodEnd) return null;
  const amount = prorateAmount(unitAmount, quantity, periodEnd - cancelAt, periodEnd - periodStart);
  if (amount === 0) return null;
  return line(`Unused time on ${priceLabel(unitAmount, quantity, currency)}`, -amount, cancelAt, periodEnd);
}

/**
 * Lines for a mid-period price or quantity change: credit the unused time on the old price, charge the
 * remaining time on the new one. Empty when the change is not strictly inside the period.
 */
export function prorationLines(params: ProrationParams): ProrationLine[] {
  const { oldUnitAmount, oldQuantity, newUnitAmount, newQuantity, periodStart, periodEnd, changeAt, currency } = params;
  assertNonNegativeInteger('newUnitAmount', newUnitAmount);
  assertNonNegativeInteger('newQuantity', newQuantity);
  const credit = creditForUnusedTime({ unitAmount: oldUnitAmount, quantity: oldQuantity, periodStart, periodEnd, cancelAt: changeAt, currency });
  if (changeAt <= periodStart || changeAt >= periodEnd) return [];
  const lines = credit ? [credit] : [];
  const debit = prorateAmount(newUnitAmount, newQuantity, periodEnd - changeAt, periodEnd - periodStart);
  if (debit !== 0) lines.push(line(`Remaining time on ${priceLabel(newUnitAmount, newQuantity, currency)}`, debit, changeAt, periodEnd));
  return lines;
}
