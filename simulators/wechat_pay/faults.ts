/**
 * Faults injected into the simulated WeChat Pay: the cases that hurt in production (an answer
 * lost after its effect, late, lost, repeated or forged-looking notifies, refunds that take days).
 * `times` (default 1) counts calls or notifications, not notify attempts.
 */
export type WechatPayFault =
  /** `path` is a prefix of the request path (`/v3/refund` covers both refund APIs); absent = every API call. */
  | { kind: 'slow'; path?: string; delayMs: number; times?: number }
  /** HTTP 500 SYSTEM_ERROR; with `afterEffect`, the order or refund is made first, then the error answered. */
  | { kind: 'system_error'; path?: string; times?: number; afterEffect?: boolean }
  /** Every attempt of the next notification is dropped: the merchant only learns by querying. */
  | { kind: 'lose_notify'; times?: number }
  /** Every attempt of the next notification is POSTed twice at once. */
  | { kind: 'duplicate_notify'; times?: number }
  /** The next order is paid (or refund made) and its notify's first attempt is over before the API answers. */
  | { kind: 'notify_before_answer'; times?: number }
  /** The next notification's ciphertext is altered and then signed: the signature verifies, only the GCM tag check catches it. */
  | { kind: 'tamper_notify'; times?: number }
  /** The next refund answers PROCESSING and stays so until `settleRefund`. */
  | { kind: 'refund_processing'; times?: number }
  /** The next bill download is altered on its way: well-formed, but no longer the file its hash_value was computed on. */
  | { kind: 'tamper_bill'; times?: number };

export type FaultKind = WechatPayFault['kind'];

const KINDS: readonly FaultKind[] = ['slow', 'system_error', 'lose_notify', 'duplicate_notify', 'notify_before_answer', 'tamper_notify', 'refund_processing', 'tamper_bill'];

/** Validates a fault (from code or from JSON), so a typo fails loudly instead of never matching. */
export function parseFault(input: unknown): WechatPayFault {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new TypeError('a fault is an object with a kind');
  const { kind, path, times, delayMs, afterEffect } = input as Record<string, unknown>;
  if (!KINDS.includes(kind as FaultKind)) throw new TypeError(`fault.kind must be one of ${KINDS.join(', ')}`);
  if (times !== undefined && !(typeof times === 'number' && Number.isInteger(times) && times >= 1)) throw new TypeError('fault.times must be an integer >= 1');
  const common = times !== undefined ? { times } : {};
  const onPath = kind === 'slow' || kind === 'system_error';
  if (path !== undefined && (!onPath || typeof path !== 'string' || !path.startsWith('/v3/'))) {
    throw new TypeError(onPath ? 'fault.path must be a path prefix starting with /v3/' : `fault ${String(kind)} takes no path`);
  }
  const where = path !== undefined ? { path } : {};
  if (kind === 'slow') {
    if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0) throw new TypeError('fault.delayMs must be a number >= 0');
    return { kind, delayMs, ...where, ...common };
  }
  if (kind === 'system_error') {
    if (afterEffect !== undefined && typeof afterEffect !== 'boolean') throw new TypeError('fault.afterEffect must be a boolean');
    return { kind, ...where, ...common, ...(afterEffect !== undefined ? { afterEffect } : {}) };
  }
  if (delayMs !== undefined || afterEffect !== undefined) throw new TypeError(`fault ${String(kind)} takes only times`);
  return { kind: kind as Exclude<FaultKind, 'slow' | 'system_error'>, ...common };
}

/** Faults in the order injected; each use consumes one `times` of the first fault that matches. */
export class FaultQueue {
  private readonly queue: Array<{ fault: WechatPayFault; remaining: number }> = [];

  push(fault: WechatPayFault): void {
    this.queue.push({ fault, remaining: fault.times ?? 1 });
  }

  clear(): void {
    this.queue.length = 0;
  }

  pending(): Array<{ fault: WechatPayFault; remaining: number }> {
    return this.queue.map((f) => ({ ...f }));
  }

  take(matches: (f: WechatPayFault) => boolean): WechatPayFault | undefined {
    const index = this.queue.findIndex((f) => matches(f.fault));
    const active = this.queue[index];
    if (!active) return undefined;
    active.remaining -= 1;
    if (active.remaining <= 0) this.queue.splice(index, 1);
    return active.fault;
  }
}
