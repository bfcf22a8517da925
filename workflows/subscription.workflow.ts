import {
  ApplicationFailure, ParentClosePolicy, allHandlersFinished, condition, continueAsNew, executeChild, proxyActivities, proxyLocalActivities, setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { FailureTypes } from '../domain/errors';
import type { BillingActivities, BillingEvent, ChargeOutcome } from '../activities/billing';
import { addDays, periodStart } from '../billing/calendar';
import { isHardDecline, nextRetryAt, retryOffsetsSeconds } from '../billing/dunning';
import type { DunningConfig } from '../billing/dunning';
import { creditForUnusedTime, prorateAmount, prorationLines } from '../billing/proration';
import type { BillingReason, Invoice, InvoiceLine, Subscription, SubscriptionStatus } from '../domain/billing';
import { ENDED_SUBSCRIPTION_STATUSES, iso, unix } from '../domain/billing';
import {
  cancelSubscriptionUpdate, changeSubscriptionUpdate, clockAdvancedSignal, createSubscriptionUpdate, invoicePaymentSignal, invoiceWorkflowId,
  pauseSubscriptionUpdate, payInvoiceUpdate, paymentMethodUpdatedSignal, resumeSubscriptionUpdate, subscriptionQuery, voidInvoiceUpdate,
} from './billing-messages';
import type { OpenInvoice, SubscriptionInput, SubscriptionState } from './billing-messages';
import { invoiceWorkflow } from './invoice.workflow';
import { billingWriteOptions, chargeOptions, recordOptions } from './options';
import { SubscriptionStatusKey } from './search-attributes';

const { chargeInvoice } = proxyActivities<BillingActivities>(chargeOptions);
const { creditCustomer, dunningPolicy } = proxyActivities<BillingActivities>(billingWriteOptions);
const { recordSubscription, recordInvoice } = proxyLocalActivities<BillingActivities>(recordOptions);

const DAY = 86_400;
/** Stripe's: a subscription whose first payment failed can be paid for 23 hours, then expires. */
const INCOMPLETE_WINDOW = 23 * 3600;
/** `subscription.trial_will_end` and `invoice.upcoming` go out this long before the moment. */
const NOTICE = 3 * DAY;
/** Declines the customer must act on (another card, authentication): never retried as they are. */
const needsCustomer = (code: string | undefined) => isHardDecline(code) || code === 'authentication_required' || code === 'no_payment_method';

/**
 * One subscription's whole life: trial, renewals on its calendar, dunning, pauses, plan changes
 * and cancellation. Time is the real clock, or a test clock's when the customer lives on one
 * (advanced by signals, so a year runs in seconds). Each period's invoice is a child workflow
 * with an idempotent id; the run continues as new after every renewal.
 */
export async function subscriptionWorkflow(input: SubscriptionInput): Promise<Subscription> {
  const s: SubscriptionState = input.state ?? initialState(input);
  let dunning: DunningConfig = input.dunning;
  let busy = false;
  let ready = input.state !== undefined;
  let renewed = false;
  let wake = false;
  const events: BillingEvent[] = [];

  const now = (): number => s.clockNow ?? Math.floor(Date.now() / 1000);
  const ended = () => ENDED_SUBSCRIPTION_STATUSES.includes(s.sub.status);
  /** Every change to the state runs alone: a cancel never interleaves with a renewal half-way. */
  const exclusively = async <T>(fn: () => Promise<T>): Promise<T> => {
    // Every waiter wakes when the lock frees: only the first to run takes it, the others wait again.
    while (busy) await condition(() => !busy);
    busy = true;
    try {
      return await fn();
    } finally {
      busy = false;
      wake = true;
    }
  };

  const emit = (type: BillingEvent['type'], key?: string, data: object = s.sub, objectId = s.sub.id) => events.push({ type, objectId, data, ...(key ? { key } : {}) });
  /** Records the subscription (and the events gathered since the last record); `at` is when it changed. */
  const save = async (at: number) => {
    s.sub = { ...s.sub, updated_at: iso(at), version: s.sub.version + 1 };
    for (const e of events) if (e.objectId === s.sub.id && e.type.startsWith('subscription.')) e.data = s.sub;
    // The clock time recorded is the one everything due was run up to: an advance is ready only then.
    await recordSubscription({ subscription: s.sub, clockTime: s.clockRecorded, events: events.splice(0) });
  };
  const setStatus = (status: SubscriptionStatus) => {
    if (s.sub.status === status) return;
    s.sub = { ...s.sub, status };
    upsertSearchAttributes([{ key: SubscriptionStatusKey, value: status }]);
    if (status === 'past_due') emit('subscription.past_due', `past_due:${s.period}:${s.changes}`);
    else if (status === 'canceled') emit('subscription.canceled');
    else emit('subscription.updated', `status:${status}:${s.period}:${s.changes}`);
  };
  /** The latest snapshot of each invoice this run touched (what `pay` and `void` answer). */
  const latest = new Map<string, Invoice>();
  const saveInvoice = async (invoice: Invoice, ...types: BillingEvent['type'][]) => {
    const stored = { ...invoice, version: invoice.version + 1 };
    latest.set(stored.id, stored);
    await recordInvoice({ invoice: stored, events: types.map((type) => ({ type, objectId: stored.id, data: stored, key: `${stored.attempt_count}` })) });
    return stored;
  };
  /** A voided invoice gives back the customer credit it had used, once. */
  const voidInvoice = async (invoice: Invoice, at: number, inFlight = false) => {
    // Its attempt still waiting for the customer may yet be paid: that money becomes credit (applyNews).
    if (inFlight && invoice.payment_id) s.voidedInFlight = [...(s.voidedInFlight ?? []), invoice.payment_id];
    if (invoice.credit_applied > 0) {
      await creditCustomer({ customerId: invoice.customer_id, currency: invoice.currency, amount: invoice.credit_applied, key: `${invoice.id}:restored`, objectId: invoice.id });
    }
    return saveInvoice({ ...invoice, status: 'void', next_payment_attempt: null, updated_at: iso(at) }, 'invoice.voided');
  };
  const setOpen = (o: OpenInvoice) => {
    s.open = [...s.open.filter((x) => x.invoice.id !== o.invoice.id), o];
  };
  const close = (invoiceId: string) => {
    s.open = s.open.filter((x) => x.invoice.id !== invoiceId);
  };

  /** After a charge attempt: paid, or its retry scheduled by dunning (never for declines the customer must fix). */
  const settleAttempt = async (o: OpenInvoice, outcome: ChargeOutcome, at: number) => {
    let invoice: Invoice = { ...o.invoice, payment_id: outcome.paymentId ?? o.invoice.payment_id, updated_at: iso(at) };
    if (outcome.status === 'captured') {
      invoice = { ...invoice, status: 'paid', amount_paid: invoice.amount_due, amount_remaining: 0, paid_at: iso(at), next_payment_attempt: null, last_payment_error: null };
      close(invoice.id);
      await saveInvoice(invoice, 'invoice.paid');
      if (['incomplete', 'past_due', 'unpaid'].includes(s.sub.status) && s.open.length === 0) setStatus(s.sub.pause_collection ? 'paused' : 'active');
      return;
    }
    if (outcome.status !== 'failed' && outcome.status !== 'canceled') {
      // Waiting for the customer (a wallet, 3-D Secure): the payment's end arrives as news; no
      // other attempt starts meanwhile (both could succeed). Dunning still ends it in time.
      const lastOffset = retryOffsetsSeconds(dunning).at(-1) ?? 0;
      setOpen({ ...o, invoice: await saveInvoice(invoice), inFlight: true, exhaustAt: o.exhaustAt ?? at + lastOffset });
      if (invoice.billing_reason === 'subscription_create' && s.sub.status === 'incomplete') s.incompleteUntil ??= unix(s.sub.created_at) + INCOMPLETE_WINDOW;
      return;
    }
    const failure = outcome.failure ?? { code: 'payment_failed', message: 'The payment did not complete.' };
    const firstFailureAt = o.firstFailureAt ?? at;
    const isFirstInvoice = invoice.billing_reason === 'subscription_create' && s.sub.collection_method === 'charge_automatically';
    const retryAt = isFirstInvoice || needsCustomer(failure.code) || s.sub.collection_method === 'send_invoice' ? null : nextRetryAt(dunning, firstFailureAt, invoice.attempt_count);
    const offsets = retryOffsetsSeconds(dunning);
    // A sent invoice keeps the end its due date set; the first charge of a subscription has none (incomplete expires instead).
    const exhaustAt = isFirstInvoice ? null : o.exhaustAt ?? firstFailureAt + (offsets.at(-1) ?? 0);
    invoice = { ...invoice, last_payment_error: failure, next_payment_attempt: retryAt === null ? null : iso(retryAt) };
    const next: OpenInvoice = { invoice: await saveInvoice(invoice, 'invoice.payment_failed'), firstFailureAt, nextAttemptAt: retryAt, exhaustAt, inFlight: false };
    setOpen(next);
    if (needsCustomer(failure.code)) emit('customer.payment_method_update_requested', invoice.id, invoice, s.sub.customer_id);
    if (isFirstInvoice) {
      if (s.sub.status === 'incomplete') s.incompleteUntil ??= unix(s.sub.created_at) + INCOMPLETE_WINDOW;
    } else if (s.sub.status === 'active' || s.sub.status === 'trialing') {
      setStatus('past_due');
    }
  };

  const attempt = async (o: OpenInvoice, at: number) => {
    const invoice = { ...o.invoice, attempt_count: o.invoice.attempt_count + 1 };
    const outcome = await chargeInvoice({ invoice, attempt: invoice.attempt_count, subscription: s.sub });
    await settleAttempt({ ...o, invoice }, outcome, at);
  };

  /** A new invoice, through its child workflow (idempotent id): created, finalized and first charged there. */
  const invoiceFor = async (reason: BillingReason, lines: InvoiceLine[], periodStartAt: number, periodEndAt: number, at: number) => {
    s.period += 1;
    const paused = s.sub.pause_collection?.behavior;
    const draft: Invoice = {
      id: invoiceId(s.sub.id, s.period), object: 'invoice', merchant_id: s.sub.merchant_id, livemode: s.sub.livemode, customer_id: s.sub.customer_id,
      subscription_id: s.sub.id, status: 'draft', billing_reason: reason, collection_method: s.sub.collection_method, currency: s.sub.price.currency,
      lines, subtotal: 0, credit_applied: 0, amount_due: 0, amount_paid: 0, amount_remaining: 0, attempt_count: 0, next_payment_attempt: null, payment_id: null,
      last_payment_error: null, due_date: s.sub.collection_method === 'send_invoice' ? iso(addDays(at, s.sub.days_until_due ?? 30, s.sub.time_zone)) : null,
      period_start: iso(periodStartAt), period_end: iso(periodEndAt), created_at: iso(at), finalized_at: null, paid_at: null, updated_at: iso(at), version: 0,
    };
    // Unpaid subscriptions keep their invoices as drafts, as paused ones that keep them so do.
    const mode = paused ?? (s.sub.status === 'unpaid' ? 'keep_as_draft' : 'collect');
    const result = await executeChild(invoiceWorkflow, {
      workflowId: invoiceWorkflowId(s.sub.id, s.period),
      args: [{ draft, mode, subscription: s.sub, at }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    });
    s.sub = { ...s.sub, latest_invoice: result.invoice.id };
    if (result.invoice.status === 'open') {
      const o: OpenInvoice = { invoice: result.invoice, firstFailureAt: null, nextAttemptAt: null, exhaustAt: null };
      if (result.outcome) await settleAttempt(o, result.outcome, at);
      else setOpen(o);
      // Its first attempt may already have paid it (and closed it): only an invoice still open is dunned from its due date.
      const still = s.open.find((x) => x.invoice.id === result.invoice.id);
      if (still && s.sub.collection_method === 'send_invoice' && result.invoice.due_date) {
        const due = unix(result.invoice.due_date);
        setOpen({ ...still, exhaustAt: due + (retryOffsetsSeconds(dunning).at(-1) ?? 0), nextAttemptAt: null, firstFailureAt: due });
      }
    } else if (result.invoice.status === 'paid' && s.sub.status === 'incomplete') {
      setStatus('active');
    }
    return result.invoice;
  };

  const linesFor = (from: number, to: number): InvoiceLine[] => [{
    description: `${s.sub.quantity} × ${s.sub.price.amount} ${s.sub.price.currency} per ${s.sub.price.interval_count > 1 ? `${s.sub.price.interval_count} ` : ''}${s.sub.price.interval}`,
    amount: s.sub.price.amount * s.sub.quantity, unit_amount: s.sub.price.amount, quantity: s.sub.quantity, proration: false, period_start: iso(from), period_end: iso(to),
  }];
  const boundary = (cycle: number) => periodStart(s.anchor, s.sub.price.interval, s.sub.price.interval_count, cycle, s.sub.time_zone);
  const setPeriod = (start: number, end: number) => {
    s.periodStart = start;
    s.periodEnd = end;
    s.sub = { ...s.sub, current_period_start: iso(start), current_period_end: iso(end) };
  };

  const endNow = async (at: number, prorate: boolean) => {
    // Only time that was paid for is credited: not a trial, not a prorated stub before the anchor,
    // not a period whose invoice is still unpaid.
    if (prorate && (s.sub.status === 'active' || s.sub.status === 'paused') && s.cycle >= 0 && s.open.length === 0) {
      const credit = creditForUnusedTime({ unitAmount: s.sub.price.amount, quantity: s.sub.quantity, periodStart: s.periodStart, periodEnd: s.periodEnd, cancelAt: at, currency: s.sub.price.currency });
      if (credit && credit.amount < 0) {
        await creditCustomer({ customerId: s.sub.customer_id, currency: s.sub.price.currency, amount: -credit.amount, key: `${s.sub.id}:cancel`, objectId: s.sub.id });
      }
    }
    // Open invoices stop being collected with the subscription.
    for (const o of s.open) await voidInvoice(o.invoice, at, o.inFlight);
    s.open = [];
    s.sub = { ...s.sub, canceled_at: s.sub.canceled_at ?? iso(at), ended_at: iso(at), cancel_at_period_end: false };
    setStatus('canceled');
  };

  // ---- the first step: a trial, or the first invoice charged at once ----
  const begin = async () => {
    const at = unix(s.sub.created_at);
    emit('subscription.created');
    if (s.trialEnd !== null) {
      setPeriod(at, s.trialEnd);
    } else if (s.anchor > at) {
      // A stub until the chosen anchor, prorated against the period that follows it.
      const full = s.sub.price.amount * s.sub.quantity;
      const following = boundary(1) - s.anchor;
      const stub = prorateAmount(s.sub.price.amount, s.sub.quantity, Math.min(s.anchor - at, following), following);
      setPeriod(at, s.anchor);
      const lines = linesFor(at, s.anchor).map((l) => ({ ...l, amount: Math.min(stub, full), description: `${l.description} (prorated until ${iso(s.anchor)})`, proration: true }));
      await invoiceFor('subscription_create', lines, at, s.anchor, at);
    } else {
      setPeriod(boundary(0), boundary(1));
      s.cycle = 0;
      await invoiceFor('subscription_create', linesFor(s.periodStart, s.periodEnd), s.periodStart, s.periodEnd, at);
    }
    // Invoices sent to the customer are paid later, by them: the subscription runs meanwhile (as Stripe's).
    if (s.sub.collection_method === 'send_invoice' && s.sub.status === 'incomplete') setStatus('active');
    await save(at);
  };

  // ---- what is due, earliest first ----
  type Due = { at: number; run: () => Promise<void> };
  const nextDue = (): Due | undefined => {
    if (ended()) return undefined;
    const due: Due[] = [];
    const t = now();
    if (s.news.length > 0 || s.retryNow) due.push({ at: t, run: applyNews });
    if (s.incompleteUntil !== null && s.sub.status === 'incomplete') due.push({ at: s.incompleteUntil, run: () => expireIncomplete(s.incompleteUntil!) });
    if (s.sub.status === 'incomplete') return due.sort((a, b) => a.at - b.at)[0];
    if (s.trialEnd !== null && !s.trialWillEndSent && s.sub.status === 'trialing' && s.trialEnd - NOTICE > unix(s.sub.created_at)) {
      due.push({ at: s.trialEnd - NOTICE, run: async () => { s.trialWillEndSent = true; emit('subscription.trial_will_end'); await save(s.trialEnd! - NOTICE); } });
    }
    if (s.upcomingSentFor < s.period + 1 && s.periodEnd - NOTICE > s.periodStart && !s.sub.cancel_at_period_end && s.sub.status !== 'trialing') {
      const at = s.periodEnd - NOTICE;
      due.push({ at, run: async () => { s.upcomingSentFor = s.period + 1; emit('invoice.upcoming', `period:${s.period + 1}`, { subscription: s.sub.id, period_start: iso(s.periodEnd), amount_due_estimate: s.sub.price.amount * s.sub.quantity + s.pending.reduce((a, l) => a + l.amount, 0) }); await save(at); } });
    }
    const resumesAt = s.sub.pause_collection?.resumes_at;
    if (resumesAt) due.push({ at: unix(resumesAt), run: () => resume(unix(resumesAt)) });
    due.push({ at: s.periodEnd, run: () => renew(s.periodEnd) });
    for (const o of s.open) {
      // An invoice sent to the customer and not paid by its due date makes the subscription past due.
      if (o.invoice.due_date && s.sub.status === 'active') {
        const at = unix(o.invoice.due_date);
        due.push({ at, run: async () => { setStatus('past_due'); await save(at); } });
      }
      if (o.nextAttemptAt !== null) due.push({ at: o.nextAttemptAt, run: () => retry(o.invoice.id, o.nextAttemptAt!) });
      if (o.exhaustAt !== null) due.push({ at: o.exhaustAt, run: () => exhaust(o.invoice.id, o.exhaustAt!) });
    }
    return due.sort((a, b) => a.at - b.at)[0];
  };

  const applyNews = async () => {
    const at = now();
    for (const n of s.news.splice(0)) {
      const o = s.open.find((x) => x.invoice.id === n.invoiceId);
      if (!o) {
        // Money taken by an attempt of an invoice voided while it waited (the subscription ended, a
        // void): it is the customer's, kept as credit for their next invoices, once per payment.
        const late = s.voidedInFlight?.includes(n.paymentId) ?? false;
        if (late) s.voidedInFlight = s.voidedInFlight!.filter((id) => id !== n.paymentId);
        if (late && n.status === 'captured' && n.amount) {
          await creditCustomer({ customerId: s.sub.customer_id, currency: s.sub.price.currency, amount: n.amount, key: `${n.paymentId}:late`, objectId: n.paymentId });
        }
        continue;
      }
      // A capture settles the invoice whichever attempt it was; a failure only ends the latest attempt.
      if (n.status !== 'captured' && o.invoice.payment_id !== n.paymentId) continue;
      await settleAttempt(o, { paymentId: n.paymentId, status: n.status, failure: n.failure }, at);
    }
    if (s.retryNow) {
      s.retryNow = false;
      if (!s.sub.pause_collection) {
        for (const o of [...s.open]) if (o.invoice.status === 'open' && !o.inFlight && s.sub.collection_method === 'charge_automatically') await attempt(o, at);
      }
    }
    await save(at);
  };

  const expireIncomplete = async (at: number) => {
    for (const o of s.open) await voidInvoice(o.invoice, at, o.inFlight);
    s.open = [];
    s.sub = { ...s.sub, ended_at: iso(at) };
    setStatus('incomplete_expired');
    await save(at);
  };

  const renew = async (at: number) => {
    if (ended() || at !== s.periodEnd) return; // canceled or re-anchored while this step waited for the lock
    if (s.sub.cancel_at_period_end) {
      await endNow(at, false);
      await save(at);
      return;
    }
    if (s.sub.status === 'trialing') {
      s.trialEnd = null;
      setStatus('active');
    }
    s.cycle += 1;
    const start = at;
    const end = boundary(s.cycle + 1);
    setPeriod(start, end);
    const lines = [...s.pending.splice(0), ...linesFor(start, end)];
    await invoiceFor('subscription_cycle', lines, start, end, at);
    await save(at);
    renewed = true;
  };

  const retry = async (invoiceId: string, at: number) => {
    const o = s.open.find((x) => x.invoice.id === invoiceId);
    if (!o || ended() || o.inFlight) return; // paid, voided or ended while this step waited for the lock
    if (s.sub.pause_collection) {
      // Retried when collection resumes.
      setOpen({ ...o, nextAttemptAt: null, retryOnResume: true });
    } else {
      await attempt({ ...o, nextAttemptAt: null }, at);
    }
    await save(at);
  };

  const exhaust = async (invoiceId: string, at: number) => {
    const o = s.open.find((x) => x.invoice.id === invoiceId);
    if (!o || ended()) return;
    if (s.sub.pause_collection) {
      // Paused: the dunning window starts again when collection resumes.
      setOpen({ ...o, exhaustAt: null, retryOnResume: true });
      await save(at);
      return;
    }
    if (dunning.on_exhausted === 'canceled') {
      setOpen({ ...o, exhaustAt: null, nextAttemptAt: null });
      await endNow(at, false);
    } else {
      setOpen({ ...o, invoice: await saveInvoice({ ...o.invoice, next_payment_attempt: null, updated_at: iso(at) }), exhaustAt: null, nextAttemptAt: null });
      setStatus('unpaid');
    }
    await save(at);
  };

  const resume = async (at: number) => {
    if (ended() || !s.sub.pause_collection) return;
    s.sub = { ...s.sub, pause_collection: null };
    // Retries that fell due while paused are tried now, with a fresh dunning window.
    const lastOffset = retryOffsetsSeconds(dunning).at(-1) ?? 0;
    for (const o of [...s.open]) {
      if (o.retryOnResume) setOpen({ ...o, retryOnResume: false, nextAttemptAt: needsCustomer(o.invoice.last_payment_error?.code) ? null : at, exhaustAt: Math.max(o.exhaustAt ?? 0, at + lastOffset) });
    }
    setStatus(s.open.length > 0 ? 'past_due' : 'active');
    await save(at);
  };

  // ---- messages ----
  setHandler(subscriptionQuery, () => s.sub);
  setHandler(createSubscriptionUpdate, async () => {
    await condition(() => ready);
    return s.sub;
  });
  setHandler(clockAdvancedSignal, (t) => {
    if (s.clockNow !== null && t > s.clockNow) s.clockNow = t;
    wake = true;
  });
  setHandler(invoicePaymentSignal, (news) => {
    s.news.push(news);
    wake = true;
  });
  setHandler(paymentMethodUpdatedSignal, () => {
    if (s.open.some((o) => o.nextAttemptAt === null && o.invoice.last_payment_error && needsCustomer(o.invoice.last_payment_error.code))) s.retryNow = true;
    wake = true;
  });

  const mustBeOpen = (invoiceId: string) => {
    if (!s.open.some((x) => x.invoice.id === invoiceId)) throw invalid('This invoice is not open.');
  };
  const notEnded = () => {
    if (ended()) throw invalid(`This subscription is ${s.sub.status}.`);
  };
  setHandler(cancelSubscriptionUpdate, (req) => exclusively(async () => {
    notEnded();
    const at = now();
    if (req.at_period_end && s.sub.status !== 'incomplete') {
      s.sub = { ...s.sub, cancel_at_period_end: true, canceled_at: iso(at) };
      s.changes += 1;
      emit('subscription.updated', `cancel_at_period_end:${s.changes}`);
    } else {
      await endNow(at, req.prorate);
    }
    await save(at);
    return s.sub;
  }), { validator: (_req) => notEnded() });

  setHandler(pauseSubscriptionUpdate, (req) => exclusively(async () => {
    notEnded();
    const at = now();
    s.sub = { ...s.sub, pause_collection: { behavior: req.behavior, resumes_at: req.resumes_at === null ? null : iso(req.resumes_at) } };
    s.changes += 1;
    setStatus('paused');
    await save(at);
    return s.sub;
  }), {
    validator: (req) => {
      notEnded();
      if (['incomplete', 'trialing'].includes(s.sub.status)) throw invalid(`A ${s.sub.status} subscription cannot be paused.`);
      if (req.resumes_at !== null && req.resumes_at <= now()) throw invalid('resumes_at must be in the future.', 'resumes_at', 'time_in_past');
    },
  });

  setHandler(resumeSubscriptionUpdate, () => exclusively(async () => {
    notEnded();
    if (!s.sub.pause_collection) throw invalid('This subscription is not paused.');
    await resume(now());
    return s.sub;
  }), {
    validator: () => {
      notEnded();
      if (!s.sub.pause_collection) throw invalid('This subscription is not paused.');
    },
  });

  setHandler(changeSubscriptionUpdate, (change) => exclusively(async () => {
    notEnded();
    const at = now();
    s.changes += 1;
    const before = s.sub;
    const price = change.price ?? before.price;
    const quantity = change.quantity ?? before.quantity;
    s.sub = { ...s.sub, ...(change.payment_method ? { payment_method: change.payment_method } : {}), ...(change.metadata ? { metadata: { ...s.sub.metadata, ...change.metadata } } : {}), price, quantity };
    const repriced = price.amount !== before.price.amount || quantity !== before.quantity || price.interval !== before.price.interval || price.interval_count !== before.price.interval_count;
    if (repriced && before.status !== 'trialing') {
      const sameCycle = price.interval === before.price.interval && price.interval_count === before.price.interval_count;
      if (sameCycle) {
        const lines = change.proration_behavior === 'none' ? [] : prorationLines({
          oldUnitAmount: before.price.amount, oldQuantity: before.quantity, newUnitAmount: price.amount, newQuantity: quantity,
          periodStart: s.periodStart, periodEnd: s.periodEnd, changeAt: at, currency: price.currency,
        }).map((l) => ({ ...l, period_start: iso(l.period_start), period_end: iso(l.period_end) }));
        if (change.proration_behavior === 'always_invoice' && lines.length > 0) await invoiceFor('subscription_update', lines, at, s.periodEnd, at);
        else s.pending.push(...lines);
      } else {
        // A new interval starts a new cycle now: the unused time of the old price is credited on its first invoice.
        const credit = change.proration_behavior === 'none' ? null : creditForUnusedTime({
          unitAmount: before.price.amount, quantity: before.quantity, periodStart: s.periodStart, periodEnd: s.periodEnd, cancelAt: at, currency: before.price.currency,
        });
        s.anchor = at;
        s.cycle = 0;
        setPeriod(at, boundary(1));
        const lines = [...s.pending.splice(0), ...(credit ? [{ ...credit, period_start: iso(credit.period_start), period_end: iso(credit.period_end) }] : []), ...linesFor(s.periodStart, s.periodEnd)];
        s.sub = { ...s.sub, billing_cycle_anchor: iso(at) };
        await invoiceFor('subscription_update', lines, s.periodStart, s.periodEnd, at);
      }
    }
    emit('subscription.updated', `change:${s.changes}`);
    await save(at);
    return s.sub;
  }), {
    validator: (change) => {
      notEnded();
      if (change.price && change.price.currency !== s.sub.price.currency) throw invalid('A subscription keeps its currency; start a new one to bill in another.', 'price.currency');
    },
  });

  setHandler(payInvoiceUpdate, ({ invoiceId: id }) => exclusively(async () => {
    const o = s.open.find((x) => x.invoice.id === id);
    if (!o) throw invalid('This invoice is not open.');
    if (o.inFlight) throw invalid('A payment of this invoice is still in progress; it cannot be charged twice.');
    if (s.sub.collection_method === 'send_invoice' && o.invoice.payment_id) throw invalid('This invoice is paid by the customer through its own payment.');
    const at = now();
    await attempt({ ...o, nextAttemptAt: null }, at);
    await save(at);
    return latest.get(id)!;
  }), { validator: ({ invoiceId }) => mustBeOpen(invoiceId) });

  setHandler(voidInvoiceUpdate, ({ invoiceId: id }) => exclusively(async () => {
    const o = s.open.find((x) => x.invoice.id === id);
    if (!o) throw invalid('This invoice is not open.');
    const at = now();
    close(id);
    const voided = await voidInvoice(o.invoice, at, o.inFlight);
    if (s.open.length === 0 && ['past_due', 'unpaid', 'incomplete'].includes(s.sub.status)) setStatus(s.sub.status === 'incomplete' ? 'incomplete_expired' : 'active');
    await save(at);
    return voided;
  }), { validator: ({ invoiceId }) => mustBeOpen(invoiceId) });

  // ---- the life ----
  upsertSearchAttributes([{ key: SubscriptionStatusKey, value: s.sub.status }]);
  if (!input.state) {
    dunning = await dunningPolicy({ merchantId: s.sub.merchant_id, livemode: s.sub.livemode });
    await exclusively(begin);
  } else {
    dunning = input.dunning;
  }
  ready = true;

  for (;;) {
    // What is due is chosen under the lock: a handler that ran meanwhile may have changed it.
    while (!renewed && !ended()) {
      const ran = await exclusively(async () => {
        const due = nextDue();
        if (!due || due.at > now()) return false;
        await due.run();
        return true;
      });
      if (!ran) break;
    }
    if (ended()) break;
    if (s.clockNow !== null && s.clockRecorded !== s.clockNow && !renewed) {
      s.clockRecorded = s.clockNow;
      await exclusively(() => save(s.clockNow!));
    }
    if (renewed) {
      // Every period starts a fresh run: the history stays short however long the subscription lives.
      const policy = await dunningPolicy({ merchantId: s.sub.merchant_id, livemode: s.sub.livemode });
      await condition(() => !busy && allHandlersFinished());
      await continueAsNew<typeof subscriptionWorkflow>({ subscription: s.sub, dunning: policy, state: s });
    }
    wake = false;
    const next = nextDue();
    if (s.clockNow !== null) await condition(() => wake || (next !== undefined && s.clockNow! >= next.at));
    else if (next) await condition(() => wake, Math.max(1, next.at * 1000 - Date.now()));
    else await condition(() => wake);
  }
  // Ended with attempts still waiting for the customer: their late captures are credited, so the
  // run stays a day (real time: a payment's own expiry is) to hear of them.
  while (s.voidedInFlight?.length && (await condition(() => s.news.length > 0, '1 day'))) await exclusively(applyNews);
  await condition(() => !busy && allHandlersFinished());
  return s.sub;
}

/** Derived from the subscription and the period, so a replayed or repeated period names the same invoice. */
export const invoiceId = (subscriptionId: string, period: number) => `in_${subscriptionId.slice('sub_'.length)}_${period}`;

function initialState(input: SubscriptionInput): SubscriptionState {
  const sub = input.subscription;
  const created = unix(sub.created_at);
  const trialEnd = input.trialPeriodDays ? addDays(created, input.trialPeriodDays, sub.time_zone) : null;
  const anchor = input.billingCycleAnchor ?? trialEnd ?? created;
  return {
    sub: { ...sub, billing_cycle_anchor: iso(anchor), trial_start: trialEnd === null ? null : iso(created), trial_end: trialEnd === null ? null : iso(trialEnd) },
    anchor, cycle: -1, period: 0, periodStart: created, periodEnd: anchor, trialEnd, pending: [], open: [], news: [], retryNow: false, incompleteUntil: null,
    trialWillEndSent: false, upcomingSentFor: 0, changes: 0, clockNow: sub.test_clock ? created : null, clockRecorded: null,
  };
}

/** A refused change: a 409 for the subscription's state, a 400 naming the parameter. */
/** With a param, a 400 naming it (and `code`, for rules the schema cannot state); without, a 409. */
function invalid(message: string, param?: string, code?: string): ApplicationFailure {
  return param
    ? ApplicationFailure.create({ type: FailureTypes.invalidParam, message, details: code ? [param, code] : [param], nonRetryable: true })
    : ApplicationFailure.create({ type: FailureTypes.invalidState, message, nonRetryable: true });
}
