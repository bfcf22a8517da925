import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode } from '@temporalio/worker';
import { migrate } from '../../db/migrate';
import { FAILURE_CONVERTER_PATH } from '../../runtime/codec';
import type { EmbeddedDatabase } from '../../scripts/embedded-postgres';
import { startEmbeddedPostgres } from '../../scripts/embedded-postgres';
import { DEV_SERVER_DYNAMIC_CONFIG, resolveTemporalExecutable } from '../../scripts/temporal-cli';
import { startTemporalServer } from '../../scripts/temporal-server';
import { PAYMENT_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';
import { newTestDir, writeInfra } from './infra';

/**
 * Starts the real stack once per run: PostgreSQL (embedded binaries) and Temporal: the CLI's dev
 * server, or with TEMPORAL_BACKEND=server the real server on that PostgreSQL (the compose topology).
 */
export default async function globalSetup(): Promise<void> {
  const dir = newTestDir();
  process.env.PAYMENTS_TEST_INFRA = path.join(dir, 'infra.json');
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const bundling = bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'), failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: { log() {}, info() {}, warn() {}, error: console.error, debug() {}, trace() {} } as never,
  });
  const realServer = process.env.TEMPORAL_BACKEND === 'server';
  let db: EmbeddedDatabase;
  let temporal: { address: string; namespace: string; stop: () => Promise<void> };
  if (realServer) {
    db = await startEmbeddedPostgres(path.join(dir, 'pg'));
    const server = await startTemporalServer({ dir: path.join(dir, 'temporal'), adminUrl: db.adminUrl, log });
    temporal = server;
  } else {
    let env: TestWorkflowEnvironment;
    [db, env] = await Promise.all([
      startEmbeddedPostgres(path.join(dir, 'pg')),
      TestWorkflowEnvironment.createLocal({
        server: {
          executable: resolveTemporalExecutable({ log }),
          searchAttributes: PAYMENT_SEARCH_ATTRIBUTES,
          // History in memory: nothing outlives the run, and a file (SQLite's full sync per commit on
          // the server's one connection) stalled calls for seconds under the tests' bursts.
          log: { format: 'pretty', level: 'warn' },
          // The server's configuration as `npm start` runs it.
          extraArgs: DEV_SERVER_DYNAMIC_CONFIG,
        },
      }),
    ]);
    temporal = { address: env.address, namespace: env.namespace ?? 'default', stop: () => env.teardown() };
  }
  const bundle = await bundling;
  await migrate(db.url);
  const workflowBundlePath = path.join(dir, 'workflow-bundle.js');
  writeFileSync(workflowBundlePath, bundle.code);
  writeInfra({ databaseUrl: db.url, temporalAddress: temporal.address, namespace: temporal.namespace, workflowBundlePath, dir });
  (globalThis as Record<string, unknown>).__paymentsInfra = { db, temporal };
}
