import { createHash, timingSafeEqual } from 'node:crypto';
import type { Pool } from 'pg';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Whether a /metrics request may read: anyone without METRICS_AUTH_TOKEN, else only its bearer. */
export function mayScrape(token: string | undefined, authorization: string | undefined): boolean {
  if (!token) return true;
  const given = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
  return given !== undefined && timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(token).digest());
}

/**
 * Prometheus metrics of one process (API, worker, or both under `npm start`). Payment counts
 * come from counters the database keeps beside the read model (a trigger on payments), so every
 * process reports the same truth and a scrape costs the same with ten or ten million payments.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly providerCallSeconds = new Histogram({
    name: 'payments_provider_call_duration_seconds',
    help: 'Latency of calls to payment providers, by provider, mode (test, live), operation and outcome.',
    labelNames: ['provider', 'mode', 'operation', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly providerCallbacks = new Counter({
    name: 'payments_provider_callbacks_total',
    help: 'Inbound provider callbacks, by provider and outcome (accepted, duplicate, rejected).',
    labelNames: ['provider', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly riskDecisions = new Counter({
    name: 'payments_risk_decisions_total',
    help: 'Risk checks before authorization, by decision (allow, review, block) and mode.',
    labelNames: ['decision', 'mode'] as const,
    registers: [this.registry],
  });
  readonly providerSkipped = new Counter({
    name: 'payments_provider_skipped_total',
    help: 'Authorizations that skipped a provider whose circuit was open and went to the next candidate, by provider and mode.',
    labelNames: ['provider', 'mode'] as const,
    registers: [this.registry],
  });
  readonly webhookDeliveries = new Counter({
    name: 'payments_webhook_delivery_attempts_total',
    help: 'Merchant webhook delivery attempts, by outcome (delivered, rejected: non-2xx, unreachable: timeout or connection error).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly temporalFailedAttempts = new Counter({
    name: 'payments_temporal_call_failed_attempts_total',
    help: 'Attempts of Temporal client calls that failed, the ones the SDK retried included, by method and reason (update_aborted: the server aborted an update under a burst; else the gRPC status).',
    labelNames: ['method', 'reason'] as const,
    registers: [this.registry],
  });
  readonly httpRequests = new Counter({
    name: 'payments_http_requests_total',
    help: 'HTTP requests answered by the API, by method, route and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  /** @param sdkMetricsUrl the Temporal SDK's own Prometheus endpoint, appended to ours */
  constructor(pool: Pool, private readonly sdkMetricsUrl?: string) {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'payments_by_status',
      help: 'Payments in the read model, by status, provider, payment method and mode (test, live).',
      labelNames: ['status', 'provider', 'method', 'mode'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        const { rows } = await pool.query<{ status: string; provider: string; method: string; livemode: boolean; n: number }>(
          `SELECT status, provider, method, livemode, sum(n)::int AS n FROM payment_status_counts GROUP BY 1, 2, 3, 4 HAVING sum(n) > 0`,
        );
        for (const r of rows) this.set({ status: r.status, provider: r.provider, method: r.method, mode: r.livemode ? 'live' : 'test' }, r.n);
      },
    });
    new Gauge({
      name: 'payments_provider_circuit_state',
      help: 'Circuit breaker per provider and mode: 0 closed (healthy), 1 half-open (probing), 2 open (skipped by routing).',
      labelNames: ['provider', 'mode'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        const { rows } = await pool.query<{ provider: string; livemode: boolean; state: string }>('SELECT provider, livemode, state FROM provider_health');
        for (const r of rows) this.set({ provider: r.provider, mode: r.livemode ? 'live' : 'test' }, r.state === 'open' ? 2 : r.state === 'half_open' ? 1 : 0);
      },
    });
  }

  /** Our metrics, then the Temporal SDK's worker metrics (a scrape never fails because of them). */
  async text(): Promise<string> {
    const ours = await this.registry.metrics();
    if (!this.sdkMetricsUrl) return ours;
    const sdk = await fetch(this.sdkMetricsUrl, { signal: AbortSignal.timeout(2000) }).then((r) => (r.ok ? r.text() : ''), () => '');
    return `${ours}\n${sdk}`;
  }

  /** Times a provider call; the outcome label is the result's status, or `fault`. */
  async timeProviderCall<T extends { status: string }>(provider: string, mode: 'test' | 'live', operation: string, call: () => Promise<T>): Promise<T> {
    const end = this.providerCallSeconds.startTimer({ provider, mode, operation });
    try {
      const result = await call();
      end({ outcome: result.status });
      return result;
    } catch (err) {
      end({ outcome: 'fault' });
      throw err;
    }
  }
}
