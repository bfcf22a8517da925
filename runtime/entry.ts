import http from 'node:http';
import { mayScrape } from './metrics';
import { ConfigError, loadConfig } from '../config';
import { migrate } from '../db/migrate';
import { freePort } from '../scripts/ports';
import { createLogger } from './logger';
import { installSdkRuntime } from './sdk-runtime';
import { startServices } from './services';

/**
 * `npm run api` / `npm run worker`: one role alone, against an existing Temporal and
 * PostgreSQL, to scale each out separately. The API applies pending migrations first.
 */
export function runRole(role: 'api' | 'worker'): void {
  const main = async () => {
    const config = loadConfig();
    if (!config.DATABASE_URL) throw new ConfigError(`Invalid configuration:\n  DATABASE_URL: required for \`npm run ${role}\` (npm start runs an embedded one)`);
    const log = createLogger(config.LOG_LEVEL, config.LOG_FORMAT);
    if (role === 'api') await migrate(config.DATABASE_URL);
    const sdkMetricsUrl = role === 'worker' ? installSdkRuntime(log, config.SDK_METRICS_PORT || (await freePort())) : undefined;
    const temporalAddress = config.TEMPORAL_ADDRESS ?? `127.0.0.1:${config.TEMPORAL_PORT}`;
    const services = await startServices(config, { databaseUrl: config.DATABASE_URL, temporalAddress }, log, { api: role === 'api', worker: role === 'worker', sdkMetricsUrl });
    if (role === 'worker') {
      const { registry } = services.context.metrics;
      const server = http.createServer(async (req, res) => {
        // The health check: healthy only while the worker polls its task queue (not once it stops or fails).
        if (req.url === '/healthz') {
          const state = services.worker?.getState();
          return void res.writeHead(state === 'RUNNING' ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ worker: state }));
        }
        if (req.url !== '/metrics') return void res.writeHead(404).end();
        if (!mayScrape(config.METRICS_AUTH_TOKEN, req.headers.authorization)) return void res.writeHead(401).end();
        res.writeHead(200, { 'content-type': registry.contentType }).end(await services.context.metrics.text());
      });
      server.listen(config.WORKER_METRICS_PORT, config.HOST);
      server.unref();
    }
    log.info(role === 'api' ? { url: services.url } : { taskQueue: config.TEMPORAL_TASK_QUEUE, metrics: config.WORKER_METRICS_PORT }, role === 'api' ? 'API listening' : 'worker running');
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void services.stop().then(() => process.exit(0)));
  };
  main().catch((err) => {
    console.error(err instanceof ConfigError ? err.message : `${role} failed to start: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
