import { readFileSync } from 'node:fs';
import { z } from 'zod';

const port = z.coerce.number().int().min(1).max(65535);
/** 0 lets the OS pick (tests). */
const listenPort = z.coerce.number().int().min(0).max(65535);
const durationMs = z.coerce.number().int().min(1);

/** Every setting comes from the environment and is checked once at boot. */
export const configSchema = z.object({
  PORT: listenPort.default(3000),
  HOST: z.string().default('127.0.0.1'),
  DATA_DIR: z.string().default('.data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** `pretty`: readable lines; `json` for collectors. Default: json, except `npm start` in a terminal. */
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
  ADMIN_API_KEY: z.string().min(16, 'ADMIN_API_KEY must be at least 16 characters').optional(),
  /** When set, an existing Temporal cluster is used and no dev server is started. */
  TEMPORAL_ADDRESS: z.string().optional(),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default('payments'),
  TEMPORAL_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  /** What `npm start` runs without TEMPORAL_ADDRESS: the CLI's dev server (SQLite), or the real server on PostgreSQL (`npm run temporal:server`). */
  TEMPORAL_BACKEND: z.enum(['dev', 'server']).default('dev'),
  /** The real server's history shards: fixed when its databases are first set up (another count gets other databases). */
  TEMPORAL_NUM_HISTORY_SHARDS: z.coerce.number().int().min(1).max(16384).default(4),
  /** How long the real server keeps closed workflows (a Go duration in hours, e.g. 720h: 30 days). */
  TEMPORAL_RETENTION: z.string().regex(/^\d+h$/, { error: 'hours, such as 720h' }).default('720h'),
  /**
   * Keys of the payload codec, `id:base64(32 bytes)` comma-separated, newest first: the first
   * encrypts, all decrypt. `npm start` generates one under DATA_DIR when unset.
   */
  PAYLOAD_ENCRYPTION_KEYS: z.string().optional(),
  /** Browser origins (comma-separated) allowed to call /codec: the Temporal UI's. */
  CODEC_CORS_ORIGINS: z.string().optional(),
  /** When set, /codec requires `Authorization: Bearer <token>`. */
  CODEC_AUTH_TOKEN: z.string().min(16).optional(),
  /**
   * Operators signed in to the Temporal UI through OIDC: /codec verifies the access token the UI
   * forwards (TEMPORAL_CODEC_PASS_ACCESS_TOKEN=true) against the issuer's keys at this JWKS URL,
   * its `iss` (CODEC_JWT_ISSUER, required with it), `aud` (CODEC_JWT_AUDIENCE, when set) and expiry.
   */
  CODEC_JWKS_URL: z.string().url().optional(),
  CODEC_JWT_ISSUER: z.string().min(1).optional(),
  CODEC_JWT_AUDIENCE: z.string().min(1).optional(),
  /**
   * Serves /codec on its own listener (HOST:CODEC_PORT), for operators only, instead of the API
   * port. Without it, the API port serves /codec only with CODEC_JWKS_URL or CODEC_AUTH_TOKEN, or with CODEC_OPEN.
   */
  CODEC_PORT: listenPort.optional(),
  /** Serve /codec on the API port without a token: local only (`npm start` sets it). */
  CODEC_OPEN: z.enum(['true', 'false']).default('false'),
  /**
   * Who may play the sandbox's simulated customer (`/sandbox/payments/:id/complete|fail`):
   * `key` — only the payment's merchant, with its test key; `open` — anyone who knows the payment
   * id (test money only; what API.md's walkthrough does). Default: `key` in production
   * (NODE_ENV=production, as the image sets), `open` otherwise.
   */
  SANDBOX_CUSTOMER_ACTIONS: z.enum(['key', 'open']).optional(),
  /** `production` in the image: some defaults are stricter there. */
  NODE_ENV: z.string().optional(),
  /** Exchange rates: `static` (FX_RATES, or the embedded table) or `ecb` (the ECB daily feed, refreshed by a Temporal Schedule). */
  FX_SOURCE: z.enum(['static', 'ecb']).default('static'),
  /** The static table, `USD=1.0812,HKD=8.4432,…` (1 EUR = x; optional `asOf=YYYY-MM-DD`). Unset: the embedded illustrative table. */
  FX_RATES: z.string().optional(),
  FX_ECB_URL: z.string().url().default('https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml'),
  /** How often the schedule fetches the ECB feed. */
  FX_REFRESH_EVERY_MS: durationMs.default(3600 * 1000),
  /** No quote on rates fetched longer ago than this (the feed skips weekends and TARGET holidays). */
  FX_MAX_RATE_AGE_HOURS: z.coerce.number().int().min(1).max(24 * 30).default(96),
  /** How long a quote can be used by a payment. */
  FX_QUOTE_TTL_SECONDS: z.coerce.number().int().min(10).max(24 * 3600).default(900),
  /** A new merchant's FX margin in basis points unless `POST /v1/merchants` sets one. */
  FX_DEFAULT_MARGIN_BPS: z.coerce.number().int().min(0).max(1000).default(0),
  /** When set, this PostgreSQL is used and no embedded one is started. */
  DATABASE_URL: z.string().url().optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  /**
   * Workflows a worker keeps in memory (sticky cache). Payments stay open for their refund window,
   * so the SDK's default (from the heap size, ~2 000 here) let memory grow with open payments; a cap
   * bounds it, and an evicted payment replays its short history when woken (bench/RESULTS.md).
   */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).default(100),
  /**
   * A workflow bundle built ahead (`npm run build:workflows`, as the image does): the worker loads
   * it instead of bundling at start. Must come from the same source as the worker. Ignored with
   * tracing on (its interceptors are bundled in).
   */
  WORKFLOW_BUNDLE_PATH: z.string().optional(),
  /** When set, /metrics (API and worker) requires `Authorization: Bearer <token>`. */
  METRICS_AUTH_TOKEN: z.string().min(16).optional(),
  /** Where `npm run worker` serves /metrics (the API serves its own on PORT). */
  WORKER_METRICS_PORT: listenPort.default(9464),
  /** Loopback port of the Temporal SDK's own metrics exporter (appended to /metrics); 0 picks a free one. */
  SDK_METRICS_PORT: listenPort.default(0),
  /** Tracing exporter: `none` (default), `otlp` (OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT) or `console`. */
  OTEL_TRACES_EXPORTER: z.enum(['none', 'otlp', 'console']).default('none'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().default('http://localhost:4318'),
  OTEL_SERVICE_NAME: z.string().default('temporal-payments'),
  /**
   * Which proxies in front of the API to trust for the client's address (rate limits of requests
   * without a valid key): `false` (default), `true`, a hop count, or addresses/subnets.
   */
  TRUST_PROXY: z.string().default('false'),
  /** Requests per minute per API key (429 beyond). */
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(6000),
  /** How long POST /v1/payments waits for the first provider round trip before answering 202. */
  SYNC_WAIT_MS: durationMs.default(10_000),
  /** An authorization not captured within this time is voided (card default: 7 days). */
  AUTHORIZATION_TTL_MS: durationMs.default(7 * 24 * 3600 * 1000),
  /** How long a customer has to finish a wallet, transfer or 3-D Secure step. */
  ACTION_TTL_MS: durationMs.default(15 * 60 * 1000),
  /** A payment's run continues as new past this many history events (besides the server's suggestion); for tests and drills. */
  PAYMENT_CONTINUE_AS_NEW_EVENTS: z.coerce.number().int().min(50).optional(),
  /** How long a captured payment stays open for refunds. */
  REFUND_WINDOW_MS: durationMs.default(180 * 24 * 3600 * 1000),
  /** Where the sandbox processor sends its signed notifications. Default: this API. */
  SANDBOX_NOTIFY_URL: z.string().url().optional(),
  /**
   * Signs the sandbox's notifications to /webhooks/sandbox. No built-in default: a known secret
   * would let anyone fake a test payment's outcome. `npm start` generates one; unset, the sandbox
   * sends none (payments are found by polling) and /webhooks/sandbox refuses every callback.
   */
  SANDBOX_WEBHOOK_SECRET: z.string().min(16).optional(),
  /** How long the sandbox's simulated customer takes to pay a wallet or transfer (tok_ok). */
  SANDBOX_CUSTOMER_DELAY_MS: z.coerce.number().int().min(0).default(2000),
  /** Latency the sandbox adds to every call (0 for benchmarks). */
  SANDBOX_LATENCY_MS: z.coerce.number().int().min(0).default(0),
  /**
   * With a key, `card` payments go to Stripe (`provider: "stripe"` forces it) in the key's own mode:
   * `sk_live_…`/`rk_live_…` serves live payments, any other key test payments (which the sandbox serves otherwise).
   */
  STRIPE_SECRET_KEY: z.string().min(8).optional(),
  /** Verifies `POST /webhooks/stripe` (`whsec_...`). */
  STRIPE_WEBHOOK_SECRET: z.string().min(8).optional(),
  /** Another Stripe API base, e.g. `http://127.0.0.1:12111` for stripe-mock or a local fake. */
  STRIPE_API_BASE: z.string().url().optional(),
  /** With all three set, `alipay` payments go to Alipay (`provider: "alipay"` forces it); the sandbox serves them otherwise. */
  ALIPAY_APP_ID: z.string().min(1).optional(),
  /** The app's RSA2 private key: PEM, or the bare base64 body Alipay's key tool prints (PKCS#8 or PKCS#1). */
  ALIPAY_PRIVATE_KEY: z.string().min(1).optional(),
  /** Alipay's public key for the app (not the app's own): verifies answers and notifications. */
  ALIPAY_PUBLIC_KEY: z.string().min(1).optional(),
  /** Alipay's production gateway by default (live mode); its sandbox (alipaydev.com) or a simulator on loopback serve test mode. */
  ALIPAY_GATEWAY: z.string().url().default('https://openapi.alipay.com/gateway.do'),
  /** Where Alipay POSTs notifications: must reach this API's /webhooks/alipay from the internet. Default: this API. */
  ALIPAY_NOTIFY_URL: z.string().url().optional(),
  /** How long one Alipay gateway call may take before its outcome counts as unknown. */
  ALIPAY_TIMEOUT_MS: durationMs.default(10_000),
  /** With the merchant id, app id, keys and APIv3 key set, `wechat_pay` payments go to WeChat Pay (API v3); the sandbox serves them otherwise. */
  WECHATPAY_MCHID: z.string().min(1).optional(),
  WECHATPAY_APPID: z.string().min(1).optional(),
  /** The merchant API certificate's serial number (names our key in request signatures). */
  WECHATPAY_MERCHANT_SERIAL: z.string().min(1).optional(),
  /** The merchant API private key (PEM; `\n` escapes allowed in one-line env files). */
  WECHATPAY_MERCHANT_PRIVATE_KEY: z.string().min(1).optional(),
  /** WeChat Pay's verification keys, JSON `{ "<platform cert serial or PUB_KEY_ID_…>": "<PEM public key>" }`: several during a switch-over. */
  WECHATPAY_PLATFORM_KEYS: z.string().min(1).optional(),
  /** The APIv3 key (32 characters): decrypts notifications. */
  WECHATPAY_APIV3_KEY: z.string().min(1).optional(),
  /** WeChat Pay's production host by default (live mode); a simulator on loopback serves test mode. */
  WECHATPAY_BASE_URL: z.string().url().default('https://api.mch.weixin.qq.com'),
  /** Where WeChat Pay POSTs notifications: the public https URL of /webhooks/wechat_pay (required with the real host). */
  WECHATPAY_NOTIFY_URL: z.string().url().optional(),
  WECHATPAY_TIMEOUT_MS: durationMs.default(10_000),
  /** How long one webhook delivery attempt may take before it counts as failed. */
  WEBHOOK_TIMEOUT_MS: durationMs.default(10_000),
  /** Delay before the first retry of a failed delivery; it doubles (with jitter) up to WEBHOOK_MAX_RETRY_MS. */
  WEBHOOK_FIRST_RETRY_MS: durationMs.default(10_000),
  WEBHOOK_MAX_RETRY_MS: durationMs.default(6 * 3600 * 1000),
  /** How long a delivery keeps retrying before it is marked failed (3 days, as Stripe). */
  WEBHOOK_RETRY_WINDOW_MS: durationMs.default(3 * 24 * 3600 * 1000),
  /**
   * Networks (CIDR, comma-separated) webhook URLs may reach although private or loopback.
   * Empty in production; `npm start` allows loopback so local receivers work.
   */
  WEBHOOK_ALLOWED_NETWORKS: z.string().default(''),
  /** How often each worker sweeps the event outbox for work a crash left unstarted; 0 turns it off (tests call the sweep themselves). */
  OUTBOX_SWEEP_MS: z.coerce.number().int().min(0).default(30_000),
  /** SMTP server for payer receipts, e.g. `smtp://user:pass@smtp.example.com:587`. Unset: no receipts. */
  SMTP_URL: z.string().url().optional(),
  RECEIPT_FROM: z.string().default('Payments <receipts@localhost>'),
  /**
   * The accounts bank transfers are paid into, per currency, as JSON:
   * `{ "EUR": { "iban": "…", "bic": "…", "account_holder_name": "…" }, "USD": { "account_number": "…", "bank_code": "…", "account_holder_name": "…" } }`.
   * Live mode takes bank transfers only when this is set (real accounts); test mode shows
   * BANK_TEST_ACCOUNTS, or example accounts marked as test ones.
   */
  BANK_ACCOUNTS: z.string().optional(),
  BANK_TEST_ACCOUNTS: z.string().optional(),
  /** How long a bank transfer's instructions stay valid unless the merchant's settings say otherwise. */
  BANK_TRANSFER_TTL_MS: durationMs.default(7 * 24 * 3600 * 1000),
  /** Signs `POST /webhooks/bank` (the bank's or aggregator's credit feed); unset, the endpoint refuses every call. */
  BANK_WEBHOOK_SECRET: z.string().min(16).optional(),
  /** A payment held for review waits this long for a decision, then RISK_REVIEW_DEFAULT decides. */
  RISK_REVIEW_TTL_MS: durationMs.default(24 * 3600 * 1000),
  RISK_REVIEW_DEFAULT: z.enum(['approve', 'reject']).default('reject'),
  /** An external scorer, POSTed each payment's attributes (signed with RISK_WEBHOOK_SECRET); its `score` (0–100) is usable in rules (`score_gte`). */
  RISK_WEBHOOK_URL: z.string().url().optional(),
  RISK_WEBHOOK_SECRET: z.string().min(16).optional(),
  /** Rules' `reference_amount_gte`/`_lt` compare amounts converted (mid rate) to this currency, in its minor units. */
  RISK_REFERENCE_CURRENCY: z.string().regex(/^[A-Z]{3}$/, { error: 'an ISO 4217 code in upper case, such as USD' }).default('USD'),
  /** The scorer's time to answer; past it the rules decide alone. */
  RISK_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(10).default(300),
  /** Reconciliation: when the daily runs start (HH:MM in RECONCILIATION_TIME_ZONE), each for the day before in its provider's time zone. */
  RECONCILIATION_AT: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: 'HH:MM' }).default('06:00'),
  RECONCILIATION_TIME_ZONE: z.string().refine((tz) => { try { new Intl.DateTimeFormat('en', { timeZone: tz }); return true; } catch { return false; } }, { error: 'an IANA time zone' }).default('UTC'),
  /** `off`: no daily schedules (runs only on demand). */
  RECONCILIATION_SCHEDULE: z.enum(['on', 'off']).default('on'),
  /** Days a movement may be missing from the provider's report before it counts as a mismatch (T+3 by default). */
  RECONCILIATION_GRACE_DAYS: z.coerce.number().int().min(0).max(30).default(3),
  /** The sandbox processor's fee on each capture: basis points of the amount, plus a fixed part in minor units. */
  SANDBOX_FEE_BPS: z.coerce.number().int().min(0).max(10_000).default(290),
  SANDBOX_FEE_FIXED: z.coerce.number().int().min(0).default(30),
  /** On SIGTERM the worker stops polling and lets activities in flight finish for this long before cancelling them. */
  WORKER_SHUTDOWN_GRACE_MS: durationMs.default(50_000),
  /** On SIGTERM the API stops accepting connections and lets requests in flight finish for this long. */
  API_SHUTDOWN_GRACE_MS: durationMs.default(25_000),
  /** Consecutive unreachable or timed-out calls after which a provider's circuit opens and routing skips it. */
  CIRCUIT_FAILURE_THRESHOLD: z.coerce.number().int().min(1).default(5),
  /** How long an open circuit stays open before one probe call is let through. */
  CIRCUIT_OPEN_MS: durationMs.default(30_000),
});

export type Config = z.infer<typeof configSchema>;

const ALIPAY_CREDENTIALS = ['ALIPAY_APP_ID', 'ALIPAY_PRIVATE_KEY', 'ALIPAY_PUBLIC_KEY'] as const;
const WECHATPAY_CREDENTIALS = ['WECHATPAY_MCHID', 'WECHATPAY_APPID', 'WECHATPAY_MERCHANT_SERIAL', 'WECHATPAY_MERCHANT_PRIVATE_KEY', 'WECHATPAY_PLATFORM_KEYS', 'WECHATPAY_APIV3_KEY'] as const;

export class ConfigError extends Error {}

/** Secrets that may come from a file instead (`<NAME>_FILE`, as the postgres image's file_env): Docker and Kubernetes secrets. */
export const SECRET_VARIABLES = [
  'ADMIN_API_KEY', 'PAYLOAD_ENCRYPTION_KEYS', 'DATABASE_URL', 'SANDBOX_WEBHOOK_SECRET', 'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'ALIPAY_PRIVATE_KEY',
  'WECHATPAY_MERCHANT_PRIVATE_KEY', 'WECHATPAY_APIV3_KEY', 'BANK_WEBHOOK_SECRET', 'RISK_WEBHOOK_SECRET', 'CODEC_AUTH_TOKEN', 'METRICS_AUTH_TOKEN', 'SMTP_URL',
] as const;

/** `X_FILE` read into `X` (one trailing newline dropped); both set is a mistake worth stopping for. */
function withSecretFiles(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of SECRET_VARIABLES) {
    const file = env[`${name}_FILE`];
    if (!file) continue;
    if (env[name]) throw new ConfigError(`Invalid configuration:\n  ${name}: set either ${name} or ${name}_FILE, not both`);
    try {
      out[name] = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigError(`Invalid configuration:\n  ${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  return out;
}

export function loadConfig(rawEnv: NodeJS.ProcessEnv = process.env): Config {
  const env = withSecretFiles(rawEnv);
  const parsed = configSchema.safeParse(env);
  const partial = parsed.success && ALIPAY_CREDENTIALS.some((k) => parsed.data[k]) && ALIPAY_CREDENTIALS.filter((k) => !parsed.data[k]);
  if (partial && partial.length > 0) throw new ConfigError(`Invalid configuration:\n  ${partial.join(', ')}: needed with the other Alipay credentials`);
  const partialWechat = parsed.success && WECHATPAY_CREDENTIALS.some((k) => parsed.data[k]) && WECHATPAY_CREDENTIALS.filter((k) => !parsed.data[k]);
  if (partialWechat && partialWechat.length > 0) throw new ConfigError(`Invalid configuration:\n  ${partialWechat.join(', ')}: needed with the other WeChat Pay credentials`);
  if (parsed.success && parsed.data.CODEC_JWKS_URL && !parsed.data.CODEC_JWT_ISSUER) {
    throw new ConfigError('Invalid configuration:\n  CODEC_JWT_ISSUER: required with CODEC_JWKS_URL (a token from any other issuer must not decrypt)');
  }
  if (parsed.success && parsed.data.RISK_WEBHOOK_URL && !parsed.data.RISK_WEBHOOK_SECRET) {
    throw new ConfigError('Invalid configuration:\n  RISK_WEBHOOK_SECRET: required with RISK_WEBHOOK_URL (the scorer must be able to tell our requests from forged ones)');
  }
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

export function sandboxNotifyUrl(config: Config): string {
  return config.SANDBOX_NOTIFY_URL ?? `http://${config.HOST}:${config.PORT}/webhooks/sandbox`;
}

export function wechatPayNotifyUrl(config: Config): string {
  return config.WECHATPAY_NOTIFY_URL ?? `http://${config.HOST}:${config.PORT}/webhooks/wechat_pay`;
}

export function alipayNotifyUrl(config: Config): string {
  return config.ALIPAY_NOTIFY_URL ?? `http://${config.HOST}:${config.PORT}/webhooks/alipay`;
}
