import { execFileSync } from 'node:child_process';
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
