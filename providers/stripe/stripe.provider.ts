import Stripe from 'stripe';
import type { SettlementLine, SettlementReports } from '../../reconciliation/report';
import type {
  AuthorizeRequest, AuthorizeResult, CancelRequest, CaptureRequest, OperationResult, PaymentProblem, PaymentProvider, PaymentShape, RefundResult,
  ProviderPaymentState, RefundRequest, SavedMethods, StatusRequest,
} from '../provider';
import { ProviderFault } from '../provider';
import {
  alreadyDetached, authorizeResultOf, captureParams, customerParams, declineCode, faultOf, paymentIntentParams, refundParams, savedMethodOf, stateOf,
  toStripeAmount,
} from './stripe.mapper';
import { isLiveKey, settlementLineOf, settlementListParams } from './stripe.report';

export type StripeOptions = {
  secretKey: string;
  webhookSecret?: string;
  /** e.g. `http://127.0.0.1:12111` for stripe-mock or a local fake; Stripe's own API when unset. */
  apiBase?: string;
};

type StripeErrorLike = { type?: string; code?: string; decline_code?: string; message?: string; statusCode?: number; raw?: { payment_intent?: Stripe.PaymentIntent } };

/**
 * Cards through Stripe PaymentIntents with the official SDK. Every mutating call carries the
 * idempotency key derived from the payment and the operation (never the SDK's random one), and
 * answers such as "already captured" or "already canceled" count as success, so retries and
 * webhooks racing the synchronous call converge on one effect.
 */
/** Stripe error codes that refuse a refund for good: the refund fails and its amount is refundable again. */
const REFUND_REFUSALS = new Set(['charge_already_refunded', 'amount_too_large', 'charge_disputed']);

export class StripeProvider implements PaymentProvider, SavedMethods, SettlementReports {
  readonly name = 'stripe' as const;
  /** Stripe books every account's balance in UTC, whatever the account's country. */
  readonly reportTimeZone = 'UTC';
  readonly stripe: Stripe;

  constructor(private readonly opts: StripeOptions) {
    const base = opts.apiBase ? new URL(opts.apiBase) : undefined;
    this.stripe = new Stripe(opts.secretKey, {
      // Temporal retries the activity with backoff; SDK retries would only hide time inside it.
      maxNetworkRetries: 0,
      timeout: 20_000,
      telemetry: false,
      ...(base ? { host: base.hostname, port: Number(base.port || (base.protocol === 'https:' ? 443 : 80)), protocol: base.protocol.replace(':', '') as 'http' | 'https' } : {}),
    });
  }

  problemWith(p: PaymentShape): PaymentProblem | undefined {
    if (p.methodType !== 'card') {
      return { param: 'payment_method.type', code: 'provider_unavailable', message: 'Stripe serves card payments here; use another provider for this method.' };
    }
    // Without the customer's PaymentMethod there is nothing to charge (never a default card).
    if (p.hasToken === false) {
      return { param: 'payment_method.token', code: 'parameter_missing', message: 'Missing required parameter: payment_method.token (a Stripe PaymentMethod id, pm_…).' };
    }
    const converted = toStripeAmount(p.amount, p.currency);
    return 'problem' in converted ? { param: 'amount', code: 'invalid_amount', message: `Invalid amount: ${converted.problem}` } : undefined;
  }

  async authorize(req: AuthorizeRequest): Promise<AuthorizeResult> {
    try {
      const pi = await this.stripe.paymentIntents.create(paymentIntentParams(req), { idempotencyKey: req.idempotencyKey });
      return authorizeResultOf(pi, req.actionExpiresAt, req.captureNow !== undefined);
    } catch (err) {
      const e = err as StripeErrorLike;
      if (e.type === 'StripeCardError') {
        return { status: 'declined', reference: e.raw?.payment_intent?.id ?? null, code: declineCode(e), message: e.message ?? 'The card was declined.' };
      }
      throw faultOf(err as never);
    }
  }

  async capture(req: CaptureRequest): Promise<OperationResult> {
    try {
      await this.stripe.paymentIntents.capture(req.reference, captureParams(req), { idempotencyKey: req.idempotencyKey });
      return { status: 'succeeded' };
    } catch (err) {
      const e = err as StripeErrorLike;
      if (e.code === 'payment_intent_unexpected_state') {
        const pi = await this.retrieve(req.reference);
        if (pi.status === 'succeeded') return { status: 'succeeded' }; // captured already (automatic capture, or an earlier attempt)
        return { status: 'declined', code: 'capture_refused', message: `Stripe refused the capture: the PaymentIntent is ${pi.status}.` };
      }
      if (e.type === 'StripeCardError') return { status: 'declined', code: declineCode(e), message: e.message ?? 'The capture was declined.' };
      throw faultOf(err as never);
    }
  }

  async cancel(req: CancelRequest): Promise<OperationResult> {
    const reference = req.reference ?? (await this.findByPayment(req.paymentId))?.id;
    if (!reference) return { status: 'succeeded' }; // nothing was ever created: nothing is held
    try {
      await this.stripe.paymentIntents.cancel(reference, {}, { idempotencyKey: req.idempotencyKey });
      return { status: 'succeeded' };
    } catch (err) {
      const e = err as StripeErrorLike;
      if (e.code === 'payment_intent_unexpected_state') {
        const pi = await this.retrieve(reference);
        if (pi.status === 'canceled') return { status: 'succeeded' };
        return { status: 'declined', code: 'cancel_refused', message: `Stripe refused the cancel: the PaymentIntent is ${pi.status}.` };
      }
      throw faultOf(err as never);
    }
  }

  /**
   * Refunds are found by our refund id before any (re)send: an idempotency key lives 24 hours
   * at Stripe, a refund retried after that must not become a second one.
   */
  async refund(req: RefundRequest): Promise<RefundResult> {
    try {
      const refund = (await this.findRefund(req.reference, req.refundId)) ?? (await this.stripe.refunds.create(refundParams(req), { idempotencyKey: req.idempotencyKey }));
      if (refund.status === 'failed' || refund.status === 'canceled') {
        return { status: 'declined', code: refund.failure_reason ?? 'refund_failed', message: `Stripe could not refund: ${refund.failure_reason ?? refund.status}.` };
      }
      // Pending (or waiting on the customer): neither done nor failed. Asked again until it settles
      // (sooner when its refund.updated webhook arrives).
      if (refund.status !== 'succeeded') return { status: 'pending' };
      return { status: 'succeeded' };
    } catch (err) {
      if (err instanceof ProviderFault) throw err;
      const e = err as StripeErrorLike;
      // Stripe's final refusals of this refund (larger than what remains, a disputed charge...): recorded, never re-sent.
      if (e.code && REFUND_REFUSALS.has(e.code)) return { status: 'declined', code: e.code, message: e.message ?? e.code };
      throw faultOf(err as never);
    }
  }

  /** A read (nothing moves), so no idempotency key: a token Stripe does not know has no fingerprint. */
  async cardFingerprint(req: { token: string }): Promise<string | undefined> {
    try {
      return (await this.stripe.paymentMethods.retrieve(req.token)).card?.fingerprint ?? undefined;
    } catch (err) {
      if ((err as StripeErrorLike).code === 'resource_missing') return undefined;
      throw faultOf(err as never);
    }
  }

  async getStatus(req: StatusRequest): Promise<ProviderPaymentState> {
    const pi = req.reference ? await this.retrieve(req.reference) : await this.findByPayment(req.paymentId);
    return pi ? stateOf(pi) : { status: 'unknown' };
  }

  /**
   * The Stripe Customer for ours. Stripe keeps an idempotency key's answer for 24 hours: within
   * that, a retry gets the same `cus_…`; the caller stores it and never asks again after.
   */
  async ensureCustomer(req: Parameters<SavedMethods['ensureCustomer']>[0]): Promise<string> {
    try {
      const customer = await this.stripe.customers.create(customerParams(req), { idempotencyKey: req.idempotencyKey });
      return customer.id;
    } catch (err) {
      throw faultOf(err as never);
    }
  }

  /**
   * Saves the PaymentMethod on the Stripe Customer. Stripe verifies the card on attach: one it
   * declines (its test decline cards among them) or a token it does not know cannot be saved,
   * a final answer (`retryable: false`), never retried.
   */
  async attachMethod(req: Parameters<SavedMethods['attachMethod']>[0]): ReturnType<SavedMethods['attachMethod']> {
    try {
      const pm = await this.stripe.paymentMethods.attach(req.token, { customer: req.providerCustomer }, { idempotencyKey: req.idempotencyKey });
      return savedMethodOf(pm);
    } catch (err) {
      const e = err as StripeErrorLike;
      if (e.type === 'StripeCardError') {
        throw new ProviderFault(`stripe: the card cannot be saved, Stripe declined it (${declineCode(e)}): ${e.message ?? 'Your card was declined.'}`, false);
      }
      const fault = faultOf(err as never);
      if (e.type === 'StripeInvalidRequestError' && !fault.retryable) {
        throw new ProviderFault(`stripe: the payment method cannot be saved: ${e.message ?? 'invalid request'}`, false);
      }
      throw fault;
    }
  }

  /** Detaches a saved PaymentMethod; one detached already (an earlier attempt) counts as done. */
  async detachMethod(req: Parameters<SavedMethods['detachMethod']>[0]): Promise<void> {
    try {
      await this.stripe.paymentMethods.detach(req.reference);
    } catch (err) {
      if (alreadyDetached(err as StripeErrorLike)) return;
      throw faultOf(err as never);
    }
  }

  /**
   * Stripe's balance history of one UTC day, oldest first: every capture (its fee kept), refund,
   * fee and adjustment booked on it, all pages. Stripe books in real time: today's report is
   * today's so far. One key reads one mode's books: the other mode's is a fault, never an empty day.
   */
  async settlementReport(req: { date: string; livemode: boolean }): Promise<SettlementLine[]> {
    const keyIsLive = isLiveKey(this.opts.secretKey);
    if (req.livemode !== keyIsLive) {
      throw new ProviderFault(`stripe: the ${keyIsLive ? 'live' : 'test'} key cannot read ${req.livemode ? 'live' : 'test'} mode's settlement report`, false);
    }
    const params = settlementListParams(req.date);
    try {
      const newestFirst: SettlementLine[] = [];
      for await (const txn of this.stripe.balanceTransactions.list(params)) {
        // A payout moves the balance to our bank, it settles no payment: not a line to reconcile.
        if (txn.reporting_category !== 'payout' && txn.reporting_category !== 'payout_reversal') newestFirst.push(settlementLineOf(txn));
      }
      return newestFirst.reverse();
    } catch (err) {
      throw faultOf(err as never);
    }
  }

  /** The event if `Stripe-Signature` verifies on the raw body with STRIPE_WEBHOOK_SECRET (5-minute tolerance). */
  verifyEvent(rawBody: Buffer, headers: Record<string, string | string[] | undefined>): Stripe.Event | null {
    const signature = headers['stripe-signature'];
    if (!this.opts.webhookSecret || typeof signature !== 'string') return null;
    try {
      return this.stripe.webhooks.constructEvent(rawBody, signature, this.opts.webhookSecret);
    } catch {
      return null;
    }
  }

  private async retrieve(id: string): Promise<Stripe.PaymentIntent> {
    try {
      return await this.stripe.paymentIntents.retrieve(id);
    } catch (err) {
      throw faultOf(err as never);
    }
  }

  private async findRefund(paymentIntent: string, refundId: string): Promise<Stripe.Refund | undefined> {
    try {
      for await (const refund of this.stripe.refunds.list({ payment_intent: paymentIntent, limit: 100 })) {
        if (refund.metadata?.refund_id === refundId) return refund;
      }
      return undefined;
    } catch (err) {
      throw faultOf(err as never);
    }
  }

  /** After an answer we never got, the PaymentIntent is found by the payment id in its metadata. */
  private async findByPayment(paymentId: string): Promise<Stripe.PaymentIntent | undefined> {
    try {
      const found = await this.stripe.paymentIntents.search({ query: `metadata['payment_id']:'${paymentId}'`, limit: 1 });
      return found.data[0];
    } catch (err) {
      throw faultOf(err as never);
    }
  }
}

