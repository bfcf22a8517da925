import { randomUUID } from 'node:crypto';
import { defaultDataConverter } from '@temporalio/common';
import { configSchema } from '../config';
import { createLogger } from '../runtime/logger';
import type { RunningServices } from '../runtime/services';
import { startServices } from '../runtime/services';
import type { FailedAttempt } from '../runtime/temporal';
import { connectClient } from '../runtime/temporal';
import { freePort } from '../scripts/ports';
import { readInfra } from './support/infra';
import { ADMIN_KEY, card, client, TEST_PAYLOAD_KEYS } from './support/stack';

/** An API whose PostgreSQL and/or Temporal are unreachable (ports where nothing listens). */
async function apiWith(endpoints: { databaseUrl?: string; temporalAddress?: string }): Promise<RunningServices> {
  const infra = readInfra();
  const config = configSchema.parse({ PORT: '0', ADMIN_API_KEY: ADMIN_KEY, PAYLOAD_ENCRYPTION_KEYS: TEST_PAYLOAD_KEYS, LOG_LEVEL: 'silent', TEMPORAL_TASK_QUEUE: `none-${randomUUID()}`, SYNC_WAIT_MS: '3000' });
  return startServices(
    config,
    { databaseUrl: endpoints.databaseUrl ?? infra.databaseUrl, temporalAddress: endpoints.temporalAddress ?? infra.temporalAddress },
    createLogger(process.env.DEBUG_LOG ?? 'silent'),
    { worker: false },
  );
}

test('PostgreSQL down: /readyz says so and requests answer 503 in the error shape, not 500 or a hang', async () => {
  const api = await apiWith({ databaseUrl: `postgresql://x:y@127.0.0.1:${await freePort()}/payments` });
  try {
    const ready = await client(api.url).get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks).toEqual({ postgres: false, temporal: true });
    const res = await client(api.url, 'sk_any').post('/v1/payments', { amount: 100, currency: 'USD', payment_method: card() });
    expect(res.body.error).toMatchObject({ type: 'api_error', code: 'service_unavailable' });
    expect(res.status).toBe(503);
    expect((await client(api.url).get('/healthz')).status).toBe(200);
  } finally {
    await api.stop();
  }
});

test('Temporal down: /readyz says so, a payment create answers 503 and nothing is lost', async () => {
  const api = await apiWith({ temporalAddress: `127.0.0.1:${await freePort()}` });
  try {
    const ready = await client(api.url).get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks).toEqual({ postgres: true, temporal: false });
    const merchant = await client(api.url, ADMIN_KEY).post('/v1/merchants', { name: 'Down shop' });
    const shop = client(api.url, merchant.body.api_key);
    const res = await shop.post('/v1/payments', { amount: 100, currency: 'USD', payment_method: card() }, { 'Idempotency-Key': 'down-1' });
    expect(res.status).toBe(503);
    expect(res.body.error.type).toBe('api_error');
    // The key stays reserved for this request: the client's retry converges on the same payment id.
    const kept = await api.pool.query('SELECT resource_id, response_status FROM idempotency_keys WHERE scope = $1', [merchant.body.id]);
    expect(kept.rows).toHaveLength(1);
    expect(kept.rows[0].response_status).toBeNull();
    expect((await shop.get('/v1/payments')).body.data).toEqual([]);
    // What operators see before anyone complains: the API's failed attempts at Temporal, by call.
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(metrics).toMatch(/^payments_temporal_call_failed_attempts_total\{method="ExecuteMultiOperation",reason="unavailable"\} [1-9]\d*$/m);
  } finally {
    await api.stop();
  }
});

test('a shutdown waits for a call the SDK is still retrying before it closes the channel', async () => {
  const failed: FailedAttempt[] = [];
  const { client: temporal, calls } = await connectClient({ address: `127.0.0.1:${await freePort()}`, namespace: 'default' }, defaultDataConverter, [], (a) => failed.push(a));
  const deadline = Date.now() + 1500;
  // Nothing listens there: the SDK's retry interceptor tries again and again until the deadline.
  const call = temporal.connection.withDeadline(deadline, () => temporal.workflowService.getSystemInfo({})).then(() => 'answered', (err: Error) => err.message);
  await new Promise((r) => setTimeout(r, 200));
  expect(calls.size).toBe(1);
  await calls.drained(10_000);
  expect(calls.size).toBe(0);
  expect(Date.now()).toBeGreaterThanOrEqual(deadline - 50); // one call until its last retry, not one per attempt
  await temporal.connection.close();
  expect(await call).toMatch(/deadline|DEADLINE/i);
  // Every attempt the SDK made is reported (the metric operators read), not only the one call.
  expect(failed.length).toBeGreaterThanOrEqual(2);
  expect(failed.every((a) => a.method === 'GetSystemInfo')).toBe(true);
  expect(failed.filter((a) => a.reason === 'unavailable').length).toBeGreaterThanOrEqual(1);
});
