import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

/** A worker in its own OS process, and the tail of what it logged (for a test's failure message). */
export type WorkerProcess = ChildProcess & { logTail(): string };

/**
 * `npm run worker` (or another worker script) as its own OS process, resolved once it polls,
 * so tests and drills can kill -9 it like a crashed machine.
 */
export async function spawnWorker(env: Record<string, string>, script = path.join(ROOT, 'workers', 'main.ts')): Promise<WorkerProcess> {
  // `node --import tsx`, not the tsx CLI: the CLI runs the script in a grandchild that SIGKILL would miss.
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', WORKER_METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    // Keeps draining the pipes (a full pipe would block the worker), remembering only the tail.
    const onData = (c: Buffer) => {
      out = (out + c.toString()).slice(-20_000);
      if (out.includes('worker running')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}: ${out.slice(-2000)}`)));
  });
  return Object.assign(child, { logTail: () => out });
}

export async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}
