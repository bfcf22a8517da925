import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { BillingActivities, ChargeOutcome } from '../activities/billing';
import type { Invoice, PauseBehavior, Subscription } from '../domain/billing';
import { iso } from '../domain/billing';
import { billingWriteOptions, chargeOptions, recordOptions } from './options';

const { chargeInvoice } = proxyActivities<BillingActivities>(chargeOptions);
const { createInvoice } = proxyActivities<BillingActivities>(billingWriteOptions);
const { recordInvoice } = proxyLocalActivities<BillingActivities>(recordOptions);

export type InvoiceRequest = {
  draft: Invoice;
  /** `collect`: finalize and charge; a pause behavior while collection is paused; `keep_as_draft` also for unpaid subscriptions. */
  mode: 'collect' | PauseBehavior;
  subscription: Subscription;
  /** When this happens (unix seconds; a test clock's time when the subscription lives on one). */
  at: number;
};

/**
 * One period's invoice: written (the customer's credit applied), finalized and charged once.
 * Its workflow id is derived from the subscription and the period, so a period can never be
 * invoiced twice, whatever crashes or races around it. Retries belong to the subscription.
 */
export async function invoiceWorkflow(req: InvoiceRequest): Promise<{ invoice: Invoice; outcome?: ChargeOutcome }> {
  const { subscription, at } = req;
  // Credit pays invoices that are collected; a draft or a voided one leaves it with the customer.
  let invoice = await createInvoice({ draft: req.draft, applyCredit: req.mode === 'collect' });
  const save = async (next: Invoice, ...types: ('invoice.finalized' | 'invoice.paid' | 'invoice.voided' | 'invoice.marked_uncollectible')[]) => {
    invoice = { ...next, version: next.version + 1, updated_at: iso(at) };
    await recordInvoice({ invoice, events: types.map((type) => ({ type, objectId: invoice.id, data: invoice })) });
  };
  if (invoice.status !== 'draft' || req.mode === 'keep_as_draft') return { invoice };

  await save({ ...invoice, status: 'open', finalized_at: iso(at) }, 'invoice.finalized');
  if (req.mode === 'void') {
    await save({ ...invoice, status: 'void' }, 'invoice.voided');
    return { invoice };
  }
  if (req.mode === 'mark_uncollectible') {
    await save({ ...invoice, status: 'uncollectible' }, 'invoice.marked_uncollectible');
    return { invoice };
  }
  if (invoice.amount_due === 0) {
    // Credit paid it all: nothing to charge.
    await save({ ...invoice, status: 'paid', paid_at: iso(at) }, 'invoice.paid');
    return { invoice };
  }
  const attempted = { ...invoice, attempt_count: 1 };
  const outcome = await chargeInvoice({ invoice: attempted, attempt: 1, subscription });
  invoice = attempted;
  return { invoice, outcome };
}
