import { connect } from 'node:net';
import { signPayload } from '../domain/signature';
import type { Receiver } from './support/receiver';
import { readmeVerifier, startReceiver } from './support/receiver';
import type { Client } from './support/stack';
import { card, eventually, newMerchant, useTestStack } from './support/stack';

// A short retry schedule: 150 ms doubling to 600 ms, for 3 s; 800 ms per attempt.
const stack = useTestStack({
  WEBHOOK_TIMEOUT_MS: '800',
  WEBHOOK_FIRST_RETRY_MS: '150',
  WEBHOOK_MAX_RETRY_MS: '600',
  WEBHOOK_RETRY_WINDOW_MS: '3000',
});
const verify = readmeVerifier();
const receivers: Receiver[] = [];
afterAll(async () => {
  for (const r of receivers) await r.close();
});
const receiver = async (...args: Parameters<typeof startReceiver>) => {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
};

const pay = (api: Client, extra: object = {}) => api.post('/v1/payments', { amount: 2500, currency: 'USD', payment_method: card(), ...extra });
const eventOf = async (api: Client, objectId: string, type: string) => {
  const list = await eventually(async () => (await api.get(`/v1/events?object_id=${objectId}&type=${type}`)).body, (b) => b.data?.length === 1);
  return list.data[0];
};
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the API's JSON
type EventView = any;
const delivered = (api: Client, eventId: string, check: (e: EventView) => boolean, timeoutMs = 20_000): Promise<EventView> =>
  eventually(async () => (await api.get(`/v1/events/${eventId}`)).body, check, timeoutMs);

test('every transition emits exactly one event, newest first, with increasing sequence and a snapshot of the object', async () => {
  const m = await newMerchant(stack());
  const p = (await pay(m.api, { capture_method: 'manual' })).body;
  expect(p.status).toBe('authorized');
  expect((await m.api.post(`/v1/payments/${p.id}/capture`, { amount: 2000 })).body.status).toBe('captured');
  const r1 = (await m.api.post('/v1/refunds', { payment_id: p.id, amount: 500 })).body;
  const r2 = (await m.api.post('/v1/refunds', { payment_id: p.id })).body;
  const declined = (await pay(m.api, { payment_method: card('tok_decline') })).body.error.payment;
  const canceled = (await m.api.post(`/v1/payments/${(await pay(m.api, { capture_method: 'manual' })).body.id}/cancel`)).body;

  const forPayment = (await m.api.get(`/v1/events?object_id=${p.id}`)).body;
  expect(forPayment.data.map((e: { type: string }) => e.type)).toEqual(['payment.captured', 'payment.authorized']);
  const [captured, authorized] = forPayment.data;
  expect(captured.sequence).toBeGreaterThan(authorized.sequence);
  expect(captured).toMatchObject({ object: 'event', object_id: p.id, data: { object: { id: p.id, status: 'captured', amount_captured: 2000 } } });
  expect(authorized.data.object).toMatchObject({ status: 'authorized', amount_capturable: 2500 });
  expect(captured.id).toMatch(/^evt_/);

  const refundEvents = (await m.api.get('/v1/events?type=refund.*')).body.data;
  expect(refundEvents.map((e: { object_id: string; type: string }) => [e.object_id, e.type])).toEqual([[r2.id, 'refund.succeeded'], [r1.id, 'refund.succeeded']]);
  expect(refundEvents[1].data.object).toMatchObject({ object: 'refund', amount: 500, payment_id: p.id, status: 'succeeded' });
  expect((await m.api.get(`/v1/events?object_id=${declined.id}`)).body.data.map((e: { type: string }) => e.type)).toEqual(['payment.failed']);
  expect((await m.api.get(`/v1/events?object_id=${canceled.id}`)).body.data.map((e: { type: string }) => e.type)).toEqual(['payment.canceled', 'payment.authorized']);

  const all = (await m.api.get('/v1/events?limit=100')).body.data;
  expect(all).toHaveLength(7); // 2 + 2 refunds + 1 failed + 2 for the canceled one
  expect(new Set(all.map((e: { id: string }) => e.id)).size).toBe(7);
  const page1 = (await m.api.get('/v1/events?limit=3')).body;
  const page2 = (await m.api.get(`/v1/events?limit=3&starting_after=${page1.data[2].id}`)).body;
  expect(page1.has_more).toBe(true);
  expect([...page1.data, ...page2.data].map((e: { id: string }) => e.id)).toEqual(all.slice(0, 6).map((e: { id: string }) => e.id));
  expect((await m.api.get(`/v1/events/${captured.id}`)).body).toMatchObject({ id: captured.id, deliveries: [], attempts: [] });
});

test('a receiver failing twice gets the event on the third attempt; every attempt is recorded and correctly signed', async () => {
  const m = await newMerchant(stack());
  const r = await receiver((n) => ({ status: n <= 2 ? (n === 1 ? 500 : 503) : 200 }));
  const endpoint = (await m.api.post('/v1/webhook_endpoints', { url: r.url, events: ['payment.captured'] })).body;
  expect(endpoint).toMatchObject({ object: 'webhook_endpoint', url: r.url, events: ['payment.captured'], status: 'enabled' });
  expect(endpoint.secret).toMatch(/^whsec_/);
  expect((await m.api.get(`/v1/webhook_endpoints/${endpoint.id}`)).body.secret).toBeUndefined();

  const p = (await pay(m.api)).body;
  const event = await eventOf(m.api, p.id, 'payment.captured');
  const done = await delivered(m.api, event.id, (e) => e.deliveries[0]?.status === 'succeeded');
  expect(done.deliveries).toEqual([expect.objectContaining({ endpoint_id: endpoint.id, reason: 'event', attempt_count: 3, next_attempt_at: null })]);
  expect(done.attempts.map((a: { status_code: number }) => a.status_code)).toEqual([500, 503, 200]);
  expect(done.attempts[0].error).toContain('HTTP 500');
  expect(done.attempts[2].error).toBeNull();

  const metrics = await (await fetch(`${stack().url}/metrics`)).text();
  expect(Number(/payments_webhook_delivery_attempts_total\{outcome="rejected"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2);
  expect(Number(/payments_webhook_delivery_attempts_total\{outcome="delivered"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
  expect(r.received).toHaveLength(3);
  for (const d of r.received) {
    expect(d.event).toEqual({ id: event.id, object: 'event', livemode: false, type: 'payment.captured', object_id: p.id, sequence: event.sequence, data: event.data, created_at: event.created_at });
    expect(verify(d.raw, d.headers['payment-signature'] as string, endpoint.secret)).toBe(true);
  }
  // Only payment.captured was subscribed: nothing else arrived, and nothing arrives twice later.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  expect(r.received).toHaveLength(3);
});

test('signatures: a tampered body, a wrong secret or an old timestamp fail the README verifier', async () => {
  const m = await newMerchant(stack());
  const r = await receiver();
  const endpoint = (await m.api.post('/v1/webhook_endpoints', { url: r.url })).body;
  await pay(m.api);
  await eventually(async () => r.received.length, (n) => n === 1);
  const { raw, headers } = r.received[0]!;
  const header = headers['payment-signature'] as string;
  expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
  expect(verify(raw, header, endpoint.secret)).toBe(true);
  expect(verify(Buffer.from(raw), header, endpoint.secret)).toBe(true);
  expect(verify(raw.replace('"amount":2500', '"amount":1'), header, endpoint.secret)).toBe(false);
  expect(verify(raw, header, 'whsec_wrong')).toBe(false);
  const old = Math.floor(Date.now() / 1000) - 3600;
  expect(verify(raw, signPayload(endpoint.secret, raw, old), endpoint.secret)).toBe(false);
  expect(verify(raw, 'garbage', endpoint.secret)).toBe(false);
});

test('two endpoints with different filters each get only what they subscribed to', async () => {
  const m = await newMerchant(stack());
  const payments = await receiver();
  const refunds = await receiver();
  await m.api.post('/v1/webhook_endpoints', { url: payments.url, events: ['payment.*'] });
  await m.api.post('/v1/webhook_endpoints', { url: refunds.url, events: ['refund.succeeded'] });
  const p = (await pay(m.api, { capture_method: 'manual' })).body;
  await m.api.post(`/v1/payments/${p.id}/capture`);
  const refund = (await m.api.post('/v1/refunds', { payment_id: p.id, amount: 100 })).body;
  await eventually(async () => payments.received.length + refunds.received.length, (n) => n === 3);
  expect(payments.received.map((d) => d.event.type).sort()).toEqual(['payment.authorized', 'payment.captured']);
  expect(refunds.received.map((d) => [d.event.type, d.event.data.object.id])).toEqual([['refund.succeeded', refund.id]]);
});

test('a receiver slower than the timeout: the attempt is recorded as timed out and retried', async () => {
  const m = await newMerchant(stack());
  const r = await receiver((n) => ({ status: 200, delayMs: n === 1 ? 2500 : 0 }));
  await m.api.post('/v1/webhook_endpoints', { url: r.url, events: ['payment.captured'] });
  const p = (await pay(m.api)).body;
  const event = await eventOf(m.api, p.id, 'payment.captured');
  const done = await delivered(m.api, event.id, (e) => e.deliveries[0]?.status === 'succeeded');
  expect(done.attempts).toHaveLength(2);
  expect(done.attempts[0]).toMatchObject({ status_code: null, error: expect.stringContaining('timed out') });
  expect(done.attempts[0].latency_ms).toBeGreaterThanOrEqual(700);
  expect(done.attempts[1]).toMatchObject({ status_code: 200, error: null });
});

test('a receiver down for the whole schedule: the delivery fails, the endpoint is disabled, and the merchant is told', async () => {
  const m = await newMerchant(stack());
  const dead = await receiver(() => ({ status: 500 }));
  const watcher = await receiver();
  const failing = (await m.api.post('/v1/webhook_endpoints', { url: dead.url, events: ['payment.*'] })).body;
  await m.api.post('/v1/webhook_endpoints', { url: watcher.url, events: ['webhook_endpoint.disabled'] });
  const p = (await pay(m.api)).body;
  const event = await eventOf(m.api, p.id, 'payment.captured');

  const done = await delivered(m.api, event.id, (e) => ['failed', 'succeeded'].includes(e.deliveries[0]?.status), 30_000);
  expect(done.deliveries[0]).toMatchObject({ status: 'failed', next_attempt_at: null });
  expect(done.attempts.length).toBeGreaterThanOrEqual(4);
  expect(done.attempts.every((a: { status_code: number }) => a.status_code === 500)).toBe(true);

  const endpoint = await eventually(async () => (await m.api.get(`/v1/webhook_endpoints/${failing.id}`)).body, (e) => e.status === 'disabled');
  expect(endpoint.disabled_reason).toMatch(/No delivery succeeded/);
  await eventually(async () => watcher.received.length, (n) => n === 1);
  expect(watcher.received[0]!.event).toMatchObject({ type: 'webhook_endpoint.disabled', object_id: failing.id, data: { object: { id: failing.id, status: 'disabled' } } });
  expect(watcher.received[0]!.event.data.object.secret_sealed).toBeUndefined();

  // Disabled: later events are not sent to it; re-enabled, they are again.
  const attemptsSoFar = dead.received.length;
  const later = (await pay(m.api)).body;
  await eventOf(m.api, later.id, 'payment.captured');
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(dead.received).toHaveLength(attemptsSoFar);
  expect((await m.api.post(`/v1/webhook_endpoints/${failing.id}`, { status: 'enabled' })).body).toMatchObject({ status: 'enabled', disabled_reason: null });
}, 60_000);

test('resend delivers an event again, once per Idempotency-Key', async () => {
  const m = await newMerchant(stack());
  const r = await receiver();
  const endpoint = (await m.api.post('/v1/webhook_endpoints', { url: r.url, events: ['payment.captured'] })).body;
  const p = (await pay(m.api)).body;
  const event = await eventOf(m.api, p.id, 'payment.captured');
  await eventually(async () => r.received.length, (n) => n === 1);

  // No body at all (curl -X POST): every field is optional.
  const bare = await fetch(`${stack().url}/v1/webhook_endpoints/${endpoint.id}/rotate_secret`, { method: 'POST', headers: { authorization: `Bearer ${m.key}` } });
  expect(bare.status).toBe(200);
  // fetch sends `content-length: 0`; curl -X POST sends no length at all.
  const url = new URL(stack().url);
  const noLength = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () =>
      socket.write(`POST /v1/webhook_endpoints/${endpoint.id}/rotate_secret HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${m.key}\r\nConnection: close\r\n\r\n`));
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString()));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
  expect(noLength).toMatch(/^HTTP\/1\.1 200 /);
  const resent = await m.api.raw('POST', `/v1/events/${event.id}/resend`, undefined, { 'Idempotency-Key': `resend-${event.id}` });
  expect(resent.status).toBe(200);
  expect(resent.body.deliveries.map((d: { reason: string }) => d.reason)).toEqual(['event', 'resend']);
  const again = await m.api.post(`/v1/events/${event.id}/resend`, {}, { 'Idempotency-Key': `resend-${event.id}` });
  expect(again.status).toBe(200);
  await eventually(async () => r.received.length, (n) => n === 2);
  await delivered(m.api, event.id, (e) => e.deliveries.length === 2 && e.deliveries.every((d: { status: string }) => d.status === 'succeeded'));
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(r.received.map((d) => d.event.id)).toEqual([event.id, event.id]);

  // To one named endpoint; a deleted endpoint is gone, and with none left there is nothing to resend to.
  expect((await m.api.post(`/v1/events/${event.id}/resend`, { endpoint_id: endpoint.id })).status).toBe(200);
  await eventually(async () => r.received.length, (n) => n === 3);
  expect((await m.api.raw('DELETE', `/v1/webhook_endpoints/${endpoint.id}`)).body).toEqual({ id: endpoint.id, object: 'webhook_endpoint', deleted: true });
  expect((await m.api.get(`/v1/webhook_endpoints/${endpoint.id}`)).status).toBe(404);
  const none = await m.api.post(`/v1/events/${event.id}/resend`);
  expect(none.status).toBe(409);
  expect(none.body.error.type).toBe('invalid_state');
});

test('rotating a secret: during the overlap both the new and the old secret verify a delivery', async () => {
  const m = await newMerchant(stack());
  const r = await receiver();
  const endpoint = (await m.api.post('/v1/webhook_endpoints', { url: r.url, events: ['payment.captured'] })).body;
  const rotated = (await m.api.post(`/v1/webhook_endpoints/${endpoint.id}/rotate_secret`, { overlap_seconds: 3600 })).body;
  expect(rotated.secret).toMatch(/^whsec_/);
  expect(rotated.secret).not.toBe(endpoint.secret);
  await pay(m.api);
  await eventually(async () => r.received.length, (n) => n === 1);
  const { raw, headers } = r.received[0]!;
  expect((headers['payment-signature'] as string).split(',').filter((p) => p.startsWith('v1='))).toHaveLength(2);
  expect(verify(raw, headers['payment-signature'] as string, rotated.secret)).toBe(true);
  expect(verify(raw, headers['payment-signature'] as string, endpoint.secret)).toBe(true);

  // With no overlap the old secret stops signing at once.
  const again = (await m.api.post(`/v1/webhook_endpoints/${endpoint.id}/rotate_secret`, { overlap_seconds: 0 })).body;
  await pay(m.api);
  await eventually(async () => r.received.length, (n) => n === 2);
  const second = r.received[1]!;
  expect(verify(second.raw, second.headers['payment-signature'] as string, again.secret)).toBe(true);
  expect(verify(second.raw, second.headers['payment-signature'] as string, rotated.secret)).toBe(false);
  const stored = await stack().pool.query('SELECT secret_sealed FROM webhook_endpoints WHERE id = $1', [endpoint.id]);
  expect(stored.rows[0].secret_sealed).not.toContain(again.secret.slice(6));
});

test("another merchant's endpoints and events are invisible", async () => {
  const a = await newMerchant(stack(), 'A');
  const b = await newMerchant(stack(), 'B');
  const r = await receiver();
  const endpoint = (await a.api.post('/v1/webhook_endpoints', { url: r.url })).body;
  const p = (await pay(a.api)).body;
  const event = await eventOf(a.api, p.id, 'payment.captured');
  expect((await b.api.get(`/v1/events/${event.id}`)).status).toBe(404);
  expect((await b.api.post(`/v1/events/${event.id}/resend`)).status).toBe(404);
  expect((await b.api.get(`/v1/events?object_id=${p.id}`)).body.data).toEqual([]);
  expect((await b.api.get('/v1/events')).body.data).toEqual([]);
  expect((await b.api.get(`/v1/webhook_endpoints/${endpoint.id}`)).status).toBe(404);
  expect((await b.api.post(`/v1/webhook_endpoints/${endpoint.id}`, { status: 'disabled' })).status).toBe(404);
  expect((await b.api.post(`/v1/webhook_endpoints/${endpoint.id}/rotate_secret`)).status).toBe(404);
  expect((await b.api.raw('DELETE', `/v1/webhook_endpoints/${endpoint.id}`)).status).toBe(404);
  expect((await b.api.get('/v1/webhook_endpoints')).body.data).toEqual([]);
  expect((await a.api.get('/v1/webhook_endpoints')).body.data.map((e: { id: string }) => e.id)).toEqual([endpoint.id]);
  // B's own endpoint never hears about A's payments.
  const bReceiver = await receiver();
  await b.api.post('/v1/webhook_endpoints', { url: bReceiver.url });
  await pay(a.api);
  await eventually(async () => r.received.length, (n) => n === 2);
  expect(bReceiver.received).toHaveLength(0);
});

test('SSRF: endpoint URLs into private, link-local or reserved networks are refused (403); bad input is a clear 400', async () => {
  const m = await newMerchant(stack());
  // Well-formed, but where this deployment may not call: refused by policy (403).
  for (const url of ['http://10.0.0.5/hook', 'http://169.254.169.254/latest/meta-data', 'http://192.168.1.10/', 'http://0.0.0.0/', 'http://100.64.0.1/']) {
    const res = await m.api.post('/v1/webhook_endpoints', { url });
    expect([url, res.status, res.body.error?.type, res.body.error?.param, res.body.error?.code]).toEqual([url, 403, 'permission_error', 'url', 'url_not_allowed']);
  }
  // Malformed by the document's pattern (IPv6 literals included): 400.
  for (const url of ['ftp://example.com/x', 'not a url', 'http://user:pw@127.0.0.1/', 'http://[fe80::1]/x', 'http://999.1.1.1/']) {
    expect((await m.api.post('/v1/webhook_endpoints', { url })).body.error).toMatchObject({ type: 'invalid_request_error', param: 'url' });
  }
  expect((await m.api.post('/v1/webhook_endpoints', {})).body.error).toMatchObject({ code: 'parameter_missing', param: 'url' });
  expect((await m.api.post('/v1/webhook_endpoints', { url: 'http://127.0.0.1:9/x', events: ['payment.exploded'] })).body.error).toMatchObject({ param: 'events.0' });
  expect((await m.api.post('/v1/webhook_endpoints', { url: 'http://127.0.0.1:9/x', events: [] })).status).toBe(400);
  expect((await m.api.get('/v1/events?type=nope')).body.error).toMatchObject({ param: 'type' });
  expect((await m.api.get('/v1/events/evt_unknown')).status).toBe(404);
  expect((await m.api.get('/v1/webhook_endpoints')).body.data).toEqual([]);
});

test('the outbox sweep delivers events and deliveries a crash left unstarted', async () => {
  const m = await newMerchant(stack());
  const r = await receiver();
  const endpoint = (await m.api.post('/v1/webhook_endpoints', { url: r.url, events: ['payment.captured'] })).body;
  const p = (await pay(m.api)).body;
  await eventually(async () => r.received.length, (n) => n === 1);
  // As if the process died right after committing: one event never dispatched, one delivery never started.
  const orphan = { id: `evt_orphan${Date.now()}`, data: { ...r.received[0]!.event.data.object, id: p.id } };
  await stack().pool.query(
    `INSERT INTO events (id, merchant_id, type, object_id, data, created_at) VALUES ($1, $2, 'payment.captured', $3, $4, now() - interval '1 minute')`,
    [orphan.id, m.id, p.id, JSON.stringify(orphan.data)],
  );
  await stack().pool.query(
    `INSERT INTO webhook_deliveries (id, event_id, endpoint_id, merchant_id, reason, created_at) VALUES ($1, $2, $3, $4, 'resend', now() - interval '1 minute')`,
    [`whd_orphan${Date.now()}`, r.received[0]!.event.id, endpoint.id, m.id],
  );
  // At least these two: the database is every file's, and a file that killed its worker may have left some too.
  expect(await stack().context.dispatcher.sweep()).toBeGreaterThanOrEqual(2);
  await eventually(async () => r.received.map((d) => d.event.id).sort(), (ids) => ids.length === 3);
  expect(r.received.map((d) => d.event.id).filter((id) => id === orphan.id)).toHaveLength(1);
  // Nothing of this merchant is left behind: every event dispatched, every delivery started.
  const left = await stack().pool.query(
    `SELECT (SELECT count(*) FROM events WHERE merchant_id = $1 AND dispatched_at IS NULL)::int AS events,
            (SELECT count(*) FROM webhook_deliveries WHERE merchant_id = $1 AND started_at IS NULL)::int AS deliveries`,
    [m.id],
  );
  expect(left.rows[0]).toEqual({ events: 0, deliveries: 0 });
});

test('a merchant without endpoints: events are recorded as dispatched with no delivery; the first endpoint gets the events after it', async () => {
  const m = await newMerchant(stack());
  const before = (await pay(m.api)).body;
  expect(before.status).toBe('captured');
  const early = await eventually(
    () => stack().pool.query(`SELECT type, dispatched_at IS NOT NULL AS dispatched, dispatched_at <= created_at AS in_same_transaction FROM events WHERE object_id = $1 ORDER BY sequence`, [before.id]),
    (res) => res.rows.some((e) => e.type === 'payment.captured'),
  );
  expect(early.rows.every((e) => e.dispatched)).toBe(true);
  // Marked in the transaction that recorded them (its now() precedes the insert), not by a dispatch after it.
  expect(early.rows.every((e) => e.in_same_transaction)).toBe(true);
  expect((await stack().pool.query('SELECT count(*)::int AS n FROM webhook_deliveries WHERE merchant_id = $1', [m.id])).rows[0].n).toBe(0);
  // The events are still listed, and can be resent once there is an endpoint.
  expect((await m.api.get(`/v1/events?object_id=${before.id}`)).body.data.length).toBe(early.rows.length);
  const r = await receiver();
  await m.api.post('/v1/webhook_endpoints', { url: r.url, events: ['payment.captured'] });
  const after = (await pay(m.api)).body;
  await eventually(async () => r.received.map((d) => d.event.data.object.id), (ids) => ids.length === 1);
  expect(r.received[0]!.event.data.object.id).toBe(after.id);
});
