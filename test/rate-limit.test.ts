import { newMerchant, useTestStack } from './support/stack';

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
