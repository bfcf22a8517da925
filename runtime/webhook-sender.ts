import { Agent, request } from 'undici';
import type { UrlGuard } from './url-guard';

export type SendResult = { delivered: boolean; statusCode: number | null; latencyMs: number; error: string | null };

const EXCERPT_CHARS = 300;

/**
 * POSTs one signed event to a merchant endpoint. Only a 2xx within the timeout counts as
 * delivered; redirects are not followed (a 3xx is a failure, as at Stripe). Connections go
 * only to addresses the guard allows, checked after DNS resolution.
 */
export class WebhookSender {
  private readonly agent: Agent;

  constructor(private readonly guard: UrlGuard, private readonly timeoutMs: number) {
    // The attempt's deadline is the abort signal (exact); undici's own timers are coarse (they
    // can fire hundreds of ms early), so they only back it up.
    const backstop = timeoutMs + 1000;
    this.agent = new Agent({ connect: { lookup: guard.lookup, timeout: backstop }, headersTimeout: backstop, bodyTimeout: backstop, keepAliveTimeout: 4000 });
  }

  async post(url: string, body: string, headers: Record<string, string>): Promise<SendResult> {
    const started = performance.now();
    const latency = () => Math.round(performance.now() - started);
    try {
      await this.guard.check(url); // IP literals never go through the lookup
      const res = await request(url, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', 'user-agent': 'temporal-payments-webhooks/1', ...headers },
        dispatcher: this.agent,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const text = await readExcerpt(res.body);
      const delivered = res.statusCode >= 200 && res.statusCode < 300;
      return { delivered, statusCode: res.statusCode, latencyMs: latency(), error: delivered ? null : `HTTP ${res.statusCode}${text ? `: ${text}` : ''}` };
    } catch (err) {
      const e = err as { name?: string; message?: string; code?: string };
      const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError' || /timeout/i.test(e.code ?? '');
      const message = timedOut ? `timed out after ${this.timeoutMs} ms` : `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`;
      return { delivered: false, statusCode: null, latencyMs: latency(), error: message.slice(0, EXCERPT_CHARS) };
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/** The start of a response body, for the attempt log; the rest is discarded unread. */
async function readExcerpt(body: AsyncIterable<Buffer> & { destroy?: () => void }): Promise<string> {
  let text = '';
  for await (const chunk of body) {
    text += chunk.toString('utf8');
    if (text.length >= EXCERPT_CHARS) {
      body.destroy?.();
      break;
    }
  }
  return text.slice(0, EXCERPT_CHARS).trim();
}
