import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import pg from 'pg';
import { migrate } from '../db/migrate';
import { createLogger } from '../runtime/logger';
import { startServices } from '../runtime/services';
import { startDevTemporal } from '../scripts/dev-temporal';
import { startEmbeddedPostgres } from '../scripts/embedded-postgres';
import { freePort } from '../scripts/ports';
import { benchConfig, bundlePaymentWorkflows, pool, threadCpuMs, untilCaptured } from './harness';

/**
 * `npm run bench:threads`: where the API and worker process spends its CPU per captured card
 * payment, by thread (main: HTTP, activities, SDK core bridge; the workflow thread; V8's helper
 * threads; SDK core's tokio threads), and which SQL statements it sends per payment. The load is
 * sent from this process (a few ms per payment of the main thread), so compare runs of this
 * tool with each other, not with `npm run bench`. Numbers, never assertions.
 */
const { values: opts } = parseArgs({ options: { payments: { type: 'string', default: '300' }, concurrency: { type: 'string', default: '16' } } });
const N = Number(opts.payments);

// Counted from here: every statement any pool or client of this process sends.
const statements = new Map<string, number>();
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, config: unknown, ...rest: unknown[]) {
  const text = typeof config === 'string' ? config : (config as { text?: string } | undefined)?.text;
  const key = text?.replace(/\s+/g, ' ').slice(0, 100);
  if (key) statements.set(key, (statements.get(key) ?? 0) + 1);
  return (query as (...a: unknown[]) => unknown).call(this, config, ...rest);
} as typeof pg.Client.prototype.query;

async function main() {
  Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-threads-'));
  chmodSync(dir, 0o755); // as root, PostgreSQL runs as its own user and must reach its cluster
  const db = await startEmbeddedPostgres(path.join(dir, 'pg'));
  const temporal = await startDevTemporal({ dataDir: dir, port: await freePort(), uiPort: await freePort(), namespace: 'default' });
  try {
    await migrate(db.url);
    const config = benchConfig({ databaseUrl: db.url, temporalAddress: temporal.address });
    const bundle = await bundlePaymentWorkflows();
    const services = await startServices(config, { databaseUrl: db.url, temporalAddress: temporal.address }, createLogger('warn'), { workflowBundle: bundle });
    try {
      const headers = { authorization: `Bearer ${config.ADMIN_API_KEY}`, 'content-type': 'application/json' };
      const merchant = await (await fetch(`${services.url}/v1/merchants`, { method: 'POST', headers, body: JSON.stringify({ name: 'Bench' }) })).json() as { api_key: string };
      const card = JSON.stringify({ amount: 1000, currency: 'USD', payment_method: { type: 'card', token: 'tok_ok' } });
      const auth = { authorization: `Bearer ${merchant.api_key}`, 'content-type': 'application/json' };
      const captured = async (n: number) => {
        const ids = await pool(n, Number(opts.concurrency), async () => ((await (await fetch(`${services.url}/v1/payments`, { method: 'POST', headers: auth, body: card })).json()) as { id: string }).id);
        await untilCaptured(services.pool, ids);
      };
      await captured(Math.min(N, 40)); // warm-up: JIT, pools, worker cache
      statements.clear();
      const before = threadCpuMs();
      const started = Date.now();
      await captured(N);
      const seconds = (Date.now() - started) / 1000;
      const after = threadCpuMs();
      const spent = [...after].map(([k, ms]) => [k, (ms - (before.get(k) ?? 0)) / N] as const).filter(([, ms]) => ms > 0).sort((a, b) => b[1] - a[1]);
      console.log(`${N} captured card payments, ${(N / seconds).toFixed(1)}/s; CPU ms per payment by thread (main is this process's pid ${process.pid}):`);
      for (const [k, ms] of spent) console.log(`  ${ms.toFixed(2).padStart(6)}  ${k}`);
      console.log(`  ${spent.reduce((s, [, ms]) => s + ms, 0).toFixed(2).padStart(6)}  in all`);
      const total = [...statements.values()].reduce((s, n) => s + n, 0);
      console.log(`SQL statements per payment: ${(total / N).toFixed(1)}`);
      for (const [text, n] of [...statements].sort((a, b) => b[1] - a[1]).filter(([, n]) => n >= N / 2)) console.log(`  ${(n / N).toFixed(2).padStart(5)}  ${text}`);
    } finally {
      await services.stop();
    }
  } finally {
    await temporal.stop();
    await db.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
