import type { LogLevel, LogMetadata, Logger as SdkLogger } from '@temporalio/common';
import { Runtime } from '@temporalio/worker';
import type { Logger } from './logger';

const ID_FIELDS: [prefix: string, field: string][] = [['payment:', 'payment_id'], ['webhook-delivery:', 'delivery_id'], ['receipt:', 'event_id']];

/**
 * The Temporal SDK's logs (workers, workflows, activities) as our JSON lines. Workflow and
 * activity lines carry their workflow id; the payment (or delivery, or event) it names is
 * added as its own field, so every line about a payment can be found by its id.
 */
class JsonSdkLogger implements SdkLogger {
  constructor(private readonly out: Logger) {}

  log(level: LogLevel, message: string, meta: LogMetadata = {}): void {
    const fields: Record<string, unknown> = { component: 'temporal-sdk', ...meta };
    const workflowId = typeof meta.workflowId === 'string' ? meta.workflowId : undefined;
    for (const [prefix, field] of ID_FIELDS) if (workflowId?.startsWith(prefix)) fields[field] = workflowId.slice(prefix.length);
    const method = level === 'TRACE' ? 'trace' : level === 'DEBUG' ? 'debug' : level === 'INFO' ? 'info' : level === 'WARN' ? 'warn' : 'error';
    this.out[method](fields, message);
  }
  trace(message: string, meta?: LogMetadata) { this.log('TRACE', message, meta); }
  debug(message: string, meta?: LogMetadata) { this.log('DEBUG', message, meta); }
  info(message: string, meta?: LogMetadata) { this.log('INFO', message, meta); }
  warn(message: string, meta?: LogMetadata) { this.log('WARN', message, meta); }
  error(message: string, meta?: LogMetadata) { this.log('ERROR', message, meta); }
}

/**
 * Installs the SDK runtime of this process: JSON logs through our logger, and the SDK's own
 * worker metrics (task slots, poll and schedule latencies, sticky cache...) on a Prometheus
 * endpoint that our /metrics appends. Returns that endpoint's URL.
 */
export function installSdkRuntime(log: Logger, metricsPort: number): string {
  const bindAddress = `127.0.0.1:${metricsPort}`;
  Runtime.install({
    logger: new JsonSdkLogger(log),
    // We stop things in order ourselves (API, worker, then Temporal and PostgreSQL).
    shutdownSignals: [],
    telemetryOptions: { metrics: { prometheus: { bindAddress, countersTotalSuffix: true } } },
  });
  return `http://${bindAddress}/metrics`;
}
