import { Context } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Pool } from 'pg';
import type { Config } from '../config';
import { findMethod, findCustomer, findDunning, moveCredit, providerCustomer, upsertInvoice, upsertSubscription } from '../db/billing';
import type { NewEvent } from '../db/events';
import { recordEvents } from '../db/events';
import { findPayment } from '../db/payments';
import { inTransaction } from '../db/pool';
import { findRouting } from '../db/routing';
import type { DunningConfig } from '../billing/dunning';
import type { Invoice, Subscription } from '../domain/billing';
import type { EventType } from '../domain/events';
import { derivedId } from '../domain/ids';
import type { PaymentStatus } from '../domain/payment';
import { planRoute } from '../routing/plan';
import { newPayment, paymentStart } from '../runtime/open-payment';
import type { Providers } from '../runtime/providers';
import { createPaymentUpdate } from '../workflows/messages';
import type { EventDispatcher } from '../runtime/event-dispatch';

export const DEFAULT_DUNNING: DunningConfig = { schedule: 'default', on_exhausted: 'unpaid' };

/** An event a billing snapshot announces; `key` tells repeated events of one type apart (a period, an attempt). */
export type BillingEvent = { type: EventType; objectId: string; data: object; key?: string };

export type ChargeOutcome = { paymentId: string | null; status: PaymentStatus; failure: { code: string; message: string } | null };

export type BillingDeps = { pool: Pool; providers: Providers; config: Config; dispatcher?: EventDispatcher };

const toEvents = (merchantId: string, livemode: boolean, events: readonly BillingEvent[]): NewEvent[] =>
  events.map((e) => ({ id: derivedId('evt', e.objectId, e.type, e.key ?? ''), merchantId, livemode, type: e.type, objectId: e.objectId, data: e.data }));

export function createBillingActivities({ pool, providers, config, dispatcher }: BillingDeps) {
  const announce = async (events: NewEvent[]) => {
    if (dispatcher && events.length > 0) await dispatcher.dispatch(events.map((e) => e.id));
  };

  return {
    /** The subscription's read model and its events, together; a late or repeated run changes nothing. */
    async recordSubscription(snap: { subscription: Subscription; clockTime: number | null; events: BillingEvent[] }): Promise<void> {
      const s = snap.subscription;
      const events = toEvents(s.merchant_id, s.livemode, snap.events);
      await inTransaction(pool, async (client) => {
        await upsertSubscription(client, s, snap.clockTime);
        await recordEvents(client, events);
      });
      await announce(events);
    },

    async recordInvoice(snap: { invoice: Invoice; events: BillingEvent[] }): Promise<void> {
      const i = snap.invoice;
      const events = toEvents(i.merchant_id, i.livemode, snap.events);
      await inTransaction(pool, async (client) => {
        await upsertInvoice(client, i);
        await recordEvents(client, events);
      });
      await announce(events);
    },

    /**
     * Writes a new invoice: the customer's credit pays what it can (a negative total becomes
     * credit), once per invoice however often this runs. Answers the invoice as stored.
     */
    async createInvoice({ draft, applyCredit }: { draft: Invoice; applyCredit: boolean }): Promise<Invoice> {
      const created = (invoice: Invoice) => toEvents(invoice.merchant_id, invoice.livemode, [{ type: 'invoice.created', objectId: invoice.id, data: invoice }]);
      const invoice = await inTransaction(pool, async (client) => {
        const existing = await client.query<{ data: Invoice }>('SELECT data FROM invoices WHERE id = $1', [draft.id]);
        if (existing.rows[0]) return existing.rows[0].data;
        const subtotal = draft.lines.reduce((sum, l) => sum + l.amount, 0);
        let credit = 0;
        if (subtotal > 0 && applyCredit) credit = -(await moveCredit(client, draft.customer_id, draft.currency, -subtotal, derivedId('cbtxn', draft.id, 'applied'), 'invoice_payment', draft.id));
        else if (subtotal < 0) await moveCredit(client, draft.customer_id, draft.currency, -subtotal, derivedId('cbtxn', draft.id, 'credit'), 'proration_credit', draft.id);
        const due = Math.max(0, subtotal - credit);
        const written: Invoice = { ...draft, subtotal, credit_applied: credit, amount_due: due, amount_remaining: due, version: Math.max(draft.version, 1) };
        await upsertInvoice(client, written);
        await recordEvents(client, created(written));
        return written;
      });
      // Also on a rerun: the event's deliveries may not all have started the first time.
      await announce(created(invoice));
      return invoice;
    },

    /** Credit for unused time when a subscription ends early with proration: kept for the customer's next invoices, never refunded. */
    async creditCustomer(req: { customerId: string; currency: string; amount: number; key: string; objectId: string }): Promise<void> {
      await inTransaction(pool, (client) => moveCredit(client, req.customerId, req.currency, req.amount, derivedId('cbtxn', req.key), 'proration_credit', req.objectId));
    },

    async dunningPolicy(tenant: { merchantId: string; livemode: boolean }): Promise<DunningConfig> {
      return (await findDunning(pool, tenant)) ?? DEFAULT_DUNNING;
    },

    /**
     * One payment attempt of an invoice: an ordinary payment (`channel: subscription`) through
     * the payment workflow, with an id derived from the invoice and the attempt, so a rerun of
     * this activity attaches to the same payment instead of charging twice. Answers after the
     * first provider round trip. `send_invoice` opens a payment the customer completes.
     */
    async chargeInvoice(req: { invoice: Invoice; attempt: number; subscription: Pick<Subscription, 'id' | 'payment_method' | 'collection_method' | 'invoice_payment_method_type'> }): Promise<ChargeOutcome> {
      const { invoice, subscription } = req;
      const tenant = { merchantId: invoice.merchant_id, livemode: invoice.livemode };
      const declined = (code: string, message: string): ChargeOutcome => ({ paymentId: null, status: 'failed', failure: { code, message } });
      const customer = await findCustomer(pool, tenant, invoice.customer_id);
      if (!customer) return declined('customer_missing', 'The customer no longer exists.');

      let method: { type: 'card' | 'alipay' | 'wechat_pay' | 'bank_transfer'; token?: string };
      let forced: string | undefined;
      let savedMethod: { customer: string } | undefined;
      if (subscription.collection_method === 'send_invoice') {
        method = { type: subscription.invoice_payment_method_type ?? 'card' };
      } else {
        const saved = await findMethod(pool, customer.id, subscription.payment_method ?? customer.default_payment_method ?? '');
        if (!saved) return declined('no_payment_method', 'The customer has no saved payment method to charge.');
        method = { type: saved.type, token: saved.provider_reference };
        forced = saved.provider;
        const ref = saved.provider === 'stripe' ? await providerCustomer(pool, customer.id, 'stripe') : undefined;
        if (ref) savedMethod = { customer: ref };
      }
      const paymentId = derivedId('pay', invoice.id, 'attempt', String(req.attempt));
      const order = {
        amount: invoice.amount_remaining, currency: invoice.currency, payment_method: method, capture_method: 'automatic' as const, channel: 'subscription' as const,
        customer_id: customer.id, description: `Invoice ${invoice.id}`, metadata: { invoice_id: invoice.id, subscription_id: subscription.id },
        ...(customer.email ? { receipt_email: customer.email } : {}),
      };
      const plan = planRoute(providers, await findRouting(pool, tenant), {
        amount: order.amount, currency: order.currency, method: method.type, captureMethod: 'automatic', channel: 'subscription',
        forced: forced as never, livemode: tenant.livemode, hasToken: method.token !== undefined,
      });
      if (typeof plan !== 'function') return declined(plan.code ?? 'provider_unavailable', plan.message);

      const payment = newPayment(paymentId, tenant.merchantId, tenant.livemode, order, plan(paymentId));
      const context = Context.current();
      const client = context.client;
      // The wait can be long (a slow provider): heartbeats let a dead worker's attempt be retried within seconds.
      const beating = setInterval(() => context.heartbeat(), 1000);
      try {
        const settled = await client.workflow.executeUpdateWithStart(createPaymentUpdate, {
          updateId: 'create',
          startWorkflowOperation: paymentStart(config, payment, method.token, savedMethod ? { savedMethod } : {}, { invoice: invoice.id, subscription: subscription.id }),
        });
        return { paymentId, status: settled.status, failure: settled.failure };
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        // This attempt's payment has already finished: its outcome is in the read model.
        const stored = await findPayment(pool, tenant, paymentId);
        if (!stored) throw err;
        return { paymentId, status: stored.status, failure: stored.failure };
      } finally {
        clearInterval(beating);
      }
    },
  };
}

export type BillingActivities = ReturnType<typeof createBillingActivities>;
