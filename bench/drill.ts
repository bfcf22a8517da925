import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { configSchema } from '../config';
import { migrate } from '../db/migrate';
import { createLogger } from '../runtime/logger';
import type { RunningServices } from '../runtime/services';
import { startServices } from '../runtime/services';
import type { FakeStripe } from '../test/support/fake-stripe';
import { startFakeStripe } from '../test/support/fake-stripe';
import type { Infra } from './harness';
import { kill9, pool, sleep, spawnWorker, startInfra } from './harness';

/**
 * `npm run drill [-- --only D1,D3 --payments 200]`: fault drills that prove nothing is lost.
 * Each starts a fresh embedded stack, runs payments with mixed tokens through the API with a
 * worker in its own process, breaks something mid-run, and checks every payment against the
 * simulated processor's books and the ledger. Each ends with a verdict line; any violation
 * makes the exit code non-zero.
 */
const { values: opts } = parseArgs({ options: { only: { type: 'string' }, payments: { type: 'string', default: '200' } } });
const PAYMENTS = Number(opts.payments);
const TERMINAL = new Set(['captured', 'failed', 'canceled']);
const PAYLOAD_KEYS = `drill:${Buffer.alloc(32, 5).toString('base64')}`;
const SANDBOX_SECRET = 'drill-sandbox-signing-secret';

type Payment = { id: string; status: string; amount: number; amount_captured: number; currency: string };
type Drill = {
  name: string;
  what: string;
  tokens: { type: string; token: string }[];
  workers: number;
  /** Breaks something once the payments are under way; returns when it is repaired. */
  fault: (ctx: Ctx) => Promise<void>;
  /** A Stripe (the stateful fake) the payments may be routed to, with routing rules for the merchant. */
  stripe?: { routing: object };
};
type Ctx = { infra: Infra; workers: ChildProcess[]; startWorker: () => Promise<ChildProcess>; api: RunningServices; notes: string[]; repairedAt?: number; stripe?: FakeStripe };
const STRIPE_WEBHOOK_SECRET = 'whsec_drill_0123456789';

const MIXED = [
  { type: 'card', token: 'tok_ok' }, { type: 'card', token: 'tok_decline' }, { type: 'card', token: 'tok_flaky' },
  { type: 'card', token: 'tok_timeout' }, { type: 'card', token: 'tok_insufficient_funds' }, { type: 'alipay', token: 'tok_ok' },
];
const CHAOS = [{ type: 'card', token: 'tok_flaky' }, { type: 'card', token: 'tok_timeout' }, { type: 'card', token: 'tok_slow' }];

const DRILLS: Drill[] = [
  {
    name: 'D1', what: 'worker killed -9 mid-run, then restarted', tokens: MIXED, workers: 1,
    fault: async (ctx) => {
      await kill9(ctx.workers[0]!);
      await sleep(2000);
      ctx.workers[0] = await ctx.startWorker();
      ctx.repairedAt = Date.now();
    },
  },
  {
    name: 'D2', what: 'Temporal dev server killed -9 mid-run, restarted on its database', tokens: MIXED, workers: 1,
    fault: async (ctx) => {
      ctx.notes.push(`${ctx.infra.killTemporal()} server process killed`);
      await sleep(3000);
      await ctx.infra.startTemporal();
      ctx.repairedAt = Date.now();
    },
  },
  {
    name: 'D3', what: 'PostgreSQL stopped for 20 s mid-run', tokens: MIXED, workers: 1,
    fault: async (ctx) => {
      await ctx.infra.stopDatabase();
      await sleep(3000);
      const ready = await fetch(`${ctx.api.url}/readyz`);
      const create = await fetch(`${ctx.api.url}/v1/payments`, { method: 'POST', headers: { authorization: 'Bearer sk_x', 'content-type': 'application/json' }, body: '{}' });
      ctx.notes.push(`during the outage: /readyz ${ready.status}, POST /v1/payments ${create.status}`);
      if (ready.status !== 503 || create.status !== 503) ctx.notes.push('VIOLATION: the API did not answer 503 while PostgreSQL was down');
      await sleep(17_000);
      await ctx.infra.startDatabase();
      ctx.repairedAt = Date.now();
    },
  },
  { name: 'D4', what: 'provider chaos at volume (tok_flaky, tok_timeout, tok_slow)', tokens: CHAOS, workers: 1, fault: async () => {} },
  {
    name: 'D5', what: 'two workers in separate processes, one killed -9; the other finishes', tokens: MIXED, workers: 2,
    fault: async (ctx) => {
      await kill9(ctx.workers[0]!);
      ctx.repairedAt = Date.now();
    },
  },
  {
    name: 'D6', what: 'first provider (Stripe) down for 15 s mid-run: payments fail over to the sandbox', tokens: [{ type: 'card', token: 'pm_card_visa' }], workers: 1,
    stripe: { routing: { default: { card: ['stripe', 'sandbox'] } } },
    fault: async (ctx) => {
      await ctx.stripe!.down();
      await sleep(15_000);
      await ctx.stripe!.up();
      ctx.repairedAt = Date.now();
    },
  },
];

/** What a live Stripe's books hold for one payment, in the sandbox's terms (an automatic capture is one confirm at Stripe). */
function stripeCharges(stripe: FakeStripe | undefined, paymentId: string): { operation: string; amount: number }[] {
  if (!stripe) return [];
  const intents = [...stripe.intents.values()].filter((pi) => pi.metadata.payment_id === paymentId);
  return intents.flatMap((pi) => [
    ...stripe.effects.filter((e) => e.paymentIntent === pi.id).map((e) => ({ operation: e.operation, amount: e.amount })),
    ...(pi.capture_method === 'automatic' && pi.status === 'succeeded' ? [{ operation: 'capture', amount: pi.amount_received }] : []),
  ]);
}

async function runDrill(drill: Drill): Promise<boolean> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `drill-${drill.name}-`));
  chmodSync(dir, 0o755); // as root, PostgreSQL runs as its own user and must reach its cluster
  const infra = await startInfra(dir);
  await migrate(infra.databaseUrl);
  const stripe = drill.stripe ? await startFakeStripe(STRIPE_WEBHOOK_SECRET) : undefined;
  const stripeEnv: Record<string, string> = stripe
    ? { STRIPE_SECRET_KEY: 'sk_test_drill', STRIPE_API_BASE: stripe.url, STRIPE_WEBHOOK_SECRET, CIRCUIT_OPEN_MS: '5000' }
    : {};
  const config = configSchema.parse({
    PORT: '0', ADMIN_API_KEY: 'drill-admin-key-0123456789', PAYLOAD_ENCRYPTION_KEYS: PAYLOAD_KEYS, LOG_LEVEL: 'silent', SYNC_WAIT_MS: '3000',
    RATE_LIMIT_PER_MINUTE: '1000000', SANDBOX_CUSTOMER_DELAY_MS: '1500', DATABASE_URL: infra.databaseUrl, TEMPORAL_ADDRESS: infra.temporalAddress,
    SANDBOX_WEBHOOK_SECRET: SANDBOX_SECRET, ...stripeEnv,
  });
  const api = await startServices(config, { databaseUrl: infra.databaseUrl, temporalAddress: infra.temporalAddress }, createLogger('silent'), { worker: false });
  const startWorker = () => spawnWorker({
    DATABASE_URL: infra.databaseUrl, TEMPORAL_ADDRESS: infra.temporalAddress, PAYLOAD_ENCRYPTION_KEYS: PAYLOAD_KEYS, SANDBOX_NOTIFY_URL: `${api.url}/webhooks/sandbox`,
    SANDBOX_CUSTOMER_DELAY_MS: '1500', LOG_LEVEL: 'info', SANDBOX_WEBHOOK_SECRET: SANDBOX_SECRET, ...stripeEnv,
  });
  stripe?.setWebhooks(`${api.url}/webhooks/stripe`);
  const ctx: Ctx = { infra, workers: [], startWorker: async () => watch(await startWorker()), api, notes: [], stripe };
  const tails = new Map<ChildProcess, string>();
  const watch = (w: ChildProcess) => {
    const keep = (c: Buffer) => tails.set(w, ((tails.get(w) ?? '') + c.toString()).slice(-4000));
    w.stdout?.on('data', keep);
    w.stderr?.on('data', keep);
    return w;
  };
  for (let i = 0; i < drill.workers; i++) ctx.workers.push(await ctx.startWorker());
  const violations: string[] = [];
  try {
    const merchant = await (await fetch(`${api.url}/v1/merchants`, { method: 'POST', headers: { authorization: `Bearer ${config.ADMIN_API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: drill.name }) })).json() as { api_key: string };
    const headers = { authorization: `Bearer ${merchant.api_key}`, 'content-type': 'application/json' };
    const call = async (method: string, p: string, body?: object, key?: string) => {
      const res = await fetch(`${api.url}${p}`, { method, headers: { ...headers, ...(key ? { 'idempotency-key': key } : {}) }, body: body && JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
      return { status: res.status, body: (await res.json()) as unknown };
    };
    if (drill.stripe) await call('POST', '/v1/routing', drill.stripe.routing);
    /** Payments the API has accepted so far; those accepted before the repair were in flight during the fault. */
    const known = new Set<string>();
    let firstAcceptedAfterRepair: number | undefined;
    /** A client that retries with its Idempotency-Key until the API answers: a request is never lost. */
    const create = async (i: number): Promise<string> => {
      const method = drill.tokens[i % drill.tokens.length]!;
      const body = { amount: 1000 + i, currency: method.type === 'alipay' ? 'CNY' : 'USD', payment_method: method };
      for (;;) {
        const res = await call('POST', '/v1/payments', body, `${drill.name}-${i}`).catch(() => ({ status: 0, body: {} as unknown }));
        const payment = (res.body as { id?: string; error?: { payment?: { id: string } } }).id ?? (res.body as { error?: { payment?: { id: string } } }).error?.payment?.id;
        if (payment && [201, 202, 402, 502].includes(res.status)) {
          known.add(payment);
          if (ctx.repairedAt && !firstAcceptedAfterRepair) firstAcceptedAfterRepair = Date.now();
          return payment;
        }
        await sleep(500);
      }
    };

    const started = Date.now();
    const creating = pool(PAYMENTS, 25, create);
    // The fault lands once the processor has charged some of the payments.
    while ((await countCharges(api)) + (stripe?.intents.size ?? 0) < PAYMENTS / 4 && Date.now() - started < 60_000) await sleep(200);
    await drill.fault(ctx);
    const inFlight = [...known];
    const inFlightTerminal = (async () => {
      for (;;) {
        const statuses = await Promise.all(inFlight.map(async (id) => ((await call('GET', `/v1/payments/${id}`).catch(() => ({ body: { status: 'unreachable' } }))).body as { status: string }).status));
        if (statuses.every((st) => TERMINAL.has(st)) || Date.now() - started > 300_000) return Date.now();
        await sleep(250);
      }
    })();
    const ids = await creating;

    const deadline = Date.now() + 180_000;
    let payments: Payment[] = [];
    for (;;) {
      payments = await Promise.all(ids.map(async (id) => (await call('GET', `/v1/payments/${id}`).catch(() => ({ body: { id, status: 'unreachable' } }))).body as unknown as Payment));
      if (payments.every((p) => TERMINAL.has(p.status)) || Date.now() > deadline) break;
      await sleep(500);
    }
    const recovered = Date.now();

    for (const p of payments) {
      if (!TERMINAL.has(p.status)) violations.push(`${p.id} not terminal: ${p.status}`);
      // Both processors' books: a payment that failed over must have been charged at one of them only.
      const charges = [
        ...((await call('GET', `/sandbox/charges?payment_id=${p.id}`)).body as { data: { operation: string; amount: number }[] }).data,
        ...stripeCharges(stripe, p.id),
      ];
      const count = (op: string) => charges.filter((c) => c.operation === op).length;
      if (count('authorize') > 1) violations.push(`${p.id} authorized ${count('authorize')} times`);
      if (count('capture') > 1) violations.push(`${p.id} captured ${count('capture')} times`);
      const captured = charges.filter((c) => c.operation === 'capture').reduce((s, c) => s + c.amount, 0);
      if (captured !== p.amount_captured) violations.push(`${p.id} processor captured ${captured}, payment reports ${p.amount_captured}`);
      if (p.status === 'captured' && count('authorize') !== 1) violations.push(`${p.id} captured without exactly one authorization`);
    }
    const balance = ((await call('GET', '/v1/balance')).body as { balances: { currency: string; amount: number }[] }).balances;
    for (const currency of new Set(payments.map((p) => p.currency))) {
      const expected = payments.filter((p) => p.currency === currency).reduce((s, p) => s + p.amount_captured, 0);
      const booked = balance.find((b) => b.currency === currency)?.amount ?? 0;
      if (booked !== expected) violations.push(`ledger ${currency}: ${booked} booked, payments add up to ${expected}`);
    }
    if (stripe) {
      const onSandbox = payments.filter((p) => (p as Payment & { provider?: string }).provider === 'sandbox').length;
      ctx.notes.push(`${onSandbox} of ${payments.length} payments failed over to the sandbox`);
      if (onSandbox === 0) ctx.notes.push('VIOLATION: no payment failed over while Stripe was down');
    }
    // A worker that died by itself (not killed by the drill) is a violation: its tail says why.
    for (const w of ctx.workers) {
      if (w.exitCode !== null) ctx.notes.push(`VIOLATION: a worker exited by itself (code ${w.exitCode}): ${tails.get(w)?.slice(-600) ?? ''}`);
    }
    violations.push(...ctx.notes.filter((n) => n.startsWith('VIOLATION')));
    const byStatus = Object.entries(payments.reduce<Record<string, number>>((acc, p) => ({ ...acc, [p.status]: (acc[p.status] ?? 0) + 1 }), {})).map(([s, n]) => `${n} ${s}`).join(', ');
    const inFlightDone = await inFlightTerminal;
    const since = (t: number | undefined) => (t && ctx.repairedAt ? `${((t - ctx.repairedAt) / 1000).toFixed(1)} s` : 'n/a');
    if (ctx.repairedAt) {
      // The whole run's tail includes payments first created after the repair: the workload, not the recovery.
      ctx.notes.push(`after repair: new payments accepted in ${since(firstAcceptedAfterRepair)}; the ${inFlight.length} payments in flight during the fault all terminal in ${since(inFlightDone)}`);
    }
    const recovery = ctx.repairedAt ? `${((recovered - ctx.repairedAt) / 1000).toFixed(1)} s from repair to all terminal` : `${((recovered - started) / 1000).toFixed(1)} s in all`;
    for (const v of violations.slice(0, 20)) console.log(`  ${v}`);
    for (const n of ctx.notes.filter((x) => !x.startsWith('VIOLATION'))) console.log(`  ${n}`);
    console.log(`${drill.name} ${violations.length === 0 ? 'PASS' : 'FAIL'}: ${drill.what}; ${payments.length} payments (${byStatus}); ${violations.length} violations; ${recovery}`);
    return violations.length === 0;
  } finally {
    for (const w of ctx.workers) await kill9(w);
    await api.stop().catch(() => undefined);
    await infra.stop();
    await stripe?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function countCharges(api: RunningServices): Promise<number> {
  const { rows } = await api.pool.query(`SELECT count(*)::int AS n FROM sandbox_charges WHERE operation = 'authorize'`).catch(() => ({ rows: [{ n: 0 }] }));
  return rows[0].n;
}

async function main() {
  const only = opts.only?.split(',');
  let ok = true;
  for (const drill of DRILLS.filter((d) => !only || only.includes(d.name))) ok = (await runDrill(drill)) && ok;
  console.log(ok ? 'ALL DRILLS PASSED' : 'DRILLS FAILED');
  process.exit(ok ? 0 : 1);
}

void main();
