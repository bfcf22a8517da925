import { client, newMerchant, useTestStack } from './support/stack';

const stack = useTestStack({ RATE_LIMIT_PER_MINUTE: '5' }, { worker: false });

test('past the per-key limit a key gets 429 rate_limit_error; other keys are unaffected', async () => {
  const a = await newMerchant(stack());
  const b = await newMerchant(stack());
  const answers = [];
  for (let i = 0; i < 7; i++) answers.push(await a.api.get('/v1/balance'));
  expect(answers.slice(0, 5).every((r) => r.status === 200)).toBe(true);
  const limited = answers[6]!;
  expect(limited.status).toBe(429);
  expect(limited.body.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_exceeded' });
  expect(limited.headers.get('ratelimit-policy') ?? limited.headers.get('ratelimit')).toBeTruthy();
  expect((await b.api.get('/v1/balance')).status).toBe(200);
});

test('made-up keys get no bucket of their own: they share their address\'s, and a real key keeps its own', async () => {
  const a = await newMerchant(stack());
  const forged = [];
  for (let i = 0; i < 7; i++) forged.push(await client(stack().url, `sk_test_madeup${i}`).get('/v1/balance'));
  expect(forged.slice(0, 5).every((r) => r.status === 401)).toBe(true);
  expect(forged.slice(5).every((r) => r.status === 429)).toBe(true);
  expect((await a.api.get('/v1/balance')).status).toBe(200);
  // A merchant's test and live keys are two buckets.
  for (let i = 0; i < 5; i++) await a.api.get('/v1/balance');
  expect((await a.api.get('/v1/balance')).status).toBe(429);
  expect((await a.live.get('/v1/balance')).status).toBe(200);
});

describe('with METRICS_AUTH_TOKEN', () => {
  const guarded = useTestStack({ METRICS_AUTH_TOKEN: 'metrics-token-0123456789' }, { worker: false });
  test('/metrics answers only its bearer', async () => {
    expect((await client(guarded().url).get('/metrics')).status).toBe(401);
    expect((await client(guarded().url, 'wrong-token-0123456789').get('/metrics')).status).toBe(401);
    const ok = await client(guarded().url, 'metrics-token-0123456789').get('/metrics');
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('payments_http_requests_total');
  });
});
