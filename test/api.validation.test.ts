import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { ADMIN_KEY, card, client, eventually, newMerchant, useTestStack } from './support/stack';

const stack = useTestStack();
let m: Awaited<ReturnType<typeof newMerchant>>;
beforeAll(async () => {
  m = await newMerchant(stack());
});

const valid = { amount: 1000, currency: 'USD', payment_method: card() };

/** Nothing may be written and no workflow started for a refused request. */
async function expectNothingWritten() {
  const payments = await stack().pool.query('SELECT count(*)::int AS n FROM payments WHERE merchant_id = $1', [m.id]);
  expect(payments.rows[0].n).toBe(0);
  const keys = await stack().pool.query('SELECT count(*)::int AS n FROM idempotency_keys WHERE scope = $1', [m.id]);
  expect(keys.rows[0].n).toBe(0);
  const runs = stack().context.temporal.workflow.list({ query: `MerchantId = '${m.id}'` });
  for await (const run of runs) throw new Error(`unexpected workflow ${run.workflowId}`);
}

describe('bad payment input answers 400 naming the param, and writes nothing', () => {
  test.each<[string, Record<string, unknown>, string]>([
    ['float amount', { ...valid, amount: 10.5 }, 'amount'],
    ['string amount', { ...valid, amount: '1000' }, 'amount'],
    ['negative amount', { ...valid, amount: -1 }, 'amount'],
    ['zero amount', { ...valid, amount: 0 }, 'amount'],
    ['huge amount', { ...valid, amount: 100_000_000_000 }, 'amount'],
    ['1e300 amount', { ...valid, amount: 1e300 }, 'amount'],
    ['missing amount', { currency: 'USD', payment_method: card() }, 'amount'],
    ['null amount', { ...valid, amount: null }, 'amount'],
    ['unknown currency', { ...valid, currency: 'ABC' }, 'currency'],
    ['testing currency XTS', { ...valid, currency: 'XTS' }, 'currency'],
    ['numeric currency', { ...valid, currency: 840 }, 'currency'],
    ['unknown method type', { ...valid, payment_method: { type: 'cash' } }, 'payment_method.type'],
    ['missing payment_method', { amount: 1000, currency: 'USD' }, 'payment_method'],
    ['unknown top-level field', { ...valid, amount_cents: 5 }, 'amount_cents'],
    ['unknown nested field', { ...valid, payment_method: { type: 'card', number: '4242424242424242' } }, 'payment_method.number'],
    ['bad capture_method', { ...valid, capture_method: 'later' }, 'capture_method'],
    ['bad channel', { ...valid, channel: 'fax' }, 'channel'],
    ['metadata with a number value', { ...valid, metadata: { order: 42 } }, 'metadata.order'],
    ['metadata with 21 keys', { ...valid, metadata: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v'])) }, 'metadata'],
    ['metadata key over 40 chars', { ...valid, metadata: { ['k'.repeat(41)]: 'v' } }, `metadata.${'k'.repeat(41)}`],
    ['unconfigured provider', { ...valid, provider: 'stripe' }, 'provider'],
  ])('%s', async (_name, body, param) => {
    const res = await m.api.post('/v1/payments', body, { 'Idempotency-Key': `bad-${param}` });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param });
    expect(typeof res.body.error.code).toBe('string');
    expect(typeof res.body.error.message).toBe('string');
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts:\d+/); // never a stack trace
    await expectNothingWritten();
  });

  test('malformed JSON', async () => {
    const res = await m.api.raw('POST', '/v1/payments', '{"amount": 10,', { 'content-type': 'application/json' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json' });
    await expectNothingWritten();
  });

  test('an amount is told its real fault: past 2^53 it is too large, not fractional', async () => {
    const reasons: Record<string, string> = {};
    for (const amount of [1e300, 2 ** 61, 10.5, 0]) {
      reasons[amount] = (await m.api.post('/v1/payments', { ...valid, amount }, { 'Idempotency-Key': `reason-${amount}` })).body.error.message;
    }
    expect(reasons).toEqual({
      1e300: 'Invalid amount: amount must be at most 99999999999', [2 ** 61]: 'Invalid amount: amount must be at most 99999999999',
      10.5: 'Invalid amount: amount must be an integer in the currency minor unit', 0: 'Invalid amount: amount must be positive',
    });
    await expectNothingWritten();
  });

  test('a POST without a body names the first missing parameter', async () => {
    const res = await m.api.raw('POST', '/v1/payments');
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', code: 'parameter_missing', param: 'amount' });
    const notAnObject = await m.api.raw('POST', '/v1/payments', '[1,2]', { 'content-type': 'application/json' });
    expect(notAnObject.body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_body' });
    await expectNothingWritten();
  });

  test('a body over 64 KiB answers 413', async () => {
    const res = await m.api.post('/v1/payments', { ...valid, description: 'x'.repeat(70 * 1024) });
    expect(res.status).toBe(413);
    expect(res.body.error.type).toBe('invalid_request_error');
    await expectNothingWritten();
  });

  test('currency codes are accepted in any case and returned upper-case; KWD has 3 decimals', async () => {
    const other = await newMerchant(stack());
    const res = await other.api.post('/v1/payments', { ...valid, amount: 1234, currency: 'kwd' });
    expect(res.status).toBe(201);
    expect(res.body.currency).toBe('KWD');
  });
});

describe('authentication and tenancy', () => {
  test('missing or unknown key answers 401', async () => {
    for (const api of [client(stack().url), client(stack().url, 'sk_nope')]) {
      const res = await api.get('/v1/payments');
      expect(res.status).toBe(401);
      expect(res.body.error.type).toBe('authentication_error');
    }
  });

  test('merchant creation needs the admin key; the key is shown once', async () => {
    expect((await client(stack().url, m.key).post('/v1/merchants', { name: 'x' })).status).toBe(401);
    const created = await client(stack().url, ADMIN_KEY).post('/v1/merchants', { name: 'Shop', settlement_currency: 'eur' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ object: 'merchant', name: 'Shop', settlement_currency: 'EUR' });
    expect(created.body.api_key).toMatch(/^sk_/);
    const stored = await stack().pool.query('SELECT api_key_hash FROM merchants WHERE id = $1', [created.body.id]);
    expect(stored.rows[0].api_key_hash).not.toContain(created.body.api_key);
    expect((await client(stack().url, ADMIN_KEY).post('/v1/merchants', {})).body.error.param).toBe('name');
  });

  test("another merchant's payment and refund answer 404, exactly like unknown ids", async () => {
    const owner = await newMerchant(stack());
    const p = await owner.api.post('/v1/payments', { ...valid, capture_method: 'manual' });
    const intruder = await newMerchant(stack());
    for (const res of [
      await intruder.api.get(`/v1/payments/${p.body.id}`),
      await intruder.api.post(`/v1/payments/${p.body.id}/capture`, {}),
      await intruder.api.post(`/v1/payments/${p.body.id}/cancel`),
      await intruder.api.get('/v1/payments/pay_doesnotexist'),
      await intruder.api.get('/v1/payments/not-an-id'),
    ]) {
      expect(res.status).toBe(404);
      expect(res.body.error.type).toBe('not_found');
    }
    expect((await intruder.api.get('/v1/payments')).body.data).toEqual([]);
    expect((await intruder.api.get(`/sandbox/charges?payment_id=${p.body.id}`)).body.data).toEqual([]);
    // Another merchant's id as a cursor is unknown to this one, as Stripe answers an unknown cursor: 404 naming the param.
    expect((await intruder.api.get(`/v1/payments?starting_after=${p.body.id}`))).toMatchObject({ status: 404, body: { error: { type: 'not_found', code: 'resource_missing', param: 'starting_after' } } });
    expect((await owner.api.get(`/v1/payments/${p.body.id}`)).body.status).toBe('authorized');
  });
});

describe('operations', () => {
  test('/healthz and /readyz', async () => {
    expect((await client(stack().url).get('/healthz')).status).toBe(200);
    const ready = await client(stack().url).get('/readyz');
    expect(ready.body).toEqual({ status: 'ready', checks: { postgres: true, temporal: true } });
  });

  test('/openapi.json is a valid OpenAPI 3.1 document covering the contract', async () => {
    const doc = (await client(stack().url).get('/openapi.json')).body;
    // The validator is an ES module; jest runs CommonJS, so it checks the document in a child node.
    const script = `import { Validator } from '@seriousme/openapi-schema-validator';
      let input = ''; for await (const chunk of process.stdin) input += chunk;
      const result = await new Validator().validate(JSON.parse(input));
      console.log(JSON.stringify(result));`;
    const result = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { input: JSON.stringify(doc), cwd: __dirname, encoding: 'utf8' }));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe('3.1.0');
    for (const path of ['/v1/payments', '/v1/payments/{id}/capture', '/v1/refunds', '/v1/balance', '/v1/merchants', '/sandbox/charges']) {
      expect(doc.paths[path]).toBeDefined();
    }
    expect(doc.components.schemas.CreatePayment.properties.amount.type).toBe('integer');
    // Any operation is a 503 while PostgreSQL or Temporal is unreachable (test/unavailable.test.ts), so each one says so.
    const operations = Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>)
      .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ operation: `${method} ${path}`, documents503: '503' in op.responses })));
    expect(operations.filter((o) => !o.documents503)).toEqual([]);
    expect(operations.length).toBeGreaterThan(70);
  });

  test('unknown routes answer 404 in the error shape', async () => {
    const res = await m.api.get('/v1/nothing');
    expect(res.status).toBe(404);
    expect(res.body.error.type).toBe('not_found');
  });
});

describe('metrics', () => {
  test('/metrics moves with payments and provider calls', async () => {
    const read = async () => (await client(stack().url).get('/metrics')).body as string;
    const value = (text: string, series: string) => Number(text.split('\n').find((l) => l.startsWith(series))?.split(' ').pop() ?? 0);
    const before = await read();
    const shop = await newMerchant(stack());
    await shop.api.post('/v1/payments', { amount: 100, currency: 'USD', payment_method: card('tok_decline') });
    await shop.api.post('/v1/payments', { amount: 100, currency: 'USD', payment_method: card() });
    const after = await read();
    const failed = 'payments_by_status{status="failed",provider="sandbox",method="card",mode="test"}';
    expect(value(after, failed)).toBe(value(before, failed) + 1);
    const authorizeCalls = 'payments_provider_call_duration_seconds_count{provider="sandbox",mode="test",operation="authorize",outcome="captured"}'; // automatic capture: captured in the authorizing call
    expect(value(after, authorizeCalls)).toBeGreaterThanOrEqual(value(before, authorizeCalls) + 1);
    expect(after).toMatch(/payments_http_requests_total\{method="POST",route="\/v1\/payments\/",status="402"\}/);
    expect(after).toContain('process_resident_memory_bytes');
  });

  test('payment counts are kept incrementally and always equal a count of the read model', async () => {
    const shop = await newMerchant(stack());
    const p = (await shop.api.post('/v1/payments', { amount: 100, currency: 'USD', payment_method: card(), capture_method: 'manual' })).body;
    await shop.api.post(`/v1/payments/${p.id}/capture`, {});
    await shop.api.post('/v1/refunds', { payment_id: p.id });
    // Workflows of earlier tests on this shared stack may still be moving, so each comparison reads
    // both sides at one moment: the counters and the read model in one statement, the scrape between
    // two equal reads of the read model.
    const counts = await stack().pool.query(
      `SELECT (SELECT coalesce(json_agg(c ORDER BY c.status, c.provider, c.method, c.livemode), '[]') FROM (
                 SELECT status, provider, method, livemode, sum(n)::int AS n FROM payment_status_counts
                 GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0) c) AS counted,
              (SELECT coalesce(json_agg(t ORDER BY t.status, t.provider, t.method, t.livemode), '[]') FROM (
                 SELECT status, provider, payment_method->>'type' AS method, livemode, count(*)::int AS n FROM payments
                 GROUP BY 1, 2, 3, 4) t) AS truth`);
    expect(counts.rows[0].counted).toEqual(counts.rows[0].truth);
    // The scrape reads the counters: the payment shows only under its final status.
    const refundedInSandbox = async () => (await stack().pool.query(
      `SELECT count(*)::int AS n FROM payments WHERE status = 'refunded' AND provider = 'sandbox' AND payment_method->>'type' = 'card' AND NOT livemode`)).rows[0].n as number;
    const { text, refunded } = await eventually(async () => {
      const before = await refundedInSandbox();
      const scraped = (await client(stack().url).get('/metrics')).body as string;
      return { text: scraped, refunded: before, steady: before === (await refundedInSandbox()) };
    }, (read) => read.steady);
    expect(refunded).toBeGreaterThanOrEqual(1);
    expect(text).toContain(`payments_by_status{status="refunded",provider="sandbox",method="card",mode="test"} ${refunded}`);
  });
});

test('NUL characters anywhere in the input are a 400 naming the field, never a 500 (found by schemathesis)', async () => {
  const m = await newMerchant(stack());
  const body = { amount: 100, currency: 'USD', payment_method: card(), description: 'a\u0000b' };
  expect((await m.api.post('/v1/payments', body)).body.error).toMatchObject({ type: 'invalid_request_error', param: 'description' });
  expect((await m.api.post('/v1/payments', { ...body, description: 'ok', metadata: { note: '\u0000' } })).body.error.param).toBe('metadata.note');
  expect((await m.api.post('/v1/refunds', { payment_id: '\u0000pay' })).body.error.param).toBe('payment_id');
  for (const path of ['/v1/payments?starting_after=%00', '/v1/refunds?payment_id=%00', '/v1/events?object_id=%00', '/v1/payments/pay_%00', '/v1/payments/%E0%A4%A']) {
    const res = await m.api.get(path);
    expect([path, res.status, res.body.error?.type]).toEqual([path, 400, 'invalid_request_error']);
  }
  expect((await m.api.get('/v1/payments')).body.data).toEqual([]); // nothing half-written
});

describe('what /openapi.json says is what the API does (schemathesis --checks all)', () => {
  /** node:http, since fetch refuses TRACE. */
  const send = (method: string, path: string, key?: string) => new Promise<{ status: number; allow?: string }>((resolve, reject) => {
    const req = http.request(`${stack().url}${path}`, { method, headers: key ? { authorization: `Bearer ${key}` } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, ...(res.headers.allow ? { allow: res.headers.allow } : {}) }));
    });
    req.on('error', reject);
    req.end();
  });

  test('a method the document does not list on a known path is 405 with Allow; an unknown path stays 404', async () => {
    expect(await send('TRACE', '/healthz')).toEqual({ status: 405, allow: 'GET, HEAD' });
    expect(await send('DELETE', '/v1/refunds', m.key)).toEqual({ status: 405, allow: 'POST, GET, HEAD' });
    expect(await send('PUT', '/v1/payments/pay_123', m.key)).toEqual({ status: 405, allow: 'GET, HEAD' });
    expect((await send('TRACE', '/v1/nothing-here', m.key)).status).toBe(404);
  });

  test('every POST refuses an Idempotency-Key outside 1 to 255 characters, even where the key is not used', async () => {
    const endpoint = (await m.api.post('/v1/webhook_endpoints', { url: 'https://shop.example/hooks' })).body;
    for (const key of ['x'.repeat(256), '']) {
      const res = await m.api.post(`/v1/webhook_endpoints/${endpoint.id}`, { description: 'renamed' }, { 'idempotency-key': key });
      expect({ key: key.length, status: res.status, param: res.body.error?.param }).toEqual({ key: key.length, status: 400, param: 'Idempotency-Key' });
    }
    expect((await m.api.get(`/v1/webhook_endpoints/${endpoint.id}`)).body.description).toBeNull();
  });

  test('a replayed create answers what it answered, even after the endpoint was deleted', async () => {
    const headers = { 'idempotency-key': `we-replay-${Date.now()}` };
    const body = { url: 'https://shop.example/replay' };
    const first = await m.api.post('/v1/webhook_endpoints', body, headers);
    expect(first.status).toBe(201);
    expect((await m.api.raw('DELETE', `/v1/webhook_endpoints/${first.body.id}`)).status).toBe(200);
    const replay = await m.api.post('/v1/webhook_endpoints', body, headers);
    expect(replay.status).toBe(201);
    expect(replay.body).toMatchObject({ id: first.body.id, url: body.url, secret: first.body.secret });
  });

  test('what JSON Schema cannot refuse is not refused: a dunning set in any order, a quote of one currency to itself, a merchant key naming its mode', async () => {
    const settings = await m.api.post('/v1/billing_settings', { dunning: { schedule: [5, 1, 3, 1.0000001], on_exhausted: 'unpaid' } });
    expect(settings.status).toBe(200);
    expect(settings.body.dunning.schedule).toEqual([1, 3, 5]);
    expect(settings.body.dunning.retry_offsets_seconds).toEqual([86_400, 3 * 86_400, 5 * 86_400]);
    const same = await m.api.post('/v1/fx/quotes', { from: 'eur', to: 'EUR', amount: 1234 });
    expect(same.body).toMatchObject({ from: 'EUR', to: 'EUR', rate: '1', mid_rate: '1', margin_bps: 0, converted_amount: 1234 });
    // A payment that uses it uses it up, and settles in its own currency.
    const paid = await m.api.post('/v1/payments', { amount: 1234, currency: 'EUR', payment_method: card(), fx_quote_id: same.body.id });
    expect([paid.status, paid.body.fx ?? null]).toEqual([201, null]);
    expect((await m.api.post('/v1/payments', { amount: 1234, currency: 'EUR', payment_method: card(), fx_quote_id: same.body.id })).body.error.code).toBe('fx_quote_used');
    // Its own mode is fine; the other mode is the admin key's to choose (403, not a malformed request).
    expect((await m.api.get('/v1/reconciliation/runs?livemode=false')).status).toBe(200);
    expect((await m.api.get('/v1/reconciliation/items?livemode=true'))).toMatchObject({ status: 403, body: { error: { type: 'permission_error', param: 'livemode' } } });
    // An unknown cursor names what is missing, as Stripe answers.
    expect((await m.api.get('/v1/customers?starting_after=cus_nope'))).toMatchObject({ status: 404, body: { error: { code: 'resource_missing', param: 'starting_after' } } });
  });

  test('the document states the codes it accepts: currencies and countries in any case, canonical time zones, event filters, emails, IPs, dates, webhook URLs', async () => {
    const doc = (await client(stack().url).get('/openapi.json')).body;
    const { CurrencyCode, CountryCode, TimeZone } = doc.components.schemas;
    const accepts = (schema: { pattern: string }, value: string) => new RegExp(schema.pattern).test(value);
    expect([accepts(CurrencyCode, 'usd'), accepts(CurrencyCode, 'JpY'), accepts(CurrencyCode, 'XTS'), accepts(CurrencyCode, 'ABC')]).toEqual([true, true, false, false]);
    expect([accepts(CountryCode, 'gb'), accepts(CountryCode, 'UK')]).toEqual([true, false]);
    expect(TimeZone.enum).toEqual(expect.arrayContaining(['UTC', 'Europe/Berlin', 'Asia/Shanghai']));
    expect(TimeZone.enum).not.toContain('US/Eastern');
    const sub = doc.components.schemas.CreateSubscription.properties;
    expect((await m.api.post('/v1/customers', { email: 'jo@example.com' })).status).toBe(201);
    for (const [body, param] of [[{ email: '"quoted"@example.com' }, 'email'], [{ email: 'jo@[127.0.0.1]' }, 'email']] as const) {
      expect((await m.api.post('/v1/customers', body)).body.error.param).toBe(param);
    }
    expect(sub.time_zone).toEqual({ $ref: '#/components/schemas/TimeZone' });
    expect(doc.components.schemas.CreatePayment.properties.client_ip.anyOf).toEqual([{ type: 'string', format: 'ipv4' }, { type: 'string', format: 'ipv6' }]);
    expect(doc.components.schemas.IncomingBankTransfer.properties.value_date).toMatchObject({ type: 'string', format: 'date' });
    expect(doc.components.schemas.CreateWebhookEndpoint.properties.events.items.enum).toEqual(expect.arrayContaining(['*', 'payment.*', 'invoice.paid']));
    // Bodies that may be left out say so; rules JSON Schema cannot state are named on the 400.
    expect(doc.paths['/v1/customers'].post.requestBody.required).toBe(false);
    expect(doc.paths['/v1/billing_settings'].post.requestBody.required).toBe(true);
    expect(Object.keys(doc.paths['/v1/fx/quotes'].post.responses['400']['x-rules'])).toEqual(['fx_unavailable', 'amount_too_small']);
    expect((await m.api.post('/v1/fx/quotes', { from: 'EUR', to: 'KWD' })).body.error.code).toBe('fx_unavailable');
    expect(doc.paths['/v1/payments'].get.responses['404']).toBeDefined();
  });

  test('the document: free text excludes NUL, the key is 1 to 255 characters, lists may answer 400, rotate_secret may have no body, created objects link onwards', async () => {
    const doc = (await client(stack().url).get('/openapi.json')).body;
    const strings: Record<string, unknown>[] = [];
    const visit = (n: unknown): void => {
      if (Array.isArray(n)) return n.forEach(visit);
      if (!n || typeof n !== 'object') return;
      const o = n as Record<string, unknown>;
      if (o.type === 'string' || (Array.isArray(o.type) && o.type.includes('string'))) strings.push(o);
      Object.values(o).forEach(visit);
    };
    // All but the error body, whose message may quote the input it refuses.
    const { Error: errorSchema, ...schemas } = doc.components.schemas;
    visit({ ...doc, components: { ...doc.components, schemas } });
    expect(strings.filter((s) => s.pattern === undefined && s.enum === undefined && s.const === undefined && s.format === undefined)).toEqual([]);
    expect(errorSchema.properties.error.properties.message.pattern).toBeUndefined();
    expect(doc.components.schemas.CreatePayment.properties.metadata.propertyNames).toEqual({ maxLength: 40, pattern: '^[^\\x00]*$' });
    expect(strings.filter((s) => s.pattern === '^[^\\x00]*$').length).toBeGreaterThan(20);
    const key = doc.paths['/v1/payments'].post.parameters.find((p: { name: string }) => p.name === 'Idempotency-Key');
    expect(key.schema).toMatchObject({ minLength: 1, maxLength: 255 });
    expect(Object.keys(doc.paths['/v1/payments'].get.responses)).toContain('400');
    expect(doc.paths['/v1/webhook_endpoints/{id}/rotate_secret'].post.requestBody.required).toBe(false);
    const links = doc.paths['/v1/payments'].post.responses['201'].links;
    expect(links.post_v1_payments_id_capture).toEqual({ operationId: 'post_v1_payments_id_capture', parameters: { id: '$response.body#/id' } });
    expect(doc.paths['/v1/payments/{id}/capture'].post.operationId).toBe('post_v1_payments_id_capture');
    expect(links.refund.requestBody).toEqual({ payment_id: '$response.body#/id' });
  });
});
