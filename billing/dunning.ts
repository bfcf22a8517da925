/**
 * Merchant dunning policy. schedule is 'default', 'smart', or custom retry offsets in days after the
 * first failed attempt; on_exhausted is the subscription status once every retry has failed.
 */
export interface DunningConfig {
  schedule: 'default' | 'smart' | number[];
  on_exhausted: 'unpaid' | 'canceled';
}

const HOUR = 3_600;
const DAY = 24 * HOUR;

/** Retries 1, 3, 5 and 7 days after the first failure. */
const DEFAULT_OFFSETS = [1, 3, 5, 7].map((days) => days * DAY);

/**
 * 8 retries within 14 days (Stripe's recommended Smart Retries default): dense early, when a
 * transient decline is most likely to clear, then spaced out so later tries land on different
 * days of the week, possibly after a payday. Hours after the first failure: 12, 24, 48, 72, 120,
 * 168, 240, 336.
 */
const SMART_OFFSETS = [12, 24, 48, 72, 120, 168, 240, 336].map((hours) => hours * HOUR);

/** Seconds after the first failed attempt at which each retry is due, strictly increasing. */
export function retryOffsetsSeconds(config: DunningConfig): number[] {
  if (config.schedule === 'default') return [...DEFAULT_OFFSETS];
  if (config.schedule === 'smart') return [...SMART_OFFSETS];
  const offsets = config.schedule.map((days) => Math.round(days * DAY));
  offsets.forEach((offset, i) => {
    // A zero or repeated offset would retry at the same instant as the previous attempt.
    if (!Number.isSafeInteger(offset) || offset <= 0 || offset <= (offsets[i - 1] ?? 0)) {
      throw new RangeError('custom retry days must be positive and strictly increasing');
    }
  });
  return offsets;
}

/**
 * When to make the next attempt, or null when retries are exhausted. attemptsSoFar counts the
 * initial attempt, so 1 means only the original charge has failed.
 */
export function nextRetryAt(config: DunningConfig, firstFailureAt: number, attemptsSoFar: number): number | null {
  if (!Number.isSafeInteger(firstFailureAt)) throw new RangeError('firstFailureAt must be an integer number of unix seconds');
  if (!Number.isSafeInteger(attemptsSoFar) || attemptsSoFar < 1) throw new RangeError('attemptsSoFar must be at least 1');
  const offset = retryOffsetsSeconds(config)[attemptsSoFar - 1];
  return offset === undefined ? null : firstFailureAt + offset;
}

/**
 * Declines where retrying the same card cannot succeed and card networks penalise reattempts: the
 * card is lost, stolen, invalid, expired or unusable for this charge, the issuer said not to try
 * again, or the cardholder revoked the recurring authorization.
 */
export const HARD_DECLINE_CODES: readonly string[] = [
  'lost_card',
  'stolen_card',
  'pickup_card',
  'fraudulent',
  'do_not_honor',
  'do_not_try_again',
  'expired_card',
  'incorrect_number',
  'invalid_account',
  'card_not_supported',
  'restricted_card',
  'revocation_of_authorization',
  'revocation_of_all_authorizations',
  'stop_payment_order',
];

const HARD = new Set(HARD_DECLINE_CODES);

/** Unknown or missing codes count as soft: a wasted retry costs less than dropping a recoverable payment. */
export function isHardDecline(code: string | undefined): boolean {
  return code !== undefined && HARD.has(code.trim().toLowerCase());
}
