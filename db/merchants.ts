import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import { iso } from './pool';

export type Merchant = { id: string; object: 'merchant'; name: string; settlement_currency: string | null; created_at: string };

export const hashApiKey = (key: string): string => createHash('sha256').update(key).digest('hex');

type Row = { id: string; name: string; settlement_currency: string | null; created_at: Date };
const toMerchant = (r: Row): Merchant => ({
  id: r.id,
  object: 'merchant',
  name: r.name,
  settlement_currency: r.settlement_currency,
  created_at: iso(r.created_at),
});

export async function insertMerchant(pool: Pool, m: { id: string; name: string; settlementCurrency: string | null; apiKey: string }): Promise<Merchant> {
  const { rows } = await pool.query<Row>(
    `INSERT INTO merchants (id, name, settlement_currency, api_key_hash) VALUES ($1, $2, $3, $4)
     RETURNING id, name, settlement_currency, created_at`,
    [m.id, m.name, m.settlementCurrency, hashApiKey(m.apiKey)],
  );
  return toMerchant(rows[0]!);
}

export async function findMerchantById(pool: Pool, id: string): Promise<Merchant | undefined> {
  const { rows } = await pool.query<Row>('SELECT id, name, settlement_currency, created_at FROM merchants WHERE id = $1', [id]);
  return rows[0] && toMerchant(rows[0]);
}

export async function findMerchantByApiKey(pool: Pool, apiKey: string): Promise<Merchant | undefined> {
  const { rows } = await pool.query<Row>('SELECT id, name, settlement_currency, created_at FROM merchants WHERE api_key_hash = $1', [
    hashApiKey(apiKey),
  ]);
  return rows[0] && toMerchant(rows[0]);
}
