import type { Tracer } from '@opentelemetry/api';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { Config } from '../config';
import type { EncryptionCodec } from '../runtime/codec';
import type { Logger } from '../runtime/logger';
import type { EventDispatcher } from '../runtime/event-dispatch';
import type { Metrics } from '../runtime/metrics';
import type { SecretBox } from '../runtime/secret-box';
import type { UrlGuard } from '../runtime/url-guard';
import type { Providers } from '../runtime/providers';
import type { FxService } from '../runtime/fx';
import type { CircuitBreaker } from '../routing/circuit-breaker';
import type { CreditIntake } from '../bank/intake';

/** What the HTTP layer needs; built once by the server (or a test) and passed to `createApp`. */
export type ApiContext = {
  config: Config;
  pool: Pool;
  temporal: Client;
  providers: Providers;
  /** Where incoming bank credits are stored and matched. */
  intake: CreditIntake;
  /** Provider health (circuit breakers per provider and mode), shown to operators. */
  circuits: CircuitBreaker;
  log: Logger;
  /** The payload codec, also served at /codec for the Temporal UI. */
  codec: EncryptionCodec;
  metrics: Metrics;
  /** Starts webhook deliveries (resend). */
  dispatcher: EventDispatcher;
  /** Seals webhook endpoint secrets at rest. */
  secrets: SecretBox;
  /** Refuses webhook URLs into private networks. */
  urlGuard: UrlGuard;
  /** Exchange rates and quotes. */
  fx: FxService;
  /** Set when tracing is on: one span per request. */
  tracer?: Tracer;
};
