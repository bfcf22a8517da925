import { Router } from 'express';
import type { Pool } from 'pg';
import {
  detachMethod, findClock, findCustomer, findMethod, insertCustomer, listCustomers, listMethods, providerCustomer, saveMethod, setProviderCustomer, updateCustomer,
} from '../../db/billing';
import { recordEvents } from '../../db/events';
import type { Tenant } from '../../db/merchants';
import { inTransaction } from '../../db/pool';
import type { Customer, SavedPaymentMethod } from '../../domain/billing';
import { found, invalidRequest, notFound } from '../../domain/errors';
import { derivedId, newId } from '../../domain/ids';
import type { ProviderName } from '../../domain/payment';
import type { SavedMethods } from '../../providers/provider';
import { ProviderFault } from '../../providers/provider';
import { providerFor } from '../../runtime/providers';
import { paymentMethodUpdatedSignal, subscriptionWorkflowId } from '../../workflows/billing-messages';
import type { ApiContext } from '../context';
import { idempotencyScope, requireTenant } from '../middleware/auth';
import { parse } from '../middleware/errors';
import { idempotent } from '../middleware/idempotency';
import { CreateCustomerBody, CustomerListQuery, SavePaymentMethodBody, UpdateCustomerBody } from '../schemas/billing';

/** Records a customer event with the change it reports (its id derives from the change, so a rerun adds nothing). */
async function customerEvent(pool: Pool, tenant: Tenant, type: 'customer.created' | 'customer.updated', customer: Customer, key: string) {
  const id = derivedId('evt', customer.id, type, key);
  await recordEvents(pool, [{ id, merchantId: tenant.merchantId, livemode: tenant.livemode, type, objectId: customer.id, data: customer }]);
  return id;
}

/** Customers and their saved payment methods (provider references only, never card data). */
export function customersRouter(ctx: ApiContext): Router {
  const router = Router();
  const { pool, providers } = ctx;
  const dispatch = (ids: string[]) => ctx.dispatcher.dispatch(ids).catch((err) => ctx.log.warn({ err: (err as Error).message }, 'customer event left for the outbox sweep'));
  const loadCustomer = async (tenant: Tenant, id: string, param?: string) => found(await findCustomer(pool, tenant, id), 'customer', id, param);

  router.post('/', async (req, res) => {
    const tenant = requireTenant(req);
    const body = parse(CreateCustomerBody, req.body);
    if (body.test_clock) {
      if (tenant.livemode) throw invalidRequest('Test clocks exist in test mode only.', 'test_clock');
      found(await findClock(pool, tenant, body.test_clock), 'test_clock', body.test_clock, 'test_clock');
    }
    const outcome = await idempotent(pool, req, {
      scope: idempotencyScope(tenant),
      resourceType: 'customer',
      allocate: () => newId('cus'),
      replay: async (id, status) => ({ status, body: await loadCustomer(tenant, id) }),
      run: async (id) => {
        const customer = await insertCustomer(pool, tenant, { id, email: body.email, name: body.name, metadata: body.metadata, testClock: body.test_clock });
        await dispatch([await customerEvent(pool, tenant, 'customer.created', customer, 'created')]);
        return { status: 201, body: customer };
      },
    });
    res.status(outcome.status).json(outcome.body);
  });

  router.get('/', async (req, res) => {
    const tenant = requireTenant(req);
    const q = parse(CustomerListQuery, req.query);
    const page = await listCustomers(pool, tenant, { email: q.email, testClock: q.test_clock }, { limit: q.limit, startingAfter: q.starting_after });
    if (!page) throw notFound('customer', q.starting_after!, 'starting_after');
    res.json(page);
  });

  router.get('/:id', async (req, res) => {
    res.json(await loadCustomer(requireTenant(req), String(req.params.id)));
  });

  router.post('/:id', async (req, res) => {
    const tenant = requireTenant(req);
    const body = parse(UpdateCustomerBody, req.body);
    const id = String(req.params.id);
    await loadCustomer(tenant, id);
    if (body.default_payment_method) found(await findMethod(pool, id, body.default_payment_method), 'payment_method', body.default_payment_method, 'default_payment_method');
    const customer = (await updateCustomer(pool, tenant, id, body))!;
    await dispatch([await customerEvent(pool, tenant, 'customer.updated', customer, customer.updated_at)]);
    if (body.default_payment_method) await tellSubscriptions(id);
    res.json(customer);
  });

  /** Where a saved card lives: Stripe for its PaymentMethods when configured in this mode, else the sandbox (test mode). */
  const homeOf = (tenant: Tenant, token: string): ProviderName => {
    if (!token.startsWith('tok_') && providerFor(providers, 'stripe', tenant.livemode)) return 'stripe';
    if (providerFor(providers, 'sandbox', tenant.livemode)) return 'sandbox';
    throw invalidRequest(`No provider can save cards in ${tenant.livemode ? 'live' : 'test'} mode.`, 'type', 'provider_unavailable');
  };

  /** Invoices waiting for a new payment method are tried again with it. */
  const tellSubscriptions = async (customerId: string) => {
    const { rows } = await pool.query<{ id: string }>(`SELECT id FROM subscriptions WHERE customer_id = $1 AND status IN ('past_due', 'unpaid', 'incomplete')`, [customerId]);
    for (const r of rows) await ctx.temporal.workflow.getHandle(subscriptionWorkflowId(r.id)).signal(paymentMethodUpdatedSignal).catch(() => undefined);
  };

  router.post('/:id/payment_methods', async (req, res) => {
    const tenant = requireTenant(req);
    const body = parse(SavePaymentMethodBody, req.body);
    const customer = await loadCustomer(tenant, String(req.params.id));
    const provider = homeOf(tenant, body.token);
    const outcome = await idempotent(pool, req, {
      scope: idempotencyScope(tenant),
      resourceType: 'payment_method',
      allocate: () => newId('pm'),
      replay: async (id, status) => ({ status, body: found(await findMethod(pool, customer.id, id), 'payment_method', id) }),
      run: async (id) => {
        let saved: Pick<SavedPaymentMethod, 'provider_reference' | 'card'> = { provider_reference: body.token, card: null };
        if (provider === 'stripe') {
          const stripe = providerFor(providers, 'stripe', tenant.livemode) as unknown as SavedMethods;
          try {
            let ref = await providerCustomer(pool, customer.id, 'stripe');
            if (!ref) {
              ref = await stripe.ensureCustomer({ customerId: customer.id, merchantId: tenant.merchantId, livemode: tenant.livemode, email: customer.email, name: customer.name, idempotencyKey: `${customer.id}:customer` });
              await setProviderCustomer(pool, customer.id, 'stripe', ref);
            }
            const attached = await stripe.attachMethod({ providerCustomer: ref, token: body.token, livemode: tenant.livemode, idempotencyKey: `${id}:attach` });
            const card = attached.card ? { brand: attached.card.brand, last4: attached.card.last4, exp_month: attached.card.exp_month, exp_year: attached.card.exp_year } : null;
            saved = { provider_reference: attached.reference, card };
          } catch (err) {
            if (err instanceof ProviderFault && !err.retryable) throw invalidRequest(err.message, 'token', 'card_not_saved');
            throw err;
          }
        }
        const method = await inTransaction(pool, (client) => saveMethod(client, tenant, { id, customer_id: customer.id, type: body.type, provider, ...saved }));
        // Only a card that will be charged (the new default) retries invoices waiting for the customer.
        if (!customer.default_payment_method) await tellSubscriptions(customer.id);
        return { status: 201, body: method };
      },
    });
    res.status(outcome.status).json(outcome.body);
  });

  router.get('/:id/payment_methods', async (req, res) => {
    const customer = await loadCustomer(requireTenant(req), String(req.params.id));
    res.json({ object: 'list', data: await listMethods(pool, customer.id), has_more: false });
  });

  router.delete('/:id/payment_methods/:pm', async (req, res) => {
    const tenant = requireTenant(req);
    const customer = await loadCustomer(tenant, String(req.params.id));
    const method = found(await findMethod(pool, customer.id, String(req.params.pm)), 'payment_method', String(req.params.pm));
    if (method.provider === 'stripe') {
      const stripe = providerFor(providers, 'stripe', tenant.livemode) as unknown as SavedMethods | undefined;
      await stripe?.detachMethod({ reference: method.provider_reference, livemode: tenant.livemode });
    }
    await inTransaction(pool, (client) => detachMethod(client, customer.id, method.id));
    res.json({ ...method, detached: true });
  });
  return router;
}
