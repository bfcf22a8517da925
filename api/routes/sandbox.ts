import type express from 'express';
import { Router } from 'express';
import { findPayment, publicPayment } from '../../db/payments';
import { ApiError, invalidRequest, notFound } from '../../domain/errors';
import type { ApiContext } from '../context';
import { requireMerchant } from '../middleware/auth';

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
      ids = (await findPayment(pool, merchant.id, paymentId)) ? [paymentId] : [];
    } else {
      ids = (await pool.query<{ id: string }>('SELECT id FROM payments WHERE merchant_id = $1', [merchant.id])).rows.map((r) => r.id);
    }
    const data = await providers.sandbox.store.charges(ids);
    res.json({ object: 'list', data: data.map(({ object: _o, ...c }) => c), has_more: false });
  });

  const customerAction = (outcome: 'succeeded' | 'failed') => async (req: express.Request, res: express.Response) => {
    const id = String(req.params.id);
    const payment = await pool.query<{ merchant_id: string }>('SELECT merchant_id FROM payments WHERE id = $1', [id]);
    const owner = payment.rows[0]?.merchant_id;
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
