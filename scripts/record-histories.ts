import { mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Runtime } from '@temporalio/worker';
import { configSchema } from '../config';
import { migrate } from '../db/migrate';
import { createLogger } from '../runtime/logger';
import { startServices } from '../runtime/services';
import { startDevTemporal } from './dev-temporal';
import { startEmbeddedPostgres } from './embedded-postgres';
import { freePort } from './ports';
import { FIXTURE_PAYLOAD_KEYS } from '../test/fixtures/keys';
import { startReceiver } from '../test/support/receiver';
import { paymentWorkflowId } from '../workflows/messages';
import { invoiceWorkflowId, subscriptionWorkflowId } from '../workflows/billing-messages';
import { receiptWorkflowId, webhookDeliveryWorkflowId } from '../workflows/notifications';
import { SMTPServer } from 'smtp-server';

/**
 * `npm run record-histories`: runs one payment per lifecycle path (plus a webhook delivery and a receipt) through the real stack and
 * saves each workflow history under test/fixtures/histories. test/replay.test.ts replays them
 * against the current workflow code, so a change that would break running payments fails CI.
 * Re-record only for a deliberate, `patched()`-guarded change. Payloads are encrypted with the
 * fixed fixture key.
 */
const OUT = path.resolve(__dirname, '..', 'test', 'fixtures', 'histories');

/** Scenarios whose history is not a payment's (a delivery, a subscription, an invoice, a receipt): kept under their own names. */
const NOT_PAYMENTS = new Set(['webhook-delivery-retried', 'subscription-first-run', 'subscription-invoice', 'receipt-sent']);

async function main() {
  Runtime.install({ shutdownSignals: [] });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'record-'));
  chmodSync(dir, 0o755);
  const db = await startEmbeddedPostgres(path.join(dir, 'pg'));
  const dev = await startDevTemporal({ dataDir: dir, port: await freePort(), uiPort: await freePort(), namespace: 'default' });
  const port = await freePort();
  // A merchant receiver that fails once, and a mail server that accepts everything.
  const receiver = await startReceiver((n) => ({ status: n === 1 ? 500 : 200 }));
  const smtpPort = await freePort();
  const smtp = new SMTPServer({ authOptional: true, disabledCommands: ['STARTTLS'], logger: false, onData: (stream, _s, done) => stream.on('data', () => {}).on('end', () => done()) });
  await new Promise<void>((resolve) => smtp.listen(smtpPort, '127.0.0.1', resolve));
  const config = configSchema.parse({
    PORT: String(port), ADMIN_API_KEY: 'record-admin-key-0123456789', PAYLOAD_ENCRYPTION_KEYS: FIXTURE_PAYLOAD_KEYS, LOG_LEVEL: 'warn',
    SANDBOX_CUSTOMER_DELAY_MS: '200', AUTHORIZATION_TTL_MS: '1500',
    WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8', WEBHOOK_FIRST_RETRY_MS: '500', SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
  });
  await migrate(db.url);
  const services = await startServices(config, { databaseUrl: db.url, temporalAddress: dev.address }, createLogger('warn'));
  const call = async (method: string, p: string, key: string, body?: unknown) => {
    const res = await fetch(`${services.url}${p}`, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return (await res.json()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  try {
    const merchant = await call('POST', '/v1/merchants', config.ADMIN_API_KEY!, { name: 'Fixtures' });
    const key = merchant.api_key as string;
    const card = (token: string, extra: object = {}) => ({ amount: 5000, currency: 'USD', payment_method: { type: 'card', token }, ...extra });
    const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const scenarios: Record<string, () => Promise<string>> = {
      'card-automatic-refunded': async () => {
        const p = await call('POST', '/v1/payments', key, card('tok_ok'));
        await call('POST', '/v1/refunds', key, { payment_id: p.id, amount: 1000 });
        await call('POST', '/v1/refunds', key, { payment_id: p.id });
        return p.id;
      },
      'card-manual-partial-capture': async () => {
        const p = await call('POST', '/v1/payments', key, card('tok_ok', { capture_method: 'manual' }));
        await call('POST', `/v1/payments/${p.id}/capture`, key, { amount: 3000 });
        await call('POST', '/v1/refunds', key, { payment_id: p.id });
        return p.id;
      },
      'card-declined': async () => (await call('POST', '/v1/payments', key, card('tok_decline'))).error.payment.id,
      'card-canceled': async () => {
        const p = await call('POST', '/v1/payments', key, card('tok_ok', { capture_method: 'manual' }));
        await call('POST', `/v1/payments/${p.id}/cancel`, key);
        return p.id;
      },
      'card-authorization-expired': async () => {
        const p = await call('POST', '/v1/payments', key, card('tok_ok', { capture_method: 'manual' }));
        await wait(2500);
        return p.id;
      },
      'card-timeout-recovered': async () => (await call('POST', '/v1/payments', key, card('tok_timeout'))).id,
      'card-refund-fails': async () => {
        const p = await call('POST', '/v1/payments', key, card('tok_refund_fails'));
        await call('POST', '/v1/refunds', key, { payment_id: p.id });
        return p.id;
      },
      'three-d-secure-completed': async () => {
        const p = await call('POST', '/v1/payments', key, card('tok_requires_action'));
        await call('POST', `/sandbox/payments/${p.id}/complete`, key);
        return p.id;
      },
      'wallet-paid-by-notification': async () => {
        const p = await call('POST', '/v1/payments', key, { amount: 8800, currency: 'CNY', payment_method: { type: 'alipay' }, channel: 'qr' });
        await wait(1500);
        return p.id;
      },
      'webhook-delivery-retried': async () => {
        const endpoint = await call('POST', '/v1/webhook_endpoints', key, { url: receiver.url, events: ['payment.captured'] });
        const p = await call('POST', '/v1/payments', key, card('tok_ok'));
        await wait(2500);
        const events = await call('GET', `/v1/events?object_id=${p.id}&type=payment.captured`, key);
        await call('DELETE', `/v1/webhook_endpoints/${endpoint.id}`, key);
        return webhookDeliveryWorkflowId(events.data[0].deliveries[0].id);
      },
      // Since modes and routing: a provider that surely did nothing (503 not processed) is tried again after a pause.
      'card-flaky-not-processed': async () => (await call('POST', '/v1/payments', key, card('tok_flaky'))).id,
      // Since the paid-notification check: the customer's payment is confirmed with the provider before it moves.
      'wallet-paid-confirmed': async () => {
        const p = await call('POST', '/v1/payments', key, { amount: 6600, currency: 'CNY', payment_method: { type: 'alipay' }, channel: 'qr' });
        await wait(1500);
        return p.id;
      },
      // Since refund reversals: a wholly refunded payment stays open for its refund window.
      'card-refunded-stays-open': async () => {
        const p = await call('POST', '/v1/payments', key, card('tok_ok'));
        await call('POST', '/v1/refunds', key, { payment_id: p.id });
        return p.id;
      },
      // A subscription's first run: its first invoice, an upgrade with prorations, a pause and a
      // resume, then a renewal declined (it continues as new there).
      'subscription-first-run': async () => {
        const mar1 = Date.UTC(2025, 2, 1) / 1000;
        const clock = await call('POST', '/v1/test_clocks', key, { frozen_time: mar1 });
        const customer = await call('POST', '/v1/customers', key, { test_clock: clock.id });
        await call('POST', `/v1/customers/${customer.id}/payment_methods`, key, { type: 'card', token: 'tok_ok' });
        const sub = await call('POST', '/v1/subscriptions', key, { customer_id: customer.id, price: { amount: 3100, currency: 'USD', interval: 'month' } });
        await call('POST', `/v1/test_clocks/${clock.id}/advance`, key, { frozen_time: mar1 + 15 * 86_400 });
        await call('POST', `/v1/subscriptions/${sub.id}`, key, { price: { amount: 6200, currency: 'USD', interval: 'month' } });
        await call('POST', `/v1/subscriptions/${sub.id}/pause`, key, { behavior: 'keep_as_draft' });
        await call('POST', `/v1/subscriptions/${sub.id}/resume`, key);
        const poor = await call('POST', `/v1/customers/${customer.id}/payment_methods`, key, { type: 'card', token: 'tok_insufficient_funds' });
        await call('POST', `/v1/customers/${customer.id}`, key, { default_payment_method: poor.id });
        await call('POST', `/v1/test_clocks/${clock.id}/advance`, key, { frozen_time: Date.UTC(2025, 3, 1) / 1000 + 60 });
        const runs = [];
        for await (const run of services.context.temporal.workflow.list({ query: `WorkflowId = '${subscriptionWorkflowId(sub.id)}'` })) runs.push(run);
        const first = runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime())[0]!;
        return `${subscriptionWorkflowId(sub.id)}@${first.runId}`;
      },
      // The period's invoice, charged by its child workflow.
      'subscription-invoice': async () => {
        const customer = await call('POST', '/v1/customers', key, {});
        await call('POST', `/v1/customers/${customer.id}/payment_methods`, key, { type: 'card', token: 'tok_ok' });
        const sub = await call('POST', '/v1/subscriptions', key, { customer_id: customer.id, price: { amount: 1000, currency: 'EUR', interval: 'week' } });
        return invoiceWorkflowId(sub.id, 1);
      },
      'receipt-sent': async () => {
        const p = await call('POST', '/v1/payments', key, card('tok_ok', { receipt_email: 'payer@example.com' }));
        await wait(1500);
        const events = await call('GET', `/v1/events?object_id=${p.id}&type=payment.captured`, key);
        return receiptWorkflowId(events.data[0].id);
      },
    };
    // Since refunds are accepted at once (`refunds-accepted-at-once`): three at the same time, sent one after another.
    scenarios['card-refunds-queued'] = async () => {
      const p = await call('POST', '/v1/payments', key, card('tok_ok'));
      await Promise.all([1000, 1500, 2500].map((amount) => call('POST', '/v1/refunds', key, { payment_id: p.id, amount })));
      return p.id;
    };
    // Held for review, then approved: the risk check's outcome read from the payment's first local activity.
    scenarios['card-reviewed-approved'] = async () => {
      await call('POST', '/v1/risk/rules', key, { rules: [{ if: { amount_gte: 4_200, amount_lt: 4_300 }, action: 'review' }] });
      const p = await call('POST', '/v1/payments', key, { ...card('tok_ok'), amount: 4_242 });
      await call('POST', `/v1/payments/${p.id}/review`, key, { decision: 'approve', reason: 'Known customer' });
      await call('POST', '/v1/risk/rules', key, { rules: [] });
      return p.id;
    };
    // Payments start as paymentWorkflowV7, so a payment recorded now is a V7 run, kept as
    // `v7-<name>`. Unprefixed, `v2-*` to `v6-*` payment files are paymentWorkflow and V2 to V6
    // runs, recorded while payments started as those types; they are never rewritten: they are
    // what proves that payments begun by older code still replay.
    const recordable = Object.fromEntries(Object.entries(scenarios).map(([name, run]) => [NOT_PAYMENTS.has(name) ? name : `v7-${name}`, run]));
    // `--only a,b` records those; without it, every scenario. Other files are kept either way.
    const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
    mkdirSync(OUT, { recursive: true });
    for (const [name, run] of Object.entries(recordable).filter(([n]) => !only || only.includes(n))) {
      const id = await run();
      await wait(500);
      const [workflowId, runId] = id.split('@') as [string, string | undefined];
      const history = await services.context.temporal.workflow.getHandle(workflowId.includes(':') ? workflowId : paymentWorkflowId(workflowId), runId).fetchHistory();
      // Binary protobuf: exact, including the encrypted payload bytes.
      writeFileSync(path.join(OUT, `${name}.history.pb`), temporal.api.history.v1.History.encode(history).finish());
      console.log(`recorded ${name} (${history.events?.length} events)`);
    }
  } finally {
    await receiver.close();
    smtp.close();
    await services.stop();
    await dev.stop();
    await db.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
