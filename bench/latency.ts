import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { freePort } from '../scripts/ports';
import { median } from './harness';
import { DEV_SERVER_DYNAMIC_CONFIG, resolveTemporalExecutable } from '../scripts/temporal-cli';

/**
 * `npm run bench:latency [-- --runs 20]`: what each kind of workflow step costs at idle on the
 * dev server, one workflow at a time (start to result, median), with the dynamic config our
 * servers run (eager activity execution) and without it. Numbers, never assertions.
 */
const { values: opts } = parseArgs({ options: { runs: { type: 'string', default: '20' } } });
const RUNS = Number(opts.runs);
const TYPES = ['returnsAtOnce', 'oneActivity', 'twoActivities', 'oneLocalActivity', 'oneTimer'];

async function medians(extraArgs: string[]): Promise<Record<string, number>> {
  const env = await TestWorkflowEnvironment.createLocal({ server: { executable: resolveTemporalExecutable(), ip: '127.0.0.1', port: await freePort(), namespace: 'default', extraArgs } });
  const connection = await NativeConnection.connect({ address: env.address });
  const worker = await Worker.create({ connection, taskQueue: 'latency', workflowsPath: require.resolve('./latency.workflows'), activities: { noop: async () => 'ok' } });
  const running = worker.run();
  const client = new Client({ connection: await Connection.connect({ address: env.address }) });
  const out: Record<string, number> = {};
  try {
    let seq = 0;
    for (const type of TYPES) {
      const ms: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const started = performance.now();
        await client.workflow.execute(type, { workflowId: `latency-${seq++}`, taskQueue: 'latency' });
        ms.push(performance.now() - started);
      }
      out[type] = Math.round(median(ms));
    }
  } finally {
    worker.shutdown();
    await running;
    await client.connection.close();
    await env.teardown();
  }
  return out;
}

async function main() {
  Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
  const without = await medians([]);
  const withOurs = await medians(DEV_SERVER_DYNAMIC_CONFIG);
  console.log(`${'workflow'.padEnd(20)}${'server defaults'.padStart(18)}${'ours (eager)'.padStart(16)}   (median ms of ${RUNS}, start to result)`);
  for (const type of TYPES) console.log(`${type.padEnd(20)}${String(without[type]).padStart(18)}${String(withOurs[type]).padStart(16)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
