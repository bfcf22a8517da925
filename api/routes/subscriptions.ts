import type { UpdateDefinition } from '@temporalio/common';
import { WithStartWorkflowOperation } from '@temporalio/client';
import { Router } from 'express';
import type { Request, Response } from 'express';
import { findCustomer, findClock, findInvoice, findMethod, findSubscription, listInvoices, listSubscriptions } from '../../db/billing';
import type { Tenant } from '../../db/merchants';
import { periodStart } from '../../billing/calendar';
import type { Invoice, Subscription } from '../../domain/billing';
import { ENDED_SUBSCRIPTION_STATUSES, iso } from '../../domain/billing';
import { found, invalidRequest, invalidState, notFound } from '../../domain/errors';
import { MAX_AMOUNT } from '../../domain/money';
import { newId } from '../../domain/ids';
import {
  cancelSubscriptionUpdate, changeSubscriptionUpdate, createSubscriptionUpdate, pauseSubscriptionUpdate, payInvoiceUpdate, resumeSubscriptionUpdate,
  subscriptionQuery, subscriptionWorkflowId, voidInvoiceUpdate,
} from '../../workflows/billing-messages';
import type { SubscriptionInput } from '../../workflows/billing-messages';
import { subscriptionSearchAttributes } from '../../workflows/search-attributes';
import { subscriptionWorkflow } from '../../workflows/subscription.workflow';
import { DEFAULT_DUNNING } from '../../activities/billing';
import type { ApiContext } from '../context';
import { idempotencyScope, requireTenant } from '../middleware/auth';
import { parse } from '../middleware/errors';
import { idempotent } from '../middleware/idempotency';
import {
  CancelSubscriptionBody, CreateSubscriptionBody, EmptyBody, InvoiceListQuery, PauseSubscriptionBody, SubscriptionListQuery, UpdateSubscriptionBody,
} from '../schemas/billing';
import { settleWithin, updateWithin } from '../sync';

export const publicSubscription = ({ merchant_id: _m, version: _v, ...s }: Subscription) => s;
export const publicInvoice = ({ merchant_id: _m, version: _v, ...i }: Invoice) => i;

/** Each period's invoice is one payment: price × quantity past the largest payment could never be collected. */
function periodWithinLimit(unitAmount: number, quantity: number): void {
  if (unitAmount * quantity > MAX_AMOUNT) {
    throw invalidRequest(`price.amount × quantity is ${unitAmount * quantity}; a period's invoice is one payment, at most ${MAX_AMOUNT}.`, 'quantity', 'amount_too_large');
  }
}

/** Subscriptions: each one a workflow that bills it on its calendar; changes are updates to it. */
export function subscriptionsRouter(ctx: ApiContext): Router {
  const router = Router();
  const { pool, temporal, config } = ctx;
  const loadSubscription = async (tenant: Tenant, id: string) => found(await findSubscription(pool, tenant, id), 'subscription', id);

  router.post('/', async (req, res) => {
    const tenant = requireTenant(req);
    const body = parse(CreateSubscriptionBody, req.body);
    periodWithinLimit(body.price.amount, body.quantity);
    const customer = found(await findCustomer(pool, tenant, body.customer_id), 'customer', body.customer_id, 'customer_id');
    if (body.payment_method) found(await findMethod(pool, customer.id, body.payment_method), 'payment_method', body.payment_method, 'payment_method');
    if (body.collection_method === 'send_invoice' && !body.invoice_payment_method_type) {
      throw invalidRequest('Missing required parameter: invoice_payment_method_type (how the customer pays each invoice).', 'invoice_payment_method_type', 'parameter_missing');
    }
    const clock = customer.test_clock ? await findClock(pool, tenant, customer.test_clock) : undefined;
    const start = clock?.frozen_time ?? Math.floor(Date.now() / 1000);
    if (body.billing_cycle_anchor !== undefined) {
      if (body.trial_period_days) throw invalidRequest('billing_cycle_anchor and trial_period_days cannot be combined: a trial ends where billing starts.', 'billing_cycle_anchor');
      const limit = periodStart(start, body.price.interval, body.price.interval_count, 1, body.time_zone);
      if (body.billing_cycle_anchor <= start || body.billing_cycle_anchor > limit) {
        throw invalidRequest('billing_cycle_anchor must be in the future and within one billing interval.', 'billing_cycle_anchor', 'time_out_of_range');
      }
    }

    const outcome = await idempotent(pool, req, {
      scope: idempotencyScope(tenant),
      resourceType: 'subscription',
      allocate: () => newId('sub'),
      // Answered 202 before its first record was written: the workflow itself knows it.
      replay: async (id, status) => ({
        status,
        body: publicSubscription((await findSubscription(pool, tenant, id)) ?? found(await temporal.workflow.getHandle(subscriptionWorkflowId(id)).query(subscriptionQuery).catch(() => undefined), 'subscription', id)),
      }),
      run: async (id) => {
        const created = iso(start);
        const subscription: Subscription = {
          id, object: 'subscription', merchant_id: tenant.merchantId, livemode: tenant.livemode, customer_id: customer.id,
          status: body.trial_period_days ? 'trialing' : 'incomplete', price: body.price, quantity: body.quantity, collection_method: body.collection_method,
          days_until_due: body.collection_method === 'send_invoice' ? (body.days_until_due ?? 30) : null, payment_method: body.payment_method ?? null,
          invoice_payment_method_type: body.invoice_payment_method_type ?? null, billing_cycle_anchor: created, time_zone: body.time_zone,
          trial_start: null, trial_end: null, current_period_start: created, current_period_end: created, cancel_at_period_end: false,
          canceled_at: null, ended_at: null, pause_collection: null, latest_invoice: null, test_clock: customer.test_clock, metadata: body.metadata ?? {},
          created_at: created, updated_at: created, version: 0,
        };
        const input: SubscriptionInput = {
          subscription, dunning: DEFAULT_DUNNING,
          ...(body.trial_period_days ? { trialPeriodDays: body.trial_period_days } : {}),
          ...(body.billing_cycle_anchor !== undefined ? { billingCycleAnchor: body.billing_cycle_anchor } : {}),
        };
        const operation = () => new WithStartWorkflowOperation(subscriptionWorkflow, {
          workflowId: subscriptionWorkflowId(id),
          taskQueue: config.TEMPORAL_TASK_QUEUE,
          args: [input],
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          typedSearchAttributes: subscriptionSearchAttributes(subscription),
        });
        const settled = await settleWithin(temporal, config.SYNC_WAIT_MS, () =>
          temporal.workflow.executeUpdateWithStart(createSubscriptionUpdate, { updateId: 'create', startWorkflowOperation: operation() }),
        );
        if (settled) return { status: 201, body: publicSubscription(settled) };
        const stored = await findSubscription(pool, tenant, id);
        return { status: 202, body: publicSubscription(stored ?? subscription) };
      },
    });
    res.status(outcome.status).json(outcome.body);
  });

  router.get('/', async (req, res) => {
    const tenant = requireTenant(req);
    const q = parse(SubscriptionListQuery, req.query);
    const page = await listSubscriptions(pool, tenant, { customerId: q.customer_id, status: q.status }, { limit: q.limit, startingAfter: q.starting_after });
    if (!page) throw notFound('subscription', q.starting_after!, 'starting_after');
    res.json({ ...page, data: page.data.map(publicSubscription) });
  });

  router.get('/:id', async (req, res) => {
    res.json(publicSubscription(await loadSubscription(requireTenant(req), String(req.params.id))));
  });

  /** A change is an update of the subscription's workflow; the update id makes a retried request converge. */
  const act = <B, A extends unknown[]>(
    name: string,
    parseBody: (raw: unknown) => B,
    update: UpdateDefinition<Subscription, A>,
    args: (body: B) => A,
    check?: (body: B, subscription: Subscription) => Promise<void>,
  ) =>
    async (req: Request, res: Response) => {
      const tenant = requireTenant(req);
      const body = parseBody(req.body);
      const subscription = await loadSubscription(tenant, String(req.params.id));
      if (ENDED_SUBSCRIPTION_STATUSES.includes(subscription.status)) throw invalidState(`This subscription is ${subscription.status}.`);
      await check?.(body, subscription);
      const outcome = await idempotent(pool, req, {
        scope: idempotencyScope(tenant),
        resourceType: 'subscription',
        allocate: () => subscription.id,
        replay: async (id) => ({ status: 200, body: publicSubscription(await loadSubscription(tenant, id)) }),
        run: async (id, opKey) => {
          const handle = temporal.workflow.getHandle(subscriptionWorkflowId(id));
          const updated = await updateWithin(temporal, config.SYNC_WAIT_MS, handle, update, { args: args(body), updateId: `${name}:${opKey}` }, `subscription ${name}`);
          return { status: updated ? 200 : 202, body: publicSubscription(updated ?? (await loadSubscription(tenant, id))) };
        },
      });
      res.status(outcome.status).json(outcome.body);
    };

  router.post('/:id', act('change', (raw) => parse(UpdateSubscriptionBody, raw), changeSubscriptionUpdate, (body) => [body],
    async (body, subscription) => {
      if (body.payment_method) found(await findMethod(pool, subscription.customer_id, body.payment_method), 'payment_method', body.payment_method, 'payment_method');
      if (body.price && body.price.currency !== subscription.price.currency) throw invalidRequest('A subscription keeps its currency; start a new one to bill in another.', 'price.currency', 'currency_change');
      periodWithinLimit((body.price ?? subscription.price).amount, body.quantity ?? subscription.quantity);
    }));
  router.post('/:id/cancel', act('cancel', (raw) => parse(CancelSubscriptionBody, raw), cancelSubscriptionUpdate, (body) => [body]));
  router.post('/:id/pause', act('pause', (raw) => parse(PauseSubscriptionBody, raw), pauseSubscriptionUpdate, (body) => [{ behavior: body.behavior, resumes_at: body.resumes_at ?? null }]));
  router.post('/:id/resume', act('resume', (raw) => parse(EmptyBody, raw), resumeSubscriptionUpdate, () => []));
  return router;
}

/** Invoices: read models of the subscriptions' periods; paying or voiding one is an update of its subscription. */
export function invoicesRouter(ctx: ApiContext): Router {
  const router = Router();
  const { pool, temporal, config } = ctx;
  const loadInvoice = async (tenant: Tenant, id: string) => found(await findInvoice(pool, tenant, id), 'invoice', id);

  router.get('/', async (req, res) => {
    const tenant = requireTenant(req);
    const q = parse(InvoiceListQuery, req.query);
    const page = await listInvoices(pool, tenant, { subscriptionId: q.subscription_id, customerId: q.customer_id, status: q.status }, { limit: q.limit, startingAfter: q.starting_after });
    if (!page) throw notFound('invoice', q.starting_after!, 'starting_after');
    res.json({ ...page, data: page.data.map(publicInvoice) });
  });

  router.get('/:id', async (req, res) => {
    res.json(publicInvoice(await loadInvoice(requireTenant(req), String(req.params.id))));
  });

  const act = (name: 'pay' | 'void') => async (req: Request, res: Response) => {
    const tenant = requireTenant(req);
    parse(EmptyBody, req.body);
    const invoice = await loadInvoice(tenant, String(req.params.id));
    if (invoice.status !== 'open') throw invalidState(`This invoice is ${invoice.status}; only an open invoice can be ${name === 'pay' ? 'paid' : 'voided'}.`);
    const subscription = found(await findSubscription(pool, tenant, invoice.subscription_id), 'subscription', invoice.subscription_id);
    if (ENDED_SUBSCRIPTION_STATUSES.includes(subscription.status)) throw invalidState(`Its subscription is ${subscription.status}.`);
    const outcome = await idempotent(pool, req, {
      scope: idempotencyScope(tenant),
      resourceType: 'invoice',
      allocate: () => invoice.id,
      replay: async (id) => ({ status: 200, body: publicInvoice(await loadInvoice(tenant, id)) }),
      run: async (id, opKey) => {
        const handle = temporal.workflow.getHandle(subscriptionWorkflowId(invoice.subscription_id));
        const update = name === 'pay' ? payInvoiceUpdate : voidInvoiceUpdate;
        const updated = await updateWithin(temporal, config.SYNC_WAIT_MS, handle, update, { args: [{ invoiceId: id }], updateId: `${name}:${opKey}` }, `invoice ${name}`);
        return { status: updated ? 200 : 202, body: publicInvoice(updated ?? (await loadInvoice(tenant, id))) };
      },
    });
    res.status(outcome.status).json(outcome.body);
  };
  router.post('/:id/pay', act('pay'));
  router.post('/:id/void', act('void'));
  return router;
}
