import { ApplicationFailure, Context } from '@temporalio/activity';
import { DateTime } from 'luxon';
import type { Pool } from 'pg';
import { findRouting } from '../db/routing';
import { Accounts, recordPosting } from '../db/ledger';
import { recordEvents } from '../db/events';
import type { NewEvent } from '../db/events';
import { inTransaction } from '../db/pool';
import { beginRun, findRun, finishRun, loadLines, merchantCounts, pruneItems, saveLines, upsertItem } from '../db/reconciliation';
import { FailureTypes } from '../domain/errors';
import { derivedId } from '../domain/ids';
import type { PaymentMethodType, ProviderName } from '../domain/payment';
import { ProviderFault } from '../providers/provider';
import { MISMATCH_STATUSES, reconcile, summarize } from '../reconciliation/match';
import type { LocalMovement } from '../reconciliation/match';
import type { SettlementLine, SettlementReports } from '../reconciliation/report';
import { feeOf } from '../routing/rules';
import type { EventDispatcher } from '../runtime/event-dispatch';
import type { Providers } from '../runtime/providers';
import { providerFor } from '../runtime/providers';

export type RunRef = { runId: string; provider: ProviderName; livemode: boolean; date: string };

export const reconciliationRunId = (provider: string, livemode: boolean, date: string) => derivedId('rec', provider, String(livemode), date);

/** The provider's report, if it has one in this mode. */
export function reportsOf(providers: Providers, provider: ProviderName, livemode: boolean): SettlementReports | undefined {
  const p = providerFor(providers, provider, livemode) as (Partial<SettlementReports> & object) | undefined;
  return p && typeof p.settlementReport === 'function' && typeof p.reportTimeZone === 'string' ? (p as SettlementReports) : undefined;
}

/** Each merchant's routing (its fee schedule), looked up once per run. */
type FeeSchedules = Map<string, ReturnType<typeof findRouting>>;

type PaymentRow = { id: string; merchant_id: string; provider_reference: string | null; amount_captured: number; currency: string; status: string; method: PaymentMethodType; fx: boolean };

export function createReconciliationActivities({ pool, providers, graceDays, dispatcher }: { pool: Pool; providers: Providers; graceDays: number; dispatcher?: EventDispatcher }) {
  const reports = (ref: Pick<RunRef, 'provider' | 'livemode'>): SettlementReports => {
    const r = reportsOf(providers, ref.provider, ref.livemode);
    if (!r) throw ApplicationFailure.nonRetryable(`${ref.provider} has no settlement report in ${ref.livemode ? 'live' : 'test'} mode here`, FailureTypes.providerFault);
    return r;
  };

  /**
   * The fee the merchant's routing fee schedule expects, when it has one for this provider and
   * method (read afresh by each run). The lookup itself is kept, not its answer: the day's
   * captures are classified concurrently, and each merchant's schedule is read once.
   */
  const expectedFee = async (schedules: FeeSchedules, merchantId: string, livemode: boolean, provider: ProviderName, p: { amount: number; currency: string; method: PaymentMethodType }): Promise<number | null> => {
    const key = `${merchantId}:${livemode}`;
    let schedule = schedules.get(key);
    if (!schedule) schedules.set(key, (schedule = findRouting(pool, { merchantId, livemode })));
    const config = await schedule;
    return config ? feeOf(config, provider, p) ?? null : null;
  };

  const capture = async (fees: FeeSchedules, p: PaymentRow, provider: ProviderName, livemode: boolean): Promise<LocalMovement> => ({
    kind: 'capture', merchant_id: p.merchant_id, payment_id: p.id, refund_id: null, provider_reference: p.provider_reference, amount: p.amount_captured,
    currency: p.currency, status: p.status, cross_border: p.fx, expected_fee: p.fx ? null : await expectedFee(fees, p.merchant_id, livemode, provider, { amount: p.amount_captured, currency: p.currency, method: p.method }),
  });
  const PAYMENT_SQL = `SELECT id, merchant_id, provider_reference, amount_captured, currency, status, payment_method->>'type' AS method, fx IS NOT NULL AS fx FROM payments`;

  return {
    /** The day to reconcile on a schedule: yesterday in the provider's own time zone (T+1). */
    /**
     * The days a scheduled run reconciles, from when the schedule fired (not when this runs, which
     * an outage may delay past midnight): yesterday, and the day whose grace period just ended,
     * so what was still `expected` there becomes a mismatch or is found matched.
     */
    async reconciliationDays(req: { provider: ProviderName; livemode: boolean; firedAt: number }): Promise<{ date: string; runId: string }[]> {
      const fired = DateTime.fromMillis(req.firedAt).setZone(reports(req).reportTimeZone);
      const days = [...new Set([1, graceDays].filter((d) => d >= 1))].map((d) => fired.minus({ days: d }).toISODate()!);
      return days.map((date) => ({ date, runId: reconciliationRunId(req.provider, req.livemode, date) }));
    },

    async beginReconciliation(ref: RunRef): Promise<void> {
      await beginRun(pool, { id: ref.runId, provider: ref.provider, livemode: ref.livemode, date: ref.date });
    },

    /** Fetches the provider's report of the day and keeps its lines with the run. */
    async fetchSettlementReport(ref: RunRef): Promise<number> {
      let lines: SettlementLine[];
      // A big day (hundreds of Stripe pages, a slow bill download) takes a while: alive all along.
      const alive = setInterval(() => Context.current().heartbeat(), 10_000);
      try {
        lines = await reports(ref).settlementReport({ date: ref.date, livemode: ref.livemode });
      } catch (err) {
        if (err instanceof ProviderFault) {
          throw ApplicationFailure.create({ type: FailureTypes.providerFault, message: err.message, nonRetryable: !err.retryable });
        }
        throw err;
      } finally {
        clearInterval(alive);
      }
      await inTransaction(pool, (client) => saveLines(client, ref.runId, lines));
      return lines.length;
    },

    /**
     * Classifies every line and every movement of the day, books the providers' fees of what
     * matched, and writes the items (a re-run updates them: same ids, nothing twice).
     */
    async matchSettlement(ref: RunRef): Promise<Record<string, number>> {
      const lines = await loadLines(pool, ref.runId);
      const tz = reports(ref).reportTimeZone;
      const start = DateTime.fromISO(ref.date, { zone: tz }).startOf('day');
      const window = [start.toJSDate(), start.plus({ days: 1 }).toJSDate()];

      // Our side of each line: by the provider's reference, then by our ids.
      const refs = lines.map((l) => l.provider_reference);
      const ids = lines.map((l) => l.payment_id).filter((x): x is string => Boolean(x));
      const payments = (await pool.query<PaymentRow>(`${PAYMENT_SQL} WHERE provider = $1 AND livemode = $2 AND (provider_reference = ANY($3::text[]) OR id = ANY($4::text[]))`, [ref.provider, ref.livemode, refs, ids])).rows;
      const byRef = new Map(payments.filter((p) => p.provider_reference).map((p) => [p.provider_reference!, p]));
      const byId = new Map(payments.map((p) => [p.id, p]));
      const refundIds = lines.map((l) => l.refund_id).filter((x): x is string => Boolean(x));
      const refunds = (await pool.query<{ id: string; payment_id: string; amount: number; currency: string; status: string; merchant_id: string }>(
        'SELECT id, payment_id, amount, currency, status, merchant_id FROM refunds WHERE livemode = $1 AND (id = ANY($2::text[]) OR payment_id = ANY($3::text[]))',
        [ref.livemode, refundIds, payments.map((p) => p.id)],
      )).rows;
      const fees: FeeSchedules = new Map();
      // One line per movement: a second line for the same capture or refund is money we cannot place.
      const taken = new Set<string>();
      const found = new Map<SettlementLine, LocalMovement>();
      for (const line of lines) {
        let payment = (line.provider_reference && byRef.get(line.provider_reference)) || (line.payment_id ? byId.get(line.payment_id) : undefined);
        // Found by our id, but the provider names another transaction than the one we hold (ours is
        // its own id, not our payment id as Alipay and WeChat Pay keep it): not this payment's money.
        if (payment && line.type === 'charge' && payment.provider_reference && payment.provider_reference !== payment.id && payment.provider_reference !== line.provider_reference) payment = undefined;
        if (line.type === 'charge' && payment && !taken.has(`capture:${payment.id}`)) {
          taken.add(`capture:${payment.id}`);
          found.set(line, await capture(fees, payment, ref.provider, ref.livemode));
        }
        if (line.type === 'refund') {
          // By our refund id when the line has one; only a line without one is matched by its payment and amount.
          const owner = payment ?? (line.refund_id ? byId.get(refunds.find((r) => r.id === line.refund_id)?.payment_id ?? '') : undefined);
          const refund = line.refund_id
            ? refunds.find((r) => r.id === line.refund_id && !taken.has(r.id))
            : refunds.find((r) => owner && r.payment_id === owner.id && r.amount === Math.abs(line.gross) && !taken.has(r.id));
          if (refund && (byId.get(refund.payment_id) || owner)) {
            taken.add(refund.id);
            const p = byId.get(refund.payment_id) ?? owner!;
            found.set(line, {
              kind: 'refund', merchant_id: refund.merchant_id, payment_id: refund.payment_id, refund_id: refund.id, provider_reference: p.provider_reference,
              amount: refund.amount, currency: refund.currency, status: refund.status, expected_fee: null, cross_border: p.fx,
            });
          }
        }
      }

      // What our books moved at this provider that day (its day), transfers aside (they settle on our bank account).
      const captured = (await pool.query<PaymentRow>(
        `${PAYMENT_SQL} p WHERE provider = $1 AND livemode = $2 AND payment_method->>'type' <> 'bank_transfer'
           AND EXISTS (SELECT 1 FROM ledger_postings lp WHERE lp.payment_id = p.id AND lp.kind = 'capture' AND lp.created_at >= $3 AND lp.created_at < $4)`,
        [ref.provider, ref.livemode, ...window],
      )).rows;
      const refunded = (await pool.query<{ id: string; payment_id: string; amount: number; currency: string; status: string; merchant_id: string; provider_reference: string | null; fx: boolean }>(
        `SELECT r.id, r.payment_id, r.amount, r.currency, r.status, r.merchant_id, p.provider_reference, p.fx IS NOT NULL AS fx FROM refunds r JOIN payments p ON p.id = r.payment_id
         WHERE p.provider = $1 AND r.livemode = $2 AND p.payment_method->>'type' <> 'bank_transfer'
           AND EXISTS (SELECT 1 FROM ledger_postings lp WHERE lp.refund_id = r.id AND lp.kind = 'refund' AND lp.created_at >= $3 AND lp.created_at < $4)`,
        [ref.provider, ref.livemode, ...window],
      )).rows;
      const day: LocalMovement[] = [
        ...(await Promise.all(captured.map((p) => capture(fees, p, ref.provider, ref.livemode)))),
        ...refunded.map((r): LocalMovement => ({ kind: 'refund', merchant_id: r.merchant_id, payment_id: r.payment_id, refund_id: r.id, provider_reference: r.provider_reference, amount: r.amount, currency: r.currency, status: r.status, expected_fee: null, cross_border: r.fx })),
      ];
      // Grace of N days: a movement of day D may be missing from reports until D+N-1; from D+N it is a mismatch.
      const withinGrace = DateTime.now().setZone(tz).startOf('day') < start.plus({ days: graceDays });
      // Booked here near midnight, settled there the next day: matched by that day's run, not missing from this one.
      const elsewhere = (await pool.query<{ payment_id: string; refund_id: string | null }>(
        `SELECT payment_id, refund_id FROM reconciliation_items i JOIN reconciliation_runs r ON r.id = i.run_id
         WHERE r.provider = $1 AND r.livemode = $2 AND i.run_id <> $3 AND i.reported IS NOT NULL AND i.recorded IS NOT NULL AND i.payment_id = ANY($4::text[])`,
        [ref.provider, ref.livemode, ref.runId, day.map((m) => m.payment_id)],
      )).rows;
      const settledElsewhere = new Set(elsewhere.map((e) => `${e.refund_id ? 'refund' : 'capture'}:${e.payment_id}:${e.refund_id ?? ''}`));
      const unsettled = day.filter((m) => !settledElsewhere.has(`${m.kind}:${m.payment_id}:${m.refund_id ?? ''}`));
      const items = reconcile(lines, (l) => found.get(l), unsettled, withinGrace);
      const { counts, totals } = summarize(items, lines);

      await inTransaction(pool, async (client) => {
        const ids: string[] = [];
        for (const item of items) {
          const id = derivedId('rci', ref.runId, item.key);
          ids.push(id);
          const l = item.line;
          await upsertItem(client, {
            id, run_id: ref.runId, merchant_id: item.local?.merchant_id ?? null, livemode: ref.livemode, provider: ref.provider, status: item.status,
            payment_id: item.local?.payment_id ?? l?.payment_id ?? null, refund_id: item.local?.refund_id ?? l?.refund_id ?? null,
            provider_reference: l?.provider_reference ?? item.local?.provider_reference ?? null,
            reported: l && { type: l.type, gross: l.gross, fee: l.fee, net: l.net, currency: l.currency, settled_at: l.settled_at },
            recorded: item.local && { kind: item.local.kind, amount: item.local.amount, currency: item.local.currency, status: item.local.status, expected_fee: item.local.expected_fee },
            message: item.message,
          });
          // The provider's fee, as it reported it, once per line (a re-run books nothing again).
          if (item.postFee && l && l.fee !== 0 && item.local) {
            await recordPosting(client, {
              id: `fee:${ref.provider}:${ref.livemode}:${l.type}:${l.provider_reference}:${l.refund_id ?? ''}`, merchantId: item.local.merchant_id, livemode: ref.livemode,
              paymentId: item.local.payment_id, ...(item.local.refund_id ? { refundId: item.local.refund_id } : {}),
              kind: 'provider_fee', currency: l.currency, amount: l.fee, debit: Accounts.providerFees, credit: Accounts.providerClearing,
            });
          }
        }
        await pruneItems(client, ref.runId, ids);
        await finishRun(client, ref.runId, { status: 'running', counts, totals });
      });
      return counts;
    },

    /** Completed: each merchant concerned is told (a mismatch too), once per outcome. */
    async completeReconciliation(ref: RunRef): Promise<void> {
      const events: NewEvent[] = [];
      await inTransaction(pool, async (client) => {
        await finishRun(client, ref.runId, { status: 'completed' });
        const run = (await findRun(client, ref.runId))!;
        const { rows } = await client.query<{ merchant_id: string }>('SELECT DISTINCT merchant_id FROM reconciliation_items WHERE run_id = $1 AND merchant_id IS NOT NULL', [ref.runId]);
        for (const { merchant_id: merchantId } of rows) {
          const counts = await merchantCounts(client, ref.runId, merchantId);
          const data = { id: run.id, object: 'reconciliation_run', provider: run.provider, livemode: run.livemode, date: run.date, status: run.status, counts };
          const outcome = JSON.stringify(counts);
          events.push({ id: derivedId('evt', ref.runId, merchantId, 'reconciliation.completed', outcome), merchantId, livemode: ref.livemode, type: 'reconciliation.completed', objectId: run.id, data });
          if (MISMATCH_STATUSES.some((s) => (counts[s] ?? 0) > 0)) {
            events.push({ id: derivedId('evt', ref.runId, merchantId, 'reconciliation.mismatch_found', outcome), merchantId, livemode: ref.livemode, type: 'reconciliation.mismatch_found', objectId: run.id, data });
          }
        }
        await recordEvents(client, events);
      });
      if (dispatcher && events.length > 0) await dispatcher.dispatch(events.map((e) => e.id));
    },

    async failReconciliation(req: RunRef & { message: string }): Promise<void> {
      await finishRun(pool, req.runId, { status: 'failed', failure: req.message.slice(0, 500) });
    },
  };
}

export type ReconciliationActivities = ReturnType<typeof createReconciliationActivities>;
