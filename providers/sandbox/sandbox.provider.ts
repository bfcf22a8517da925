import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import { newId } from '../../domain/ids';
import type { NextAction } from '../../domain/payment';
import type {
  AuthorizeRequest, AuthorizeResult, CancelRequest, CaptureRequest, OperationResult, PaymentProblem, PaymentProvider, PaymentShape,
  ProviderNotification, ProviderPaymentState, RefundRequest, RefundResult, StatusRequest,
} from '../provider';
import type { BankRail } from '../../bank/rail';
import type { SettlementLine, SettlementReports } from '../../reconciliation/report';
import { ProviderFault } from '../provider';
import { signPayload, verifySignature } from '../../domain/signature';
import type { SandboxPayment } from './sandbox.store';
import { SandboxStore } from './sandbox.store';

export const SANDBOX_SIGNATURE_HEADER = 'sandbox-signature';

export type SandboxOptions = {
  /** Our own callback endpoint, where the simulated processor posts its notifications. */
  notifyUrl: string;
  /** Signs notifications; without one the sandbox sends none and verifies none. */
  webhookSecret?: string;
  /** How long the simulated customer takes to pay a wallet or transfer with `tok_ok`. */
  customerDelayMs: number;
  /** Latency added to every call. */
  latencyMs: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** Bank transfers in test mode: the example receiving accounts, instructions and payouts. */
  bank: BankRail;
  /** Where the simulated payer's transfer arrives: our credit intake, as a bank's feed would deliver it. */
  sendTransfer?: (t: SimulatedTransfer) => Promise<void>;
  /** The processor's fee on each capture: basis points, plus a fixed part in minor units (its bill shows it; refunds keep it). */
  feeBps?: number;
  feeFixed?: number;
};

/** What a test makes the sandbox's bill say that its books do not. */
export type SandboxBillDiscrepancy =
  | { kind: 'missing_line'; paymentId: string }
  | { kind: 'amount'; paymentId: string; amount: number }
  | { kind: 'currency'; paymentId: string; currency: string }
  | { kind: 'fee'; paymentId: string; fee: number }
  | { kind: 'unknown_trade'; amount: number; currency: string }
  /** A capture line for one of our payments that the processor's books do not show captured. */
  | { kind: 'charge'; paymentId: string; reference: string; amount: number; currency: string }
  /** The bill cannot be had (not generated yet): the next `times` fetches fail. */
  | { kind: 'unavailable'; times: number };

/** A transfer the sandbox's simulated payer sends, with the instructions' reference. */
export type SimulatedTransfer = { paymentId: string; merchantId: string; amount: number; currency: string; reference: string };

/** The scenarios of API.md's token table. Unknown tokens behave like `tok_ok`. */
const DECLINES: Record<string, { code: string; message: string }> = {
  tok_decline: { code: 'card_declined', message: 'Your card was declined.' },
  tok_insufficient_funds: { code: 'insufficient_funds', message: 'Your card has insufficient funds.' },
  // Hard declines: dunning never retries them, it asks the customer for another card.
  tok_lost_card: { code: 'lost_card', message: 'Your card was declined: it has been reported lost.' },
  tok_stolen_card: { code: 'stolen_card', message: 'Your card was declined: it has been reported stolen.' },
};
const SLOW_MS = 2000;
/** The tokens whose calls are counted per idempotency key. */
const COUNTED_TOKENS = new Set(['tok_slow', 'tok_flaky', 'tok_timeout']);

/**
 * Inside an activity, the simulated network wait ends when the activity is cancelled (a worker
 * shutting down past its grace time), as a real HTTP call would be aborted.
 */
function activityCancellation(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined; // not called from an activity
  }
}

/**
 * The built-in simulated processor. It keeps its own books in PostgreSQL (so `/sandbox/charges`
 * shows what it really did, across restarts), applies each money movement once per idempotency
 * key, notifies asynchronously with signed callbacks, and injects the faults the tokens ask for.
 */
export class SandboxProvider implements PaymentProvider, SettlementReports {
  readonly name = 'sandbox' as const;
  readonly reportTimeZone = 'UTC';
  readonly store: SandboxStore;
  private discrepancies: SandboxBillDiscrepancy[] = [];

  constructor(pool: Pool, private readonly opts: SandboxOptions) {
    this.store = new SandboxStore(pool);
  }

  problemWith(p: PaymentShape): PaymentProblem | undefined {
    return this.opts.bank.problemWith(p);
  }

  async authorize(req: AuthorizeRequest): Promise<AuthorizeResult> {
    const token = req.method.token ?? 'tok_ok';
    const transfer = req.method.type === 'bank_transfer';
    const attempt = await this.enter(token, req.idempotencyKey);
    const needsCustomer = req.method.type !== 'card' || token === 'tok_requires_action';
    const decline = DECLINES[token];
    // A card captured at once is authorized and captured by this one call, as a processor's sale is.
    const capturedNow = !decline && !needsCustomer && req.captureNow !== undefined;
    const record = await this.store.open({
      reference: newId('sbx'),
      payment_id: req.paymentId,
      merchant_id: req.merchantId,
      method_type: req.method.type,
      token,
      status: decline ? 'failed' : needsCustomer ? 'requires_action' : capturedNow ? 'captured' : 'authorized',
      amount: req.amount,
      currency: req.currency,
      amount_captured: capturedNow ? req.amount : 0,
      // The simulated payer of a transfer sends money to our intake instead (below).
      customer_completes_at: needsCustomer && !transfer && token !== 'tok_requires_action' ? new Date(Date.now() + this.opts.customerDelayMs) : null,
      action_expires_at: needsCustomer ? new Date(req.actionExpiresAt) : null,
      failure_code: decline?.code ?? null,
    }, { authorize: req.idempotencyKey, ...(capturedNow ? { capture: req.captureNow!.idempotencyKey } : {}) });
    if (!record) {
      // Asked again: the first call's record stands, and what it did not do yet is done now.
      const existing = (await this.store.findByPayment(req.paymentId))!;
      return this.captureIfAsked(req, authorizeResultOf(existing, await this.nextAction(existing, req)));
    }
    // The processor charged, but the answer never reached us: the caller must ask before acting again.
    if ((record.status === 'authorized' || record.status === 'captured') && token === 'tok_timeout' && attempt === 1) throw new ProviderFault('sandbox: request timed out', true, true);
    if (record.customer_completes_at) this.simulateCustomer(record);
    const nextAction = await this.nextAction(record, req);
    // The simulated payer completes the transfer as a customer completes any other step (a second
    // timer's credit has the same bank id, and is counted once).
    if (transfer && record.status === 'requires_action' && token !== 'tok_requires_action') {
      setTimeout(() => {
        this.completeAction(record.payment_id, 'succeeded').catch((err) => this.opts.log?.('sandbox payer could not send the transfer', { paymentId: record.payment_id, err: String(err) }));
      }, this.opts.customerDelayMs).unref();
    }
    return capturedNow ? { status: 'captured', reference: record.reference } : authorizeResultOf(record, nextAction);
  }

  /** Automatic capture in the authorizing call: the charge log shows both effects, each under its own key. */
  private async captureIfAsked(req: AuthorizeRequest, result: AuthorizeResult): Promise<AuthorizeResult> {
    if (result.status !== 'authorized' || !req.captureNow) return result;
    const captured = await this.capture({ ...(req.livemode !== undefined ? { livemode: req.livemode } : {}), paymentId: req.paymentId, reference: result.reference, amount: req.amount, currency: req.currency, idempotencyKey: req.captureNow.idempotencyKey });
    return captured.status === 'succeeded' ? { status: 'captured', reference: result.reference } : result;
  }

  async capture(req: CaptureRequest): Promise<OperationResult> {
    const p = await this.load(req.paymentId, req.idempotencyKey);
    if (p.method_type === 'bank_transfer') {
      // Funded: the transfer is authorized and captured at once, and its instructions settled.
      await this.store.apply(p.reference, { operation: 'authorize', amount: Number(p.amount), idempotencyKey: `${req.paymentId}:authorize`, from: ['requires_action'], set: `status = 'authorized'` });
      await this.opts.bank.funded(req.paymentId);
    }
    if (await this.store.chargeExists(req.idempotencyKey)) return { status: 'succeeded' };
    if (p.status === 'captured') return { status: 'succeeded' }; // already captured counts as success
    if (req.amount > p.amount) return { status: 'declined', code: 'amount_too_large', message: 'Capture exceeds the authorized amount.' };
    const applied = await this.store.apply(p.reference, {
      operation: 'capture', amount: req.amount, idempotencyKey: req.idempotencyKey, from: ['authorized'],
      set: `status = 'captured', amount_captured = $4`, params: [req.amount],
    });
    if (applied || (await this.store.chargeExists(req.idempotencyKey))) return { status: 'succeeded' };
    return { status: 'declined', code: 'invalid_state', message: `Cannot capture a payment that is ${p.status}.` };
  }

  async cancel(req: CancelRequest): Promise<OperationResult> {
    const p = await this.load(req.paymentId, req.idempotencyKey);
    if (p.method_type === 'bank_transfer' && p.status === 'requires_action') await this.opts.bank.closed(req.paymentId);
    if (p.status === 'canceled') return { status: 'succeeded' };
    if (p.status === 'requires_action' && (await this.store.setStatus(p.reference, ['requires_action'], 'canceled'))) return { status: 'succeeded' };
    const voided = await this.store.apply(p.reference, {
      operation: 'void', amount: p.amount, idempotencyKey: req.idempotencyKey, from: ['authorized'], set: `status = 'canceled'`,
    });
    if (voided || (await this.store.chargeExists(req.idempotencyKey))) return { status: 'succeeded' };
    const now = (await this.store.findByPayment(req.paymentId))!;
    return now.status === 'canceled'
      ? { status: 'succeeded' }
      : { status: 'declined', code: 'invalid_state', message: `Cannot cancel a payment that is ${now.status}.` };
  }

  async refund(req: RefundRequest): Promise<RefundResult> {
    const p = await this.load(req.paymentId, req.idempotencyKey);
    if (await this.store.chargeExists(req.idempotencyKey)) return { status: 'succeeded' };
    if (p.token === 'tok_refund_fails') return { status: 'declined', code: 'refund_failed', message: 'The processor could not refund this payment.' };
    if (p.method_type === 'bank_transfer') {
      // A payout to the payer's account: the processor's books show the refund once it is paid.
      const payout = await this.opts.bank.refund(req);
      if (payout.status !== 'succeeded') return payout;
    }
    const applied = await this.store.apply(p.reference, {
      operation: 'refund', amount: req.amount, idempotencyKey: req.idempotencyKey, from: ['captured'],
      set: 'amount_refunded = amount_refunded + $4', params: [req.amount], guard: 'amount_refunded + $4 <= amount_captured',
    });
    if (applied || (await this.store.chargeExists(req.idempotencyKey))) return { status: 'succeeded' };
    return { status: 'declined', code: 'amount_too_large', message: 'Refund exceeds what remains captured.' };
  }

  async getStatus(req: StatusRequest): Promise<ProviderPaymentState> {
    await sleep(this.opts.latencyMs);
    let p = await this.store.findByPayment(req.paymentId);
    if (!p) return { status: 'unknown' };
    // The simulated customer paid even if its notification was lost.
    if (p.status === 'requires_action' && p.customer_completes_at && p.customer_completes_at.getTime() <= Date.now()) {
      await this.completeAction(req.paymentId, 'succeeded', false);
      p = (await this.store.findByPayment(req.paymentId))!;
    }
    switch (p.status) {
      case 'captured':
        return { status: 'captured', reference: p.reference, amountCaptured: Number(p.amount_captured) };
      case 'failed':
        return { status: 'failed', reference: p.reference, code: p.failure_code ?? 'processing_error', message: DECLINES[p.token]?.message ?? 'The customer did not complete the payment.' };
      default:
        return { status: p.status, reference: p.reference };
    }
  }

  /** The processor's fee on a capture of `amount`: basis points rounded half up, plus the fixed part. */
  feeOf(amount: number): number {
    return Math.floor((amount * (this.opts.feeBps ?? 0) + 5000) / 10_000) + (this.opts.feeFixed ?? 0);
  }

  /**
   * The processor's bill of one UTC day, written from its own books: every capture (its fee
   * kept) and every refund (the fee is not given back). Test mode only: the sandbox has no live books.
   */
  async settlementReport(req: { date: string; livemode: boolean }): Promise<SettlementLine[]> {
    if (req.livemode) return [];
    const unavailable = this.discrepancies.find((d): d is Extract<SandboxBillDiscrepancy, { kind: 'unavailable' }> => d.kind === 'unavailable' && d.times > 0);
    if (unavailable) {
      unavailable.times--;
      throw new ProviderFault('sandbox: the bill of this day is not ready yet', true);
    }
    const lines: SettlementLine[] = (await this.store.billOf(req.date)).map((r) => {
      const refund = r.operation === 'refund';
      // tok_settles_short: the processor's bill says one minor unit less than it captured (a difference to find).
      const gross = refund ? -r.amount : r.token === 'tok_settles_short' ? r.amount - 1 : r.amount;
      const fee = refund ? 0 : this.feeOf(r.amount);
      return {
        provider: 'sandbox', provider_reference: r.reference, payment_id: r.payment_id, refund_id: refund ? r.idempotency_key.split(':refund:')[1] ?? null : null,
        type: refund ? 'refund' : 'charge', gross, fee, net: gross - fee, currency: r.currency, settled_at: r.created_at.toISOString(),
      };
    });
    return this.withDiscrepancies(lines, req.date);
  }

  injectBillDiscrepancy(d: SandboxBillDiscrepancy): void {
    this.discrepancies.push(d);
  }

  clearBillDiscrepancies(): void {
    this.discrepancies = [];
  }

  private withDiscrepancies(lines: SettlementLine[], date: string): SettlementLine[] {
    let out = lines;
    for (const d of this.discrepancies) {
      if (d.kind === 'unavailable') continue;
      if (d.kind === 'charge') {
        const fee = this.feeOf(d.amount);
        out = [...out, { provider: 'sandbox', provider_reference: d.reference, payment_id: d.paymentId, refund_id: null, type: 'charge', gross: d.amount, fee, net: d.amount - fee, currency: d.currency, settled_at: `${date}T12:00:00.000Z` }];
        continue;
      }
      const isCharge = (l: SettlementLine) => d.kind !== 'unknown_trade' && l.payment_id === d.paymentId && l.type === 'charge';
      if (d.kind === 'missing_line') out = out.filter((l) => !isCharge(l));
      else if (d.kind === 'amount') out = out.map((l) => (isCharge(l) ? { ...l, gross: d.amount, net: d.amount - l.fee } : l));
      else if (d.kind === 'currency') out = out.map((l) => (isCharge(l) ? { ...l, currency: d.currency } : l));
      else if (d.kind === 'fee') out = out.map((l) => (isCharge(l) ? { ...l, fee: d.fee, net: l.gross - d.fee } : l));
      else {
        const fee = this.feeOf(d.amount);
        out = [...out, { provider: 'sandbox', provider_reference: newId('sbx'), payment_id: null, refund_id: null, type: 'charge', gross: d.amount, fee, net: d.amount - fee, currency: d.currency, settled_at: `${date}T12:00:00.000Z` }];
      }
    }
    return out;
  }

  parseCallback(rawBody: Buffer, headers: Record<string, string | string[] | undefined>): ProviderNotification | null {
    const header = headers[SANDBOX_SIGNATURE_HEADER];
    if (!this.opts.webhookSecret || !verifySignature(this.opts.webhookSecret, rawBody, Array.isArray(header) ? header[0] : header)) return null;
    const body = JSON.parse(rawBody.toString('utf8')) as { id: string; type: string; payment_id: string; failure?: { code: string; message: string } };
    return {
      provider: 'sandbox',
      eventId: body.id,
      paymentId: body.payment_id,
      outcome: body.type === 'payment.action_succeeded' ? 'action_succeeded' : 'action_failed',
      ...(body.failure ? { failure: body.failure } : {}),
    };
  }

  /**
   * The customer finishes (or abandons) the wallet/transfer/3-D Secure step. Authorizes at the
   * processor exactly once, then notifies us. Returns false when the payment was no longer waiting.
   */
  async completeAction(paymentId: string, outcome: 'succeeded' | 'failed', notify = true): Promise<boolean> {
    const p = await this.store.findByPayment(paymentId);
    if (!p || p.status !== 'requires_action') return false;
    if (p.action_expires_at && p.action_expires_at.getTime() <= Date.now()) return false;
    if (p.method_type === 'bank_transfer' && outcome === 'succeeded') {
      // The payer sends what is still owed (the customer's cash balance may have paid part), with the reference.
      const owed = await this.opts.bank.outstanding(paymentId);
      if (!owed || owed.remaining <= 0) return false;
      await this.sendTransfer(p, owed.reference, owed.remaining);
      return true;
    }
    const moved =
      outcome === 'succeeded'
        ? await this.store.apply(p.reference, {
            operation: 'authorize', amount: Number(p.amount), idempotencyKey: `${paymentId}:authorize`, from: ['requires_action'], set: `status = 'authorized'`,
          })
        : await this.store.setStatus(p.reference, ['requires_action'], 'failed', 'payment_method_action_failed');
    if (moved && notify) await this.notify(paymentId, outcome).catch((err) => this.opts.log?.('sandbox notification not delivered', { paymentId, err: String(err) }));
    return moved;
  }

  /** Posts a signed notification to our callback endpoint, as a real processor would. */
  async notify(paymentId: string, outcome: 'succeeded' | 'failed'): Promise<void> {
    if (!this.opts.webhookSecret) return; // nothing to sign with: the payment's workflow finds the outcome by polling
    const body = JSON.stringify({
      id: newId('evt'),
      type: outcome === 'succeeded' ? 'payment.action_succeeded' : 'payment.action_failed',
      payment_id: paymentId,
      ...(outcome === 'failed' ? { failure: { code: 'payment_method_action_failed', message: 'The customer did not complete the payment.' } } : {}),
    });
    const res = await fetch(this.opts.notifyUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SANDBOX_SIGNATURE_HEADER]: signPayload(this.opts.webhookSecret, body) },
      body,
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) throw new Error(`callback answered ${res.status}`);
  }

  /**
   * Latency, and the scripted faults of `tok_slow`, `tok_flaky` and `tok_timeout`. Returns this
   * call's attempt number, counted per idempotency key for these tokens only (their scripts, and
   * the proof that a slow call was made once, need it; nothing else reads the count).
   */
  private async enter(token: string, idempotencyKey: string): Promise<number> {
    await sleep(token === 'tok_slow' ? SLOW_MS : this.opts.latencyMs, undefined, { signal: activityCancellation() });
    if (!COUNTED_TOKENS.has(token)) return 1;
    const attempt = await this.store.countAttempt(idempotencyKey);
    if (token === 'tok_flaky' && attempt <= 2) throw ProviderFault.notProcessed('sandbox: 503 Service Unavailable (not processed)');
    return attempt;
  }

  private async load(paymentId: string, idempotencyKey: string): Promise<SandboxPayment> {
    const p = await this.store.findByPayment(paymentId);
    if (!p) throw new ProviderFault(`sandbox: no such payment ${paymentId}`, false);
    await this.enter(p.token, idempotencyKey);
    return p;
  }

  private simulateCustomer(p: SandboxPayment): void {
    const delay = Math.max(0, p.customer_completes_at!.getTime() - Date.now());
    setTimeout(() => {
      this.completeAction(p.payment_id, 'succeeded').catch((err) => this.opts.log?.('sandbox customer simulation failed', { err: String(err) }));
    }, delay).unref();
  }

  private async sendTransfer(p: SandboxPayment, reference: string, amount: number): Promise<void> {
    if (!this.opts.sendTransfer) throw new Error('sandbox: no credit intake to send the transfer to');
    await this.opts.sendTransfer({ paymentId: p.payment_id, merchantId: p.merchant_id, amount, currency: p.currency, reference });
  }

  private async nextAction(p: SandboxPayment, req: AuthorizeRequest): Promise<NextAction | undefined> {
    if (p.status !== 'requires_action') return undefined;
    const expires_at = (p.action_expires_at ?? new Date(req.actionExpiresAt)).toISOString();
    const payUrl = `sandbox://pay/${p.reference}`;
    switch (p.method_type) {
      case 'bank_transfer':
        return this.opts.bank.instructions(req);
      case 'alipay':
      case 'wechat_pay':
        return req.channel === 'web' && p.method_type === 'alipay' && req.returnUrl
          ? { type: 'redirect_to_url', url: payUrl, expires_at }
          : { type: 'display_qr_code', qr_code: payUrl, expires_at };
      default:
        return { type: 'redirect_to_url', url: `${payUrl}/3ds`, expires_at };
    }
  }
}

function authorizeResultOf(p: SandboxPayment, nextAction: NextAction | undefined): AuthorizeResult {
  switch (p.status) {
    case 'failed':
      return { status: 'declined', reference: p.reference, code: p.failure_code ?? 'card_declined', message: DECLINES[p.token]?.message ?? 'Declined.' };
    case 'requires_action':
      return { status: 'requires_action', reference: p.reference, nextAction: nextAction! };
    case 'canceled':
      return { status: 'declined', reference: p.reference, code: 'payment_canceled', message: 'This payment was canceled at the processor.' };
    default:
      return { status: 'authorized', reference: p.reference };
  }
}
