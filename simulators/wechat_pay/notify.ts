import { randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { rfc3339 } from './formats';
import { errorMessage } from '../http';
import { encryptResource, signedHeaders, tamperCiphertext } from './signing';

/**
 * WeChat Pay's notifies: a JSON envelope whose `resource` is encrypted with the APIv3 key, signed
 * like an answer, POSTed to the merchant's notify_url and retried on WeChat's schedule until a 2xx.
 */

export type NotifyEventType = 'TRANSACTION.SUCCESS' | 'REFUND.SUCCESS' | 'REFUND.ABNORMAL' | 'REFUND.CLOSED';

const SUMMARY: Record<NotifyEventType, string> = {
  'TRANSACTION.SUCCESS': '支付成功',
  'REFUND.SUCCESS': '退款成功',
  'REFUND.ABNORMAL': '退款异常',
  'REFUND.CLOSED': '退款关闭',
};

/** WeChat's delays between attempts: 15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m, 30m, 60m, 3h, 3h, 3h, 6h, 6h (16 attempts, ~24h). */
export const WECHAT_NOTIFY_SCHEDULE_MS = [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10_800, 10_800, 10_800, 21_600, 21_600].map((s) => s * 1000);

/** One POST of a notification (a duplicated attempt is two records with the same attempt number). */
export type NotificationRecord = {
  /** The notify's `id`: the same on every attempt and on a duplicate. */
  id: string;
  eventType: NotifyEventType;
  url: string;
  outTradeNo: string;
  outRefundNo?: string;
  attempt: number;
  /** The receiver answered 2xx: WeChat stops retrying. */
  delivered: boolean;
  status?: number;
  /** The receiver's answer body (first 1000 characters). */
  answer?: string;
  /** Why there is no answer: a transport error, a timeout, or a `lose_notify` fault. */
  error?: string;
  /** Its ciphertext was altered (`tamper_notify`). */
  tampered?: true;
  at: string;
};

export type SignedNotification = { headers: Record<string, string>; body: string };
export type NotifyMode = 'deliver' | 'lose' | 'duplicate' | 'tamper';
export type NotifySubject = { outTradeNo: string; outRefundNo?: string };

type Pending = NotifySubject & { id: string; url: string; eventType: NotifyEventType; body: string; mode: NotifyMode; attempt: number };
type PostResult = { status?: number; answer?: string; error?: string };

export type NotifierOptions = {
  serial: string;
  key: KeyObject;
  apiV3Key: string;
  scheduleMs: number[];
  timeoutMs: number;
  log: (msg: string, fields?: Record<string, unknown>) => void;
};

export class Notifier {
  readonly records: NotificationRecord[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private lifetime = new AbortController();

  constructor(private readonly opts: NotifierOptions) {}

  /** The envelope, built once per notification: retries carry the same id and ciphertext. */
  envelope(eventType: NotifyEventType, resource: object, tamper = false): { id: string; body: string } {
    const originalType = eventType.startsWith('REFUND.') ? 'refund' : 'transaction';
    const encrypted = encryptResource(JSON.stringify(resource), this.opts.apiV3Key, originalType);
    const id = randomUUID();
    const body = JSON.stringify({
      id,
      create_time: rfc3339(new Date()),
      resource_type: 'encrypt-resource',
      event_type: eventType,
      summary: SUMMARY[eventType],
      resource: {
        original_type: originalType,
        algorithm: encrypted.algorithm,
        ciphertext: tamper ? tamperCiphertext(encrypted.ciphertext) : encrypted.ciphertext,
        associated_data: encrypted.associated_data,
        nonce: encrypted.nonce,
      },
    });
    return { id, body };
  }

  /** The headers of one attempt; `serial` and `key` other than the simulator's make forged notifies for tests. */
  headers(body: string, opts: { timestamp?: number; serial?: string; key?: KeyObject } = {}): Record<string, string> {
    return {
      'Content-Type': 'application/json',
      'User-Agent': 'Mozilla/4.0',
      ...signedHeaders(body, opts.serial ?? this.opts.serial, opts.key ?? this.opts.key, opts.timestamp),
    };
  }

  /** Starts a notification; resolves once its first attempt is over (later ones follow the schedule). */
  send(url: string, eventType: NotifyEventType, resource: object, subject: NotifySubject, mode: NotifyMode): Promise<void> {
    if (this.lifetime.signal.aborted) return Promise.resolve();
    const { id, body } = this.envelope(eventType, resource, mode === 'tamper');
    return this.attempt({ ...subject, id, url, eventType, body, mode, attempt: 0 });
  }

  /** POSTs once, as an attempt does. */
  async post(url: string, n: SignedNotification): Promise<PostResult> {
    const controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(new Error(`timeout after ${this.opts.timeoutMs}ms`)), this.opts.timeoutMs);
    const onStop = () => controller.abort(new Error('simulator stopped'));
    this.lifetime.signal.addEventListener('abort', onStop, { once: true });
    try {
      const res = await fetch(url, { method: 'POST', headers: n.headers, body: n.body, redirect: 'manual', signal: controller.signal });
      const text = await res.text();
      return { status: res.status, answer: text.slice(0, 1000) };
    } catch (err) {
      const reason: unknown = controller.signal.reason;
      return { error: controller.signal.aborted && reason instanceof Error ? reason.message : errorMessage(err) };
    } finally {
      clearTimeout(timeout);
      this.lifetime.signal.removeEventListener('abort', onStop);
    }
  }

  start(): void {
    this.lifetime = new AbortController();
  }

  /** Cancels every pending retry and aborts attempts in flight. */
  stop(): void {
    this.lifetime.abort();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private async attempt(n: Pending): Promise<void> {
    if (this.lifetime.signal.aborted) return;
    n.attempt += 1;
    let delivered = false;
    if (n.mode === 'lose') {
      this.record(n, { error: 'dropped (lose_notify fault)' });
    } else {
      // Signed afresh each time: a receiver enforcing a timestamp window must not refuse a retry.
      const copies = n.mode === 'duplicate' ? 2 : 1;
      const results = await Promise.all(Array.from({ length: copies }, () => this.post(n.url, { headers: this.headers(n.body), body: n.body })));
      for (const result of results) delivered = this.record(n, result) || delivered;
    }
    if (delivered || this.lifetime.signal.aborted) return;
    const wait = this.opts.scheduleMs[n.attempt - 1];
    if (wait === undefined) {
      this.opts.log('notify abandoned', { id: n.id, eventType: n.eventType, outTradeNo: n.outTradeNo, attempts: n.attempt });
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.attempt(n);
    }, wait);
    // Pending retries (hours apart by default) must not keep a test process alive.
    timer.unref();
    this.timers.add(timer);
  }

  private record(n: Pending, result: PostResult): boolean {
    const delivered = result.status !== undefined && result.status >= 200 && result.status < 300;
    const entry: NotificationRecord = { id: n.id, eventType: n.eventType, url: n.url, outTradeNo: n.outTradeNo, attempt: n.attempt, delivered, at: new Date().toISOString() };
    if (n.outRefundNo !== undefined) entry.outRefundNo = n.outRefundNo;
    if (result.status !== undefined) entry.status = result.status;
    if (result.answer !== undefined) entry.answer = result.answer;
    if (result.error !== undefined) entry.error = result.error;
    if (n.mode === 'tamper') entry.tampered = true;
    this.records.push(entry);
    this.opts.log('notify attempt', { ...entry });
    return delivered;
  }
}
