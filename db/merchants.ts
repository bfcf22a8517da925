import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import { iso, prepared } from './pool';

export type Merchant = {
  id: string;
  object: 'merchant';
  name: string;
  settlement_currency: string | null;
  /** Our FX margin on its cross-border payments, in basis points below the mid rate. */
  fx_margin_bps: number;
  created_at: string;
};

/**
 * Who a request acts for: a merchant in one mode. Every query that reads or changes a merchant's
 * objects is scoped by both, so a test key never sees live objects, nor the other way round.
 */
export type Tenant = { merchantId: string; livemode: boolean };

export const hashApiKey = (key: string): string => createHash('sha256').update(key).digest('hex');

type Row = { id: string; name: string; settlement_currency: string | null; fx_margin_bps: number; created_at: Date };
const COLUMNS = 'id, name, settlement_currency, fx_margin_bps, created_at';
const toMerchant = (r: Row): Merchant => ({
  id: r.id,
  object: 'merchant',
  name: r.name,
  settlement_currency: r.settlement_currency,
  fx_margin_bps: r.fx_margin_bps,
  created_at: iso(r.created_at),
});

export async function insertMerchant(
  pool: Pool,
  m: { id: string; name: string; settlementCurrency: string | null; fxMarginBps: number; apiKey: string; liveApiKey: string },
): Promise<Merchant> {
  const { rows } = await pool.query<Row>(
    // A rerun for the same id (its first run died before answering) issues new keys: the first ones were never shown.
    `INSERT INTO merchants (id, name, settlement_currency, fx_margin_bps, api_key_hash, live_api_key_hash) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (id) DO UPDATE SET api_key_hash = EXCLUDED.api_key_hash, live_api_key_hash = EXCLUDED.live_api_key_hash
     RETURNING ${COLUMNS}`,
    [m.id, m.name, m.settlementCurrency, m.fxMarginBps, hashApiKey(m.apiKey), hashApiKey(m.liveApiKey)],
  );
  return toMerchant(rows[0]!);
}

export async function findMerchantById(pool: Pool, id: string): Promise<Merchant | undefined> {
  const { rows } = await pool.query<Row>(`SELECT ${COLUMNS} FROM merchants WHERE id = $1`, [id]);
  return rows[0] && toMerchant(rows[0]);
}

type KeyOwner = Merchant & { livemode: boolean };

/**
 * The owners of keys this process has seen, per database, for a minute. A key's merchant and
 * mode never change once issued (a rerun of a merchant's creation issues keys that were never
 * shown; `setLiveApiKey` forgets them), so a request need not ask the database again. Unknown
 * keys are not kept: a new merchant's key works at once. Kept by the key's hash, never the key.
 */
const KEY_OWNER_TTL_MS = 60_000;
const KEY_OWNERS_KEPT = 10_000;
const keyOwners = new WeakMap<Pool, Map<string, { owner: KeyOwner; until: number }>>();

/** The merchant a key belongs to, and the mode the key acts in. */
export async function findMerchantByApiKey(pool: Pool, apiKey: string): Promise<KeyOwner | undefined> {
  const hash = hashApiKey(apiKey);
  let seen = keyOwners.get(pool);
  const kept = seen?.get(hash);
  if (kept && kept.until > Date.now()) return kept.owner;
  const { rows } = await pool.query<Row & { livemode: boolean }>(prepared(
    `SELECT ${COLUMNS}, live_api_key_hash = $1 AS livemode FROM merchants
     WHERE api_key_hash = $1 OR live_api_key_hash = $1`,
    [hash],
  ));
  if (!rows[0]) return undefined;
  const owner = { ...toMerchant(rows[0]), livemode: rows[0].livemode === true };
  if (!seen) keyOwners.set(pool, (seen = new Map()));
  seen.delete(hash);
  // The oldest entry goes first (a Map keeps insertion order).
  if (seen.size >= KEY_OWNERS_KEPT) seen.delete(seen.keys().next().value!);
  seen.set(hash, { owner, until: Date.now() + KEY_OWNER_TTL_MS });
  return owner;
}

export async function setLiveApiKey(pool: Pool, merchantId: string, liveApiKey: string): Promise<void> {
  await pool.query('UPDATE merchants SET live_api_key_hash = $2 WHERE id = $1', [merchantId, hashApiKey(liveApiKey)]);
  keyOwners.delete(pool);
}
