import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`: the scheme of API.md's merchant
 * webhooks, also used by the sandbox processor for its notifications. While a secret is being
 * rotated both sign, giving one `v1=` per secret; a receiver accepts any that matches.
 */
export function signPayload(secrets: string | readonly string[], rawBody: string | Buffer, timestamp = Math.floor(Date.now() / 1000)): string {
  const macs = (typeof secrets === 'string' ? [secrets] : secrets).map((secret) => `v1=${hmac(secret, timestamp, rawBody)}`);
  return [`t=${timestamp}`, ...macs].join(',');
}

const hmac = (secret: string, timestamp: number, rawBody: string | Buffer) =>
  createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');

export function verifySignature(secret: string, rawBody: Buffer | string, header: string | undefined, toleranceSeconds = 300, now = Date.now()): boolean {
  if (!header) return false;
  const pairs = header.split(',').map((kv) => kv.trim().split('=', 2) as [string, string | undefined]);
  const t = Number(pairs.find(([k]) => k === 't')?.[1]);
  if (!Number.isInteger(t) || Math.abs(now / 1000 - t) > toleranceSeconds) return false;
  const expected = Buffer.from(hmac(secret, t, rawBody), 'hex');
  return pairs.some(([k, v]) => {
    if (k !== 'v1' || !v) return false;
    const given = Buffer.from(v, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
