import { Router } from 'express';
import { findPayment, findPaymentById, publicPayment } from '../../db/payments';
import { found } from '../../domain/errors';
import { riskRulesOf } from '../../activities/risk';
import { RiskRulesBody } from '../../risk/rules';
import { paymentWorkflowId, reviewPaymentUpdate } from '../../workflows/messages';
import type { ApiContext } from '../context';
import { adminOrTenant, idempotencyScope, requireTenant } from '../middleware/auth';
import { parse } from '../middleware/errors';
import { idempotent } from '../middleware/idempotency';
import { ReviewBody } from '../schemas/payments';
import { updateWithin } from '../sync';

/** The merchant's risk rules of the key's mode (the defaults until it saves its own). */
export function riskRulesRouter(ctx: ApiContext): Router {
  const router = Router();
  router.get('/rules', async (req, res) => {
    const tenant = requireTenant(req);
    res.json({ object: 'risk_rules', livemode: tenant.livemode, ...(await riskRulesOf(ctx.pool, tenant.merchantId, tenant.livemode)) });
  });
  router.post('/rules', async (req, res) => {
    const tenant = requireTenant(req);
    const rules = parse(RiskRulesBody, req.body);
    await ctx.pool.query(
      `INSERT INTO risk_rules (merchant_id, livemode, rules) VALUES ($1, $2, $3) ON CONFLICT (merchant_id, livemode) DO UPDATE SET rules = $3, updated_at = now()`,
      [tenant.merchantId, tenant.livemode, JSON.stringify(rules)],
    );
    res.json({ object: 'risk_rules', livemode: tenant.livemode, ...rules });
  });
  return router;
}

/**
 * `POST /v1/payments/:id/review` — the merchant's key, or an operator's admin key: approve
 * (the payment goes on to authorization) or reject (it is canceled). Answers with the payment
 * once the decision has been acted on.
 */
export function reviewRouter(ctx: ApiContext): Router {
  const router = Router({ mergeParams: true });
  router.post('/', async (req, res) => {
    const who = await adminOrTenant(ctx.pool, ctx.config.ADMIN_API_KEY, req);
    const id = String((req.params as Record<string, string>).id);
    const body = parse(ReviewBody, req.body);
    const payment = found(who.admin ? await findPaymentById(ctx.pool, id) : await findPayment(ctx.pool, who.tenant, id), 'payment', id);
    const tenant = { merchantId: payment.merchant_id, livemode: payment.livemode ?? false };
    const outcome = await idempotent(ctx.pool, req, {
      scope: who.admin ? 'admin' : idempotencyScope(tenant),
      resourceType: 'payment',
      allocate: () => payment.id,
      replay: async () => ({ status: 200, body: publicPayment((await findPayment(ctx.pool, tenant, id))!) }),
      run: async (_id, opKey) => {
        const reviewer = who.admin ? 'operator' : 'merchant';
        const updated = await updateWithin(ctx.temporal, ctx.config.SYNC_WAIT_MS, ctx.temporal.workflow.getHandle(paymentWorkflowId(payment.id)), reviewPaymentUpdate, {
          args: [{ decision: body.decision, reason: body.reason, reviewer }], updateId: `review:${opKey}`,
        }, 'review');
        return { status: updated ? 200 : 202, body: publicPayment(updated ?? (await findPayment(ctx.pool, tenant, id))!) };
      },
    });
    res.status(outcome.status).json(outcome.body);
  });
  return router;
}
