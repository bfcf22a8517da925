import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import express, { Router } from 'express';
import { ApiError, invalidRequest } from '../../domain/errors';
import { verifySignature } from '../../domain/signature';
import { receiveCredits } from '../../bank/intake';
import { parse } from '../middleware/errors';
import { BankWebhookBody } from '../schemas/bank';
import type { ProviderNotification, RefundNotification } from '../../providers/provider';
import { findPaymentById } from '../../db/payments';
import { notifyVerdict } from '../../providers/alipay/alipay.mapper';
import { notifyVerdict as notifyVerdictOfWechat } from '../../providers/wechat_pay/wechatpay.mapper';
import { notificationOf, refundNotificationOf } from '../../providers/stripe/stripe.mapper';
import type { Payment, ProviderName } from '../../domain/payment';
import { CLOSED_UNPAID_STATUSES } from '../../domain/payment';
import { latePaymentRefundStart, latePaymentRefundWorkflow } from '../../workflows/late-payment.workflow';
import { paymentWorkflowId, providerNotificationSignal, refundNotificationSignal } from '../../workflows/messages';
import type { ApiContext } from '../context';
import { reopenedPayment } from '../reopen';
import { paymentWorkflowV7 } from '../../workflows/payment.workflow';

/**
 * Provider callbacks: verified on the raw body, deduplicated by the provider's event id, then
 * handed to the payment's workflow. They never write payment state themselves.
 */
export function providerWebhooksRouter(ctx: ApiContext): Router {
  const router = Router();
  router.post('/sandbox', express.raw({ type: '*/*', limit: '64kb' }), async (req, res) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    let notification: ProviderNotification | null;
    try {
      notification = ctx.providers.sandbox.parseCallback(raw, req.headers);
    } catch {
      notification = null;
    }
    if (!notification) {
      ctx.metrics.providerCallbacks.inc({ provider: 'sandbox', outcome: 'rejected' });
      throw new ApiError(400, 'invalid_request_error', 'invalid_signature', 'Signature verification failed.');
    }
    // The sandbox moves no real money: it may only speak for its own test-mode payments.
    await ownPayment(ctx, notification.paymentId, 'sandbox', false);
    ctx.metrics.providerCallbacks.inc({ provider: 'sandbox', outcome: await handOver(ctx, notification) });
    res.json({ received: true });
  });

  // The bank's (or aggregator's) credit feed: `Bank-Signature` as API.md's webhooks sign. The
  // credits arrive on the platform's accounts; a credit sent again (same credit_id) counts once.
  router.post('/bank', express.raw({ type: () => true, limit: '64kb' }), async (req, res) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const secret = ctx.config.BANK_WEBHOOK_SECRET;
    if (!secret || !verifySignature(secret, raw, req.header('bank-signature'))) {
      ctx.metrics.providerCallbacks.inc({ provider: 'bank', outcome: 'rejected' });
      throw new ApiError(400, 'invalid_request_error', 'invalid_signature', 'Signature verification failed.');
    }
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      throw invalidRequest('Malformed JSON in request body.', undefined, 'invalid_json');
    }
    const { livemode, data } = parse(BankWebhookBody, json);
    const [received] = await receiveCredits(ctx.intake, [{ ...data, reference: data.reference ?? null, payer: data.payer ?? { name: null, account: null, bank_code: null } }], {
      livemode, merchantId: null, source: 'webhook',
    });
    ctx.metrics.providerCallbacks.inc({ provider: 'bank', outcome: received!.duplicate ? 'duplicate' : 'delivered' });
    res.json({ received: true, id: received!.credit.id, duplicate: received!.duplicate });
  });

  // Stripe: `Stripe-Signature` checked on the raw body; every verified event is acknowledged at
  // once (Stripe retries anything else for days), and only PaymentIntent outcomes reach workflows.
  router.post('/stripe', express.raw({ type: '*/*', limit: '512kb' }), async (req, res) => {
    const stripe = ctx.providers.stripe;
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const event = stripe?.verifyEvent(raw, req.headers);
    if (!stripe || !event) {
      ctx.metrics.providerCallbacks.inc({ provider: 'stripe', outcome: 'rejected' });
      throw new ApiError(400, 'invalid_request_error', 'invalid_signature', 'Signature verification failed.');
    }
    const refunded = refundNotificationOf(event);
    const notification = refunded ? null : notificationOf(event);
    const paymentId = (refunded ?? notification)?.paymentId;
    if (paymentId) {
      // Stripe says which mode an event is from; it must be the mode our key serves, and the payment ours at Stripe in that mode.
      const livemode = ctx.providers.modes.stripe === 'live';
      if (event.livemode !== livemode) foreignCallback(ctx, 'stripe', paymentId, 'livemode_mismatch');
      await ownPayment(ctx, paymentId, 'stripe', livemode);
    }
    const outcome = refunded ? await deliverRefundNotification(ctx, refunded) : notification ? await handOver(ctx, notification) : 'ignored';
    ctx.metrics.providerCallbacks.inc({ provider: 'stripe', outcome });
    res.json({ received: true });
  });

  // Alipay: a form-encoded notify, RSA2-signed with Alipay's key. A genuine signature is not
  // enough: the app, the trade and the amount must be ours. Alipay retries (8 times over about
  // 25 hours) until it reads the literal `success`, which repeats are also answered with.
  router.post('/alipay', express.raw({ type: '*/*', limit: '64kb' }), async (req, res) => {
    const alipay = ctx.providers.alipay;
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const params = alipay?.verifyNotification(raw);
    const reject = (code: string, message: string, fields: Record<string, unknown> = {}): never => {
      ctx.metrics.providerCallbacks.inc({ provider: 'alipay', outcome: 'rejected' });
      ctx.log.warn({ provider: 'alipay', code, ...fields }, 'provider callback rejected');
      throw new ApiError(400, 'invalid_request_error', code, message);
    };
    if (!alipay || !params) return reject('invalid_signature', 'Signature verification failed.');
    const fields = { out_trade_no: params.out_trade_no, notify_id: params.notify_id, payment_id: params.out_trade_no };
    const found = params.out_trade_no ? await findPaymentById(ctx.pool, params.out_trade_no) : undefined;
    // Only Alipay payments of the mode its gateway serves: a test gateway's notify never moves a live payment.
    const payment = found && (found.livemode ?? false) === (ctx.providers.modes.alipay === 'live') ? found : undefined;
    const verdict = notifyVerdict(params, alipay.appId, payment);
    if (verdict.kind === 'reject') return reject(verdict.code, verdict.message, fields);
    const outcome = verdict.kind === 'acknowledge' ? 'ignored' : await handOver(ctx, verdict.notification, payment);
    ctx.metrics.providerCallbacks.inc({ provider: 'alipay', outcome });
    res.type('text/plain').send('success');
  });

  // WeChat Pay: a signed JSON notify whose resource is encrypted with the APIv3 key. A genuine
  // signature is not enough: the merchant, the app, the order and its amount must be ours.
  // WeChat retries (about 15 times over 24 hours) until it gets a 200; refusals answer its own
  // error shape, `{ code: "FAIL", message }`.
  // Whatever its content type says, the signature is over the raw bytes.
  router.post('/wechat_pay', express.raw({ type: () => true, limit: '64kb' }), async (req, res) => {
    const wechat = ctx.providers.wechat_pay;
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const refuse = (status: number, code: string, message: string, fields: Record<string, unknown> = {}) => {
      ctx.metrics.providerCallbacks.inc({ provider: 'wechat_pay', outcome: 'rejected' });
      ctx.log.warn({ provider: 'wechat_pay', code, ...fields }, 'provider callback rejected');
      res.status(status).json({ code: 'FAIL', message });
    };
    const opened = wechat?.openNotification(raw, req.headers);
    if (!wechat || !opened) return refuse(401, 'invalid_signature', 'Signature verification failed.');
    const outTradeNo = typeof opened.resource.out_trade_no === 'string' ? opened.resource.out_trade_no : undefined;
    const found = outTradeNo ? await findPaymentById(ctx.pool, outTradeNo) : undefined;
    // Only WeChat Pay payments of the mode its host serves: a simulator's notify never moves a live payment.
    const payment = found && (found.livemode ?? false) === (ctx.providers.modes.wechat_pay === 'live') ? found : undefined;
    const verdict = notifyVerdictOfWechat(opened.id, opened.eventType, opened.resource, wechat.ids, payment);
    const fields = { notification_id: opened.id, event_type: opened.eventType, payment_id: outTradeNo };
    if (verdict.kind === 'reject') return refuse(400, verdict.code, verdict.message, fields);
    const outcome = verdict.kind === 'deliver'
      ? await handOver(ctx, verdict.notification, payment)
      : verdict.kind === 'refund' ? await deliverRefundNotification(ctx, verdict.notification) : 'ignored';
    ctx.metrics.providerCallbacks.inc({ provider: 'wechat_pay', outcome });
    res.status(200).end();
  });
  return router;
}

/**
 * The payment a verified callback names, if it belongs to this provider in this mode; otherwise
 * the callback is refused (400, counted, logged) before anything reaches a workflow.
 */
async function ownPayment(ctx: ApiContext, paymentId: string, provider: ProviderName, livemode: boolean): Promise<Payment> {
  const payment = await findPaymentById(ctx.pool, paymentId);
  if (!payment) return foreignCallback(ctx, provider, paymentId, 'unknown_payment');
  if (payment.provider !== provider) return foreignCallback(ctx, provider, paymentId, 'other_provider');
  if ((payment.livemode ?? false) !== livemode) return foreignCallback(ctx, provider, paymentId, 'other_mode');
  return payment;
}

function foreignCallback(ctx: ApiContext, provider: ProviderName, paymentId: string, reason: string): never {
  ctx.metrics.providerCallbacks.inc({ provider, outcome: 'rejected' });
  ctx.log.warn({ provider, payment_id: paymentId, reason }, 'provider callback rejected: not a payment of this provider and mode');
  throw new ApiError(400, 'invalid_request_error', 'payment_mismatch', `This callback does not name a ${provider} payment it may change.`);
}

/**
 * A verified "the customer paid" for one of our payments: to its workflow while it runs; to a
 * late-payment refund when the payment is already closed unpaid (the read model says so, or
 * its workflow ended while the callback was on its way).
 */
async function handOver(ctx: ApiContext, n: ProviderNotification, known?: Payment): Promise<string> {
  // A running workflow hears it as a signal, so the read model is read only where it is at hand or the workflow is gone.
  if (known && n.outcome === 'action_succeeded' && isClosedUnpaid(known)) return refundLatePayment(ctx, known);
  const outcome = await deliverNotification(ctx, n);
  const now = outcome === 'closed' && n.outcome === 'action_succeeded' ? await findPaymentById(ctx.pool, n.paymentId) : undefined;
  if (!now || !isClosedUnpaid(now)) return outcome;
  return refundLatePayment(ctx, now).catch(async (err: unknown) => {
    await forgetNotification(ctx, n); // so that the provider's retry is processed
    throw err;
  });
}

/**
 * Money may have arrived for a payment we closed: its own workflow asks the provider and gives
 * back whatever was taken, started once per payment whatever the number of notifications.
 */
async function refundLatePayment(ctx: ApiContext, payment: Payment): Promise<string> {
  ctx.log.warn({ provider: payment.provider, payment_id: payment.id, status: payment.status }, 'payment paid after it was closed: refunding it in full');
  try {
    await ctx.temporal.workflow.start(latePaymentRefundWorkflow, { ...latePaymentRefundStart(payment), taskQueue: ctx.config.TEMPORAL_TASK_QUEUE });
    return 'late_payment';
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return 'duplicate';
    throw err;
  }
}

const isClosedUnpaid = (p: Payment) => CLOSED_UNPAID_STATUSES.includes(p.status);

/**
 * Hands a verified callback to its payment's workflow once: `duplicate` when it already was,
 * `closed` when the payment's workflow has ended.
 */
async function deliverNotification(ctx: ApiContext, n: ProviderNotification): Promise<'accepted' | 'duplicate' | 'closed'> {
  if (!(await rememberNotification(ctx, n))) return 'duplicate'; // already handed over
  try {
    await ctx.temporal.workflow.getHandle(paymentWorkflowId(n.paymentId)).signal(providerNotificationSignal, n);
    return 'accepted';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'closed';
    await forgetNotification(ctx, n); // not handed over: the provider's retry must be processed
    throw err;
  }
}

/** A provider's word on one of our refunds, to its payment's workflow once (by the provider's event id). */
async function deliverRefundNotification(ctx: ApiContext, n: RefundNotification): Promise<'accepted' | 'duplicate'> {
  if (!(await rememberNotification(ctx, n))) return 'duplicate';
  try {
    try {
      await ctx.temporal.workflow.getHandle(paymentWorkflowId(n.paymentId)).signal(refundNotificationSignal, n);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      // Past its refund window the payment's workflow has ended. Only a reversal of one of its own
      // refunds reopens it; anything else (a settled refund, the late-payment refund's) needs no run.
      const known = await ctx.pool.query(`SELECT 1 FROM refunds WHERE id = $1 AND payment_id = $2 AND status = 'succeeded'`, [n.refundId, n.paymentId]);
      if (n.status !== 'failed' || known.rowCount === 0) {
        if (n.status === 'failed') ctx.log.warn({ provider: n.provider, payment_id: n.paymentId, refund_id: n.refundId }, 'a refund outside any payment failed at the provider: needs an operator');
        return 'accepted';
      }
      await ctx.temporal.workflow.signalWithStart(paymentWorkflowV7, { ...(await reopenedPayment(ctx, n.paymentId)), signal: refundNotificationSignal, signalArgs: [n] });
    }
    return 'accepted';
  } catch (err) {
    await forgetNotification(ctx, n); // the provider's retry must be processed
    throw err;
  }
}

type ProviderEvent = Pick<ProviderNotification, 'provider' | 'eventId' | 'paymentId'>;

/** Records a provider event as handed over: false when it already was (deduplication by the provider's event id). */
async function rememberNotification(ctx: ApiContext, n: ProviderEvent): Promise<boolean> {
  const first = await ctx.pool.query('INSERT INTO provider_events (provider, event_id, payment_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [n.provider, n.eventId, n.paymentId]);
  return first.rowCount === 1;
}

async function forgetNotification(ctx: ApiContext, n: ProviderEvent): Promise<void> {
  await ctx.pool.query('DELETE FROM provider_events WHERE provider = $1 AND event_id = $2', [n.provider, n.eventId]);
}
