import type http from 'node:http';
import type { Worker, WorkerOptions } from '@temporalio/worker';
import type { Pool } from 'pg';
import { codecOnApiPort, createApp, createCodecApp } from '../api/app';
import type { ApiContext } from '../api/context';
import type { Config } from '../config';
import { ConfigError } from '../config';
import { EncryptionCodec, encryptedDataConverter, parsePayloadKeys } from './codec';
import type { PayloadKey } from './codec';
import { EventDispatcher, retryScheduleOf } from './event-dispatch';
import { Mailer } from './mailer';
import { SecretBox } from './secret-box';
import { createTracing } from './tracing';
import { UrlGuard } from './url-guard';
import { WebhookSender } from './webhook-sender';
import { Metrics } from './metrics';
import { createPool } from '../db/pool';
import { createPaymentWorker } from '../workers/worker';
import type { Logger } from './logger';
import { createProviders } from './providers';
import { CircuitBreaker } from '../routing/circuit-breaker';
import { sweepIdempotencyKeys } from '../api/middleware/idempotency';
import { connectClient, connectWorker, ensureSearchAttributes } from './temporal';
import { FxService, ensureFxSchedule } from './fx';
import { PAYMENT_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { receiveCredits } from '../bank/intake';
import { ensureReconciliationSchedules } from './reconciliation';

/** Who pays the sandbox's transfers: an example account, as every test account is. */
const SANDBOX_PAYER = { name: 'Sandbox Payer (test)', account: 'GB33BUKB20201555555555', bank_code: 'BUKBGB22' };

export type Endpoints = { databaseUrl: string; temporalAddress: string };

/** The longest pause of the Temporal client's default gRPC retry backoff (`maxIntervalMs`). */
const SDK_LONGEST_RETRY_DELAY_MS = 5000;

export type RunningServices = { url: string; codecUrl?: string; pool: Pool; context: ApiContext; worker?: Worker; stop: () => Promise<void> };

/**
 * The orchestrator's own processes against given PostgreSQL and Temporal: the API (listening
 * on PORT, 0 for any) and, unless disabled, a worker in the same process.
 */
export async function startServices(
  config: Config,
  endpoints: Endpoints,
  log: Logger,
  opts: { api?: boolean; worker?: boolean; workflowBundle?: WorkerOptions['workflowBundle']; sdkMetricsUrl?: string } = {},
): Promise<RunningServices> {
  if (!config.PAYLOAD_ENCRYPTION_KEYS) throw new ConfigError('Invalid configuration:\n  PAYLOAD_ENCRYPTION_KEYS: required (id:base64 of 32 random bytes; npm start generates one)');
  let payloadKeys: PayloadKey[];
  let urlGuard: UrlGuard;
  try {
    payloadKeys = parsePayloadKeys(config.PAYLOAD_ENCRYPTION_KEYS);
  } catch (err) {
    throw new ConfigError(`Invalid configuration:\n  PAYLOAD_ENCRYPTION_KEYS: ${(err as Error).message}`);
  }
  try {
    urlGuard = new UrlGuard(config.WEBHOOK_ALLOWED_NETWORKS);
  } catch (err) {
    throw new ConfigError(`Invalid configuration:\n  WEBHOOK_ALLOWED_NETWORKS: ${(err as Error).message}`);
  }
  const codec = new EncryptionCodec(payloadKeys);
  const dataConverter = encryptedDataConverter(codec);
  const pool = createPool(endpoints.databaseUrl, config.DATABASE_POOL_SIZE);
  pool.on('error', (err) => log.warn({ err: err.message }, 'idle PostgreSQL client error'));
  const target = { address: endpoints.temporalAddress, namespace: config.TEMPORAL_NAMESPACE };
  const tracing = createTracing(config);
  const metrics = new Metrics(pool, opts.sdkMetricsUrl);
  const { client: temporal, calls } = await connectClient(target, dataConverter, tracing ? [tracing.plugin] : [], (attempt) => metrics.temporalFailedAttempts.inc(attempt));
  // A cluster set up for an older version may lack the newer search attributes: added in the
  // background (Temporal may be down at boot; /readyz says so), never blocking the start.
  const registering = ensureSearchAttributes(temporal, config.TEMPORAL_NAMESPACE, PAYMENT_SEARCH_ATTRIBUTES)
    .then((added) => void (added.length > 0 && log.warn({ added }, 'registered missing search attributes on the namespace')))
    .catch((err: unknown) => log.info({ err: (err as Error).message }, 'search attributes not checked (register them as the README says)'));
  const intake = { pool, temporal, taskQueue: config.TEMPORAL_TASK_QUEUE };
  // The sandbox's simulated payers send their transfers where a bank's feed would deliver them.
  const providers = createProviders(pool, config, log, {
    sendTransfer: async (t) => {
      await receiveCredits(intake, [{
        credit_id: `sandbox_${t.paymentId}_${t.amount}`, value_date: new Date().toISOString().slice(0, 10), amount: t.amount, currency: t.currency,
        reference: t.reference, payer: SANDBOX_PAYER,
      }], { livemode: false, merchantId: t.merchantId, source: 'sandbox' });
    },
  });
  const circuits = new CircuitBreaker(pool, { failureThreshold: config.CIRCUIT_FAILURE_THRESHOLD, openMs: config.CIRCUIT_OPEN_MS });
  const secrets = new SecretBox(payloadKeys);
  const dispatcher = new EventDispatcher({
    client: temporal, pool, taskQueue: config.TEMPORAL_TASK_QUEUE, schedule: retryScheduleOf(config), attemptTimeoutMs: config.WEBHOOK_TIMEOUT_MS, receipts: Boolean(config.SMTP_URL),
  });
  let fx: FxService;
  try {
    fx = new FxService(pool, config);
  } catch (err) {
    throw new ConfigError(`Invalid configuration:\n  FX_RATES: ${(err as Error).message}`);
  }
  const context: ApiContext = { config, pool, temporal, intake, providers, circuits, log, codec, metrics, dispatcher, secrets, urlGuard, fx, tracer: tracing?.tracer };
  const stops: (() => Promise<void>)[] = [];

  let worker: Worker | undefined;
  if (opts.worker !== false) {
    const connection = await connectWorker(target);
    const sender = new WebhookSender(urlGuard, config.WEBHOOK_TIMEOUT_MS);
    const mailer = config.SMTP_URL ? new Mailer(config.SMTP_URL, config.RECEIPT_FROM) : undefined;
    const notifications = { dispatcher, sender, secrets, mailer };
    worker = await createPaymentWorker({ connection, namespace: config.TEMPORAL_NAMESPACE, taskQueue: config.TEMPORAL_TASK_QUEUE, pool, providers, circuits, dataConverter, metrics, notifications, workflowBundle: opts.workflowBundle ?? (config.WORKFLOW_BUNDLE_PATH && !tracing ? { codePath: config.WORKFLOW_BUNDLE_PATH } : undefined), plugins: tracing ? [tracing.plugin] : [], maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS, config, fx });
    const running = worker.run();
    if (config.RECONCILIATION_SCHEDULE === 'on') {
      // Temporal may be down at boot: tried again every 30 s until the schedules are there.
      const scheduleReconciliation = () => {
        ensureReconciliationSchedules(temporal, providers, config).catch((err: unknown) => {
          log.warn({ err: (err as Error).message }, 'the reconciliation schedules could not be created yet; trying again in 30 s');
          setTimeout(scheduleReconciliation, 30_000).unref();
        });
      };
      scheduleReconciliation();
    }
    if (config.FX_SOURCE === 'ecb') {
      // Temporal may be down at boot: tried again every 30 s until the schedule is there.
      const scheduleRates = () => {
        ensureFxSchedule(temporal, pool, config).catch((err: unknown) => {
          log.warn({ err: (err as Error).message }, 'the FX rates schedule could not be created yet; trying again in 30 s');
          setTimeout(scheduleRates, 30_000).unref();
        });
      };
      scheduleRates();
    }
    // Workers also sweep the event outbox for anything a crash left undispatched.
    // Never two sweeps at once in a process (a slow Temporal must not stack them up), nor across
    // processes (an advisory lock in the sweep).
    let sweeping = false;
    const sweeper = config.OUTBOX_SWEEP_MS > 0
      ? setInterval(() => {
        if (sweeping) return;
        sweeping = true;
        void dispatcher.sweep()
          .catch((err) => log.warn({ err: (err as Error).message }, 'event outbox sweep failed'))
          .finally(() => (sweeping = false));
      }, config.OUTBOX_SWEEP_MS)
      : undefined;
    sweeper?.unref();
    stops.push(async () => {
      clearInterval(sweeper);
      if (worker!.getState() === 'RUNNING') worker!.shutdown();
      await running.catch((err) => log.error({ err }, 'worker stopped with an error'));
      await connection.close();
      await sender.close();
      mailer?.close();
    });
  }

  let url = '';
  /** Where /codec is served when it has its own listener (CODEC_PORT). */
  let codecUrl: string | undefined;
  if (opts.api !== false) {
    const app = createApp(context);
    const server = await new Promise<http.Server>((resolve) => {
      const s = app.listen(config.PORT, config.HOST, () => resolve(s));
    });
    const address = server.address();
    url = `http://${config.HOST}:${typeof address === 'object' && address ? address.port : config.PORT}`;
    // Idempotency keys are kept 24 hours (API.md), then forgotten: hourly, by each API process.
    const keySweeper = setInterval(() => {
      void sweepIdempotencyKeys(pool).catch((err) => log.warn({ err: (err as Error).message }, 'idempotency key sweep failed'));
    }, 3_600_000);
    keySweeper.unref();
    // Draining: no new connections, idle keep-alives closed, requests in flight given API_SHUTDOWN_GRACE_MS.
    stops.unshift(() => new Promise<void>((resolve) => {
      clearInterval(keySweeper);
      const force = setTimeout(() => server.closeAllConnections(), config.API_SHUTDOWN_GRACE_MS);
      server.close(() => {
        clearTimeout(force);
        resolve();
      });
      server.closeIdleConnections();
    }));
    const codecPort = config.CODEC_PORT;
    if (codecPort !== undefined) {
      const codecServer = await new Promise<http.Server>((resolve) => {
        const s = createCodecApp(context).listen(codecPort, config.HOST, () => resolve(s));
      });
      const at = codecServer.address();
      codecUrl = `http://${config.HOST}:${typeof at === 'object' && at ? at.port : codecPort}`;
      stops.unshift(() => new Promise<void>((resolve) => {
        codecServer.close(() => resolve());
        codecServer.closeAllConnections();
      }));
    } else if (!codecOnApiPort(config)) {
      log.warn('/codec is off: set CODEC_JWKS_URL (operators signed in to the UI through OIDC), CODEC_AUTH_TOKEN, or CODEC_PORT for an operators-only listener, for the Temporal UI to decrypt payloads');
    }
  }

  return {
    url,
    codecUrl,
    pool,
    context,
    worker,
    stop: async () => {
      for (const stop of stops) await stop();
      await registering; // bounded by its deadline: no retry of it may fire after the connection closes
      // Calls a request left running past its answer (an update retried until its deadline,
      // SYNC_WAIT_MS and a second) end before the channel closes, and so does a retry the SDK
      // scheduled just before that deadline (its backoff reaches 5 s): one firing on a closed
      // channel throws where nothing can catch it.
      await calls.drained(config.SYNC_WAIT_MS + 1000 + SDK_LONGEST_RETRY_DELAY_MS + 1000);
      await temporal.connection.close();
      await tracing?.shutdown();
      await pool.end();
    },
  };
}
