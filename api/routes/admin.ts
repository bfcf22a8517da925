import { Router } from 'express';
import type { Tenant } from '../../db/merchants';
import { findEvent } from '../../db/events';
import type { OperatorAction } from '../../db/operator-actions';
import { findOperatorAction, recordOperatorAction } from '../../db/operator-actions';
import { findPayment, publicPayment } from '../../db/payments';
import { subscribedEndpoints } from '../../db/webhooks';
import { findSubscription, listInvoices } from '../../db/billing';
import { ENDED_SUBSCRIPTION_STATUSES } from '../../domain/billing';
import { payInvoiceUpdate, subscriptionWorkflowId } from '../../workflows/billing-messages';
import { found, invalidState } from '../../domain/errors';
import { newId } from '../../domain/ids';
import { CANCELABLE_STATUSES } from '../../domain/payment';
import type { ProviderName } from '../../domain/payment';
import { PROVIDER_METHODS } from '../../routing/capabilities';
import { cancelPaymentUpdate, operatorRetrySignal, paymentWorkflowId } from '../../workflows/messages';
import type { ApiContext } from '../context';
import { parse } from '../middleware/errors';
import { idempotent } from '../middleware/idempotency';
import { OperatorActionBody } from '../schemas/admin';
import { updateWithin } from '../sync';

const ACTIONS: Record<Exclude<OperatorAction['action'], 'apply_bank_credit' | 'confirm_bank_payout'>, { path: string; table: 'payments' | 'events' | 'subscriptions'; what: string }> = {
  retry_step: { path: '/payments/:id/retry', table: 'payments', what: 'payment' },
  force_cancel: { path: '/payments/:id/cancel', table: 'payments', what: 'payment' },
  resend_event: { path: '/events/:id/resend', table: 'events', what: 'event' },
  retry_subscription: { path: '/subscriptions/:id/retry', table: 'subscriptions', what: 'subscription' },
};

/** Records what an operator did and tells the merchant concerned. */
export async function auditOperatorAction(ctx: ApiContext, a: Omit<OperatorAction, 'object' | 'created_at'>, livemode: boolean): Promise<OperatorAction> {
  const { action, eventId } = await recordOperatorAction(ctx.pool, a, livemode);
  // The action is done and audited: telling the merchant now is best effort, the outbox sweep retries it.
  await ctx.dispatcher.dispatch([eventId]).catch((err) => ctx.log.warn({ err: (err as Error).message, eventId }, 'operator.action event left for the outbox sweep'));
  return action;
}

/**
 * Operator controls (admin key), for any merchant's objects. Every action needs a reason and
 * is recorded in the audit trail and as an `operator.action` event of the merchant concerned.
 */
export function adminRouter(ctx: ApiContext): Router {
  const router = Router();
  const { pool, temporal, config, dispatcher } = ctx;

  const ownerOf = async (table: 'payments' | 'events' | 'subscriptions', id: string, what: string): Promise<Tenant> => {
    const { rows } = await pool.query<{ merchant_id: string; livemode: boolean }>(`SELECT merchant_id, livemode FROM ${table} WHERE id = $1`, [id]);
    const row = found(rows[0], what, id);
    return { merchantId: row.merchant_id, livemode: row.livemode };
  };

  /** Runs an action once per Idempotency-Key, audits it, and tells the merchant. */
  const audited = (action: keyof typeof ACTIONS, run: (owner: Tenant, targetId: string, opKey: string) => Promise<{ outcome: string; extra?: object }>) => {
    const { path, table, what } = ACTIONS[action];
    router.post(path, async (req, res) => {
      const { reason } = parse(OperatorActionBody, req.body);
      const targetId = String(req.params.id);
      const owner = await ownerOf(table, targetId, what);
      const outcome = await idempotent(pool, req, {
        scope: 'admin',
        resourceType: 'operator_action',
        allocate: () => newId('opa'),
        replay: async (id, status) => ({ status, body: found(await findOperatorAction(pool, id), 'operator_action', id) }),
        run: async (id, opKey) => {
          const result = await run(owner, targetId, opKey);
          const recorded = await auditOperatorAction(ctx, { id, merchant_id: owner.merchantId, action, target_id: targetId, reason, outcome: result.outcome }, owner.livemode);
          return { status: 200, body: { ...recorded, ...result.extra } };
        },
      });
      res.status(outcome.status).json(outcome.body);
    });
  };

  // Cuts the payment's current backoff or poll wait short: the stuck step is tried again now.
  audited('retry_step', async (owner, paymentId) => {
    const payment = found(await findPayment(pool, owner, paymentId), 'payment', paymentId);
    try {
      await temporal.workflow.getHandle(paymentWorkflowId(paymentId)).signal(operatorRetrySignal);
    } catch (err) {
      if ((err as { name?: string }).name === 'WorkflowNotFoundError') throw invalidState(`Payment ${paymentId} is ${payment.status}: nothing is running to retry.`);
      throw err;
    }
    return { outcome: `retry requested while ${payment.status}` };
  });

  // Cancels on the merchant's behalf (a payment still waiting for its provider or customer acts on it at once).
  audited('force_cancel', async (owner, paymentId) => {
    const payment = found(await findPayment(pool, owner, paymentId), 'payment', paymentId);
    if (!CANCELABLE_STATUSES.includes(payment.status)) throw invalidState(`A payment that is ${payment.status} cannot be canceled.`);
    const handle = temporal.workflow.getHandle(paymentWorkflowId(paymentId));
    const canceled = await updateWithin(temporal, config.SYNC_WAIT_MS, handle, cancelPaymentUpdate, { args: [], updateId: `operator-cancel:${paymentId}` }, 'cancel');
    const now = canceled ?? found(await findPayment(pool, owner, paymentId), 'payment', paymentId);
    return { outcome: `payment ${now.status}`, extra: { payment: publicPayment(now) } };
  });

  // Charges the subscription's open invoices now, whatever their dunning schedule says.
  audited('retry_subscription', async (owner, subscriptionId) => {
    const subscription = found(await findSubscription(pool, owner, subscriptionId), 'subscription', subscriptionId);
    const open = (await listInvoices(pool, owner, { subscriptionId, status: 'open' }, { limit: 100 }))!.data;
    if (ENDED_SUBSCRIPTION_STATUSES.includes(subscription.status) || open.length === 0) {
      throw invalidState(`Subscription ${subscriptionId} is ${subscription.status} with no open invoice: nothing to retry.`);
    }
    const handle = temporal.workflow.getHandle(subscriptionWorkflowId(subscriptionId));
    const results = [];
    for (const invoice of open) {
      const paid = await updateWithin(temporal, config.SYNC_WAIT_MS, handle, payInvoiceUpdate, { args: [{ invoiceId: invoice.id }], updateId: `operator-retry:${invoice.id}:${invoice.attempt_count}` }, 'retry');
      results.push(`${invoice.id} ${paid?.status ?? 'retrying'}`);
    }
    return { outcome: results.join(', ') };
  });

  // Delivers the event again to every enabled endpoint of its merchant that subscribes to it.
  audited('resend_event', async (owner, eventId, opKey) => {
    const event = found(await findEvent(pool, owner, eventId), 'event', eventId);
    const endpoints = await subscribedEndpoints(pool, owner, event.type);
    if (endpoints.length === 0) throw invalidState('No enabled webhook endpoint subscribes to this event.', 'no_endpoint');
    const deliveries = await dispatcher.resend({ id: event.id, type: event.type, merchantId: owner.merchantId }, endpoints, opKey);
    return { outcome: `${deliveries.length} deliver${deliveries.length === 1 ? 'y' : 'ies'} started` };
  });

  // Provider health: every configured provider per mode, with its circuit (closed when never faulted).
  router.get('/providers', async (_req, res) => {
    const health = await ctx.circuits.all();
    const data = (Object.entries(ctx.providers.modes) as [ProviderName, 'test' | 'live'][]).map(([provider, mode]) => {
      const h = health.find((x) => x.provider === provider && x.livemode === (mode === 'live'));
      const when = (d: Date | null | undefined) => (d ? d.toISOString() : null);
      return {
        object: 'provider', provider, livemode: mode === 'live', methods: [...PROVIDER_METHODS[provider]],
        circuit: {
          state: h?.state ?? 'closed', consecutive_failures: h?.consecutive_failures ?? 0, opened_at: when(h?.opened_at),
          last_failure: h?.last_failure ?? null, last_failure_at: when(h?.last_failure_at), last_success_at: when(h?.last_success_at),
        },
      };
    });
    res.json({ object: 'list', data, has_more: false });
  });

  return router;
}
