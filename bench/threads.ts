import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime, bundleWorkflowCode } from '@temporalio/worker';
import pg from 'pg';
import { configSchema } from '../config';
import { migrate } from '../db/migrate';
import { FAILURE_CONVERTER_PATH } from '../runtime/codec';
import { createLogger } from '../runtime/logger';
import { startServices } from '../runtime/services';
import { startDevTemporal } from '../scripts/dev-temporal';
import { startEmbeddedPostgres } from '../scripts/embedded-postgres';
import { freePort } from '../scripts/ports';
import { pool } from './harness';

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
  if (text) statements.set(text.replace(/\s+/g, ' ').slice(0, 100), (statements.get(text.replace(/\s+/g, ' ').slice(0, 100)) ?? 0) + 1);
  return (query as (...a: unknown[]) => unknown).call(this, config, ...rest);
} as typeof pg.Client.prototype.query;

/** CPU milliseconds of each thread of this process, by thread id and name. */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(`${tid} ${name}`, (Number(fields[11]) + Number(fields[12])) * (1000 / 100));
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

async function main() {
  Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-threads-'));
  chmodSync(dir, 0o755); // as root, PostgreSQL runs as its own user and must reach its cluster
  const db = await startEmbeddedPostgres(path.join(dir, 'pg'));
  const temporal = await startDevTemporal({ dataDir: dir, port: await freePort(), uiPort: await freePort(), namespace: 'default' });
  try {
    await migrate(db.url);
    const config = configSchema.parse({
      PORT: '0', ADMIN_API_KEY: 'bench-admin-key-0123456789', PAYLOAD_ENCRYPTION_KEYS: `bench:${Buffer.alloc(32, 9).toString('base64')}`, LOG_LEVEL: 'warn',
      SANDBOX_LATENCY_MS: '0', RATE_LIMIT_PER_MINUTE: '100000000', DATABASE_URL: db.url, TEMPORAL_ADDRESS: temporal.address, DATABASE_POOL_SIZE: '20',
    });
    const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), failureConverterPath: FAILURE_CONVERTER_PATH, logger: { log() {}, info() {}, warn() {}, error: console.error, debug() {}, trace() {} } as never });
    const services = await startServices(config, { databaseUrl: db.url, temporalAddress: temporal.address }, createLogger('warn'), { workflowBundle: { code: bundle.code } });
    try {
      const headers = { authorization: `Bearer ${config.ADMIN_API_KEY}`, 'content-type': 'application/json' };
      const merchant = await (await fetch(`${services.url}/v1/merchants`, { method: 'POST', headers, body: JSON.stringify({ name: 'Bench' }) })).json() as { api_key: string };
      const card = JSON.stringify({ amount: 1000, currency: 'USD', payment_method: { type: 'card', token: 'tok_ok' } });
      const auth = { authorization: `Bearer ${merchant.api_key}`, 'content-type': 'application/json' };
      const captured = async (n: number) => {
        const ids = await pool(n, Number(opts.concurrency), async () => ((await (await fetch(`${services.url}/v1/payments`, { method: 'POST', headers: auth, body: card })).json()) as { id: string }).id);
        for (;;) {
          const { rows } = await services.pool.query(`SELECT count(*)::int AS n FROM events WHERE type = 'payment.captured' AND object_id = ANY($1)`, [ids]);
          if (rows[0].n === ids.length) return;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      await captured(Math.min(N, 40)); // warm-up: JIT, pools, worker cache
      statements.clear();
      const before = threadCpu();
      const started = Date.now();
      await captured(N);
      const seconds = (Date.now() - started) / 1000;
      const after = threadCpu();
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
