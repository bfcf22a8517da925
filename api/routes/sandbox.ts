import type express from 'express';
import { Router } from 'express';
import { findPayment, publicPayment } from '../../db/payments';
import { ApiError, invalidRequest, notFound } from '../../domain/errors';
import type { ApiContext } from '../context';
import { requireTenant } from '../middleware/auth';
import { pollUntil } from '../sync';
import type { Tenant } from '../../db/merchants';

/**
 * The sandbox processor's own surface: what it really did (`/sandbox/charges`) and the
 * simulated customer finishing or failing a wallet / transfer / 3-D Secure step.
 */
export function sandboxRouter(ctx: ApiContext): Router {
  const router = Router();
  const { pool, providers } = ctx;
  const customerActionsOpen = (ctx.config.SANDBOX_CUSTOMER_ACTIONS ?? (ctx.config.NODE_ENV === 'production' ? 'key' : 'open')) === 'open';

  router.get('/charges', async (req, res) => {
    const tenant = requireTenant(req);
    const paymentId = typeof req.query.payment_id === 'string' ? req.query.payment_id : undefined;
    if (req.query.payment_id !== undefined && !paymentId) throw invalidRequest('payment_id must be a single id.', 'payment_id');
    let ids: string[];
    if (paymentId) {
      ids = (await findPayment(pool, tenant, paymentId)) ? [paymentId] : [];
    } else {
      ids = (await pool.query<{ id: string }>('SELECT id FROM payments WHERE merchant_id = $1 AND livemode = $2', [tenant.merchantId, tenant.livemode])).rows.map((r) => r.id);
    }
    const data = await providers.sandbox.store.charges(ids);
    res.json({ object: 'list', data: data.map(({ object: _o, ...c }) => c), has_more: false });
  });

  const customerAction = (outcome: 'succeeded' | 'failed') => async (req: express.Request, res: express.Response) => {
    const id = String(req.params.id);
    // The simulated customer pays test-mode sandbox payments only.
    const payment = await pool.query<{ merchant_id: string; livemode: boolean; provider: string }>('SELECT merchant_id, livemode, provider FROM payments WHERE id = $1', [id]);
    const row = payment.rows[0];
    const owner: Tenant | undefined = row && !row.livemode && row.provider === 'sandbox' ? { merchantId: row.merchant_id, livemode: false } : undefined;
    if (!req.tenant && !customerActionsOpen) {
      throw new ApiError(401, 'authentication_error', 'authentication_required', "Playing the sandbox's customer needs the payment's merchant test key (SANDBOX_CUSTOMER_ACTIONS=key).");
    }
    if (!owner || (req.tenant && (req.tenant.merchantId !== owner.merchantId || req.tenant.livemode))) throw notFound('payment', id);
    const moved = await providers.sandbox.completeAction(id, outcome);
    if (!moved) {
      const state = await providers.sandbox.store.findByPayment(id);
      if (!state || state.status !== (outcome === 'succeeded' ? 'authorized' : 'failed')) {
        throw new ApiError(409, 'invalid_state', 'invalid_state', 'This payment is not waiting for the customer.');
      }
    }
    // The notification is on its way; answer with the payment once the workflow has applied it.
    const settled = await pollUntil(async () => (await findPayment(pool, owner, id))!, (p) => p.status !== 'requires_action' && p.status !== 'pending', Date.now() + ctx.config.SYNC_WAIT_MS);
    res.json(publicPayment(settled));
  };

  router.post('/payments/:id/complete', customerAction('succeeded'));
  router.post('/payments/:id/fail', customerAction('failed'));
  return router;
}

