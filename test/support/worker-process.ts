import type { WorkerProcess } from '../../scripts/worker-process';
import { spawnWorker } from '../../scripts/worker-process';
import { readInfra } from './infra';
import type { TestStack } from './stack';

export { kill9 } from '../../scripts/worker-process';

/** A worker process for this test stack: same database, Temporal, task queue, keys and webhook settings. */
export function startWorkerProcess(stack: TestStack): Promise<WorkerProcess> {
  return spawnWorker({
    DATABASE_URL: stack.config.DATABASE_URL!,
    TEMPORAL_ADDRESS: stack.config.TEMPORAL_ADDRESS!,
    TEMPORAL_NAMESPACE: stack.config.TEMPORAL_NAMESPACE,
    TEMPORAL_TASK_QUEUE: stack.config.TEMPORAL_TASK_QUEUE,
    PAYLOAD_ENCRYPTION_KEYS: stack.config.PAYLOAD_ENCRYPTION_KEYS!,
    SANDBOX_NOTIFY_URL: `${stack.url}/webhooks/sandbox`,
    // The run's prebuilt bundle, as the image's workers load theirs (no webpack at each start).
    WORKFLOW_BUNDLE_PATH: readInfra().workflowBundlePath,
    ...Object.fromEntries(Object.entries(stack.config).filter(([k, v]) => /^(WEBHOOK_|SMTP_|RECEIPT_|SANDBOX_WEBHOOK_SECRET|CIRCUIT_|OUTBOX_|RECONCILIATION_)/.test(k) && v !== undefined).map(([k, v]) => [k, String(v)])),
  });
}
