import type { Receiver } from './support/receiver';
import { startReceiver } from './support/receiver';
import type { TestStack } from './support/stack';
import { card, newMerchant, startTestStack } from './support/stack';

type OtlpSpan = { traceId: string; spanId: string; parentSpanId?: string; name: string };

// A real OTLP/HTTP collector stand-in: it records what the exporter sends.
let collector: Receiver;
let stack: TestStack | undefined;
beforeAll(async () => {
  collector = await startReceiver();
});
afterAll(async () => {
  await stack?.stop();
  await collector.close();
});

const spans = (): OtlpSpan[] =>
  collector.received.flatMap((d) => (d.event?.resourceSpans ?? []) as { scopeSpans: { spans: OtlpSpan[] }[] }[]).flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));

test('one trace runs from the HTTP request through the payment workflow and its activities', async () => {
  stack = await startTestStack({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: collector.url.replace(/\/hook$/, '') }, { prebuiltBundle: false });
  const m = await newMerchant(stack);
  const p = (await m.api.post('/v1/payments', { amount: 1200, currency: 'USD', payment_method: card() })).body;
  expect(p.status).toBe('captured');
  await stack.stop(); // flushes the exporter
  stack = undefined;

  expect(collector.received.every((d) => d.headers['content-type']?.startsWith('application/json'))).toBe(true);
  const all = spans();
  const request = all.find((s) => s.name === 'POST /v1/payments/');
  expect(request).toBeDefined();
  const trace = all.filter((s) => s.traceId === request!.traceId).map((s) => s.name);
  expect(trace).toEqual(expect.arrayContaining([
    'POST /v1/payments/',
    'UpdateWithStartWorkflow:createPayment',
    // Spans made inside the workflow (it stays open for refunds, so its own RunWorkflow span is not finished yet).
    'StartActivity:authorizeAtProvider',
    'RunActivity:authorizeAtProvider',
  ]));
  // Captured in the authorizing call, which writes the capture too: no capture activity, no write after it.
  expect(trace).not.toContain('RunActivity:captureAtProvider');
  expect(trace).not.toContain('RunActivity:recordPayment');
  // The opening write and the risk check are the authorizing call's first steps: no local activity before it.
  expect(trace).not.toContain('RunActivity:openPayment');
  // Other requests are other traces.
  const merchantCreation = all.find((s) => s.name === 'POST /v1/merchants/');
  expect(merchantCreation?.traceId).not.toBe(request!.traceId);
}, 90_000);
