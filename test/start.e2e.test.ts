import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { newTestDir, readInfra } from './support/infra';
import { client, eventually } from './support/stack';
import { startReceiver } from './support/receiver';
import { freePort } from '../scripts/ports';
import type { Instance } from './support/npm-start';
import { npmStart, ports, stop } from './support/npm-start';
import { EncryptionCodec, encryptedDataConverter, parsePayloadKeys } from '../runtime/codec';

const ROOT = path.resolve(__dirname, '..');
const running: Instance[] = [];
afterAll(async () => {
  for (const i of running) if (i.proc.exitCode === null && i.proc.signalCode === null) await stop(i);
});

test('npm start: two instances side by side, the UI shows payments, a restart resumes in-flight payments', async () => {
  const envA = { DATA_DIR: path.join(newTestDir(), 'a'), ...(await ports()) };
  const envB = { DATA_DIR: path.join(newTestDir(), 'b'), ...(await ports()) };
  const [a, b] = await Promise.all([npmStart(envA), npmStart(envB)]);
  running.push(a, b);
  expect(a.api).toBe(`http://127.0.0.1:${envA.PORT}`);
  expect(b.ui).toBe(`http://127.0.0.1:${envB.TEMPORAL_UI_PORT}`);

  // Instance A: a manual-capture payment left in flight.
  const shopA = client(a.api, a.demoKey);
  // The first payment meets a worker still bundling its workflows under a loaded machine: as a real
  // client would, it retries a 503 with the same Idempotency-Key (the contract's "never a lost request").
  const create = () => shopA.post('/v1/payments', { amount: 1234, currency: 'EUR', payment_method: { type: 'card', token: 'tok_ok' }, capture_method: 'manual' }, { 'Idempotency-Key': 'first-payment' });
  let pending = await create();
  for (let tries = 1; pending.status === 503 && tries < 5; tries++) pending = await create();
  if (pending.status === 202) pending = await eventually(() => shopA.get(`/v1/payments/${pending.body.id}`), (r) => r.body.status !== 'pending');
  expect(pending.body.status).toBe('authorized');
  // Instance B is independent: its own merchants, its own payments.
  const shopB = client(b.api, b.demoKey);
  expect((await shopB.get(`/v1/payments/${pending.body.id}`)).status).toBe(404);
  expect((await shopB.post('/v1/payments', { amount: 500, currency: 'USD', payment_method: { type: 'card' } })).body.status).toBe('captured');
  expect((await client(b.api, b.adminKey).post('/v1/merchants', { name: 'B2' })).status).toBe(201);

  // The payment is a workflow in A's Temporal, with its status searchable, and A's UI is up.
  // Payloads are encrypted with the key npm start keeps under DATA_DIR; only a client holding it reads the memo.
  const { payloadKeys } = JSON.parse(readFileSync(path.join(envA.DATA_DIR, 'dev-secrets.json'), 'utf8'));
  const temporal = new Client({
    connection: await Connection.connect({ address: a.temporal }),
    dataConverter: encryptedDataConverter(new EncryptionCodec(parsePayloadKeys(payloadKeys))),
  });
  const described = await temporal.workflow.getHandle(`payment:${pending.body.id}`).describe();
  expect(described.status.name).toBe('RUNNING');
  expect(described.searchAttributes.PaymentStatus).toEqual(['authorized']);
  expect(described.memo).toMatchObject({ amount: 1234, currency: 'EUR' });
  // The embedded UI is wired to our codec endpoint.
  const settings = await (await fetch(`${a.ui}/api/v1/settings`)).json() as { Codec?: { Endpoint?: string } };
  expect(settings.Codec?.Endpoint).toBe(`${a.api}/codec`);
  await temporal.connection.close();
  const ui = await fetch(a.ui);
  expect(ui.status).toBe(200);
  expect(await ui.text()).toContain('<html');

  expect(await stop(a)).toBe(0);
  expect(await stop(b)).toBe(0);

  // Same DATA_DIR: same keys, and the authorized payment can still be captured.
  const again = await npmStart(envA);
  running.push(again);
  expect(again.demoKey).toBe(a.demoKey);
  expect(again.adminKey).toBe(a.adminKey);
  const captured = await client(again.api, again.demoKey).post(`/v1/payments/${pending.body.id}/capture`, {});
  expect(captured.body).toMatchObject({ status: 'captured', amount_captured: 1234 });
  expect(await stop(again)).toBe(0);
}, 180_000);

test('npm start refuses bad configuration with a clear message', async () => {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], { cwd: ROOT, env: { ...process.env, PORT: 'eighty', LOG_LEVEL: 'loud' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise((resolve) => proc.once('exit', resolve));
  expect(code).toBe(1);
  expect(out).toContain('Invalid configuration');
  expect(out).toMatch(/PORT/);
  expect(out).toMatch(/LOG_LEVEL/);
  expect(out).not.toMatch(/\n\s+at /); // no stack trace
});

test('npm start with TEMPORAL_ADDRESS and DATABASE_URL uses them and starts nothing embedded', async () => {
  const infra = readInfra();
  const dataDir = path.join(newTestDir(), 'external');
  const instance = await npmStart({
    DATA_DIR: dataDir, PORT: String(await freePort()), TEMPORAL_ADDRESS: infra.temporalAddress, DATABASE_URL: infra.databaseUrl,
    TEMPORAL_TASK_QUEUE: `external-${Date.now()}`,
  });
  running.push(instance);
  expect(instance.temporal).toBe(infra.temporalAddress);
  expect(instance.output()).not.toMatch(/^Server:\s+localhost/m); // no dev server banner
  expect(existsSync(path.join(dataDir, 'postgres'))).toBe(false);
  expect(existsSync(path.join(dataDir, 'temporal.db'))).toBe(false);
  // The embedded default lets webhooks reach a receiver on this machine.
  const shop = client(instance.api, instance.demoKey);
  const receiver = await startReceiver();
  try {
    const endpoint = await shop.post('/v1/webhook_endpoints', { url: receiver.url, events: ['payment.captured'] });
    expect(endpoint.status).toBe(201);
    const paid = await shop.post('/v1/payments', { amount: 250, currency: 'USD', payment_method: { type: 'card' } });
    expect(paid.body.status).toBe('captured');
    await eventually(async () => receiver.received.length, (n) => n === 1);
    expect(receiver.received[0]!.event).toMatchObject({ type: 'payment.captured', data: { object: { id: paid.body.id, status: 'captured' } } });
    const event = await eventually(async () => (await shop.get(`/v1/events/${receiver.received[0]!.event.id}`)).body, (e) => e.deliveries?.[0]?.status === 'succeeded');
    // The delivery is a workflow operators find in the UI by merchant.
    const { payloadKeys } = JSON.parse(readFileSync(path.join(dataDir, 'dev-secrets.json'), 'utf8'));
    const temporal = new Client({ connection: await Connection.connect({ address: infra.temporalAddress }), namespace: infra.namespace, dataConverter: encryptedDataConverter(new EncryptionCodec(parsePayloadKeys(payloadKeys))) });
    // The attempt is recorded just before the workflow completes.
    const delivery = await eventually(() => temporal.workflow.getHandle(`webhook-delivery:${event.deliveries[0].id}`).describe(), (d) => d.status.name === 'COMPLETED');
    expect(delivery.searchAttributes.MerchantId).toHaveLength(1);
    await temporal.connection.close();
  } finally {
    await receiver.close();
  }
  expect(await stop(instance)).toBe(0);
}, 120_000);

test('npm start logs JSON lines that carry the payment id, and /metrics adds the Temporal SDK worker metrics', async () => {
  const instance = await npmStart({ DATA_DIR: path.join(newTestDir(), 'observed'), LOG_LEVEL: 'info', ...(await ports()) });
  running.push(instance);
  const shop = client(instance.api, instance.demoKey);
  const p = (await shop.post('/v1/payments', { amount: 777, currency: 'USD', payment_method: { type: 'card' }, capture_method: 'manual' })).body;
  await shop.post(`/v1/payments/${p.id}/capture`, {});
  const metrics = await (await fetch(`${instance.api}/metrics`)).text();
  expect(metrics).toMatch(/^payments_by_status\{status="captured",provider="sandbox",method="card",mode="test"\} 1$/m);
  expect(metrics).toMatch(/^temporal_worker_task_slots_available\{/m);
  expect(metrics).toMatch(/^temporal_workflow_completed_total\{|^temporal_activity_execution_latency_bucket\{|^temporal_workflow_task_execution_latency_bucket\{/m);
  expect(await stop(instance)).toBe(0);

  const lines = instance.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const aboutPayment = lines.filter((l) => l.payment_id === p.id);
  expect(aboutPayment.filter((l) => l.msg === 'request').map((l) => [l.method, l.route, l.status])).toEqual([
    ['POST', '/v1/payments/', 201],
    ['POST', '/v1/payments/:id/capture', 200],
  ]);
  expect(aboutPayment.filter((l) => l.msg === 'payment status').map((l) => l.status)).toEqual(['pending', 'authorized', 'captured']);
  expect(aboutPayment.every((l) => typeof l.time === 'number' && typeof l.level === 'number')).toBe(true);
  expect(lines.some((l) => JSON.stringify(l).includes(instance.demoKey))).toBe(false);
}, 120_000);

test("the README's subscription walkthrough under npm start: a year of billing with a dunning episode in seconds, listed in the Temporal UI", async () => {
  const instance = await npmStart({ DATA_DIR: path.join(newTestDir(), 'billing'), ...(await ports()) });
  running.push(instance);
  const shop = client(instance.api, instance.demoKey);
  const jan31 = 1738281600;
  const clock = (await shop.post('/v1/test_clocks', { frozen_time: jan31 })).body;
  const customer = (await shop.post('/v1/customers', { email: 'ada@example.com', test_clock: clock.id })).body;
  const card = (await shop.post(`/v1/customers/${customer.id}/payment_methods`, { type: 'card', token: 'tok_ok' })).body;
  const create = () => shop.post('/v1/subscriptions', { customer_id: customer.id, price: { amount: 1990, currency: 'EUR', interval: 'month' } }, { 'Idempotency-Key': 'readme-sub' });
  let sub = await create();
  for (let tries = 1; sub.status === 503 && tries < 5; tries++) sub = await create();
  expect(sub.body).toMatchObject({ status: 'active', current_period_start: '2025-01-31T00:00:00.000Z', current_period_end: '2025-02-28T00:00:00.000Z' });
  // February's renewal meets an empty account; the card works again before the first retry.
  const poor = (await shop.post(`/v1/customers/${customer.id}/payment_methods`, { type: 'card', token: 'tok_insufficient_funds' })).body;
  await shop.post(`/v1/customers/${customer.id}`, { default_payment_method: poor.id });
  expect((await shop.post(`/v1/test_clocks/${clock.id}/advance`, { frozen_time: jan31 + 28 * 86_400 + 3600 })).body.status).toBe('ready');
  expect((await shop.get(`/v1/subscriptions/${sub.body.id}`)).body.status).toBe('past_due');
  await shop.post(`/v1/customers/${customer.id}`, { default_payment_method: card.id });
  expect((await shop.post(`/v1/test_clocks/${clock.id}/advance`, { frozen_time: 1769817600 })).body).toMatchObject({ status: 'ready', frozen_time: 1769817600 });
  const invoices = (await shop.get(`/v1/invoices?subscription_id=${sub.body.id}&limit=100`)).body.data;
  expect(invoices).toHaveLength(13);
  expect(invoices.every((i: { status: string; amount_paid: number }) => i.status === 'paid' && i.amount_paid === 1990)).toBe(true);
  expect(invoices.find((i: { period_start: string }) => i.period_start === '2025-02-28T00:00:00.000Z').attempt_count).toBe(2);
  // What an operator sees: the subscription's run, found by its id and status, through the UI's own API.
  const query = encodeURIComponent(`SubscriptionId = '${sub.body.id}' AND SubscriptionStatus = 'active' AND ExecutionStatus = 'Running'`);
  const listed = await eventually(async () => (await (await fetch(`${instance.ui}/api/v1/namespaces/default/workflows?query=${query}`)).json()) as { executions?: { execution: { workflowId: string } }[] },
    (r) => (r.executions?.length ?? 0) === 1);
  expect(listed.executions![0]!.execution.workflowId).toBe(`subscription:${sub.body.id}`);
  expect(await stop(instance)).toBe(0);
}, 180_000);
