import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { freePort } from '../../scripts/ports';
import { resolveStripeMock } from '../../scripts/temporal-cli';

/** A real stripe-mock process: validates every request against Stripe's OpenAPI spec, answers fixtures. */
export async function startStripeMock(): Promise<{ url: string; stop: () => Promise<void> }> {
  const exe = resolveStripeMock({ log: (m) => process.stderr.write(`${m}\n`) });
  if (!exe) throw new Error('stripe-mock is needed: run `npm run temporal:install` (builds it with Go) or set STRIPE_MOCK');
  const port = await freePort();
  const proc: ChildProcess = spawn(exe, ['-http-addr', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`stripe-mock exited: ${output}`);
    const up = await fetch(`${url}/v1/balance`, { headers: { authorization: 'Bearer sk_test_123' } }).then(() => true, () => false);
    if (up) break;
    if (Date.now() > deadline) throw new Error(`stripe-mock did not start: ${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, stop: () => new Promise((resolve) => (proc.exitCode !== null ? resolve() : (proc.once('exit', () => resolve()), proc.kill()))) };
}
