import type { Client, WorkflowHandle } from '@temporalio/client';
import { WorkflowUpdateFailedError, WorkflowUpdateStage } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { ApplicationFailure } from '@temporalio/common';
import { FailureTypes, unavailable } from '../domain/errors';
import { paymentQuery } from '../workflows/messages';
import type { RefusedAt } from '../workflows/messages';
import { isUnavailable } from './middleware/errors';

/** Resolves within `ms` with the promise's value, or with undefined (the promise keeps running). */
export async function within<T>(ms: number, promise: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The server rejected the update before any handler ran because the worker's task completed
 * without it (seen under bursts of concurrent updates): nothing happened, so it can be re-sent.
 */
function isUnprocessedUpdate(err: unknown): boolean {
  const e = err as { name?: string; message?: string; cause?: { name?: string; message?: string } } | null;
  return e?.name === 'WorkflowUpdateFailedError' && /wasn't processed by worker/i.test(`${e.message} ${e.cause?.message ?? ''}`);
}

/**
 * Waits up to `ms` for a Temporal call; the call itself is cut at a deadline shortly after, so
 * nothing keeps retrying in the background once the request has been answered. Calls here carry
 * a stable update id, so retrying one the server aborted (it does under bursts of concurrent
 * updates on one workflow) attaches to the same update instead of acting twice.
 */
export function settleWithin<T>(temporal: Client, ms: number, call: () => Promise<T>, retryAlso?: (err: unknown) => Promise<boolean>): Promise<T | undefined> {
  const deadline = Date.now() + ms + 1000;
  const attempt = async (): Promise<T> => {
    for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
      try {
        return await call();
      } catch (err) {
        if (!(isUnavailable(err) || isUnprocessedUpdate(err) || (await retryAlso?.(err))) || Date.now() + delay >= deadline) throw err;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  };
  return within(ms, temporal.connection.withDeadline(deadline, attempt));
}

/**
 * Sends a workflow update and waits up to `ms` for its result: undefined when the update is
 * accepted and still working (the caller's 202). An update is promised only once its acceptance
 * is in the workflow's history: under bursts of updates the server can abort one a worker had
 * already begun, and the replayed workflow may then refuse it. Not accepted by then: 503, and the
 * client's retry with the same Idempotency-Key carries the same update id. With `readVersion` (the
 * payment's version the request was checked against), a refusal by a workflow still behind that
 * version is sent again until it catches up.
 */
export async function updateWithin<Ret, Args extends unknown[]>(
  temporal: Client, ms: number, handle: WorkflowHandle, update: UpdateDefinition<Ret, Args>, options: { args: Args; updateId: string; readVersion?: number }, what: string,
): Promise<Ret | undefined> {
  let accepted = false;
  const behind = options.readVersion === undefined ? undefined : behindReadModel(handle, options.readVersion);
  const result = await settleWithin(temporal, ms, async () => {
    // By name: the SDK's overloads split updates with and without args; `update` typed the caller's args.
    const started = await handle.startUpdate<Ret, [unknown]>(update.name, { args: options.args as unknown as [unknown], updateId: options.updateId, waitForStage: WorkflowUpdateStage.ACCEPTED });
    accepted = true;
    return started.result();
  },
  // A refusal comes as the update's outcome, after `startUpdate`: sent again under the same id, an
  // update the workflow did run answers as it did, so only a refusal by a workflow behind is retried.
  behind);
  if (result === undefined && !accepted) throw unavailable(`The ${what} is not confirmed yet; retry with the same Idempotency-Key.`);
  return result;
}

/** Reads until `done` holds or `deadline` passes, and answers the last read (what a workflow has recorded so far). */
export async function pollUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, deadline: number): Promise<T> {
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() >= deadline) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Refused for its state by a workflow that is behind the read model the request was checked
 * against: a task whose local activity wrote the new state was lost with its worker before it
 * completed, and the next worker has not replayed up to it yet. It will be there in moments, so
 * the update is sent again rather than answered 409 for a state the client was right to expect.
 * The refusal names the version it was made at; a run from before that asks by a query (each
 * query of a busy payment waits for its workflow task, and a burst of refusals filled the
 * server's query buffer).
 */
function behindReadModel(handle: WorkflowHandle, readVersion: number) {
  return async (err: unknown): Promise<boolean> => {
    if (!(err instanceof WorkflowUpdateFailedError) || !(err.cause instanceof ApplicationFailure) || err.cause.type !== FailureTypes.invalidState) return false;
    const refusedAt = (err.cause.details?.[0] as Partial<RefusedAt> | undefined)?.version;
    if (typeof refusedAt === 'number') return refusedAt < readVersion;
    try {
      return (await handle.query(paymentQuery)).version < readVersion;
    } catch {
      return false;
    }
  };
}
