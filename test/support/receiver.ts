import http from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- deliveries are arbitrary JSON
export type Delivery = { raw: string; event: any; headers: IncomingHttpHeaders };
/** How the receiver answers the n-th request (1-based): a status, after an optional delay. */
export type Behaviour = (n: number, delivery: Delivery) => { status: number; delayMs?: number };

/** A merchant's webhook receiver: a real HTTP server on loopback that records what it got. */
export async function startReceiver(behaviour: Behaviour = () => ({ status: 200 })) {
  const received: Delivery[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      let event: unknown;
      try {
        event = JSON.parse(raw);
      } catch {
        event = undefined;
      }
      const delivery = { raw, event, headers: req.headers };
      received.push(delivery);
      const { status, delayMs = 0 } = behaviour(received.length, delivery);
      const timer = setTimeout(() => res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : `nope ${status}`), delayMs);
      res.on('close', () => clearTimeout(timer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
export type Receiver = Awaited<ReturnType<typeof startReceiver>>;

type Verify = (rawBody: string | Buffer, header: string | undefined, secret: string, toleranceSeconds?: number) => boolean;

/** The verification snippet exactly as the README gives it to merchants. */
export function readmeVerifier(): Verify {
  const readme = readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const code = /```js\n(\/\/ verify-webhook\.js\n[\s\S]*?)```/.exec(readme)?.[1];
  if (!code) throw new Error('README has no verify-webhook.js snippet');
  const module = { exports: {} as { verifyPaymentSignature?: Verify } };
  new Function('require', 'module', code)(require, module);
  return module.exports.verifyPaymentSignature!;
}
