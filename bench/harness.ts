import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { DevTemporal } from '../scripts/dev-temporal';
import { startDevTemporal } from '../scripts/dev-temporal';
import type { EmbeddedDatabase } from '../scripts/embedded-postgres';
import { startEmbeddedPostgres } from '../scripts/embedded-postgres';
import { freePort } from '../scripts/ports';

/** Embedded PostgreSQL and Temporal dev server that a drill can kill and bring back where they were. */
export async function startInfra(dir: string) {
  const pgPort = await freePort();
  const temporalPort = await freePort();
  const uiPort = await freePort();
  let db: EmbeddedDatabase = await startEmbeddedPostgres(path.join(dir, 'pg'), () => {}, pgPort);
  let temporal: DevTemporal = await startDevTemporal({ dataDir: dir, port: temporalPort, uiPort, namespace: 'default' });
  return {
    databaseUrl: db.url,
    temporalAddress: temporal.address,
    stopDatabase: () => db.stop(),
    startDatabase: async () => {
      db = await startEmbeddedPostgres(path.join(dir, 'pg'), () => {}, pgPort);
    },
    /** kill -9 of the dev server process (history persists in its SQLite file). */
    killTemporal: () => {
      const pids = execFileSync('pgrep', ['-f', `start-dev.*--port ${temporalPort}`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
      for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
      return pids.length;
    },
    startTemporal: async () => {
      temporal = await startDevTemporal({ dataDir: dir, port: temporalPort, uiPort, namespace: 'default' });
    },
    stop: async () => {
      await temporal.stop().catch(() => undefined);
      await db.stop().catch(() => undefined);
    },
  };
}
export type Infra = Awaited<ReturnType<typeof startInfra>>;

/** `npm run worker` as its own OS process, resolved once it polls. */
export async function spawnWorker(env: Record<string, string>, script = path.resolve(__dirname, '..', 'workers', 'main.ts')): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
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
  return child;
}

export async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

export function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/** Runs `fn` for 0..n-1 with at most `concurrency` at once. */
export async function pool<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  }));
  return out;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
