import { NativeConnection, Worker } from '@temporalio/worker';

/** The floor's worker as its own process (B4 measures its RSS): bench/floor.workflows.ts and a no-op activity. */
async function main() {
  const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS! });
  const worker = await Worker.create({ connection, taskQueue: process.env.TEMPORAL_TASK_QUEUE!, workflowsPath: require.resolve('./floor.workflows'), activities: { noop: async () => 'ok' } });
  const running = worker.run();
  console.log('worker running');
  process.once('SIGTERM', () => worker.shutdown());
  await running;
  await connection.close();
}

void main();
