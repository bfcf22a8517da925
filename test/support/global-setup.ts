import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode } from '@temporalio/worker';
import { migrate } from '../../db/migrate';
import { FAILURE_CONVERTER_PATH } from '../../runtime/codec';
import { startEmbeddedPostgres } from '../../scripts/embedded-postgres';
import { resolveTemporalExecutable } from '../../scripts/temporal-cli';
import { PAYMENT_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';
import { newTestDir, writeInfra } from './infra';

/** Starts the real stack once per run: PostgreSQL (embedded binaries) and the Temporal dev server. */
export default async function globalSetup(): Promise<void> {
  const dir = newTestDir();
  process.env.PAYMENTS_TEST_INFRA = path.join(dir, 'infra.json');
  const [db, env, bundle] = await Promise.all([
    startEmbeddedPostgres(path.join(dir, 'pg')),
    TestWorkflowEnvironment.createLocal({
      server: {
        executable: resolveTemporalExecutable({ log: (m) => process.stderr.write(`${m}\n`) }),
        searchAttributes: PAYMENT_SEARCH_ATTRIBUTES,
        dbFilename: path.join(dir, 'temporal.db'),
        log: { format: 'pretty', level: 'warn' },
      },
    }),
    bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), failureConverterPath: FAILURE_CONVERTER_PATH, logger: { log() {}, info() {}, warn() {}, error: console.error, debug() {}, trace() {} } as never }),
  ]);
  await migrate(db.url);
  const workflowBundlePath = path.join(dir, 'workflow-bundle.js');
  writeFileSync(workflowBundlePath, bundle.code);
  writeInfra({ databaseUrl: db.url, temporalAddress: env.address, namespace: env.namespace ?? 'default', workflowBundlePath, dir });
  (globalThis as Record<string, unknown>).__paymentsInfra = { db, env };
}
