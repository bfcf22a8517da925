import path from 'node:path';
import { ConfigError, loadConfig } from '../config';
import { startEmbeddedPostgres } from './embedded-postgres';
import { startTemporalServer } from './temporal-server';

/**
 * `npm run temporal:server`: the real Temporal server on its own embedded PostgreSQL, with the UI,
 * until Ctrl-C (builds the binaries into .tools/ the first time). Point anything at it with
 * TEMPORAL_ADDRESS; `TEMPORAL_BACKEND=server npm start` runs the same next to the app instead.
 */
async function main() {
  const config = loadConfig();
  const dir = path.resolve(config.DATA_DIR, 'temporal-server-standalone');
  const db = await startEmbeddedPostgres(path.join(dir, 'postgres'));
  const shards = config.TEMPORAL_NUM_HISTORY_SHARDS;
  const server = await startTemporalServer({
    dir, adminUrl: db.adminUrl, numHistoryShards: shards, databasePrefix: `temporal_${shards}_shards`, namespace: config.TEMPORAL_NAMESPACE,
    retention: config.TEMPORAL_RETENTION, port: config.TEMPORAL_PORT, uiPort: config.TEMPORAL_UI_PORT, log: console.log,
  });
  console.log(`\nTemporal server ${server.address} (namespace ${server.namespace}, ${shards} history shards), UI ${server.uiUrl ?? 'not built'}; logs in ${dir}. Ctrl-C stops it.`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.removeAllListeners(signal);
    process.once(signal, () => void server.stop().then(db.stop).then(() => process.exit(0)));
  }
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : err instanceof Error ? err.message : String(err));
  process.exit(1);
});
