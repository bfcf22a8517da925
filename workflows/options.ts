import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';

/** Named timeout/retry presets: no inline timeouts in workflow code. */

/** Authorization: worth retrying for a while, then the payment fails cleanly (nothing captured yet). */
export const authorizeOptions: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 8 },
};

/**
 * Moving authorized or captured money: retried until it happens, with an idempotency key. The
 * backoff is capped at 15 s so that work meeting our own database down resumes within seconds
 * of its return (a drill: PostgreSQL stopped 20 s).
 */
export const moneyMovementOptions: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '15s' },
};

/** Status checks: cheap, short. */
export const statusCheckOptions: ActivityOptions = {
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 10 },
};

/** Read model + ledger writes: local (no extra round trip), idempotent, retried every few seconds until the database is back. */
export const recordOptions: LocalActivityOptions = {
  startToCloseTimeout: '10s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '5s' },
};

/**
 * One webhook attempt: the HTTP timeout plus room to record it. Retries here only cover our
 * own faults (database down); the receiver's failures are retried by the workflow's schedule.
 */
export const webhookAttemptOptions = (attemptTimeoutMs: number): ActivityOptions => ({
  startToCloseTimeout: attemptTimeoutMs + 5000,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '15s' },
});

/** A payer receipt: retried while the SMTP server is unreachable, for up to a day. */
export const receiptOptions: ActivityOptions = {
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '24h',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '30m' },
};

/**
 * A subscription invoice's payment attempt: starts the payment's own workflow and waits for its
 * first provider round trip. Retried until it answers (the payment id makes reruns attach).
 */
export const chargeOptions: ActivityOptions = {
  startToCloseTimeout: '2m',
  heartbeatTimeout: '5s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '15s' },
};

/** Invoice writes and customer credit: database work, retried every few seconds until it is back. */
export const billingWriteOptions: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '10s' },
};

/** Bank credits, payouts and customers' cash: database work, retried as billing's is. */
export const bankWriteOptions: ActivityOptions = billingWriteOptions;

/** The risk check: database work and a scorer with its own tight timeout. */
export const riskOptions: LocalActivityOptions = {
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '10s' },
};

/** A credit offered to its payment (a workflow update): retried until the payment answers. */
export const fundPaymentOptions: ActivityOptions = {
  startToCloseTimeout: '1m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '15s' },
};
