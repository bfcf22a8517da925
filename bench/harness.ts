import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { Pool } from 'pg';
import type { Config } from '../config';
import { configSchema } from '../config';
import { FAILURE_CONVERTER_PATH } from '../runtime/codec';
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

export { kill9, spawnWorker } from '../scripts/worker-process';

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
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** A /proc stat file after the command name: [state, ppid, …]; utime is field 14 of the whole line. */
function statFields(pid: number | string, file = `/proc/${pid}/stat`): string[] | undefined {
  try {
    const stat = readFileSync(file, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // gone
  }
}

const ticksToMs = (f: string[]) => ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;

/** CPU time (user + system) of each thread of this process, in ms, keyed `<tid> <thread name>`. */
export function threadCpuMs(): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    const file = `/proc/self/task/${tid}/stat`;
    const f = statFields(tid, file);
    if (!f) continue; // the thread ended between the listing and the read
    const name = /\((.*)\)/s.exec(readFileSync(file, 'utf8'))?.[1] ?? '?';
    out.set(`${tid} ${name}`, ticksToMs(f));
  }
  return out;
}

/** CPU time (user + system) a process has used, in ms; `reaped`: plus its children that exited and were waited for. */
export function cpuMs(pid: number, reaped = false): number {
  const f = statFields(pid);
  if (!f) return 0;
  return ticksToMs(f) + (reaped ? ((Number(f[13]) + Number(f[14])) * 1000) / CLOCK_TICKS : 0);
}

/**
 * PostgreSQL's CPU time in ms: the postmaster with the backends it reaped, plus every live backend
 * (a backend's time reaches the postmaster only when it exits).
 */
export function postgresCpuMs(dataDir: string): number {
  const postmaster = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  let total = cpuMs(postmaster, true);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (f && Number(f[1]) === postmaster) total += cpuMs(Number(entry));
  }
  return total;
}

/** CPU ms per process group, read now: subtract two readings to get what a phase cost. */
export type CpuReading = Record<string, number>;
export const cpuReading = (groups: Record<string, () => number>): CpuReading => Object.fromEntries(Object.entries(groups).map(([k, read]) => [k, read()]));
export const cpuSpent = (before: CpuReading, after: CpuReading, per: number): CpuReading =>
  Object.fromEntries(Object.keys(after).map((k) => [k, Math.round(((after[k]! - before[k]!) / per) * 10) / 10]));


/** The payload encryption key of every bench process (API, workers it spawns). */
export const BENCH_PAYLOAD_KEYS = `bench:${Buffer.alloc(32, 9).toString('base64')}`;

/** The API and worker's settings for a bench run: the sandbox at zero latency, no rate limit. */
export function benchConfig(infra: { databaseUrl: string; temporalAddress: string }): Config {
  return configSchema.parse({
    PORT: '0', ADMIN_API_KEY: 'bench-admin-key-0123456789', PAYLOAD_ENCRYPTION_KEYS: BENCH_PAYLOAD_KEYS, LOG_LEVEL: 'warn',
    SANDBOX_LATENCY_MS: '0', RATE_LIMIT_PER_MINUTE: '100000000', DATABASE_URL: infra.databaseUrl, TEMPORAL_ADDRESS: infra.temporalAddress, DATABASE_POOL_SIZE: '20',
  });
}

/** The payment workflows bundled once per run (webpack's own log kept quiet), shared by every worker it starts. */
export async function bundlePaymentWorkflows(): Promise<{ code: string }> {
  const quiet = { log() {}, info() {}, warn() {}, error: console.error, debug() {}, trace() {} };
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), failureConverterPath: FAILURE_CONVERTER_PATH, logger: quiet as never });
  return { code };
}

/** Waits until each of these payments has its `payment.captured` event recorded. */
export async function untilCaptured(db: Pool, paymentIds: readonly string[]): Promise<void> {
  for (;;) {
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM events WHERE type = 'payment.captured' AND object_id = ANY($1)`, [paymentIds]);
    if (rows[0].n === paymentIds.length) return;
    await sleep(20);
  }
}
