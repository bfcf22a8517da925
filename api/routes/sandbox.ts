import express, { Router } from 'express';
import { findPayment, publicPayment } from '../../db/payments';
import { ApiError, invalidRequest, notFound } from '../../domain/errors';
import { hasPrefix } from '../../domain/ids';
import type { ProviderNotification } from '../../providers/provider';
import { paymentWorkflowId, providerNotificationSignal } from '../../workflows/messages';
import type { ApiContext } from '../context';
import { requireMerchant } from '../middleware/auth';
import { WorkflowNotFoundError } from '@temporalio/common';

/**
 * The sandbox processor's own surface: what it really did (`/sandbox/charges`) and the
 * simulated customer finishing or failing a wallet / transfer / 3-D Secure step.
 */
export function sandboxRouter(ctx: ApiContext): Router {
  const router = Router();
  const { pool, providers } = ctx;

  router.get('/charges', async (req, res) => {
    const merchant = requireMerchant(req);
    const paymentId = typeof req.query.payment_id === 'string' ? req.query.payment_id : undefined;
    if (req.query.payment_id !== undefined && !paymentId) throw invalidRequest('payment_id must be a single id.', 'payment_id');
    let ids: string[];
    if (paymentId) {
      ids = hasPrefix(paymentId, 'pay') && (await findPayment(pool, merchant.id, paymentId)) ? [paymentId] : [];
    } else {
      ids = (await pool.query<{ id: string }>('SELECT id FROM payments WHERE merchant_id = $1', [merchant.id])).rows.map((r) => r.id);
    }
    const data = await providers.sandbox.store.charges(ids);
    res.json({ object: 'list', data: data.map(({ object: _o, ...c }) => c), has_more: false });
  });

  const customerAction = (outcome: 'succeeded' | 'failed') => async (req: express.Request, res: express.Response) => {
    const id = String(req.params.id);
    const payment = hasPrefix(id, 'pay') ? await pool.query('SELECT merchant_id FROM payments WHERE id = $1', [id]) : undefined;
    const owner = payment?.rows[0]?.merchant_id as string | undefined;
    if (!owner || (req.merchant && req.merchant.id !== owner)) throw notFound('payment', id);
    const moved = await providers.sandbox.completeAction(id, outcome);
    if (!moved) {
      const state = await providers.sandbox.store.findByPayment(id);
      if (!state || state.status !== (outcome === 'succeeded' ? 'authorized' : 'failed')) {
        throw new ApiError(409, 'invalid_state', 'invalid_state', 'This payment is not waiting for the customer.');
      }
    }
    // The notification is on its way; answer with the payment once the workflow has applied it.
    const settled = await waitUntilSettled(ctx, owner, id, Date.now() + ctx.config.SYNC_WAIT_MS);
    res.json(publicPayment(settled));
  };

  router.post('/payments/:id/complete', customerAction('succeeded'));
  router.post('/payments/:id/fail', customerAction('failed'));
  return router;
}

async function waitUntilSettled(ctx: ApiContext, merchantId: string, paymentId: string, deadline: number) {
  for (;;) {
    const p = (await findPayment(ctx.pool, merchantId, paymentId))!;
    if ((p.status !== 'requires_action' && p.status !== 'pending') || Date.now() >= deadline) return p;
    await new Promise((r) => setTimeout(r, 50));
  }
}

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
    const delivered = await deliverNotification(ctx, notification);
    ctx.metrics.providerCallbacks.inc({ provider: 'sandbox', outcome: delivered ? 'accepted' : 'duplicate' });
    res.json({ received: true });
  });
  return router;
}

/** Hands a verified callback to its payment's workflow once; false when it was a duplicate. */
export async function deliverNotification(ctx: ApiContext, n: ProviderNotification): Promise<boolean> {
  const first = await ctx.pool.query(
    'INSERT INTO provider_events (provider, event_id, payment_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
    [n.provider, n.eventId, n.paymentId],
  );
  if (first.rowCount === 0) return false; // already handed over
  try {
    await ctx.temporal.workflow.getHandle(paymentWorkflowId(n.paymentId)).signal(providerNotificationSignal, n);
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return true; // the payment's process is over: nothing left to tell it
    // Not handed over: forget the event so the provider's retry is processed.
    await ctx.pool.query('DELETE FROM provider_events WHERE provider = $1 AND event_id = $2', [n.provider, n.eventId]);
    throw err;
  }
}
