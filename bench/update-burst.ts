import type { Metrics } from '../runtime/metrics';
import { sleep } from './harness';

/** What SDK core says when the server took a workflow task away from the worker mid-burst (RESULTS.md, "The stalls"). */
export const CORE_WARNINGS = ['Trying to send a new WFT for a run which already has one', 'unprocessed protocol messages', 'Task not found when completing', 'Failing workflow task'];

/**
 * B6: bursts of updates on one payment: 25 refunds of 700 at once on a 10 000 capture, as
 * API.md's clients send them (a key each, a 503 retried with it). Counts how the API answered,
 * what Temporal calls failed per attempt (the SDK's own retries included, by the API's metric),
 * what SDK core reported of workflow tasks it lost (`coreWarnings`, fed by the process's Runtime
 * logger), and how long until every accepted refund succeeded; checks that the money adds up:
 * 14 accepted, 9 800 refunded, 14 refunds at the processor.
 */
export async function refundBursts(opts: { url: string; auth: Record<string, string>; metrics: Metrics; bursts: number; coreWarnings: Map<string, number> }) {
  const headers = { ...opts.auth, 'content-type': 'application/json' };
  const api = async <T>(p: string, body?: object) => (await fetch(`${opts.url}${p}`, { method: body ? 'POST' : 'GET', headers, body: body && JSON.stringify(body) })).json() as Promise<T>;
  const failedAttempts = async () => (await opts.metrics.temporalFailedAttempts.get()).values;
  const b6 = { bursts: 0, answers: {} as Record<string, number>, clientRetries: 0, failedAttempts: {} as Record<string, number>, coreWarnings: {} as Record<string, number>, settleSeconds: [] as number[], violations: [] as string[] };
  for (let burst = 0; burst < opts.bursts; burst++) {
    const paid = await api<{ id: string }>('/v1/payments', { amount: 10_000, currency: 'USD', payment_method: { type: 'card', token: 'tok_ok' } });
    const attemptsBefore = await failedAttempts();
    const warningsBefore = new Map(opts.coreWarnings);
    const startedAt = Date.now();
    const refund = async (i: number) => {
      for (let attempt = 0; ; attempt++) {
        const res = await fetch(`${opts.url}/v1/refunds`, {
          method: 'POST', headers: { ...headers, 'idempotency-key': `b6-${paid.id}-${i}` }, body: JSON.stringify({ payment_id: paid.id, amount: 700 }),
        });
        const body = (await res.json()) as { id?: string };
        if (res.status !== 503 || attempt === 20) return { status: res.status, id: body.id };
        b6.clientRetries++;
        await sleep(200);
      }
    };
    const answers = await Promise.all(Array.from({ length: 25 }, (_, i) => refund(i)));
    for (const a of answers) b6.answers[a.status] = (b6.answers[a.status] ?? 0) + 1;
    const accepted = answers.filter((a) => a.status === 200 || a.status === 201 || a.status === 202);
    for (;;) {
      const statuses = await Promise.all(accepted.map(async (a) => (await api<{ status: string }>(`/v1/refunds/${a.id}`)).status));
      if (statuses.every((st) => st === 'succeeded')) break;
      if (Date.now() - startedAt > 120_000) {
        b6.violations.push(`burst ${burst}: after 120 s the accepted refunds are ${statuses.join(', ')}`);
        break;
      }
      await sleep(50);
    }
    b6.settleSeconds.push((Date.now() - startedAt) / 1000);
    const after = await api<{ amount_refunded: number }>(`/v1/payments/${paid.id}`);
    const atProvider = (await api<{ data: { operation: string; amount: number }[] }>(`/sandbox/charges?payment_id=${paid.id}`)).data.filter((c) => c.operation === 'refund');
    if (accepted.length !== 14 || after.amount_refunded !== 9800 || atProvider.length !== 14 || atProvider.reduce((n, c) => n + c.amount, 0) !== 9800) {
      b6.violations.push(`burst ${burst}: ${accepted.length} accepted, ${after.amount_refunded} refunded, ${atProvider.length} refunds at the provider (14, 9800, 14 expected)`);
    }
    for (const v of await failedAttempts()) {
      const before = attemptsBefore.find((x) => x.labels.method === v.labels.method && x.labels.reason === v.labels.reason)?.value ?? 0;
      const key = `${v.labels.method} ${v.labels.reason}`;
      if (v.value > before) b6.failedAttempts[key] = (b6.failedAttempts[key] ?? 0) + v.value - before;
    }
    for (const [k, n] of opts.coreWarnings) if (n > (warningsBefore.get(k) ?? 0)) b6.coreWarnings[k] = (b6.coreWarnings[k] ?? 0) + n - (warningsBefore.get(k) ?? 0);
    b6.bursts++;
  }
  return b6;
}
