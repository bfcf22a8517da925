import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { WithStartWorkflowOperation } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, makeTelemetryFilterString } from '@temporalio/worker';
import express from 'express';
import { migrate } from '../db/migrate';
import { createLogger } from '../runtime/logger';
import { startServices } from '../runtime/services';
import { startDevTemporal } from '../scripts/dev-temporal';
import type { EmbeddedDatabase } from '../scripts/embedded-postgres';
import { startEmbeddedPostgres } from '../scripts/embedded-postgres';
import { startTemporalServer } from '../scripts/temporal-server';
import type { Pool } from 'pg';
import { freePort } from '../scripts/ports';
import { floorOpenWorkflow, floorUpdate, floorWorkflow } from './floor.workflows';
import { createRiskActivities } from '../activities/risk';
import { DEFAULT_RISK_RULES } from '../risk/rules';
import type { CpuReading } from './harness';
import { BENCH_PAYLOAD_KEYS, benchConfig, bundlePaymentWorkflows, cpuMs, cpuReading, cpuSpent, median, pool, postgresCpuMs, rssMb, spawnWorker, untilCaptured } from './harness';
import { CORE_WARNINGS, refundBursts } from './update-burst';
import { WORKER_IMAGE_ENV } from './worker-memory';

/**
 * `npm run bench`: what durability costs per payment, next to the floor measured in the same
 * run on the same Temporal server. Starts its own embedded stack (sandbox at zero latency),
 * prints a table and writes JSON to bench/results/. Numbers, never assertions.
 */
const { values: opts } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' }, // seconds per B1 run
    connections: { type: 'string', default: '16' },
    repeats: { type: 'string', default: '3' },
    lifecycles: { type: 'string', default: '300' }, // B2 payments per repeat
    open: { type: 'string', default: '1000' }, // B4 open workflows
    'open-large': { type: 'string', default: '0' }, // B4 with the default cap and this many open (0: skipped)
    backend: { type: 'string', default: 'dev' }, // dev, server, or dev,server (side by side)
    shards: { type: 'string', default: '1,4,16' }, // B5, on the real server
  },
});
const BACKENDS = opts.backend!.split(',') as Backend[];
const SHARDS = opts.shards!.split(',').map(Number);
type Backend = 'dev' | 'server';
const DURATION = Number(opts.duration);
const CONNECTIONS = Number(opts.connections);
const REPEATS = Number(opts.repeats);
const LIFECYCLES = Number(opts.lifecycles);
const OPEN = Number(opts.open);
const OPEN_LARGE = Number(opts['open-large']);

const execFileAsync = promisify(execFile);

const B6_BURSTS = 3;
const coreWarnings = new Map<string, number>();
const min = (xs: number[]) => Math.min(...xs);
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Runs a job in the load generator's own process (bench/load.ts), so its CPU is nobody's under measurement. */
async function load<T>(job: object): Promise<T> {
  const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'load.ts'), JSON.stringify(job)], { maxBuffer: 64 * 2 ** 20 });
  return JSON.parse(stdout) as T;
}

function latency(url: string, body: object, headers: Record<string, string>, duration: number) {
  return load<{ p50: number; p90: number; p99: number; rps: number; errors: number }>({ kind: 'latency', url, body, headers, connections: CONNECTIONS, duration });
}

/** n POSTs at saturation from the load generator: when it began, and the ids answered. */
const burst = (url: string, body: object, headers: Record<string, string>, n: number) =>
  load<{ startedAt: number; ids: string[] }>({ kind: 'burst', url, body, headers, n, concurrency: CONNECTIONS * 2 });

/** The Temporal server a run measures: the CLI's dev server (SQLite) or the real server on the run's PostgreSQL. */
async function startTemporal(backend: Backend, dir: string, db: EmbeddedDatabase, shards = 4, prefix = 'temporal') {
  if (backend === 'dev') {
    const port = await freePort();
    const dev = await startDevTemporal({ dataDir: dir, port, uiPort: await freePort(), namespace: 'default' });
    const pid = Number(execFileSync('pgrep', ['-f', `start-dev.*--port ${port}`], { encoding: 'utf8' }).trim().split('\n')[0]);
    return { address: dev.address, pid, stop: dev.stop };
  }
  const server = await startTemporalServer({ dir: path.join(dir, `server-${prefix}`), adminUrl: db.adminUrl, numHistoryShards: shards, databasePrefix: prefix });
  return { address: server.address, pid: server.pids()[0]!, stop: server.stop };
}

async function main() {
  // SDK core's warnings come through this logger (forwarded), so B6 can count them; printed as before.
  Runtime.install({
    logger: new DefaultLogger('WARN', (entry) => {
      const key = CORE_WARNINGS.find((w) => entry.message.includes(w));
      if (key) coreWarnings.set(key, (coreWarnings.get(key) ?? 0) + 1);
      console.error(`${entry.level} ${entry.message}${entry.meta ? ` ${JSON.stringify(entry.meta)}` : ''}`);
    }),
    telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }) } },
    shutdownSignals: [],
  });
  const runs: Awaited<ReturnType<typeof runBackend>>[] = [];
  for (const backend of BACKENDS) runs.push(await runBackend(backend));
  console.log(`\n${os.cpus().length} CPUs (${os.cpus()[0]?.model}), ${round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}; ${CONNECTIONS} connections, ${DURATION} s x ${REPEATS} repeats\n`);
  for (const run of runs) {
    console.log(`Backend: ${run.backend === 'dev' ? 'Temporal CLI dev server (SQLite)' : 'Temporal server on PostgreSQL (4 history shards)'}`);
    console.log(['metric'.padEnd(52), 'min'.padStart(10), 'median'.padStart(10), 'floor'.padStart(10), '  ratio'].join(''));
    for (const [name, a, b, c, d] of run.rows) console.log([String(name).padEnd(52), String(a).padStart(10), String(b).padStart(10), String(c).padStart(10), `  ${d}`].join(''));
    console.log(`non-2xx or failed requests during B1: ${run.json.errors}`);
    const { b6 } = run.json;
    const list = (o: Record<string, number>) => Object.entries(o).map(([k, n]) => `${k} ×${n}`).join(', ') || 'none';
    console.log(`B6, ${b6.bursts} bursts of 25 refunds: answers ${list(b6.answers)}; 503s retried by the clients ${b6.clientRetries}`);
    console.log(`   failed Temporal call attempts (the SDK's retries included): ${list(b6.failedAttempts)}`);
    console.log(`   SDK core warnings: ${list(b6.coreWarnings)}`);
    console.log(`   ${b6.violations.length === 0 ? 'every burst: 14 refunds accepted, 11 refused, 9 800 refunded, 14 refunds at the provider' : b6.violations.join('; ')}\n`);
  }
  const outDir = path.resolve(__dirname, 'results');
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGiB: round(os.totalmem() / 2 ** 30), node: process.version },
    settings: { DURATION, CONNECTIONS, REPEATS, LIFECYCLES, OPEN, OPEN_LARGE, BACKENDS, SHARDS }, runs: runs.map((r) => ({ backend: r.backend, ...r.json })),
  }, null, 2));
  console.log(`JSON: ${path.relative(process.cwd(), file)}`);
}

async function runBackend(backend: Backend) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  chmodSync(dir, 0o755); // as root, PostgreSQL runs as its own user and must reach its cluster
  const db = await startEmbeddedPostgres(path.join(dir, 'pg'));
  let temporal = await startTemporal(backend, dir, db);
  await migrate(db.url);
  const config = benchConfig({ databaseUrl: db.url, temporalAddress: temporal.address });
  const bundle = await bundlePaymentWorkflows();
  let services = await startServices(config, { databaseUrl: db.url, temporalAddress: temporal.address }, createLogger('warn'), { workflowBundle: { code: bundle.code } });
  const client = services.context.temporal;
  // What each process spent: this one (API and payment worker; the floor's endpoint and worker), Temporal, PostgreSQL.
  // The load comes from a process of its own (bench/load.ts), counted in none of them.
  const cpu = () => cpuReading({ 'api+worker': () => cpuMs(process.pid), temporal: () => cpuMs(temporal.pid), postgres: () => postgresCpuMs(path.join(dir, 'pg')) });

  // The floor's worker and HTTP endpoint, in this same process, on the same server.
  const floorConnection = await NativeConnection.connect({ address: temporal.address });
  const floorWorker = await Worker.create({ connection: floorConnection, taskQueue: 'bench-floor', workflowsPath: require.resolve('./floor.workflows'), activities: { noop: async () => 'ok' } });
  const floorRunning = floorWorker.run();
  let floorSeq = 0;
  const floorApp = express().post('/floor', async (_req, res) => {
    const id = `floor-${process.pid}-${floorSeq++}`;
    const op = new WithStartWorkflowOperation(floorWorkflow, { workflowId: id, taskQueue: 'bench-floor', workflowIdConflictPolicy: 'USE_EXISTING' });
    res.json({ id, result: await client.workflow.executeUpdateWithStart(floorUpdate, { startWorkflowOperation: op }) });
  });
  const floorServer = floorApp.listen(0, '127.0.0.1');
  await new Promise((r) => floorServer.once('listening', r));
  const floorUrl = `http://127.0.0.1:${(floorServer.address() as { port: number }).port}/floor`;

  const merchant = await (await fetch(`${services.url}/v1/merchants`, { method: 'POST', headers: { authorization: `Bearer ${config.ADMIN_API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Bench' }) })).json() as { id: string; api_key: string };
  const auth = { authorization: `Bearer ${merchant.api_key}` };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- API JSON
  const api = async (p: string, body?: object) => (await fetch(`${services.url}${p}`, { method: body ? 'POST' : 'GET', headers: { ...auth, 'content-type': 'application/json' }, body: body && JSON.stringify(body) })).json() as Promise<Record<string, any>>;
  const card = { amount: 1000, currency: 'USD', payment_method: { type: 'card', token: 'tok_ok' } };

  console.log(`Warm-up (${Math.min(DURATION, 5)} s each)...`);
  await latency(`${services.url}/v1/payments`, card, auth, Math.min(DURATION, 5));
  await latency(floorUrl, {}, {}, Math.min(DURATION, 5));

  // B1: latency of POST /v1/payments (authorized + captured) vs the floor, interleaved per repeat.
  const b1 = { ours: [] as Awaited<ReturnType<typeof latency>>[], floor: [] as Awaited<ReturnType<typeof latency>>[] };
  for (let r = 0; r < REPEATS; r++) {
    b1.ours.push(await latency(`${services.url}/v1/payments`, card, auth, DURATION));
    b1.floor.push(await latency(floorUrl, {}, {}, DURATION));
  }

  // B2: completed lifecycles per second at saturation (create -> captured -> event recorded).
  // With the CPU each process spent per captured payment (and per floor workflow), median over repeats.
  const b2 = { ours: [] as number[], floor: [] as number[], cpuOurs: [] as CpuReading[], cpuFloor: [] as CpuReading[] };
  for (let r = 0; r < REPEATS; r++) {
    const before = cpu();
    b2.ours.push(await lifecycles(services.url, services.pool));
    b2.cpuOurs.push(cpuSpent(before, cpu(), LIFECYCLES));
    const floorBefore = cpu();
    // The floor's lifecycle, through its own HTTP endpoint as ours goes through the API: started, answered, completed.
    const floorRun = await burst(floorUrl, {}, {}, LIFECYCLES);
    await Promise.all(floorRun.ids.map((id) => client.workflow.getHandle(id).result()));
    b2.floor.push(LIFECYCLES / ((Date.now() - floorRun.startedAt) / 1000));
    b2.cpuFloor.push(cpuSpent(floorBefore, cpu(), LIFECYCLES));
  }
  const cpuMedian = (readings: CpuReading[], k: string) => median(readings.map((x) => x[k]!));

  // B3: history events and workflow tasks per captured and per refunded payment.
  const captured = await api('/v1/payments', card);
  const refunded = await api('/v1/payments', card);
  await api('/v1/refunds', { payment_id: refunded.id });
  const historyCost = async (workflowId: string) => {
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    return { events: history.events!.length, workflowTasks: history.events!.filter((e) => e.workflowTaskCompletedEventAttributes).length };
  };
  const floorB3 = `floor-b3-${Date.now()}`;
  await client.workflow.execute(floorWorkflow, { workflowId: floorB3, taskQueue: 'bench-floor' });
  const floorCost = await historyCost(floorB3);
  const b3 = { captured: await historyCost(`payment:${captured.id}`), refunded: await historyCost(`payment:${refunded.id}`), floor: floorCost };

  // B6: bursts of updates on one payment, both backends alike.
  const b6 = await refundBursts({ url: services.url, auth, metrics: services.context.metrics, bursts: B6_BURSTS, coreWarnings });

  // B4: RSS of a worker process holding OPEN payment workflows (manual capture pending), with
  // the default sticky cache cap (WORKER_MAX_CACHED_WORKFLOWS, 100) and a cache big enough for all of them.
  const bundlePath = path.join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  const b4Run = async (cache?: number, prebuilt = true, open = OPEN, extra: Record<string, string> = WORKER_IMAGE_ENV) => {
    const queue = `bench-b4-${cache ?? 'default'}-${Date.now()}`;
    const worker = await spawnWorker({
      DATABASE_URL: db.url, TEMPORAL_ADDRESS: temporal.address, TEMPORAL_TASK_QUEUE: queue, PAYLOAD_ENCRYPTION_KEYS: BENCH_PAYLOAD_KEYS, SANDBOX_LATENCY_MS: '0',
      ...(cache !== undefined ? { WORKER_MAX_CACHED_WORKFLOWS: String(cache) } : {}),
      ...(prebuilt ? { WORKFLOW_BUNDLE_PATH: bundlePath } : {}), ...extra,
    });
    const b4Api = await startServices({ ...config, TEMPORAL_TASK_QUEUE: queue }, { databaseUrl: db.url, temporalAddress: temporal.address }, createLogger('warn'), { worker: false });
    const post = (body: object) => fetch(`${b4Api.url}/v1/payments`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json() as Promise<{ status: string }>);
    await pool(20, 10, () => post({ ...card, capture_method: 'manual' }));
    const before = rssMb(worker.pid!);
    const opened = await pool(open, CONNECTIONS * 2, () => post({ ...card, capture_method: 'manual' }));
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const after = rssMb(worker.pid!);
    worker.kill('SIGTERM');
    await b4Api.stop();
    return {
      cache: `${cache ?? 'default (100)'}, ${prebuilt ? 'prebuilt bundle' : 'bundled at start'}${extra === WORKER_IMAGE_ENV ? ', image memory settings' : ''}`, open: opened.filter((p) => p.status === 'authorized').length,
      rssBeforeMb: round(before), rssAfterMb: round(after), perWorkflowKb: round(((after - before) * 1024) / open),
    };
  };
  // As the image runs it (the default cap, the bundle built ahead), then each change undone, then (--open-large) many more open payments.
  const b4 = [
    await b4Run(), await b4Run(undefined, true, OPEN, {}), await b4Run(OPEN + 100, false, OPEN, {}),
    ...(OPEN_LARGE > 0 ? [await b4Run(undefined, true, OPEN_LARGE)] : []),
  ];
  // Its floor: the same number of bare workflows left open, in a worker process of their own.
  const floorQueue = `bench-b4-floor-${Date.now()}`;
  const floorProc = await spawnWorker({ TEMPORAL_ADDRESS: temporal.address, TEMPORAL_TASK_QUEUE: floorQueue }, path.resolve(__dirname, 'floor-worker.ts'));
  await pool(20, 10, (i) => client.workflow.start(floorOpenWorkflow, { workflowId: `floor-open-warm-${i}-${Date.now()}`, taskQueue: floorQueue }));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const floorBefore = rssMb(floorProc.pid!);
  await pool(OPEN, CONNECTIONS * 2, (i) => client.workflow.start(floorOpenWorkflow, { workflowId: `floor-open-${i}-${Date.now()}`, taskQueue: floorQueue }));
  await new Promise((resolve) => setTimeout(resolve, 4000));
  const floorAfter = rssMb(floorProc.pid!);
  floorProc.kill('SIGTERM');
  const b4Floor = { rssBeforeMb: round(floorBefore), rssAfterMb: round(floorAfter), perWorkflowKb: round(((floorAfter - floorBefore) * 1024) / OPEN) };

  // R1: what the risk check adds to every payment, before authorization: the defaults plus three
  // velocity windows over 5 000 earlier payments from a few addresses, one payment at a time.
  const riskMerchant = (await (await fetch(`${services.url}/v1/merchants`, { method: 'POST', headers: { authorization: `Bearer ${config.ADMIN_API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Bench risk' }) })).json()) as { id: string; api_key: string };
  await fetch(`${services.url}/v1/risk/rules`, {
    method: 'POST', headers: { authorization: `Bearer ${riskMerchant.api_key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ rules: [
      { if: { velocity: { key: 'client_ip', window_seconds: 600, count_gt: 1000 } }, action: 'block' },
      { if: { velocity: { key: 'email', window_seconds: 86_400, sum_gt: 10_000_000 } }, action: 'review' },
      { if: { velocity: { key: 'client_ip', window_seconds: 3600, count_gt: 5000 } }, action: 'review' },
      ...DEFAULT_RISK_RULES.rules,
    ] }),
  });
  const risk = createRiskActivities({ pool: services.pool, hashKey: 'bench' });
  const riskInput = (i: number) => ({
    paymentId: `pay_bench_risk_${i}`, merchantId: riskMerchant.id, livemode: false, amount: 1000 + i, currency: 'EUR', method: 'card' as const, channel: 'web' as const,
    createdAt: new Date().toISOString(), customerId: null, receiptEmail: `payer${i % 50}@example.com`, clientIp: `198.51.100.${i % 7}`, token: 'tok_ok',
  });
  await pool(5000, CONNECTIONS, (i) => risk.evaluateRisk(riskInput(i)));
  const r1: number[] = [];
  for (let i = 5000; i < 5500; i++) {
    const started = performance.now();
    await risk.evaluateRisk(riskInput(i));
    r1.push(performance.now() - started);
  }
  const r1p = (q: number) => round([...r1].sort((a, b) => a - b)[Math.floor(r1.length * q)]!, 2);

  const ratio = (a: number, b: number) => (b === 0 ? '-' : round(a / b, 2));
  const rows = [
    ['B1 p50 latency (ms)', min(b1.ours.map((x) => x.p50)), median(b1.ours.map((x) => x.p50)), median(b1.floor.map((x) => x.p50)), ratio(median(b1.ours.map((x) => x.p50)), median(b1.floor.map((x) => x.p50)))],
    ['B1 p90 latency (ms)', min(b1.ours.map((x) => x.p90)), median(b1.ours.map((x) => x.p90)), median(b1.floor.map((x) => x.p90)), ratio(median(b1.ours.map((x) => x.p90)), median(b1.floor.map((x) => x.p90)))],
    ['B1 p99 latency (ms)', min(b1.ours.map((x) => x.p99)), median(b1.ours.map((x) => x.p99)), median(b1.floor.map((x) => x.p99)), ratio(median(b1.ours.map((x) => x.p99)), median(b1.floor.map((x) => x.p99)))],
    ['B1 requests/s', round(min(b1.ours.map((x) => x.rps))), round(median(b1.ours.map((x) => x.rps))), round(median(b1.floor.map((x) => x.rps))), ratio(median(b1.ours.map((x) => x.rps)), median(b1.floor.map((x) => x.rps)))],
    ['B2 lifecycles/s', round(min(b2.ours)), round(median(b2.ours)), round(median(b2.floor)), ratio(median(b2.ours), median(b2.floor))],
    ['B3 events / captured payment', b3.captured.events, b3.captured.events, b3.floor?.events ?? '-', b3.floor ? ratio(b3.captured.events, b3.floor.events) : '-'],
    ['B3 workflow tasks / captured', b3.captured.workflowTasks, b3.captured.workflowTasks, b3.floor?.workflowTasks ?? '-', b3.floor ? ratio(b3.captured.workflowTasks, b3.floor.workflowTasks) : '-'],
    ['B3 events / refunded payment', b3.refunded.events, b3.refunded.events, '-', '-'],
    ['B3 workflow tasks / refunded', b3.refunded.workflowTasks, b3.refunded.workflowTasks, '-', '-'],
    ['R1 risk check p50 (ms), vs floor B1 p50', r1p(0.5), r1p(0.5), median(b1.floor.map((x) => x.p50)), ratio(r1p(0.5), median(b1.floor.map((x) => x.p50)))],
    ['R1 risk check p99 (ms), vs floor B1 p99', r1p(0.99), r1p(0.99), median(b1.floor.map((x) => x.p99)), ratio(r1p(0.99), median(b1.floor.map((x) => x.p99)))],
    ...['api+worker', 'temporal', 'postgres'].map((k) => [`B2 CPU ms / captured payment: ${k}`, round(min(b2.cpuOurs.map((x) => x[k]!))), round(cpuMedian(b2.cpuOurs, k)), round(cpuMedian(b2.cpuFloor, k)), ratio(cpuMedian(b2.cpuOurs, k), cpuMedian(b2.cpuFloor, k))]),
    ['B6 25 refunds at once: s until all settled (max)', round(min(b6.settleSeconds)), round(median(b6.settleSeconds)), '-', `max ${round(Math.max(...b6.settleSeconds))}`],
    ...b4.map((r) => [`B4 RSS, ${r.open} open, cache ${r.cache}`, r.rssAfterMb, r.rssAfterMb, b4Floor.rssAfterMb, `${ratio(r.rssAfterMb, b4Floor.rssAfterMb)} (${r.perWorkflowKb} vs ${b4Floor.perWorkflowKb} KB each)`]),
  ];
  const errors = [...b1.ours, ...b1.floor].reduce((n, x) => n + x.errors, 0);

  floorServer.close();
  floorWorker.shutdown();
  await floorRunning;
  await floorConnection.close();
  await services.stop();
  await temporal.stop();

  // B5, on the real server: lifecycles/s and CPU per captured payment by history shard count,
  // each count on databases of its own (a cluster's count is fixed when it is created).
  const b5: { shards: number; lifecyclesPerSecond: number; cpu: CpuReading }[] = [];
  if (backend === 'server') {
    for (const shards of SHARDS) {
      temporal = await startTemporal('server', dir, db, shards, `temporal_b5_${shards}`);
      services = await startServices({ ...config, TEMPORAL_ADDRESS: temporal.address }, { databaseUrl: db.url, temporalAddress: temporal.address }, createLogger('warn'), { workflowBundle: { code: bundle.code } });
      await lifecycles(services.url, services.pool, Math.min(LIFECYCLES, 30)); // warm-up
      const before = cpu();
      const rate = await lifecycles(services.url, services.pool);
      b5.push({ shards, lifecyclesPerSecond: round(rate), cpu: cpuSpent(before, cpu(), LIFECYCLES) });
      await services.stop();
      await temporal.stop();
    }
    for (const r of b5) rows.push([`B5 ${r.shards} shards: lifecycles/s; CPU ms/payment a+w, temporal, pg`, r.lifecyclesPerSecond, r.lifecyclesPerSecond, '-', `${r.cpu['api+worker']}, ${r.cpu.temporal}, ${r.cpu.postgres}`]);
  }
  await db.stop();
  rmSync(dir, { recursive: true, force: true });
  return {
    backend, rows,
    json: { b1, b2, b3, b4, b4Floor, b5, b6, r1: { p50: r1p(0.5), p90: r1p(0.9), p99: r1p(0.99) }, errors },
  };

  /** Completed lifecycles per second at saturation: n payments created, until each one's payment.captured event is recorded. */
  async function lifecycles(apiUrl: string, db: Pool, n = LIFECYCLES): Promise<number> {
    const { startedAt, ids } = await burst(`${apiUrl}/v1/payments`, card, auth, n);
    await untilCaptured(db, ids);
    return n / ((Date.now() - startedAt) / 1000);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
