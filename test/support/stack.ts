import { randomUUID } from 'node:crypto';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { configSchema } from '../../config';
import type { Config } from '../../config';
import { createLogger } from '../../runtime/logger';
import type { RunningServices } from '../../runtime/services';
import { startServices } from '../../runtime/services';
import { freePort } from '../../scripts/ports';
import { readInfra } from './infra';
import { expectAllLedgersConsistent } from './ledger';

export const ADMIN_KEY = 'test-admin-key-0123456789';
/** Fixed so separate worker processes in a test read the same histories. */
export const TEST_PAYLOAD_KEYS = `test1:${Buffer.alloc(32, 7).toString('base64')}`;

// Expected provider faults (tok_flaky, tok_timeout) would flood the output at WARN.
try {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  /* already installed in this module registry */
}

export type TestStack = RunningServices & { config: Config };

/**
 * The orchestrator (API + worker) in this process, against the run's real PostgreSQL and
 * Temporal, on its own task queue so test files never see each other's tasks.
 */
/** The test stacks' sandbox signing secret (production has no default). */
export const TEST_SANDBOX_SECRET = 'test-sandbox-notification-secret';

export async function startTestStack(overrides: Record<string, string> = {}, opts: { worker?: boolean; prebuiltBundle?: boolean } = {}): Promise<TestStack> {
  const infra = readInfra();
  const port = await freePort();
  const config = configSchema.parse({
    PORT: String(port),
    ADMIN_API_KEY: ADMIN_KEY,
    PAYLOAD_ENCRYPTION_KEYS: TEST_PAYLOAD_KEYS,
    DATABASE_URL: infra.databaseUrl,
    TEMPORAL_ADDRESS: infra.temporalAddress,
    TEMPORAL_NAMESPACE: infra.namespace,
    TEMPORAL_TASK_QUEUE: `test-${randomUUID()}`,
    LOG_LEVEL: 'silent',
    SYNC_WAIT_MS: '15000',
    SANDBOX_CUSTOMER_DELAY_MS: '300',
    SANDBOX_WEBHOOK_SECRET: TEST_SANDBOX_SECRET,
    // Each file's stack runs its own task queue: a sweeper here must not start another file's leftovers.
    OUTBOX_SWEEP_MS: '0',
    // Daily schedules per test queue would outlive the test; the reconciliation test creates its own.
    RECONCILIATION_SCHEDULE: 'off',
    // A test's stop need not wait for requests it left behind.
    API_SHUTDOWN_GRACE_MS: '2000',
    // Test receivers listen on loopback, which production refuses (SSRF).
    WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8,::1/128',
    ...overrides,
  });
  const services = await startServices(config, { databaseUrl: infra.databaseUrl, temporalAddress: infra.temporalAddress }, createLogger(config.LOG_LEVEL), {
    worker: opts.worker,
    // A worker with plugins (tracing) bundles its own workflow code, interceptors included.
    workflowBundle: opts.prebuiltBundle === false ? undefined : { codePath: infra.workflowBundlePath },
  });
  return { ...services, config };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON answers
export type Answer = { status: number; body: any; headers: Headers };

/** A tiny HTTP client over a real socket, the way integrators call the API. */
export function client(baseUrl: string, apiKey?: string) {
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
  return {
    get: (path: string, headers?: Record<string, string>) => call('GET', path, undefined, headers),
    post: (path: string, body?: unknown, headers?: Record<string, string>) => call('POST', path, body ?? {}, headers),
    raw: call,
  };
}
export type Client = ReturnType<typeof client>;

/** A new merchant: `api` acts with its test key, `live` with its live key. */
export async function newMerchant(stack: TestStack, name = 'Test shop'): Promise<{ id: string; key: string; liveKey: string; api: Client; live: Client }> {
  const res = await client(stack.url, ADMIN_KEY).post('/v1/merchants', { name });
  if (res.status !== 201) throw new Error(`merchant creation failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.id, key: res.body.api_key, liveKey: res.body.live_api_key, api: client(stack.url, res.body.api_key), live: client(stack.url, res.body.live_api_key) };
}

/** Polls until `check` passes (the workflow moves on asynchronously); fails with the last value. */
export async function eventually<T>(read: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  while (!check(last)) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
    last = await read();
  }
  return last;
}

export const card = (token = 'tok_ok') => ({ type: 'card', token });

/**
 * One stack per test file: started before its tests, and after them the ledger invariants are
 * checked for every merchant before it stops.
 */
/** `overrides` as a function: read when the stack starts (after the file's earlier beforeAll hooks, e.g. a server's URL). */
export function useTestStack(overrides: Record<string, string> | (() => Record<string, string>) = {}, opts: { worker?: boolean } = {}): () => TestStack {
  let stack: TestStack | undefined;
  beforeAll(async () => {
    stack = await startTestStack(typeof overrides === 'function' ? overrides() : overrides, opts);
  });
  afterAll(async () => {
    if (!stack) return;
    try {
      await expectAllLedgersConsistent(stack.pool);
    } finally {
      await stack.stop();
    }
  });
  return () => {
    if (!stack) throw new Error('the test stack is not started');
    return stack;
  };
}
