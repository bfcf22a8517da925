import { configSchema } from '../config';
import { isEventFilter, retryDelayMs } from '../domain/events';
import { UrlGuard } from '../runtime/url-guard';
import { WebhookSender } from '../runtime/webhook-sender';
import { startReceiver } from './support/receiver';

test('without an allow-list, loopback, private, mapped and reserved addresses are refused; public ones pass', async () => {
  const guard = new UrlGuard('');
  for (const url of ['http://127.0.0.1/', 'http://localhost:8080/', 'http://[::1]/', 'http://[::ffff:10.0.0.1]/', 'http://172.16.5.4/', 'http://224.0.0.1/']) {
    await expect(guard.check(url)).rejects.toThrow(/private or reserved/);
  }
  await expect(guard.check('https://93.184.216.34/hook')).resolves.toBeUndefined();
  await expect(guard.check('https://[2606:4700::1111]/hook')).resolves.toBeUndefined();
  // A name that does not resolve now is checked again when delivering.
  await expect(guard.check('https://no-such-host.invalid/hook')).resolves.toBeUndefined();
});

test('an allow-list opens exactly its networks', async () => {
  const guard = new UrlGuard('127.0.0.0/8, ::1/128');
  await expect(guard.check('http://127.0.0.1:9/')).resolves.toBeUndefined();
  await expect(guard.check('http://localhost:9/')).resolves.toBeUndefined();
  await expect(guard.check('http://10.1.2.3/')).rejects.toThrow(/private/);
  expect(() => new UrlGuard('10.0.0.0/33')).toThrow(/invalid network/);
});

test('the sender refuses at connection time, after DNS, what the guard forbids', async () => {
  const r = await startReceiver();
  const sender = new WebhookSender(new UrlGuard(''), 1000);
  try {
    const byName = await sender.post(r.url.replace('127.0.0.1', 'localhost'), '{}', {});
    const byAddress = await sender.post(r.url, '{}', {});
    for (const result of [byName, byAddress]) {
      expect(result).toMatchObject({ delivered: false, statusCode: null });
      expect(result.error).toMatch(/loopback/);
    }
    expect(r.received).toHaveLength(0);
    const allowed = new WebhookSender(new UrlGuard('127.0.0.0/8,::1/128'), 1000);
    expect(await allowed.post(r.url, '{"ok":true}', { 'payment-signature': 't=1,v1=00' })).toMatchObject({ delivered: true, statusCode: 200, error: null });
    expect(r.received[0]!.headers['payment-signature']).toBe('t=1,v1=00');
    await allowed.close();
  } finally {
    await sender.close();
    await r.close();
  }
});

test('the default retry schedule backs off exponentially with jitter, is capped, and fills a 3-day window', () => {
  const config = configSchema.parse({});
  const schedule = { firstRetryMs: config.WEBHOOK_FIRST_RETRY_MS, maxRetryMs: config.WEBHOOK_MAX_RETRY_MS, windowMs: config.WEBHOOK_RETRY_WINDOW_MS };
  expect(schedule).toEqual({ firstRetryMs: 10_000, maxRetryMs: 6 * 3600_000, windowMs: 3 * 24 * 3600_000 });
  expect(retryDelayMs(schedule, 1, 0)).toBe(5_000);
  expect(retryDelayMs(schedule, 1, 1)).toBe(10_000);
  expect(retryDelayMs(schedule, 2, 1)).toBe(20_000);
  expect(retryDelayMs(schedule, 5, 0.5)).toBe(120_000);
  expect(retryDelayMs(schedule, 40, 1)).toBe(6 * 3600_000);
  expect(retryDelayMs(schedule, 40, 0)).toBe(3 * 3600_000);
  // As the workflow does: attempt until the next one would fall outside the window.
  const attemptsWithin = (random: number) => {
    let elapsed = 0;
    let attempts = 1;
    for (; elapsed + retryDelayMs(schedule, attempts, random) <= schedule.windowMs; attempts++) elapsed += retryDelayMs(schedule, attempts, random);
    return { attempts, elapsedHours: elapsed / 3600_000 };
  };
  for (const random of [0, 0.5, 1]) {
    const { attempts, elapsedHours } = attemptsWithin(random);
    expect(elapsedHours).toBeGreaterThan(24); // API.md: at least 24 hours
    expect(elapsedHours).toBeLessThanOrEqual(72);
    expect(attempts).toBeGreaterThanOrEqual(12);
    expect(attempts).toBeLessThanOrEqual(35);
  }
});

test('event filters: known types, their families, and *; nothing else (the document states them as an enum)', () => {
  for (const ok of ['*', 'payment.captured', 'payment.*', 'refund.*', 'subscription.*', 'invoice.*', 'invoice.paid', 'webhook_endpoint.disabled']) expect([ok, isEventFilter(ok)]).toEqual([ok, true]);
  for (const bad of ['payment.exploded', 'nope.*', 'payment', '', 'invoice.Paid!', 'invoice.not_a_type', '**', 'payment.*.foo', 'invoice.paid.x']) expect([bad, isEventFilter(bad)]).toEqual([bad, false]);
});
