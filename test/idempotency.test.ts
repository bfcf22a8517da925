import { idempotent, sweepIdempotencyKeys } from '../api/middleware/idempotency';
import { ADMIN_KEY, card, client, eventually, newMerchant, useTestStack } from './support/stack';

const stack = useTestStack();

const body = { amount: 2599, currency: 'USD', payment_method: card() };

test('same Idempotency-Key and body: same payment, charged once', async () => {
  const m = await newMerchant(stack());
  const first = await m.api.post('/v1/payments', body, { 'Idempotency-Key': 'order-1' });
  const second = await m.api.post('/v1/payments', body, { 'Idempotency-Key': 'order-1' });
  expect(first.status).toBe(201);
  expect(second.status).toBe(201);
  expect(second.body.id).toBe(first.body.id);
  expect(second.body.status).toBe('captured');
  expect((await m.api.get('/v1/payments')).body.data).toHaveLength(1);
  const charges = (await m.api.get(`/sandbox/charges?payment_id=${first.body.id}`)).body.data;
  expect(charges.map((c: { operation: string }) => c.operation)).toEqual(['authorize', 'capture']);
});

test('same key with a different body answers 409 idempotency_key_reused', async () => {
  const m = await newMerchant(stack());
  await m.api.post('/v1/payments', body, { 'Idempotency-Key': 'order-2' });
  const reused = await m.api.post('/v1/payments', { ...body, amount: 2600 }, { 'Idempotency-Key': 'order-2' });
  expect(reused.status).toBe(409);
  expect(reused.body.error).toMatchObject({ type: 'idempotency_error', code: 'idempotency_key_reused' });
  expect((await m.api.get('/v1/payments')).body.data).toHaveLength(1);
});

test('concurrent requests with the same key create one payment', async () => {
  const m = await newMerchant(stack());
  const answers = await Promise.all(Array.from({ length: 8 }, () => m.api.post('/v1/payments', body, { 'Idempotency-Key': 'order-3' })));
  const ok = answers.filter((a) => a.status === 201);
  expect(ok.length).toBeGreaterThanOrEqual(1);
  expect(answers.every((a) => a.status === 201 || (a.status === 409 && a.body.error.type === 'idempotency_error'))).toBe(true);
  expect(new Set(ok.map((a) => a.body.id)).size).toBe(1);
  const list = (await m.api.get('/v1/payments')).body.data;
  expect(list).toHaveLength(1);
  const charges = (await m.api.get(`/sandbox/charges?payment_id=${list[0].id}`)).body.data;
  expect(charges.map((c: { operation: string }) => c.operation)).toEqual(['authorize', 'capture']);
});

test('keys are per merchant: the same key at two merchants makes two payments', async () => {
  const a = await newMerchant(stack());
  const b = await newMerchant(stack());
  const pa = await a.api.post('/v1/payments', body, { 'Idempotency-Key': 'shared-key' });
  const pb = await b.api.post('/v1/payments', body, { 'Idempotency-Key': 'shared-key' });
  expect(pa.body.id).not.toBe(pb.body.id);
});

test('a declined payment replays as the same 402', async () => {
  const m = await newMerchant(stack());
  const declined = { ...body, payment_method: card('tok_decline') };
  const first = await m.api.post('/v1/payments', declined, { 'Idempotency-Key': 'order-4' });
  const second = await m.api.post('/v1/payments', declined, { 'Idempotency-Key': 'order-4' });
  expect(first.status).toBe(402);
  expect(second.status).toBe(402);
  expect(second.body.error.payment.id).toBe(first.body.error.payment.id);
});

test('refunds with the same key refund once', async () => {
  const m = await newMerchant(stack());
  const p = await m.api.post('/v1/payments', body);
  const r1 = await m.api.post('/v1/refunds', { payment_id: p.body.id, amount: 100 }, { 'Idempotency-Key': 'refund-1' });
  const r2 = await m.api.post('/v1/refunds', { payment_id: p.body.id, amount: 100 }, { 'Idempotency-Key': 'refund-1' });
  expect(r2.body.id).toBe(r1.body.id);
  expect((await m.api.get(`/v1/payments/${p.body.id}`)).body.amount_refunded).toBe(100);
  const concurrent = await Promise.all(Array.from({ length: 5 }, () => m.api.post('/v1/refunds', { payment_id: p.body.id, amount: 50 }, { 'Idempotency-Key': 'refund-2' })));
  expect(new Set(concurrent.filter((a) => a.status === 201).map((a) => a.body.id)).size).toBe(1);
  expect((await m.api.get(`/v1/payments/${p.body.id}`)).body.amount_refunded).toBe(150);
});

test('capture with the same key twice captures once and answers the same payment', async () => {
  const m = await newMerchant(stack());
  const p = await m.api.post('/v1/payments', { ...body, capture_method: 'manual' });
  const c1 = await m.api.post(`/v1/payments/${p.body.id}/capture`, { amount: 1000 }, { 'Idempotency-Key': 'cap-1' });
  const c2 = await m.api.post(`/v1/payments/${p.body.id}/capture`, { amount: 1000 }, { 'Idempotency-Key': 'cap-1' });
  expect(c1.status).toBe(200);
  expect(c2.status).toBe(200);
  expect(c2.body).toMatchObject({ status: 'captured', amount_captured: 1000 });
  const charges = (await m.api.get(`/sandbox/charges?payment_id=${p.body.id}`)).body.data;
  expect(charges.map((c: { operation: string }) => c.operation)).toEqual(['authorize', 'capture']);
});

test('an Idempotency-Key over 255 characters is refused', async () => {
  const m = await newMerchant(stack());
  const res = await m.api.post('/v1/payments', body, { 'Idempotency-Key': 'k'.repeat(256) });
  expect(res.status).toBe(400);
  expect(res.body.error.param).toBe('Idempotency-Key');
  expect((await m.api.get('/v1/payments')).body.data).toHaveLength(0);
});

test('a retry after a crash that lost the stored answer, once the payment has finished, starts no second run', async () => {
  const m = await newMerchant(stack());
  const declined = { ...body, payment_method: card('tok_decline') };
  const first = await m.api.post('/v1/payments', declined, { 'Idempotency-Key': 'order-5' });
  expect(first.status).toBe(402);
  const paymentId = first.body.error.payment.id;
  // As if the process died after the workflow finished but before the answer was stored.
  await stack().pool.query('UPDATE idempotency_keys SET response_status = NULL WHERE scope = $1', [m.id]);
  const retry = await m.api.post('/v1/payments', declined, { 'Idempotency-Key': 'order-5' });
  expect(retry.status).toBe(402);
  expect(retry.body.error.payment.id).toBe(paymentId);
  const runs = [];
  for await (const run of stack().context.temporal.workflow.list({ query: `WorkflowId = 'payment:${paymentId}'` })) runs.push(run);
  expect(runs).toHaveLength(1);
  expect((await m.api.get(`/sandbox/charges?payment_id=${paymentId}`)).body.data).toEqual([]);
});

describe('leases', () => {
  /** As if the process handling the request died before storing its answer, `leaseLeftMs` ago or still within its lease. */
  const die = (scope: string, key: string, leaseLeftMs: number) =>
    stack().pool.query(
      `UPDATE idempotency_keys SET response_status = NULL, locked_until = now() + ($3::bigint * interval '1 millisecond') WHERE scope = $1 AND key = $2`,
      [scope, key, leaseLeftMs],
    );

  test('a concurrent duplicate of a POST answers 409 in flight, and the first one still answers', async () => {
    const m = await newMerchant(stack());
    const slow = { ...body, payment_method: card('tok_slow') };
    const first = m.api.post('/v1/payments', slow, { 'Idempotency-Key': 'slow-1' });
    await new Promise((r) => setTimeout(r, 400));
    const duplicate = await m.api.post('/v1/payments', slow, { 'Idempotency-Key': 'slow-1' });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.error).toMatchObject({ type: 'idempotency_error', code: 'idempotency_key_in_use' });
    const answered = await first;
    expect(answered.status).toBe(201);
    expect((await m.api.post('/v1/payments', slow, { 'Idempotency-Key': 'slow-1' })).body.id).toBe(answered.body.id);
  });

  test('merchant creation that died without an answer: 409 during its lease, then the retry takes over with working keys', async () => {
    const admin = client(stack().url, ADMIN_KEY);
    const first = await admin.post('/v1/merchants', { name: 'Lease shop' }, { 'Idempotency-Key': 'm-lease' });
    expect(first.status).toBe(201);
    await die('admin', 'm-lease', 60_000);
    expect((await admin.post('/v1/merchants', { name: 'Lease shop' }, { 'Idempotency-Key': 'm-lease' })).body.error.code).toBe('idempotency_key_in_use');
    await die('admin', 'm-lease', -1);
    const retried = await admin.post('/v1/merchants', { name: 'Lease shop' }, { 'Idempotency-Key': 'm-lease' });
    expect(retried.status).toBe(201);
    expect(retried.body.id).toBe(first.body.id);
    // The first answer never reached the caller: the keys it carries now are the ones that work.
    expect((await client(stack().url, retried.body.api_key).get('/v1/payments')).status).toBe(200);
    expect((await client(stack().url, retried.body.live_api_key).get('/v1/payments')).status).toBe(200);
    const { rows } = await stack().pool.query('SELECT count(*)::int AS n FROM merchants WHERE id = $1', [first.body.id]);
    expect(rows[0].n).toBe(1);
  });

  test('a rotate_secret retried after it died rotates once: the secret from before still signs during the overlap', async () => {
    const m = await newMerchant(stack());
    const endpoint = (await m.api.post('/v1/webhook_endpoints', { url: 'https://shop.example/hooks' }, { 'Idempotency-Key': 'we-1' })).body;
    await die(m.id, 'we-1', -1);
    const again = (await m.api.post('/v1/webhook_endpoints', { url: 'https://shop.example/hooks' }, { 'Idempotency-Key': 'we-1' })).body;
    expect([again.id, again.secret]).toEqual([endpoint.id, endpoint.secret]);
    expect((await m.api.get('/v1/webhook_endpoints')).body.data).toHaveLength(1);

    const rotated = (await m.api.post(`/v1/webhook_endpoints/${endpoint.id}/rotate_secret`, { overlap_seconds: 3600 }, { 'Idempotency-Key': 'rot-1' })).body;
    expect(rotated.secret).not.toBe(endpoint.secret);
    await die(m.id, 'rot-1', -1);
    const retried = await m.api.post(`/v1/webhook_endpoints/${endpoint.id}/rotate_secret`, { overlap_seconds: 3600 }, { 'Idempotency-Key': 'rot-1' });
    expect(retried.status).toBe(200);
    expect(retried.body.secret).toBe(rotated.secret);
    const { rows } = await stack().pool.query('SELECT previous_secret_sealed FROM webhook_endpoints WHERE id = $1', [endpoint.id]);
    expect(stack().context.secrets.open(rows[0].previous_secret_sealed)).toBe(endpoint.secret);
  });

  test('keys are forgotten after 24 hours: the same key then makes a new payment', async () => {
    const m = await newMerchant(stack());
    const first = await m.api.post('/v1/payments', body, { 'Idempotency-Key': 'old-1' });
    await stack().pool.query(`UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE scope = $1 AND key = 'old-1'`, [m.id]);
    const recent = await m.api.post('/v1/payments', body, { 'Idempotency-Key': 'recent-1' });
    expect(await sweepIdempotencyKeys(stack().pool)).toBeGreaterThanOrEqual(1);
    expect((await m.api.post('/v1/payments', body, { 'Idempotency-Key': 'recent-1' })).body.id).toBe(recent.body.id);
    const later = await m.api.post('/v1/payments', body, { 'Idempotency-Key': 'old-1' });
    expect(later.status).toBe(201);
    expect(later.body.id).not.toBe(first.body.id);
  });
});

test('a request that failed while the database was down frees its key as soon as the database is back: the retry is not "in flight" for the whole lease', async () => {
  const { pool } = stack();
  // The database refuses the first two statements after the work failed (the release itself), then is back.
  let refusals = 0;
  const flaky = {
    query: (...args: Parameters<typeof pool.query>) => {
      const sql = String(args[0]);
      if (/^(UPDATE|DELETE) idempotency_keys/.test(sql) && refusals < 2) {
        refusals++;
        return Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
      }
      return (pool.query as (...a: unknown[]) => Promise<unknown>)(...args);
    },
  } as unknown as typeof pool;
  const req = { header: (name: string) => (name.toLowerCase() === 'idempotency-key' ? 'db-outage-1' : undefined), method: 'POST', baseUrl: '/v1', path: '/things', body: { a: 1 } } as never;
  const op = (run: () => Promise<{ status: number; body: unknown }>) => ({ scope: 'test-scope', resourceType: 'thing', allocate: () => 'thing_1', replay: async () => ({ status: 200, body: 'replayed' }), run });
  await expect(idempotent(flaky, req, op(async () => { throw Object.assign(new Error('Connection terminated'), { code: '57P01' }); }))).rejects.toThrow('Connection terminated');
  const held = await pool.query('SELECT locked_until FROM idempotency_keys WHERE scope = $1 AND key = $2', ['test-scope', 'db-outage-1']);
  expect(held.rows[0].locked_until).not.toBeNull();
  // Within a few seconds, not the 60 s lease, the retry runs.
  await eventually(async () => (await pool.query('SELECT locked_until FROM idempotency_keys WHERE scope = $1 AND key = $2', ['test-scope', 'db-outage-1'])).rows[0].locked_until, (v) => v === null, 10_000);
  expect(await idempotent(pool, req, op(async () => ({ status: 201, body: 'done' })))).toEqual({ status: 201, body: 'done' });
});
