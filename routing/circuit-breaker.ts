import type { Pool } from 'pg';
import type { Write } from '../db/pool';
import { asOneStatement } from '../db/pool';
import type { ProviderName } from '../domain/payment';

export type CircuitState = 'closed' | 'open' | 'half_open';
export type CircuitOptions = { failureThreshold: number; openMs: number };

export type ProviderHealth = {
  provider: ProviderName; livemode: boolean; state: CircuitState; consecutive_failures: number;
  opened_at: Date | null; last_failure: string | null; last_failure_at: Date | null; last_success_at: Date | null;
};

/**
 * One circuit breaker per provider and mode, kept in PostgreSQL so that every worker and API
 * process sees the same health. Closed: calls go through and consecutive faults are counted;
 * at the threshold it opens and authorizations go to the next candidate without trying. After
 * `openMs` one call is let through as a probe (half-open): its success closes the circuit, its
 * failure opens it again. A probe that never reports back frees its slot after another `openMs`.
 */
export class CircuitBreaker {
  constructor(private readonly pool: Pool, private readonly opts: CircuitOptions) {}

  /** Whether an authorization may be sent to this provider now. */
  async allow(provider: ProviderName, livemode: boolean): Promise<boolean> {
    const { rows } = await this.pool.query<{ allowed: boolean }>(
      `WITH probe AS (
         UPDATE provider_health SET state = 'half_open', probe_until = now() + ($3::bigint * interval '1 millisecond'), updated_at = now()
         WHERE provider = $1 AND livemode = $2
           AND ((state = 'open' AND opened_at + ($3::bigint * interval '1 millisecond') <= now()) OR (state = 'half_open' AND probe_until <= now()))
         RETURNING 1)
       SELECT EXISTS (SELECT 1 FROM probe)
           OR NOT EXISTS (SELECT 1 FROM provider_health WHERE provider = $1 AND livemode = $2 AND state <> 'closed') AS allowed`,
      [provider, livemode, this.opts.openMs],
    );
    return rows[0]?.allowed ?? true;
  }

  /**
   * An answer from the provider closes its circuit and clears its faults, as one of a statement's
   * writes: a capture written by the call that made it carries it. A clean circuit is written at
   * most once a second.
   */
  successWrite(provider: ProviderName, livemode: boolean): Write {
    return {
      name: 'provider_answered',
      sql: `UPDATE provider_health SET state = 'closed', consecutive_failures = 0, opened_at = NULL, probe_until = NULL, last_success_at = now(), updated_at = now()
       WHERE provider = $1 AND livemode = $2 AND (state <> 'closed' OR consecutive_failures > 0 OR last_success_at IS NULL OR last_success_at < now() - interval '1 second')`,
      params: [provider, livemode],
    };
  }

  async recordSuccess(provider: ProviderName, livemode: boolean): Promise<void> {
    await this.pool.query(asOneStatement([this.successWrite(provider, livemode)], 'SELECT NULL'));
  }

  /** A fault (not a decline): counted, and the circuit opens at the threshold or when a probe fails. */
  async recordFailure(provider: ProviderName, livemode: boolean, reason: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO provider_health AS h (provider, livemode, state, consecutive_failures, opened_at, last_failure, last_failure_at)
       VALUES ($1, $2, CASE WHEN $3::int <= 1 THEN 'open' ELSE 'closed' END, 1, CASE WHEN $3::int <= 1 THEN now() END, $4, now())
       ON CONFLICT (provider, livemode) DO UPDATE SET
         consecutive_failures = h.consecutive_failures + 1,
         state = CASE WHEN h.state = 'half_open' OR h.consecutive_failures + 1 >= $3 THEN 'open' ELSE h.state END,
         opened_at = CASE WHEN h.state = 'half_open' OR (h.state = 'closed' AND h.consecutive_failures + 1 >= $3) THEN now() ELSE h.opened_at END,
         probe_until = NULL, last_failure = $4, last_failure_at = now(), updated_at = now()`,
      [provider, livemode, this.opts.failureThreshold, reason.slice(0, 500)],
    );
  }

  async all(): Promise<ProviderHealth[]> {
    const { rows } = await this.pool.query<ProviderHealth>(
      `SELECT provider, livemode, state, consecutive_failures, opened_at, last_failure, last_failure_at, last_success_at FROM provider_health ORDER BY provider, livemode`,
    );
    return rows;
  }
}
