import type { Pool } from 'pg';
import type { RoutingConfig } from '../routing/rules';
import type { Tenant } from './merchants';
import { iso, prepared } from './pool';

export type StoredRouting = RoutingConfig & { updated_at: string | null };

export async function findRouting(pool: Pool, tenant: Tenant): Promise<StoredRouting | undefined> {
  const { rows } = await pool.query<{ config: RoutingConfig; updated_at: Date }>(
    prepared('SELECT config, updated_at FROM routing_configs WHERE merchant_id = $1 AND livemode = $2', [tenant.merchantId, tenant.livemode]),
  );
  return rows[0] && { ...rows[0].config, updated_at: iso(rows[0].updated_at) };
}

/** Replaces the whole document: rules are an ordered list, so a partial update would be ambiguous. */
export async function saveRouting(pool: Pool, tenant: Tenant, config: RoutingConfig): Promise<StoredRouting> {
  const { rows } = await pool.query<{ updated_at: Date }>(
    `INSERT INTO routing_configs (merchant_id, livemode, config) VALUES ($1, $2, $3)
     ON CONFLICT (merchant_id, livemode) DO UPDATE SET config = EXCLUDED.config, updated_at = now() RETURNING updated_at`,
    [tenant.merchantId, tenant.livemode, JSON.stringify(config)],
  );
  return { ...config, updated_at: iso(rows[0]!.updated_at) };
}
