import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { EphemeralServerExecutable } from '@temporalio/testing';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { PAYMENT_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { DEV_SERVER_DYNAMIC_CONFIG, resolveTemporalExecutable } from './temporal-cli';

export type DevTemporal = { address: string; uiUrl: string; stop: () => Promise<void> };

/**
 * The dev server's own log goes to `<dataDir>/temporal.log`, not into ours: a small launcher
 * execs the CLI with its output appended there (the SDK starts the executable it is given).
 */
function logToFile(exe: EphemeralServerExecutable, dataDir: string): EphemeralServerExecutable {
  if (exe.type !== 'existing-path' || process.platform === 'win32') return exe;
  mkdirSync(dataDir, { recursive: true });
  const launcher = path.join(path.resolve(dataDir), 'temporal-cli.sh');
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  writeFileSync(launcher, `#!/bin/sh\nexec ${quote(exe.path)} "$@" >>${quote(path.join(path.resolve(dataDir), 'temporal.log'))} 2>&1\n`, { mode: 0o755 });
  return { type: 'existing-path', path: launcher };
}

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
      executable: logToFile(resolveTemporalExecutable({ log: opts.log }), opts.dataDir),
      ip: '127.0.0.1',
      port: opts.port,
      ui: true,
      uiPort: opts.uiPort,
      namespace: opts.namespace,
      dbFilename: path.join(path.resolve(opts.dataDir), 'temporal.db'),
      searchAttributes: PAYMENT_SEARCH_ATTRIBUTES,
      log: { format: 'json', level: 'warn' },
      extraArgs: [
        ...DEV_SERVER_DYNAMIC_CONFIG,
        // SQLite's defaults (a rollback journal, a full sync per commit) on the server's single
        // connection made every history write wait on the disk: calls stalled for seconds under bursts.
        // WAL with NORMAL sync survives a crash of the server (not of the machine), which is what a dev server needs.
        '--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal',
        // The UI decrypts payloads in the browser through our codec endpoint.
        ...(opts.codecEndpoint ? ['--ui-codec-endpoint', opts.codecEndpoint] : []),
      ],
    },
  });
  return { address: env.address, uiUrl: `http://127.0.0.1:${opts.uiPort}`, stop: () => env.teardown() };
}
