import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { TestStack } from './stack';

const ROOT = path.resolve(__dirname, '..', '..');

/** `npm run worker` as a separate OS process, so a test can kill -9 it like a crashed machine. */
export async function startWorkerProcess(stack: TestStack): Promise<ChildProcess> {
  // `node --import tsx`, not the tsx CLI: the CLI runs the script in a grandchild that SIGKILL would miss.
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'workers', 'main.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: stack.config.DATABASE_URL!,
      TEMPORAL_ADDRESS: stack.config.TEMPORAL_ADDRESS!,
      TEMPORAL_NAMESPACE: stack.config.TEMPORAL_NAMESPACE,
      TEMPORAL_TASK_QUEUE: stack.config.TEMPORAL_TASK_QUEUE,
      PAYLOAD_ENCRYPTION_KEYS: stack.config.PAYLOAD_ENCRYPTION_KEYS!,
      SANDBOX_NOTIFY_URL: `${stack.url}/webhooks/sandbox`,
      LOG_LEVEL: 'info',
      WORKER_METRICS_PORT: '0',
      ...Object.fromEntries(Object.entries(stack.config).filter(([k, v]) => /^(WEBHOOK_|SMTP_|RECEIPT_)/.test(k) && v !== undefined).map(([k, v]) => [k, String(v)])),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('worker running')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}: ${output.slice(-2000)}`)));
  });
  return child;
}

export async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}
