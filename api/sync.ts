import type { Client } from '@temporalio/client';

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
 * Waits up to `ms` for a Temporal call; the call itself is cut at a deadline shortly after, so
 * nothing keeps retrying in the background once the request has been answered.
 */
export function settleWithin<T>(temporal: Client, ms: number, call: () => Promise<T>): Promise<T | undefined> {
  return within(ms, temporal.connection.withDeadline(Date.now() + ms + 1000, call));
}
