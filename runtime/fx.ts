import type { Client } from '@temporalio/client';
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Pool } from 'pg';
import { FX_REFRESH_SCHEDULE_ID, fxRatesRefreshWorkflow } from '../workflows/fx.workflow';
import type { Config } from '../config';
import { findQuote, insertQuote, latestRateTable, lockQuote, quoteLockedTo } from '../db/fx';
import type { FxQuote } from '../db/fx';
import type { Tenant } from '../db/merchants';
import { invalidRequest, notFound } from '../domain/errors';
import { derivedId } from '../domain/ids';
import type { PaymentFx } from '../domain/payment';
import { applyMargin, convertMinor } from '../fx/convert';
import type { RateTable } from '../fx/rates';
import { DEFAULT_STATIC_RATES, crossRate, isStale, parseStaticRates } from '../fx/rates';

const unavailable = (message: string, param?: string) => invalidRequest(message, param, 'fx_unavailable');

/**
 * Rates and quotes. The static table comes from configuration (FX_RATES, or the embedded
 * default); the ECB table is what the refresh schedule last stored. A stale table is refused:
 * no quote is made on rates older than FX_MAX_RATE_AGE_HOURS.
 */
export class FxService {
  private readonly staticTable: RateTable | undefined;

  constructor(private readonly pool: Pool, private readonly config: Config) {
    if (config.FX_SOURCE === 'static') this.staticTable = parseStaticRates(config.FX_RATES ?? DEFAULT_STATIC_RATES, new Date());
    this.illustrative = config.FX_SOURCE === 'static' && !config.FX_RATES;
  }

  /** The embedded table: fine for test money, never for live payments. */
  private readonly illustrative: boolean;

  /** The current table, or undefined when the feed has not been fetched yet. */
  async table(): Promise<RateTable | undefined> {
    return this.staticTable ?? (await latestRateTable(this.pool, 'ecb'));
  }

  /** Fetched too long ago, or (the feed) dated more than a week back: a cache serving last month's file is not fresh. */
  stale(table: RateTable, now = new Date()): boolean {
    const oldDate = table.source === 'ecb' && now.getTime() - Date.parse(`${table.asOf}T00:00:00Z`) > 7 * 24 * 3600_000;
    return oldDate || isStale(table, now, this.config.FX_MAX_RATE_AGE_HOURS);
  }

  /** `amount` of `from` in `to`'s minor units at the mid rate (no margin: a measure, not a price), or undefined without a fresh rate. */
  async convertAtMid(amount: number, from: string, to: string): Promise<number | undefined> {
    if (from === to) return amount;
    const table = await this.table();
    if (!table || this.stale(table)) return undefined;
    const mid = crossRate(table, from, to);
    return mid === undefined ? undefined : convertMinor(amount, from, to, mid);
  }

  /** A quote for the merchant: mid rate less its margin, valid FX_QUOTE_TTL_SECONDS. */
  async quote(tenant: Tenant, marginBps: number, req: { id: string; from: string; to: string; amount?: number }, param = { from: 'from', to: 'to' }): Promise<FxQuote> {
    const table = await this.table();
    if (!table) throw unavailable('No exchange rates have been fetched yet; retry shortly.');
    if (this.stale(table)) throw unavailable(`The exchange rates (as of ${table.asOf}) are too old to quote on; retry once the feed has refreshed.`);
    const mid = crossRate(table, req.from, req.to);
    if (mid === undefined) {
      const missing = crossRate(table, req.from, 'EUR') === undefined ? param.from : param.to;
      throw unavailable(`No ${table.source} rate for ${missing === param.from ? req.from : req.to}.`, missing);
    }
    // One currency on both sides converts nothing, so it carries no margin: rate 1.
    const margin = req.from === req.to ? 0 : marginBps;
    const rate = applyMargin(mid, margin);
    const converted = req.amount === undefined ? null : convertMinor(req.amount, req.from, req.to, rate);
    if (converted === 0) throw invalidRequest(`${req.amount} ${req.from} converts to nothing in ${req.to}.`, 'amount', 'amount_too_small');
    return insertQuote(this.pool, tenant, {
      id: req.id, from: req.from, to: req.to, mid_rate: mid, rate, margin_bps: margin, amount: req.amount ?? null, converted_amount: converted,
      source: table.source, as_of: table.asOf, expires_at: new Date(Date.now() + this.config.FX_QUOTE_TTL_SECONDS * 1000).toISOString(),
    });
  }

  /**
   * The FX a new payment settles by, or null when it settles in its own currency. A quote this
   * payment already locked (a retry of the same request) is answered as it is; otherwise the named
   * quote is checked, or a fresh one made with an id derived from the payment, then locked to it.
   */
  async lockForPayment(
    tenant: Tenant, marginBps: number, paymentId: string, p: { currency: string; amount: number; settlement?: string; quoteId?: string },
  ): Promise<PaymentFx | null> {
    // Nothing to convert, and nothing to look up: a request without a quote locks one only to convert.
    if (!p.quoteId && (!p.settlement || p.settlement === p.currency)) return null;
    const mine = await quoteLockedTo(this.pool, paymentId);
    if (mine) return mine.from === mine.to ? null : paymentFx(mine, p.amount);
    let quote: FxQuote;
    if (p.quoteId) {
      quote = await this.quoteForPayment(tenant, p.quoteId, { currency: p.currency, settlement: p.settlement, amount: p.amount });
    } else {
      if (tenant.livemode && this.illustrative) {
        throw invalidRequest('Live payments are not converted at the embedded illustrative rates: set FX_RATES or FX_SOURCE=ecb.', 'settlement_currency', 'fx_unavailable');
      }
      quote = await this.quote(tenant, marginBps, { id: derivedId('fxq', paymentId), from: p.currency, to: p.settlement!, amount: p.amount }, { from: 'currency', to: 'settlement_currency' });
    }
    if (!(await lockQuote(this.pool, quote.id, paymentId))) throw invalidRequest(`FX quote ${quote.id} has settled another payment; ask for a new one.`, 'fx_quote_id', 'fx_quote_used');
    // A quote of one currency to itself is used up, and the payment settles in its own currency.
    return quote.from === quote.to ? null : paymentFx(quote, p.amount);
  }

  /** The quote a payment names, checked: this merchant's and mode's, this pair, not expired, unused or used by this payment. */
  async quoteForPayment(tenant: Tenant, quoteId: string, p: { currency: string; settlement?: string; amount: number }): Promise<FxQuote> {
    const quote = await findQuote(this.pool, tenant, quoteId);
    if (!quote) throw notFound('fx_quote', quoteId, 'fx_quote_id');
    if (quote.from !== p.currency || quote.to !== (p.settlement ?? quote.to)) {
      throw invalidRequest(`FX quote ${quoteId} converts ${quote.from} to ${quote.to}; this payment needs ${p.currency} to ${p.settlement}.`, 'fx_quote_id', 'fx_quote_mismatch');
    }
    if (quote.amount !== null && quote.amount !== p.amount) {
      throw invalidRequest(`FX quote ${quoteId} is for ${quote.amount}; this payment is ${p.amount}.`, 'fx_quote_id', 'fx_quote_mismatch');
    }
    if (Date.parse(quote.expires_at) <= Date.now()) throw invalidRequest(`FX quote ${quoteId} expired at ${quote.expires_at}.`, 'fx_quote_id', 'fx_quote_expired');
    return quote;
  }
}

/** What a payment records of its locked quote: the amount it settles, and that at the mid rate (the margin is the difference). */
export function paymentFx(quote: FxQuote, amount: number): PaymentFx {
  const settlementAmount = convertMinor(amount, quote.from, quote.to, quote.rate);
  if (settlementAmount === 0) throw invalidRequest(`${amount} ${quote.from} settles as nothing in ${quote.to}.`, 'amount', 'amount_too_small');
  const atMid = convertMinor(amount, quote.from, quote.to, quote.mid_rate);
  return {
    quote_id: quote.id, rate: quote.rate, mid_rate: quote.mid_rate, settlement_currency: quote.to, settlement_amount: settlementAmount,
    fx_margin_amount: atMid - settlementAmount,
  };
}

/**
 * The ECB feed's refresh: a Temporal Schedule (one per task queue, so side-by-side deployments
 * never share one), triggered at once when created or when no table has been fetched yet.
 */
export async function ensureFxSchedule(temporal: Client, pool: Pool, config: Config): Promise<void> {
  const scheduleId = `${FX_REFRESH_SCHEDULE_ID}:${config.TEMPORAL_TASK_QUEUE}`;
  try {
    await temporal.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: config.FX_REFRESH_EVERY_MS }] },
      action: { type: 'startWorkflow', workflowType: fxRatesRefreshWorkflow, taskQueue: config.TEMPORAL_TASK_QUEUE, workflowId: scheduleId, args: [] },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      state: { triggerImmediately: true, note: 'Fetches the ECB reference rates (FX_ECB_URL).' },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    if (!(await latestRateTable(pool, 'ecb'))) await temporal.schedule.getHandle(scheduleId).trigger();
  }
}
