import { ConfigError, loadConfig } from '../config';
import { createLogger } from '../runtime/logger';
import { startServices } from '../runtime/services';

/** `npm run worker`: a worker alone, against an existing Temporal and PostgreSQL (scale out). */
async function main() {
  const config = loadConfig();
  if (!config.DATABASE_URL) throw new ConfigError('Invalid configuration:\n  DATABASE_URL: required for `npm run worker` (npm start runs an embedded one)');
  const log = createLogger(config.LOG_LEVEL);
  const services = await startServices(config, { databaseUrl: config.DATABASE_URL, temporalAddress: config.TEMPORAL_ADDRESS ?? `127.0.0.1:${config.TEMPORAL_PORT}` }, log, { api: false });
  log.info({ taskQueue: config.TEMPORAL_TASK_QUEUE }, 'worker running');
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void services.stop().then(() => process.exit(0)));
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : `Worker failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
