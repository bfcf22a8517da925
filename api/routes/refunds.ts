import { WithStartWorkflowOperation } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { Router } from 'express';
import type { Tenant } from '../../db/merchants';
import { findPayment, findRefund, listRefunds, publicRefund } from '../../db/payments';
import { found, invalidRequest, notFound, unavailable } from '../../domain/errors';
import { newId } from '../../domain/ids';
import type { Refund } from '../../domain/payment';
import { REFUNDABLE_STATUSES } from '../../domain/payment';
import { amountProblem } from '../../runtime/providers';
import type { RefundRequest } from '../../workflows/messages';
import { paymentWorkflowId, refundPaymentUpdate } from '../../workflows/messages';
import { reopenedPayment } from '../reopen';
import { paymentWorkflowV7 } from '../../workflows/payment.workflow';
import type { ApiContext } from '../context';
import { idempotencyScope, requireTenant } from '../middleware/auth';
import { parse } from '../middleware/errors';
import { idempotent } from '../middleware/idempotency';
import { CreateRefundBody, RefundListQuery } from '../schemas/payments';
import { pollUntil, settleWithin, updateWithin } from '../sync';

export function refundsRouter(ctx: ApiContext): Router {
  const router = Router();
  const { pool, temporal, config } = ctx;

  const loadRefund = async (tenant: Tenant, id: string) => found(await findRefund(pool, tenant, id), 'refund', id);

  router.post('/', async (req, res) => {
    const tenant = requireTenant(req);
    const body = parse(CreateRefundBody, req.body);
    const payment = found(await findPayment(pool, tenant, body.payment_id), 'payment', body.payment_id, 'payment_id');
    // The whole remainder when no amount is given: what the read model says is left.
    const problem = amountProblem(ctx.providers, payment, body.amount ?? Math.max(1, payment.amount_captured - payment.amount_refunded));
    if (problem) throw invalidRequest(problem.message, problem.param, problem.code);
    const outcome = await idempotent(pool, req, {
      scope: idempotencyScope(tenant),
      resourceType: 'refund',
      allocate: () => newId('re'),
      replay: async (id, status) => ({ status, body: publicRefund(await loadRefund(tenant, id)) }),
      run: async (refundId) => {
        const request = { refundId, amount: body.amount, reason: body.reason ?? null, createdAt: new Date().toISOString() };
        const deadline = Date.now() + config.SYNC_WAIT_MS;
        // The update id is the refund id: a retried request attaches to the same refund.
        let taken: Refund | undefined;
        try {
          taken = await updateWithin(temporal, config.SYNC_WAIT_MS, temporal.workflow.getHandle(paymentWorkflowId(payment.id)), refundPaymentUpdate, { args: [request], updateId: refundId, readVersion: payment.version }, 'refund');
        } catch (err) {
          // Past its refund window the payment's workflow has ended: it is started again for this refund.
          if (!(err instanceof WorkflowNotFoundError) || !REFUNDABLE_STATUSES.includes(payment.status)) throw err;
          taken = await settleWithin(temporal, Math.max(0, deadline - Date.now()), () => reopenForRefund(ctx, payment.id, request));
        }
        if (!taken) {
          // Accepted and still working (a run from before refunds were taken at once): as it stands.
          const pending = await findRefund(pool, tenant, refundId);
          if (!pending) throw unavailable('The refund is not confirmed yet; retry with the same Idempotency-Key.');
          return { status: 202, body: publicRefund(pending) };
        }
        // The payment takes the refund at once and answers it pending; the provider's answer reaches the
        // read model moments later. A transfer's refund is a payout the bank confirms days later: taken
        // is the answer.
        if (taken.status !== 'pending' || payment.payment_method.type === 'bank_transfer') return { status: 201, body: publicRefund(taken) };
        const settled = await pollUntil(() => findRefund(pool, tenant, refundId), (r) => r !== undefined && r.status !== 'pending', deadline);
        return settled && settled.status !== 'pending' ? { status: 201, body: publicRefund(settled) } : { status: 202, body: publicRefund(settled ?? taken) };
      },
    });
    res.status(outcome.status).json(outcome.body);
  });

  router.get('/', async (req, res) => {
    const tenant = requireTenant(req);
    const q = parse(RefundListQuery, req.query);
    const page = await listRefunds(pool, tenant, { paymentId: q.payment_id }, { limit: q.limit, startingAfter: q.starting_after });
    if (!page) throw notFound('refund', q.starting_after!, 'starting_after');
    res.json({ ...page, data: page.data.map(publicRefund) });
  });

  router.get('/:id', async (req, res) => {
    const tenant = requireTenant(req);
    res.json(publicRefund(await loadRefund(tenant, String(req.params.id))));
  });
  return router;
}

/**
 * A refund after the refund window: the payment's workflow is started again (see `reopenedPayment`)
 * and takes the refund as before: same key scheme at the provider, same never-over-refund check.
 * A refund that races it attaches to the same run (update-with-start on the same workflow id).
 */
async function reopenForRefund(ctx: ApiContext, paymentId: string, request: RefundRequest): Promise<Refund> {
  return ctx.temporal.workflow.executeUpdateWithStart(refundPaymentUpdate, {
    args: [request],
    updateId: request.refundId,
    startWorkflowOperation: new WithStartWorkflowOperation(paymentWorkflowV7, await reopenedPayment(ctx, paymentId)),
  });
}
