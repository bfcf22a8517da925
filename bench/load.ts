import autocannon from 'autocannon';
import { pool } from './harness';

/**
 * The bench's load generator, in a process of its own: the CPU and event loop it uses are not
 * counted as, or taken from, the API and worker being measured (nor the floor's).
 * Reads one JSON job from argv, prints one JSON answer on stdout.
 */
type Job =
  | { kind: 'latency'; url: string; body: object; headers: Record<string, string>; connections: number; duration: number }
  | { kind: 'burst'; url: string; body: object; headers: Record<string, string>; n: number; concurrency: number };

async function main() {
  const job = JSON.parse(process.argv[2]!) as Job;
  const headers = { 'content-type': 'application/json', ...job.headers };
  if (job.kind === 'latency') {
    const r = await autocannon({ url: job.url, method: 'POST', connections: job.connections, duration: job.duration, headers, body: JSON.stringify(job.body) });
    return { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, rps: r.requests.average, errors: r.non2xx + r.errors };
  }
  const startedAt = Date.now();
  const ids = await pool(job.n, job.concurrency, async () => {
    const res = await fetch(job.url, { method: 'POST', headers, body: JSON.stringify(job.body) });
    return ((await res.json()) as { id: string }).id;
  });
  return { startedAt, ids };
}

main().then(
  (answer) => process.stdout.write(JSON.stringify(answer)),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
