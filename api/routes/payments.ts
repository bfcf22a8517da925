import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import { Router } from 'express';
import type { Request, Response } from 'express';
import { findPayment, listPayments, publicPayment } from '../../db/payments';
import { ApiError, found, invalidRequest, notFound, unavailable } from '../../domain/errors';
import { newId } from '../../domain/ids';
import type { Payment, PaymentFx } from '../../domain/payment';
import { cancelPaymentUpdate, capturePaymentUpdate, createPaymentUpdate, paymentWorkflowId } from '../../workflows/messages';
import type { Tenant } from '../../db/merchants';
import { findRouting } from '../../db/routing';
import { transferSettings } from '../../db/bank';
import { findCustomer } from '../../db/billing';
import { planRoute } from '../../routing/plan';
import { amountProblem } from '../../runtime/providers';
import { newPayment, paymentStart } from '../../runtime/open-payment';
import type { ApiContext } from '../context';
import { idempotencyScope, requireMerchant, requireTenant } from '../middleware/auth';
import { parse } from '../middleware/errors';
import type { Outcome } from '../middleware/idempotency';
import { idempotent } from '../middleware/idempotency';
import { settleWithin, updateWithin } from '../sync';
import { CancelBody, CaptureBody, CreatePaymentBody, PaymentListQuery } from '../schemas/payments';

/** The answer to a create: 201 after the first round trip, 402 on decline, 502 if the provider was unreachable. */
export function createOutcome(payment: Payment, status = 201): Outcome {
  if (payment.status === 'failed' && payment.failure) {
    const providerDown = payment.failure.code === 'provider_unavailable';
    const error = new ApiError(providerDown ? 502 : 402, providerDown ? 'provider_error' : 'payment_error', payment.failure.code, payment.failure.message, undefined, {
      payment: publicPayment(payment),
    });
    return { status: error.status, body: error.toBody() };
  }
  // Held for review: accepted, not decided (as a create that is still working).
  return { status: payment.status === 'requires_review' ? 202 : status, body: publicPayment(payment) };
}

export function paymentsRouter(ctx: ApiContext): Router {
  const router = Router();
  const { pool, temporal, config } = ctx;

  const loadPayment = async (tenant: Tenant, id: string): Promise<Payment> => found(await findPayment(pool, tenant, id), 'payment', id);

  router.post('/', async (req, res) => {
    const merchant = requireMerchant(req);
    const tenant = requireTenant(req);
    const body = parse(CreatePaymentBody, req.body);
    const plan = planRoute(ctx.providers, await findRouting(pool, tenant), {
      amount: body.amount, currency: body.currency, method: body.payment_method.type, captureMethod: body.capture_method, channel: body.channel,
      forced: body.provider, livemode: tenant.livemode, hasToken: body.payment_method.token !== undefined,
    });
    if (typeof plan !== 'function') throw invalidRequest(plan.message, plan.param, plan.code);
    // WeChat Pay's H5 cashier is opened for one payer address: it must be known before anything is written.
    if (body.channel === 'phone' && !body.client_ip && plan('').candidates[0] === 'wechat_pay') {
      throw invalidRequest('Missing required parameter: client_ip (the payer\'s IP address, required by WeChat Pay for phone browsers).', 'client_ip', 'parameter_missing');
    }
    // Cross-border: the merchant settles in another currency at a rate locked now, the quote it
    // names or a fresh one. Checked inside the idempotent run: a retry of a request that already
    // locked its quote gets that quote back, however late (an expired quote is not refused then).
    const settlement = body.settlement_currency ?? (body.fx_quote_id ? undefined : merchant.settlement_currency ?? undefined);
    const lockFx = (paymentId: string): Promise<PaymentFx | null> =>
      ctx.fx.lockForPayment(tenant, merchant.fx_margin_bps, paymentId, { currency: body.currency, amount: body.amount, settlement, quoteId: body.fx_quote_id });

    const transferTtlMs = body.payment_method.type === 'bank_transfer' ? (await transferSettings(pool, tenant, config.BANK_TRANSFER_TTL_MS)).expires_after_seconds * 1000 : undefined;
    // A transfer's excess and returns go to its customer's balance: it must be this merchant's, in this mode.
    if (transferTtlMs && body.customer_id && !(await findCustomer(pool, tenant, body.customer_id))) throw notFound('customer', body.customer_id, 'customer_id');

    const outcome = await idempotent(pool, req, {
      scope: idempotencyScope(tenant),
      resourceType: 'payment',
      allocate: () => newId('pay'),
      replay: async (id, status) => createOutcome(await loadPayment(tenant, id), status === 202 ? 201 : status),
      run: async (id) => {
        res.locals.paymentId = id;
        const payment = { ...newPayment(id, merchant.id, tenant.livemode, body, plan(id)), fx: await lockFx(id) };
        const memo = { amount: body.amount, currency: body.currency, merchant: merchant.name, mode: tenant.livemode ? 'live' : 'test' };
        const billingCountry = body.payment_method.billing_details?.address?.country;
        const extra = {
          ...(body.client_ip ? { clientIp: body.client_ip } : {}), ...(transferTtlMs ? { actionTtlMs: transferTtlMs } : {}), ...(billingCountry ? { billingCountry } : {}),
        };
        const start = () => paymentStart(config, payment, body.payment_method.token, extra, memo);
        let settled: Payment | undefined;
        try {
          settled = await settleWithin(temporal, config.SYNC_WAIT_MS, () =>
            temporal.workflow.executeUpdateWithStart(createPaymentUpdate, { updateId: 'create', startWorkflowOperation: start() }),
          );
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          // This payment's process has already finished: answer with what it left behind.
          settled = await findPayment(pool, tenant, id);
          if (!settled) throw err;
        }
        if (settled) return createOutcome(settled);
        // Still working: answer 202 only if the payment's workflow surely exists.
        const stored = await findPayment(pool, tenant, id);
        if (stored) return { status: 202, body: publicPayment(stored) };
        try {
          await temporal.connection.withDeadline(Date.now() + 3000, () => temporal.workflow.getHandle(paymentWorkflowId(id)).describe());
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) throw unavailable('The payment could not be started yet; retry with the same Idempotency-Key.');
          throw err;
        }
        return { status: 202, body: publicPayment(payment) };
      },
    });
    res.status(outcome.status).json(outcome.body);
  });

  router.get('/', async (req, res) => {
    const tenant = requireTenant(req);
    const q = parse(PaymentListQuery, req.query);
    const page = await listPayments(pool, tenant, { status: q.status, customerId: q.customer_id }, { limit: q.limit, startingAfter: q.starting_after });
    if (!page) throw notFound('payment', q.starting_after!, 'starting_after');
    res.json({ ...page, data: page.data.map(publicPayment) });
  });

  router.get('/:id', async (req, res) => {
    res.json(publicPayment(await loadPayment(requireTenant(req), String(req.params.id))));
  });

  /** Capture and cancel are workflow updates; the update id makes a retried request converge. */
  const act = (update: typeof capturePaymentUpdate | typeof cancelPaymentUpdate, schema: typeof CaptureBody | typeof CancelBody) =>
    async (req: Request, res: Response) => {
      const tenant = requireTenant(req);
      const body = parse(schema, req.body);
      const payment = await loadPayment(tenant, String(req.params.id));
      const amount = (body as { amount?: number }).amount;
      const problem = update === capturePaymentUpdate && amount !== undefined ? amountProblem(ctx.providers, payment, amount) : undefined;
      if (problem) throw invalidRequest(problem.message, problem.param, problem.code);
      const outcome = await idempotent(pool, req, {
        scope: idempotencyScope(tenant),
        resourceType: 'payment',
        allocate: () => payment.id,
        replay: async (id) => ({ status: 200, body: publicPayment(await loadPayment(tenant, id)) }),
        run: async (id, opKey) => {
          const handle = temporal.workflow.getHandle(paymentWorkflowId(id));
          const args = update === capturePaymentUpdate ? [body as { amount?: number }] : [];
          const what = update === capturePaymentUpdate ? 'capture' : 'cancel';
          const updated = await updateWithin(temporal, config.SYNC_WAIT_MS, handle, update as typeof capturePaymentUpdate, { args: args as [{ amount?: number }], updateId: `${update.name}:${opKey}`, readVersion: payment.version }, what);
          return { status: updated ? 200 : 202, body: publicPayment(updated ?? (await loadPayment(tenant, id))) };
        },
      });
      res.status(outcome.status).json(outcome.body);
    };

  router.post('/:id/capture', act(capturePaymentUpdate, CaptureBody));
  router.post('/:id/cancel', act(cancelPaymentUpdate, CancelBody));
  return router;
}
