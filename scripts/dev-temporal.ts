import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { PAYMENT_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { resolveTemporalExecutable } from './temporal-cli';

export type DevTemporal = { address: string; uiUrl: string; stop: () => Promise<void> };

/**
 * The Temporal dev server (the official CLI's `server start-dev`) with its Web UI, history in a
 * SQLite file under `dataDir` so in-flight payments survive a restart, and our search
 * attributes registered. Launched through the SDK's ephemeral-server support, which also
 * falls back to the SDK's cached download when no CLI is installed.
 */
export async function startDevTemporal(opts: {
  dataDir: string; port: number; uiPort: number; namespace: string; codecEndpoint?: string; log?: (m: string) => void;
}): Promise<DevTemporal> {
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: resolveTemporalExecutable({ log: opts.log }),
      ip: '127.0.0.1',
      port: opts.port,
      ui: true,
      uiPort: opts.uiPort,
      namespace: opts.namespace,
      dbFilename: path.join(path.resolve(opts.dataDir), 'temporal.db'),
      searchAttributes: PAYMENT_SEARCH_ATTRIBUTES,
      log: { format: 'json', level: 'warn' },
      // The UI decrypts payloads in the browser through our codec endpoint.
      ...(opts.codecEndpoint ? { extraArgs: ['--ui-codec-endpoint', opts.codecEndpoint] } : {}),
    },
  });
  return { address: env.address, uiUrl: `http://127.0.0.1:${opts.uiPort}`, stop: () => env.teardown() };
}
