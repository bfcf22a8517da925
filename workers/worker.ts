import type { DataConverter } from '@temporalio/common';
import type { NativeConnection, WorkerOptions } from '@temporalio/worker';
import { Worker } from '@temporalio/worker';
import type { Pool } from 'pg';
import { createActivities } from '../activities';
import { createReconciliationActivities } from '../activities/reconciliation';
import { createOpeningActivities } from '../activities/opening';
import { createRiskActivities, riskHashKey } from '../activities/risk';
import { createBillingActivities } from '../activities/billing';
import { createFxActivities } from '../activities/fx';
import type { NotificationDeps } from '../activities/notifications';
import type { Config } from '../config';
import type { Metrics } from '../runtime/metrics';
import type { FxService } from '../runtime/fx';
import type { Providers } from '../runtime/providers';
import { providerFor } from '../runtime/providers';
import type { CircuitBreaker } from '../routing/circuit-breaker';

export type PaymentWorkerOptions = {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  pool: Pool;
  providers: Providers;
  /** Provider health shared with every process: failover skips providers whose circuit is open. */
  circuits?: CircuitBreaker;
  /** Must match the clients': the payload codec that encrypts everything the server stores. */
  dataConverter: DataConverter;
  metrics?: Metrics;
  notifications?: NotificationDeps;
  /** E.g. OpenTelemetry tracing (its workflow interceptors need a bundle built here, not a prebuilt one). */
  plugins?: WorkerOptions['plugins'];
  maxCachedWorkflows?: number;
  /** Rates for risk rules' reference amounts: the process's one FxService. */
  fx: FxService;
  /** What subscription invoices' payments are opened with (TTLs, task queue). */
  config: Config;
  /** A prebuilt workflow bundle (tests, production images); otherwise bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
};

export async function createPaymentWorker(opts: PaymentWorkerOptions): Promise<Worker> {
  const { fx } = opts;
  const payments = createActivities({ pool: opts.pool, providers: opts.providers, circuits: opts.circuits, metrics: opts.metrics, notifications: opts.notifications });
  const risk = createRiskActivities({
    pool: opts.pool, metrics: opts.metrics, hashKey: riskHashKey(opts.config),
    referenceAmount: (amount, currency) => fx.convertAtMid(amount, currency, opts.config.RISK_REFERENCE_CURRENCY),
    cardFingerprint: async (provider, livemode, token) => providerFor(opts.providers, provider, livemode)?.cardFingerprint?.({ token, livemode }),
    ...(opts.config.RISK_WEBHOOK_URL ? { scorer: { url: opts.config.RISK_WEBHOOK_URL, secret: opts.config.RISK_WEBHOOK_SECRET!, timeoutMs: opts.config.RISK_WEBHOOK_TIMEOUT_MS } } : {}),
  });
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    activities: {
      ...payments,
      ...createBillingActivities({ pool: opts.pool, providers: opts.providers, config: opts.config, dispatcher: opts.notifications?.dispatcher }),
      ...createFxActivities({ pool: opts.pool, ecbUrl: opts.config.FX_ECB_URL }),
      ...risk,
      // After `payments`: its authorizeAtProvider, which can open the payment first, takes the place of theirs.
      ...createOpeningActivities(opts.pool, payments, risk),
      ...createReconciliationActivities({ pool: opts.pool, providers: opts.providers, graceDays: opts.config.RECONCILIATION_GRACE_DAYS, dispatcher: opts.notifications?.dispatcher }),
    },
    dataConverter: opts.dataConverter,
    plugins: opts.plugins,
    ...(opts.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: opts.maxCachedWorkflows } : {}),
    // A deploy's SIGTERM lets the money movement in flight finish (its idempotency key would make a retry safe, but slower).
    shutdownGraceTime: opts.config.WORKER_SHUTDOWN_GRACE_MS,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
  });
}
