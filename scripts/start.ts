import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { newApiKey } from '../api/routes/merchants';
import { ConfigError, loadConfig } from '../config';
import { migrate } from '../db/migrate';
import { findMerchantByApiKey, insertMerchant, setLiveApiKey } from '../db/merchants';
import { newId } from '../domain/ids';
import { createLogger } from '../runtime/logger';
import { startServices } from '../runtime/services';
import { startDevTemporal } from './dev-temporal';
import type { EmbeddedDatabase } from './embedded-postgres';
import { startEmbeddedPostgres } from './embedded-postgres';
import { startTemporalServer } from './temporal-server';
import { newPayloadKeySpec } from '../runtime/codec';
import { installSdkRuntime } from '../runtime/sdk-runtime';
import { freePort } from './ports';

type DevSecrets = { adminApiKey: string; demoMerchantKey?: string; demoMerchantLiveKey?: string; payloadKeys?: string; sandboxWebhookSecret?: string };

/**
 * Local-only keys of the embedded stack, kept under DATA_DIR (mode 0600) so every start prints
 * the same ones. A real deployment passes ADMIN_API_KEY and never uses this file.
 */
function loadDevSecrets(dataDir: string): DevSecrets & { save: () => void } {
  const file = path.join(dataDir, 'dev-secrets.json');
  const secrets: DevSecrets = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : { adminApiKey: `adm_${randomBytes(24).toString('base64url')}` };
  const save = () => {
    const { save: _save, ...kept } = secrets as DevSecrets & { save?: unknown };
    writeFileSync(file, JSON.stringify(kept, null, 2));
    chmodSync(file, 0o600);
  };
  return Object.assign(secrets, { save });
}

/** Loopback only: what `npm start` lets webhook endpoints reach by default. */
export const LOCAL_NETWORKS = '127.0.0.0/8,::1/128';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL, config.LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json'));
  // The ports npm start binds later must not be handed to the SDK's exporter or PostgreSQL first.
  const laterPorts = [config.PORT, config.TEMPORAL_PORT, config.TEMPORAL_UI_PORT];
  const sdkMetricsUrl = installSdkRuntime(log, config.SDK_METRICS_PORT || (await freePort(laterPorts)));
  const dataDir = path.resolve(config.DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  const secrets = loadDevSecrets(dataDir);
  secrets.payloadKeys ??= newPayloadKeySpec('dev1');
  secrets.save();
  const apiUrl = `http://${config.HOST}:${config.PORT}`;
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((err) => log.error({ err }, 'stop failed'));
  };

  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    // embedded-postgres (async-exit-hook) would stop PostgreSQL and exit on its own, racing the
    // ordered shutdown below and orphaning the Temporal dev server: this handler is the only one.
    process.removeAllListeners(signal);
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      console.log(`\n${signal}: stopping the API, the worker, Temporal and PostgreSQL...`);
      stopAll().then(() => process.exit(0));
    });
  }

  try {
    let databaseUrl = config.DATABASE_URL;
    let embedded: EmbeddedDatabase | undefined;
    if (!databaseUrl) {
      embedded = await startEmbeddedPostgres(path.join(dataDir, 'postgres'), (m) => log.debug({ component: 'postgres' }, m), await freePort(laterPorts));
      stops.push(embedded.stop);
      databaseUrl = embedded.url;
    }
    await migrate(databaseUrl);

    let temporalAddress = config.TEMPORAL_ADDRESS;
    let uiUrl = 'your Temporal cluster UI';
    if (!temporalAddress && config.TEMPORAL_BACKEND === 'server') {
      if (!embedded) throw new ConfigError('TEMPORAL_BACKEND=server runs Temporal on the embedded PostgreSQL: unset DATABASE_URL, or run your own server and set TEMPORAL_ADDRESS.');
      const temporal = await startTemporalServer({
        dir: path.join(dataDir, 'temporal-server'), adminUrl: embedded.adminUrl, numHistoryShards: config.TEMPORAL_NUM_HISTORY_SHARDS,
        databasePrefix: `temporal_${config.TEMPORAL_NUM_HISTORY_SHARDS}_shards`, namespace: config.TEMPORAL_NAMESPACE, retention: config.TEMPORAL_RETENTION,
        port: config.TEMPORAL_PORT, uiPort: config.TEMPORAL_UI_PORT, codecEndpoint: `${apiUrl}/codec`, log: (m) => log.info({ component: 'temporal-server' }, m),
      });
      stops.push(temporal.stop);
      temporalAddress = temporal.address;
      uiUrl = temporal.uiUrl ?? 'none (temporal-ui-server did not build)';
    }
    if (!temporalAddress) {
      const temporal = await startDevTemporal({
        dataDir, port: config.TEMPORAL_PORT, uiPort: config.TEMPORAL_UI_PORT, namespace: config.TEMPORAL_NAMESPACE, codecEndpoint: `${apiUrl}/codec`,
        log: (m) => console.log(m),
      });
      stops.push(temporal.stop);
      temporalAddress = temporal.address;
      uiUrl = temporal.uiUrl;
    }

    const adminApiKey = config.ADMIN_API_KEY ?? secrets.adminApiKey;
    const services = await startServices(
      {
        ...config,
        ADMIN_API_KEY: adminApiKey,
        PAYLOAD_ENCRYPTION_KEYS: config.PAYLOAD_ENCRYPTION_KEYS ?? secrets.payloadKeys,
        // Local only: the embedded UI decrypts through the API's /codec without a token.
        CODEC_OPEN: 'true',
        // Local only: a generated secret, kept with the other dev secrets (production sets its own).
        SANDBOX_WEBHOOK_SECRET: config.SANDBOX_WEBHOOK_SECRET ?? (secrets.sandboxWebhookSecret ??= `sbx_${randomBytes(24).toString('base64url')}`),
        // On a laptop the merchant's receiver is usually on this machine too.
        WEBHOOK_ALLOWED_NETWORKS: process.env.WEBHOOK_ALLOWED_NETWORKS ?? LOCAL_NETWORKS,
      },
      { databaseUrl, temporalAddress },
      log,
      { sdkMetricsUrl },
    );
    stops.push(services.stop);

    const demo = secrets.demoMerchantKey ? await findMerchantByApiKey(services.pool, secrets.demoMerchantKey) : undefined;
    if (!demo) {
      secrets.demoMerchantKey = newApiKey(false);
      secrets.demoMerchantLiveKey = newApiKey(true);
      await insertMerchant(services.pool, { id: newId('mer'), name: 'Demo shop', settlementCurrency: null, fxMarginBps: services.context.config.FX_DEFAULT_MARGIN_BPS, apiKey: secrets.demoMerchantKey, liveApiKey: secrets.demoMerchantLiveKey });
    } else if (!secrets.demoMerchantLiveKey || !(await findMerchantByApiKey(services.pool, secrets.demoMerchantLiveKey))) {
      // A demo merchant from before modes existed gets its live key now.
      secrets.demoMerchantLiveKey = newApiKey(true);
      await setLiveApiKey(services.pool, demo.id, secrets.demoMerchantLiveKey);
    }
    secrets.save();

    console.log(`
Payment orchestrator is running.

  API            ${services.url}
  Temporal UI    ${uiUrl}
  Temporal       ${temporalAddress} (namespace ${config.TEMPORAL_NAMESPACE})
  Data           ${dataDir}
  Admin key      ${adminApiKey}
  Demo merchant  ${secrets.demoMerchantKey}   (test mode: the sandbox and test credentials)
  Live key       ${secrets.demoMerchantLiveKey}   (live mode: real providers only)

  Try it:
    curl -s ${services.url}/v1/payments -H "Authorization: Bearer ${secrets.demoMerchantKey}" \\
      -H "Content-Type: application/json" -d '{"amount":1999,"currency":"USD","payment_method":{"type":"card","token":"tok_ok"}}'

Ctrl-C stops everything; in-flight payments resume at the next start.
`);
  } catch (err) {
    await stopAll();
    throw err;
  }
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : `Could not start: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(1);
});
