import type { PoolClient } from 'pg';
import type { ItemStatus } from '../reconciliation/match';
import type { SettlementLine } from '../reconciliation/report';
import type { Queryable } from './pool';
import { iso } from './pool';


export type RunStatus = 'running' | 'completed' | 'failed';
export type Totals = { currency: string; gross: number; fee: number; net: number; lines: number }[];

export type ReconciliationRun = {
  id: string;
  object: 'reconciliation_run';
  provider: string;
  livemode: boolean;
  date: string;
  status: RunStatus;
  counts: Partial<Record<ItemStatus, number>>;
  totals: Totals;
  failure: string | null;
  attempts: number;
  created_at: string;
  completed_at: string | null;
};

export type ReconciliationItem = {
  id: string;
  object: 'reconciliation_item';
  run_id: string;
  livemode: boolean;
  provider: string;
  status: ItemStatus;
  payment_id: string | null;
  refund_id: string | null;
  provider_reference: string | null;
  reported: { type: SettlementLine['type']; gross: number; fee: number; net: number; currency: string; settled_at: string } | null;
  recorded: { kind: 'capture' | 'refund'; amount: number; currency: string; status: string; expected_fee: number | null } | null;
  message: string;
  /** Money we have no record of, not yet resolved: an operator must look (nothing moves by itself). */
  requires_attention: boolean;
  resolution: string | null;
  note: string | null;
  resolved_at: string | null;
  created_at: string;
  updated_at: string;
};

type RunRow = Omit<ReconciliationRun, 'object' | 'date' | 'created_at' | 'completed_at'> & { report_date: string; created_at: Date; completed_at: Date | null };
export const toRun = ({ report_date, ...r }: RunRow): ReconciliationRun => ({
  id: r.id, object: 'reconciliation_run', provider: r.provider, livemode: r.livemode, date: report_date, status: r.status, counts: r.counts, totals: r.totals,
  failure: r.failure, attempts: r.attempts, created_at: iso(r.created_at), completed_at: r.completed_at && iso(r.completed_at),
});

type ItemRow = Omit<ReconciliationItem, 'object' | 'requires_attention' | 'created_at' | 'updated_at' | 'resolved_at'> & { merchant_id: string | null; created_at: Date; updated_at: Date; resolved_at: Date | null };
export const toItem = ({ merchant_id: _m, ...r }: ItemRow): ReconciliationItem => ({
  ...r, object: 'reconciliation_item', requires_attention: r.status === 'missing_locally' && !r.resolution,
  created_at: iso(r.created_at), updated_at: iso(r.updated_at), resolved_at: r.resolved_at && iso(r.resolved_at),
});

/** A run of this day starts (or starts again after it ended): the same run, its attempts counted. */
export async function beginRun(db: Queryable, r: { id: string; provider: string; livemode: boolean; date: string }): Promise<void> {
  await db.query(
    `INSERT INTO reconciliation_runs (id, provider, livemode, report_date, status) VALUES ($1, $2, $3, $4, 'running')
     ON CONFLICT (id) DO UPDATE SET status = 'running', failure = NULL, updated_at = now(),
       attempts = reconciliation_runs.attempts + CASE WHEN reconciliation_runs.status = 'running' THEN 0 ELSE 1 END`,
    [r.id, r.provider, r.livemode, r.date],
  );
}

export async function findRun(db: Queryable, id: string): Promise<ReconciliationRun | undefined> {
  const { rows } = await db.query<RunRow>('SELECT * FROM reconciliation_runs WHERE id = $1', [id]);
  return rows[0] && toRun(rows[0]);
}

export async function listRuns(db: Queryable, livemode: boolean, limit: number): Promise<ReconciliationRun[]> {
  const { rows } = await db.query<RunRow>('SELECT * FROM reconciliation_runs WHERE livemode = $1 ORDER BY report_date DESC, created_at DESC LIMIT $2', [livemode, limit]);
  return rows.map(toRun);
}

export async function finishRun(db: Queryable, id: string, r: { status: RunStatus; counts?: object; totals?: Totals; failure?: string | null }): Promise<void> {
  await db.query(
    `UPDATE reconciliation_runs SET status = $2, counts = COALESCE($3, counts), totals = COALESCE($4, totals), failure = $5, updated_at = now(),
       completed_at = CASE WHEN $2 = 'completed' THEN now() ELSE completed_at END WHERE id = $1`,
    [id, r.status, r.counts ? JSON.stringify(r.counts) : null, r.totals ? JSON.stringify(r.totals) : null, r.failure ?? null],
  );
}

export async function saveLines(client: PoolClient, runId: string, lines: SettlementLine[]): Promise<void> {
  await client.query('DELETE FROM reconciliation_lines WHERE run_id = $1', [runId]);
  for (let i = 0; i < lines.length; i += 500) {
    const chunk = lines.slice(i, i + 500);
    await client.query(
      `INSERT INTO reconciliation_lines (run_id, line_no, line) SELECT $1, n + $3, l FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS t(l, n)`,
      [runId, JSON.stringify(chunk), i],
    );
  }
}

export async function loadLines(db: Queryable, runId: string): Promise<SettlementLine[]> {
  const { rows } = await db.query<{ line: SettlementLine }>('SELECT line FROM reconciliation_lines WHERE run_id = $1 ORDER BY line_no', [runId]);
  return rows.map((r) => r.line);
}

/** Upserts by id: a re-run updates the day's items, keeping an operator's resolution unless the item changed. */
export async function upsertItem(client: PoolClient, i: Omit<ItemRow, 'created_at' | 'updated_at' | 'resolution' | 'note' | 'resolved_at'>): Promise<void> {
  await client.query(
    `INSERT INTO reconciliation_items (id, run_id, merchant_id, livemode, provider, status, payment_id, refund_id, provider_reference, reported, recorded, message)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, merchant_id = EXCLUDED.merchant_id, reported = EXCLUDED.reported, recorded = EXCLUDED.recorded,
       message = EXCLUDED.message, updated_at = CASE WHEN reconciliation_items.status = EXCLUDED.status THEN reconciliation_items.updated_at ELSE now() END`,
    [i.id, i.run_id, i.merchant_id, i.livemode, i.provider, i.status, i.payment_id, i.refund_id, i.provider_reference,
      i.reported && JSON.stringify(i.reported), i.recorded && JSON.stringify(i.recorded), i.message],
  );
}

/** Items no longer produced by a re-run (the report changed): removed, so counts are the latest run's. */
export async function pruneItems(client: PoolClient, runId: string, keep: string[]): Promise<void> {
  await client.query('DELETE FROM reconciliation_items WHERE run_id = $1 AND NOT (id = ANY($2::text[]))', [runId, keep]);
}

export async function findItem(db: Queryable, id: string): Promise<(ReconciliationItem & { merchant_id: string | null }) | undefined> {
  const { rows } = await db.query<ItemRow>('SELECT * FROM reconciliation_items WHERE id = $1', [id]);
  return rows[0] && { ...toItem(rows[0]), merchant_id: rows[0].merchant_id };
}

/** The admin sees every item; a merchant only the items about its own payments. */
export async function listItems(db: Queryable, f: { runId?: string; status?: string; merchantId?: string; livemode: boolean; limit: number }): Promise<ReconciliationItem[]> {
  const { rows } = await db.query<ItemRow>(
    `SELECT * FROM reconciliation_items WHERE livemode = $1 AND ($2::text IS NULL OR run_id = $2) AND ($3::text IS NULL OR status = $3)
       AND ($4::text IS NULL OR merchant_id = $4) ORDER BY created_at DESC, id DESC LIMIT $5`,
    [f.livemode, f.runId ?? null, f.status ?? null, f.merchantId ?? null, f.limit],
  );
  return rows.map(toItem);
}

export async function resolveItem(db: Queryable, id: string, resolution: string, note: string | null): Promise<void> {
  await db.query('UPDATE reconciliation_items SET resolution = $2, note = $3, resolved_at = now(), updated_at = now() WHERE id = $1', [id, resolution, note]);
}

/** One merchant's counts in a run. */
export async function merchantCounts(db: Queryable, runId: string, merchantId: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM reconciliation_items WHERE run_id = $1 AND merchant_id = $2 GROUP BY status', [runId, merchantId]);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}
