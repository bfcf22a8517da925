import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ActivityFailure, ApplicationFailure, ParentClosePolicy, allHandlersFinished, condition, continueAsNew, log, patched,
  proxyActivities, proxyLocalActivities, setHandler, sleep, startChild, upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { OpenedOutcome, OpeningActivities, OpeningRequest } from '../activities/opening';
import type { RiskActivities, RiskAssessment } from '../activities/risk';
import type { Posting } from '../db/ledger';
import { Accounts } from '../domain/accounts';
import type { FundsApplied } from '../domain/bank';
import { FailureTypes } from '../domain/errors';
import type { Failure, NextAction, Payment, PaymentStatus, ProviderName, Refund } from '../domain/payment';
import { CANCELABLE_STATUSES, REFUNDABLE_STATUSES, refundableAmount } from '../domain/payment';
import type { ProviderNotification, ProviderPaymentState, RefundResult } from '../providers/provider';
import {
  cancelPaymentUpdate, capturePaymentUpdate, createPaymentUpdate, fundPaymentUpdate, operatorRetrySignal, paymentQuery, providerNotificationSignal,
  refundNotificationSignal, refundPaymentUpdate, reviewPaymentUpdate,
} from './messages';
import type { PaymentWorkflowInput, RefundRequest, RefusedAt, ReviewDecision } from './messages';
import { authorizeOptions, bankWriteOptions, moneyMovementOptions, recordOptions, riskOptions, statusCheckOptions } from './options';
import { latePaymentRefundStart, latePaymentRefundWorkflow } from './late-payment.workflow';
import { PaymentStatusKey, ProviderKey, RequiresAttentionKey } from './search-attributes';

/** With `open`, the call writes the payment's opening and checks its risk first (`open-in-authorizing-call`). */
const { authorizeAtProvider } = proxyActivities<OpeningActivities>(authorizeOptions);
const { captureAtProvider, cancelAtProvider, refundAtProvider } = proxyActivities<Activities>(moneyMovementOptions);
const { askProviderForStatus } = proxyActivities<Activities>(statusCheckOptions);
/** Best-effort release of a hold we could not confirm; bounded, unlike money movements. */
const { cancelAtProvider: releaseHoldAtProvider } = proxyActivities<Activities>(statusCheckOptions);
const { recordPayment } = proxyLocalActivities<Activities>(recordOptions);
const { drawCustomerCash, returnTransferFunds } = proxyActivities<Activities>(bankWriteOptions);
/** Local: a few indexed queries (and the scorer's short timeout) need no round trip through the server. */
const { evaluateRisk } = proxyLocalActivities<RiskActivities>(riskOptions);
/** The first write and the risk check in one local activity (`open-with-risk`). */
const { openPayment } = proxyLocalActivities<OpeningActivities>(riskOptions);
/** A review nobody decides within a day takes the default decision (when the start gave no deadline). */
const DEFAULT_REVIEW_TTL_MS = 24 * 3_600_000;

const FIRST_POLL_MS = 1000;
/** Polling a provider for the customer's step backs off to this: short enough that a payment moves on within seconds of an outage ending. */
const MAX_POLL_MS = 15_000;
const MAX_RESEND_MS = 3_600_000;
/** A provider that surely did nothing is tried this often (as the authorize activity's own retries) before the payment fails. */
const NOT_PROCESSED_TRIES = 8;
/** A movement waiting for an operator is tried again when one asks, or after this long anyway. */
const ATTENTION_RECHECK_MS = 24 * 3_600_000;

/**
 * A change refused for the payment's state, with the version it was refused at: the API retries
 * a refusal by a run still behind the read model it checked, and needs no query to know.
 */
const invalidState = (message: string, version: number) =>
  ApplicationFailure.create({ type: FailureTypes.invalidState, message, nonRetryable: true, details: [{ version } satisfies RefusedAt] });
const funded = () => ApplicationFailure.create({ type: FailureTypes.paymentFunded, message: 'This payment is funded in full.', nonRetryable: true });
const invalidAmount = (message: string) => ApplicationFailure.create({ type: FailureTypes.invalidAmount, message, nonRetryable: true });

/**
 * The patches every `paymentWorkflowV2` run has from its first event: new payments start as that
 * type, so these need no marker in their history (each `patched()` costs a marker and a
 * TemporalChangeVersion upsert, eight of a captured payment's events). A change from here on
 * goes behind `patched()` again, in both types.
 */
const FOLDED_PATCHES = new Set([
  'bank-transfer-funds', 'risk-checks', 'capture-at-authorization', 'refund-reversals', 'routing-failover', 'unknown-outcome-backoff',
  'confirm-paid-notification', 'attention-on-refusal', 'late-payment-refund', 'late-payment-watch',
]);

/** The patches every `paymentWorkflowV3` run has from its first event: V2's and those made after it. */
const FOLDED_PATCHES_V3 = new Set([...FOLDED_PATCHES, 'refunds-accepted-at-once', 'open-with-risk']);
/** The patches every `paymentWorkflowV4` run has from its first event. */
const FOLDED_PATCHES_V4 = new Set([...FOLDED_PATCHES_V3, 'capture-recorded-by-call']);
/** The patches every `paymentWorkflowV5` run has from its first event. */
const FOLDED_PATCHES_V5 = new Set([...FOLDED_PATCHES_V4, 'open-in-authorizing-call']);
/** The patches every `paymentWorkflowV6` run has from its first event. */
const FOLDED_PATCHES_V6 = new Set([...FOLDED_PATCHES_V5, 'status-set-at-start']);
/** The patches every `paymentWorkflowV7` run has from its first event. */
const FOLDED_PATCHES_V7 = new Set([...FOLDED_PATCHES_V6, 'one-timer-refund-window']);

/**
 * One payment, from creation to its last refund. Decisions live here; every side effect is an
 * activity whose provider call carries a key derived from this payment and the operation.
 * New payments start as this type.
 */
export function paymentWorkflowV7(input: PaymentWorkflowInput): Promise<Payment> {
  return runPayment(input, (patchId) => FOLDED_PATCHES_V7.has(patchId) || patched(patchId));
}

/** Payments started between `paymentWorkflowV6` and V7: the same code, the later patches read from history. */
export function paymentWorkflowV6(input: PaymentWorkflowInput): Promise<Payment> {
  return runPayment(input, (patchId) => FOLDED_PATCHES_V6.has(patchId) || patched(patchId));
}

/** Payments started between `paymentWorkflowV5` and V6: the same code, the later patches read from history. */
export function paymentWorkflowV5(input: PaymentWorkflowInput): Promise<Payment> {
  return runPayment(input, (patchId) => FOLDED_PATCHES_V5.has(patchId) || patched(patchId));
}

/** Payments started between `paymentWorkflowV4` and V5: the same code, the later patches read from history. */
export function paymentWorkflowV4(input: PaymentWorkflowInput): Promise<Payment> {
  return runPayment(input, (patchId) => FOLDED_PATCHES_V4.has(patchId) || patched(patchId));
}

/** Payments started between `paymentWorkflowV3` and V4: the same code, the later patches read from history. */
export function paymentWorkflowV3(input: PaymentWorkflowInput): Promise<Payment> {
  return runPayment(input, (patchId) => FOLDED_PATCHES_V3.has(patchId) || patched(patchId));
}

/** Payments started between `paymentWorkflowV2` and V3: the same code, the later patches read from history. */
export function paymentWorkflowV2(input: PaymentWorkflowInput): Promise<Payment> {
  return runPayment(input, (patchId) => FOLDED_PATCHES.has(patchId) || patched(patchId));
}

/** Payments started before `paymentWorkflowV2` existed: the same code, their patches read from history. */
export function paymentWorkflow(input: PaymentWorkflowInput): Promise<Payment> {
  return runPayment(input, patched);
}

async function runPayment(input: PaymentWorkflowInput, hasPatch: (patchId: string) => boolean): Promise<Payment> {
  const payment: Payment = { ...input.payment };
  const refunds: Refund[] = [...(input.resume?.refunds ?? [])];
  const keyFor = (operation: string) => `${payment.id}:${operation}`;
  /** Sent with every provider call: live payments only ever reach live providers. */
  const mode = { livemode: payment.livemode ?? false };
  /** True while the process is working, false while it waits for the outside world. */
  let processing = true;
  let captureRequest: { amount: number } | undefined;
  let cancelRequested = false;
  let notification: ProviderNotification | undefined;
  /** Closed at the provider while the customer could still act: the only close a late payment can follow. */
  let closedWhileWaiting = false;
  /** The provider says the customer paid, but this payment was already closed while waiting for them. */
  let paidAfterClose = false;
  /** When the customer's chance to act (QR code, cashier) ends at the provider. */
  let customerWindowEndsAt: number | undefined;
  /** Authorization given up after answers of unknown outcome: the provider may hold the customer's money. */
  let mayHaveBeenCharged = false;
  /** An operator asked to stop waiting and try the current step again now. */
  let retryNow = false;
  /** Backoff or poll waits in progress: only those can be cut short. */
  let retryableWaits = 0;
  /** A bank transfer: funded by credits the matching workflow offers, captured once it has them all. */
  // Carried across continue-as-new: a run resumed from one started before transfers were funded stays as it was.
  const isTransfer = input.resume ? input.resume.transfer === true : payment.payment_method.type === 'bank_transfer' && hasPatch('bank-transfer-funds');
  /** The credits this transfer took (and the customer's cash it drew, as `drawn`). */
  const funds: FundsApplied[] = [...(input.resume?.funds ?? [])];
  /** No credit is taken any more: funded, closing, or closed. */
  let fundsClosed = !isTransfer || input.resume !== undefined;
  /** A reviewer's decision on a payment held for review. */
  let review: ReviewDecision | undefined;
  /** Refunds still moving: accepted and not yet settled (a transfer's payout for days). */
  let refundsInFlight = 0;
  /** Accepted refunds are sent one at a time, in the order they were accepted. */
  let refundQueue: Promise<void> | undefined;
  const amountRemaining = () => payment.amount - (payment.amount_received ?? 0);
  /** The capture the authorizing call wrote (`capture-recorded-by-call`), as it wrote it. */
  let captureWritten: Payment | undefined;

  // ---- what the outside world may ask ------------------------------------------------------

  setHandler(paymentQuery, () => payment);

  setHandler(createPaymentUpdate, async () => {
    await condition(() => !processing);
    return payment;
  });

  setHandler(
    capturePaymentUpdate,
    async ({ amount }) => {
      captureRequest = { amount: amount ?? payment.amount_capturable };
      await condition(() => payment.status !== 'authorized' && !processing);
      if (payment.status !== 'captured' && payment.status !== 'partially_refunded' && payment.status !== 'refunded') {
        throw invalidState(`The payment could not be captured: it is ${payment.status}.`, payment.version);
      }
      return payment;
    },
    {
      validator: ({ amount }) => {
        if (payment.status !== 'authorized' || captureRequest || cancelRequested) {
          throw invalidState(`Only an authorized payment can be captured; this one is ${payment.status}.`, payment.version);
        }
        if (amount !== undefined && (amount < 1 || amount > payment.amount_capturable)) {
          throw invalidAmount(`Capture amount must be between 1 and ${payment.amount_capturable}.`);
        }
      },
    },
  );

  setHandler(
    cancelPaymentUpdate,
    async () => {
      cancelRequested = true;
      await condition(() => !CANCELABLE_STATUSES.includes(payment.status) && !processing);
      if (payment.status !== 'canceled') throw invalidState(`The payment could not be canceled: it is ${payment.status}.`, payment.version);
      return payment;
    },
    {
      validator: () => {
        if (!CANCELABLE_STATUSES.includes(payment.status) || captureRequest) {
          throw invalidState(`A payment that is ${payment.status} cannot be canceled.`, payment.version);
        }
      },
    },
  );

  setHandler(operatorRetrySignal, () => {
    // Ignored when nothing is waiting, so it cannot silently skip a later, unrelated backoff.
    if (retryableWaits > 0) retryNow = true;
  });

  setHandler(providerNotificationSignal, (n) => {
    // The first word while we wait counts; duplicates and late callbacks change nothing.
    if (payment.status === 'requires_action' || payment.status === 'pending') notification ??= n;
    else if (closedWhileWaiting && n.outcome === 'action_succeeded') paidAfterClose = true;
  });

  // A refund the provider fails after it succeeded: the money is the merchant's again.
  setHandler(refundNotificationSignal, async (n) => {
    const r = refunds.find((x) => x.id === n.refundId);
    if (!r || n.amount !== r.amount) return;
    if (r.status === 'pending') {
      // Settled at the provider: its own send reads the outcome now instead of at the next try.
      if (retryableWaits > 0) retryNow = true;
      return;
    }
    if (r.status !== 'succeeded' || n.status !== 'failed') return; // nothing changes
    await reverseRefund(r, n.failure ?? { code: 'refund_failed', message: 'The provider reversed the refund.' });
  });

  setHandler(
    reviewPaymentUpdate,
    async (decision) => {
      review = decision;
      await condition(() => payment.status !== 'requires_review' && !processing);
      return payment;
    },
    {
      validator: (_decision: ReviewDecision) => {
        if (payment.status !== 'requires_review' || review || cancelRequested) throw invalidState(`Only a payment held for review can be reviewed; this one is ${payment.status}.`, payment.version);
      },
    },
  );

  setHandler(
    fundPaymentUpdate,
    async (offer) => {
      // Offered while the instructions are being issued (a worker that restarts can deliver the
      // credit in the same task as the authorization's answer, and updates are handled first): it
      // waits for them rather than being turned away as if the payment had closed.
      // Only then does it wait: a credit offered to open instructions is taken in the task that delivers it.
      if (payment.status === 'pending') await condition(() => payment.status !== 'pending' || fundsClosed);
      const taken = funds.find((f) => f.creditId === offer.creditId);
      if (taken) return { applied: taken.amount };
      // Taken at once, before any await: two credits at the same time never take the same remainder.
      const amount = Math.min(offer.amount, amountRemaining());
      if (amount <= 0) throw funded();
      if (fundsClosed || payment.status !== 'requires_action') throw invalidState(`This payment takes no more money: it is ${payment.status}.`, payment.version);
      const applied: FundsApplied = { creditId: offer.creditId, amount, payer: offer.payer };
      funds.push(applied);
      const received = (payment.amount_received ?? 0) + amount;
      const posting: Posting = {
        id: keyFor(`credit:${offer.creditId}`), merchantId: payment.merchant_id, livemode: payment.livemode ?? false, paymentId: payment.id, creditId: offer.creditId,
        kind: 'credit_application', currency: payment.currency, amount, debit: Accounts.unappliedCash, credit: Accounts.transferFundsHeld,
      };
      await record({ amount_received: received, next_action: withRemaining(payment.next_action, payment.amount - received) }, { postings: [posting] });
      return { applied: amount };
    },
    {
      validator: (offer) => {
        if (funds.some((f) => f.creditId === offer.creditId)) return;
        if (isTransfer && amountRemaining() <= 0 && !cancelRequested && payment.status !== 'canceled' && payment.status !== 'failed') throw funded();
        if (fundsClosed || (payment.status !== 'requires_action' && payment.status !== 'pending')) throw invalidState(`This payment takes no more money: it is ${payment.status}.`, payment.version);
        if (offer.currency !== payment.currency) throw invalidState(`This payment is in ${payment.currency}, the credit in ${offer.currency}.`, payment.version);
      },
    },
  );

  setHandler(
    refundPaymentUpdate,
    // Accepted (or refused) within the task that delivers it, settled by the process: a burst of
    // refunds on one payment never keeps many updates open while their activities run (those
    // made SDK core lose workflow tasks, and the server admits only so many open updates).
    async (req) => (hasPatch('refunds-accepted-at-once') ? acceptRefund(req) : refund(req)),
    { validator: (req) => void checkRefundable(req) },
  );

  function checkRefundable(req: RefundRequest): number {
    const already = refunds.find((r) => r.id === req.refundId);
    if (already) return already.amount;
    if (!REFUNDABLE_STATUSES.includes(payment.status)) {
      throw invalidState(`Only a captured payment can be refunded; this one is ${payment.status}.`, payment.version);
    }
    const refundable = refundableAmount(payment, refunds);
    const amount = req.amount ?? refundable;
    if (amount > refundable || amount < 1) {
      throw invalidState(`Refund of ${amount} exceeds the ${refundable} ${payment.currency} that remain refundable.`, payment.version);
    }
    return amount;
  }

  // ---- the process --------------------------------------------------------------------------

  if (input.resume) {
    // Continued from an earlier run that was waiting for refunds: it goes on waiting.
    await awaitRefunds(input.resume.refundWindowEndsAt);
    return finish();
  }

  const opening: Partial<Payment> = isTransfer ? { amount_received: 0 } : {};
  let risk: RiskAssessment | undefined;
  // The opening and the risk check are the authorizing call's first steps: nothing before it.
  const openInCall = hasPatch('open-in-authorizing-call');
  if (openInCall) {
    stage(opening);
  } else if (hasPatch('open-with-risk')) {
    stage(opening);
    risk = await openPayment(openingRequest());
  } else {
    await record(opening);
    if (hasPatch('risk-checks')) risk = await evaluateRisk(riskInput());
  }
  if (risk && !(await passesRisk(risk))) return finish();

  // An automatic-capture payment is captured in the authorizing call where the provider can: one
  // provider call and one activity fewer. A run from before this change keeps its separate capture.
  const captureInAuthorization = payment.capture_method === 'automatic' && !isTransfer && hasPatch('capture-at-authorization');
  const first = await authorize(openInCall ? openingRequest() : undefined);
  let authorization: AuthorizeOutcome;
  if (first.status === 'not_sent' || first.status === 'not_opened') {
    // Held or blocked by the risk check before any provider was asked; or the call could not
    // write the opening and asked nobody, and the local activity opens the payment as before.
    const decided = first.status === 'not_sent' ? first.risk : await openPayment(openingRequest());
    if (!(await passesRisk(decided))) return finish();
    authorization = asOpened(await authorize());
  } else {
    authorization = first;
    if (first.risk) payment.risk = first.risk;
  }
  if (authorization.status === 'declined') {
    await fail({ code: authorization.code, message: authorization.message }, authorization.reference);
    return finish();
  }
  payment.provider_reference = authorization.reference;

  if (authorization.status === 'requires_action') {
    if (isTransfer && payment.customer_id) {
      // Cash the customer has with the merchant (an earlier overpayment) pays first: drawn once the
      // instructions exist, so a transfer that never opens takes nothing.
      const drawn = await drawCustomerCash({ paymentId: payment.id, merchantId: payment.merchant_id, livemode: payment.livemode ?? false, customerId: payment.customer_id, currency: payment.currency, amount: payment.amount });
      if (drawn > 0) payment.amount_received = drawn;
    }
    await record({ status: 'requires_action', next_action: isTransfer ? withRemaining(authorization.nextAction, amountRemaining()) : authorization.nextAction });
    const expiresAt = Date.parse(authorization.nextAction.expires_at);
    const endsAt = Number.isNaN(expiresAt) ? Date.now() + input.actionTtlMs : expiresAt;
    if (!isTransfer) customerWindowEndsAt = endsAt;
    const outcome = isTransfer ? await waitForFunds(endsAt) : await waitForCustomer(endsAt);
    if (outcome !== 'succeeded') return finish();
  }
  // Captured in the authorizing call, nothing is left to void: a cancel that came meanwhile is refused (as at Stripe).
  if (cancelRequested && authorization.status !== 'captured') {
    await voidAuthorization();
    return finish();
  }

  if (authorization.status === 'captured') {
    if (!adoptWrittenCapture()) await recordCapture(payment.amount);
  } else if (payment.capture_method === 'automatic') {
    await capture(payment.amount);
  } else {
    // As at Stripe: capturable only once authorized.
    await record({ status: 'authorized', amount_capturable: payment.amount, next_action: null });
    processing = false;
    const asked = await condition(() => captureRequest !== undefined || cancelRequested, input.authorizationTtlMs);
    processing = true;
    if (!asked) await voidAuthorization({ code: 'authorization_expired', message: 'The authorization expired before it was captured.' });
    else if (captureRequest) await capture(captureRequest.amount);
    else await voidAuthorization();
  }

  if (payment.status === 'captured') {
    processing = false;
    // A whole refund can still fail later at the provider: the payment stays open for the window either way.
    if (hasPatch('refund-reversals')) await awaitRefunds(Date.now() + input.refundWindowMs);
    else await condition(() => payment.status === 'refunded', input.refundWindowMs);
  }
  return finish();

  // ---- steps ------------------------------------------------------------------------------

  /** The payment as it stands, to be written as its opening and checked against the risk rules. */
  function openingRequest(): OpeningRequest {
    return { snapshot: { payment: { ...payment } }, risk: riskInput() };
  }

  function riskInput() {
    return {
      paymentId: payment.id, merchantId: payment.merchant_id, livemode: payment.livemode ?? false, amount: payment.amount, currency: payment.currency,
      method: payment.payment_method.type, channel: payment.channel, createdAt: payment.created_at, customerId: payment.customer_id, receiptEmail: payment.receipt_email,
      provider: payment.provider,
      ...(input.clientIp ? { clientIp: input.clientIp } : {}), ...(input.billingCountry ? { billingCountry: input.billingCountry } : {}), ...(input.token ? { token: input.token } : {}),
    };
  }

  /**
   * What the risk check decided, before any provider call: blocked, the payment fails (no provider is asked);
   * held for review, it waits durably for a decision or the deadline's default. False when it ends here.
   */
  async function passesRisk(risk: RiskAssessment): Promise<boolean> {
    if (risk.decision === 'block') {
      await record({ risk, status: 'failed', failure: { code: 'blocked_by_risk', message: 'The payment was blocked by a risk rule.' } });
      return false;
    }
    if (risk.decision === 'allow') {
      // Recorded with the authorization's result, one write (and one history event) fewer.
      payment.risk = risk;
      return true;
    }
    await record({ risk, status: 'requires_review' });
    processing = false;
    await condition(() => review !== undefined || cancelRequested, input.review?.ttlMs ?? DEFAULT_REVIEW_TTL_MS);
    processing = true;
    const decided = cancelRequested
      ? { decision: 'reject' as const, reason: 'Canceled while held for review.', reviewer: 'merchant' as const }
      : review ?? { decision: input.review?.defaultDecision ?? 'reject', reason: 'Nobody decided before the review deadline.', reviewer: 'deadline' as const };
    const closed = { ...risk, review: { ...decided, closed_at: new Date().toISOString() } };
    if (decided.decision === 'reject') {
      await record({ risk: closed, status: 'canceled', failure: cancelRequested ? null : { code: 'rejected_by_review', message: `The review rejected the payment: ${decided.reason}` } });
      return false;
    }
    await record({ risk: closed, status: 'pending' });
    return true;
  }

  /**
   * Authorizes at the first candidate that takes the request. A candidate that surely did nothing
   * (unreachable before sending, open circuit) hands over to the next, with a key of its own; an
   * unknown outcome never does: that provider is asked first, as before.
   */
  async function authorize(open?: OpeningRequest): Promise<Authorization> {
    if (!hasPatch('routing-failover')) return (await authorizeAt(payment.provider, keyFor('authorize'), false)) as Authorization;
    const candidates = payment.routing?.candidates.length ? payment.routing.candidates : [payment.provider];
    for (let i = 0; ; i++) {
      const provider = candidates[i]!;
      if (provider !== payment.provider) {
        log.warn('failing over to the next provider', { from: payment.provider, to: provider });
        upsertSearchAttributes([{ key: ProviderKey, value: provider }]);
        // Recorded before the call: the new provider's callbacks are checked against the read model.
        await record({ provider });
      }
      const last = i === candidates.length - 1;
      const result = await authorizeAt(provider, i === 0 ? keyFor('authorize') : keyFor(`authorize:${provider}`), !last, open);
      if (result !== 'not_processed') return result;
    }
  }

  /** Authorizes at one provider; after a timeout of unknown outcome, asks it before trying again. */
  async function authorizeAt(provider: ProviderName, idempotencyKey: string, failover: boolean, open?: OpeningRequest): Promise<Authorization | 'not_processed'> {
    const request = {
      ...mode,
      ...(failover ? { skipIfUnhealthy: true } : {}),
      paymentId: payment.id,
      merchantId: payment.merchant_id,
      amount: payment.amount,
      currency: payment.currency,
      method: { type: payment.payment_method.type, ...(input.token ? { token: input.token } : {}) },
      ...(input.savedMethod ? { savedMethod: input.savedMethod } : {}),
      ...(input.clientIp ? { clientIp: input.clientIp } : {}),
      captureMethod: payment.capture_method,
      channel: payment.channel,
      returnUrl: payment.return_url,
      actionExpiresAt: new Date(Date.now() + input.actionTtlMs).toISOString(),
      idempotencyKey,
      ...(captureInAuthorization ? { captureNow: { idempotencyKey: keyFor('capture') } } : {}),
    };
    // Captured in this call, the call writes the capture too: no local activity (and activation) after it.
    const recordIfCaptured = captureInAuthorization && hasPatch('capture-recorded-by-call') ? captureSnapshot(payment.amount) : undefined;
    const after = recordIfCaptured || open ? { ...(recordIfCaptured ? { recordIfCaptured } : {}), ...(open ? { open } : {}) } : undefined;
    let notProcessed = 0;
    /** A send may have reached this provider: from then on the payment stays with it (and its key), whatever follows. */
    let maybeSent = false;
    for (let attempt = 1; ; attempt++) {
      try {
        const outcome = await authorizeAtProvider(provider, maybeSent ? { ...request, skipIfUnhealthy: false } : request, ...(after ? [after] : []));
        if (recordIfCaptured && outcome.status === 'captured' && outcome.recorded) {
          captureWritten = { ...recordIfCaptured.payment, provider_reference: outcome.reference, ...(outcome.risk ? { risk: outcome.risk } : {}) };
        }
        return outcome;
      } catch (err) {
        // Only while nothing may have been sent anywhere does a failed opening hand over to the local activity.
        if (failureType(err) === FailureTypes.openingFailed && !maybeSent) return { status: 'not_opened' };
        const notSent = failureType(err) === FailureTypes.notProcessed || failureType(err) === FailureTypes.openingFailed;
        if (notSent && failover && !maybeSent) return 'not_processed';
        if (notSent) {
          // Tried again after a pause, as the activity's own retries would.
          if (++notProcessed < NOT_PROCESSED_TRIES) {
            await backOff(Math.min(500 * 2 ** (notProcessed - 1), 10_000));
            continue;
          }
          if (!maybeSent) return { status: 'declined', reference: null, code: 'provider_unavailable', message: 'The payment provider could not be reached.' };
        }
        if (!notSent) maybeSent = true;
        const known = await providerState();
        if (known.status === 'captured' && captureInAuthorization) return { status: 'captured', reference: known.reference };
        if (known.status === 'authorized' || known.status === 'captured') return { status: 'authorized', reference: known.reference };
        if (known.status === 'failed') return { status: 'declined', reference: known.reference, code: known.code, message: known.message };
        const unknownOutcome = failureType(err) === FailureTypes.outcomeUnknown;
        if (unknownOutcome && attempt < 5) {
          // Nothing known at the provider yet: the same key again, after a pause (a provider that
          // keeps a 5xx for a key, or a search that lags, needs time, not a burst of retries).
          if (hasPatch('unknown-outcome-backoff')) await backOff(1000 * 2 ** (attempt - 1));
          continue;
        }
        // Giving up: make sure no hold is left behind that we never recorded.
        await releaseHoldAtProvider(payment.provider, { ...mode, paymentId: payment.id, reference: payment.provider_reference, idempotencyKey: keyFor('void') }).catch(() => undefined);
        // The provider may still have charged (its answer lost, its search behind): whatever it
        // took goes back to the customer through the late-payment refund, which keeps asking.
        if ((unknownOutcome || maybeSent) && hasPatch('unknown-outcome-backoff')) mayHaveBeenCharged = true;
        return { status: 'declined', reference: null, code: 'provider_unavailable', message: 'The payment provider could not be reached.' };
      }
    }
  }

  /** Waits for the customer's wallet/transfer/3-D Secure step, polling the provider as a fallback. */
  async function waitForCustomer(expiresAt: number): Promise<'succeeded' | 'failed' | 'canceled'> {
    for (let pollMs = FIRST_POLL_MS; ; pollMs = Math.min(pollMs * 2, MAX_POLL_MS)) {
      const remaining = expiresAt - Date.now();
      if (remaining <= 0) {
        const closed = await closeAtProvider({ code: 'expired', message: 'The customer did not complete the payment in time.' });
        return closed ? 'canceled' : 'succeeded';
      }
      processing = false;
      retryableWaits++;
      await condition(() => notification !== undefined || cancelRequested || retryNow, Math.min(pollMs, remaining));
      retryableWaits--;
      retryNow = false;
      processing = true;
      if (cancelRequested) return (await closeAtProvider()) ? 'canceled' : 'succeeded';
      const state = notification?.outcome === 'action_succeeded' && hasPatch('confirm-paid-notification')
        ? await confirmedPaid()
        : notification
          ? notification.outcome === 'action_succeeded' ? 'authorized' : 'failed'
          : (await providerState()).status;
      if (state === 'authorized' || state === 'captured') return 'succeeded';
      if (state === 'failed') {
        await fail(notification?.failure ?? { code: 'payment_method_action_failed', message: 'The customer did not complete the payment.' });
        return 'failed';
      }
      notification = undefined;
    }
  }

  /**
   * A "customer paid" callback moves the payment only once the provider's own status says so:
   * a forged or mistaken callback changes nothing, and a provider that cannot answer now is asked again later.
   */
  async function confirmedPaid(): Promise<ProviderPaymentState['status']> {
    const known = await providerState();
    if (known.status !== 'authorized' && known.status !== 'captured') log.warn('paid notification not confirmed by the provider', { provider_status: known.status });
    return known.status;
  }

  async function capture(amount: number): Promise<void> {
    const result = await untilAnswered(() =>
      captureAtProvider(payment.provider, {
        ...mode, paymentId: payment.id, reference: payment.provider_reference!, amount, currency: payment.currency, idempotencyKey: keyFor('capture'),
      }),
    );
    if (result.status === 'declined') {
      await untilAnswered(() => cancelAtProvider(payment.provider, { ...mode, paymentId: payment.id, reference: payment.provider_reference, idempotencyKey: keyFor('void') }));
      return fail({ code: result.code, message: result.message });
    }
    await recordCapture(amount);
  }

  /**
   * Waits for credits until the transfer is funded, the merchant cancels, or the instructions
   * expire. Unfunded, it is closed, and what it received goes back by the merchant's policy.
   */
  async function waitForFunds(expiresAt: number): Promise<'succeeded' | 'failed' | 'canceled'> {
    processing = false;
    const failedAtProvider = () => notification?.outcome === 'action_failed';
    await condition(() => amountRemaining() <= 0 || cancelRequested || failedAtProvider(), Math.max(0, expiresAt - Date.now()));
    processing = true;
    fundsClosed = true;
    // Funded and canceled in the same moment: the cancel was accepted first, so everything goes back.
    if (amountRemaining() <= 0 && !cancelRequested) return 'succeeded';
    await untilAnswered(() => cancelAtProvider(payment.provider, { ...mode, paymentId: payment.id, reference: payment.provider_reference, idempotencyKey: keyFor('close') }));
    const failure = cancelRequested ? null : failedAtProvider()
      ? notification!.failure ?? { code: 'payment_method_action_failed', message: 'The transfer failed at the bank.' }
      : { code: 'expired', message: 'The bank transfer did not arrive in full before its instructions expired.' };
    await record({ status: failedAtProvider() && !cancelRequested ? 'failed' : 'canceled', next_action: null, failure });
    if ((payment.amount_received ?? 0) > 0) {
      await returnTransferFunds({
        paymentId: payment.id, merchantId: payment.merchant_id, livemode: payment.livemode ?? false, customerId: payment.customer_id, currency: payment.currency, funds,
        drawn: (payment.amount_received ?? 0) - funds.reduce((sum, f) => sum + f.amount, 0),
      });
    }
    return failedAtProvider() ? 'failed' : 'canceled';
  }

  function captureOf(amount: number): { changes: Partial<Payment>; posting: Posting } {
    const posting: Posting = {
      id: keyFor('capture'), merchantId: payment.merchant_id, livemode: payment.livemode ?? false, paymentId: payment.id, kind: 'capture', currency: payment.currency, amount,
      ...(isTransfer ? { clearing: Accounts.transferFundsHeld } : {}),
    };
    return { changes: { status: 'captured', amount_captured: amount, amount_capturable: 0, next_action: null }, posting };
  }

  async function recordCapture(amount: number): Promise<void> {
    const { changes, posting } = captureOf(amount);
    await record(changes, { postings: [posting] });
  }

  /** The capture as the authorizing call will write it if it captures: the next version, all but the provider's reference. */
  function captureSnapshot(amount: number): { payment: Payment; postings: Posting[] } {
    const { changes, posting } = captureOf(amount);
    return { payment: next(changes), postings: [posting] };
  }

  /**
   * Takes the capture the authorizing call wrote as this run's own next version. False when the
   * payment moved on meanwhile (that write is then behind ours and the capture is recorded anew).
   */
  function adoptWrittenCapture(): boolean {
    if (!captureWritten || captureWritten.version !== payment.version + 1) return false;
    apply(captureWritten);
    return true;
  }

  /** Releases the authorization. If the provider refuses, its own state decides what we record. */
  async function voidAuthorization(failure: Failure | null = null): Promise<void> {
    for (;;) {
      const result = await untilAnswered(() =>
        cancelAtProvider(payment.provider, { ...mode, paymentId: payment.id, reference: payment.provider_reference, idempotencyKey: keyFor('void') }),
      );
      if (result.status === 'succeeded') break;
      const known = await providerState();
      if (known.status === 'captured') return recordCapture(known.amountCaptured);
      if (known.status !== 'authorized') break; // nothing is held any more
      await backOff(MAX_POLL_MS); // still held and not voidable yet: try again
    }
    await record({ status: 'canceled', amount_capturable: 0, next_action: null, failure });
  }

  /** Closes a payment still waiting for the customer. False when the customer paid after all. */
  async function closeAtProvider(failure: Failure | null = null): Promise<boolean> {
    const result = await untilAnswered(() =>
      cancelAtProvider(payment.provider, { ...mode, paymentId: payment.id, reference: payment.provider_reference, idempotencyKey: keyFor('close') }),
    );
    if (result.status === 'declined') {
      const known = await providerState();
      if (known.status === 'authorized' || known.status === 'captured') return false;
    }
    await record({ status: 'canceled', amount_capturable: 0, next_action: null, failure });
    closedWhileWaiting = true;
    // The customer's word arrived while the close was on its way, and lost the race.
    if (notification?.outcome === 'action_succeeded') paidAfterClose = true;
    return true;
  }

  /**
   * A money movement at the provider. Its idempotency key makes re-sending safe, so it is never
   * abandoned halfway and never fails the payment's workflow. A decline is an answer (final,
   * recorded by the caller); an unknown outcome or a provider that could not be reached is sent
   * again with the same key after a backoff; a refusal no retry can fix (revoked credentials, a
   * request the provider will never take) flags the payment, and the refund, as requiring
   * attention and waits for an operator's retry instead of looping unseen.
   */
  async function untilAnswered<R extends { status: string }>(call: () => Promise<R>, refund?: Refund): Promise<R> {
    for (let delayMs = 1000; ; delayMs = Math.min(delayMs * 2, MAX_RESEND_MS)) {
      try {
        const result = await call();
        if (payment.attention || refund?.attention) await clearAttention(refund);
        return result;
      } catch (err) {
        if (isFinalFault(err) && hasPatch('attention-on-refusal')) {
          await raiseAttention(err, refund);
          await backOff(ATTENTION_RECHECK_MS);
          continue;
        }
        await backOff(delayMs);
      }
    }
  }

  async function raiseAttention(err: unknown, refund?: Refund): Promise<void> {
    if (payment.attention && (!refund || refund.attention)) return; // flagged already: one event per episode
    const cause = err instanceof ActivityFailure && err.cause ? err.cause.message : String(err);
    const attention = { code: 'provider_refused', message: cause.slice(0, 500), since: new Date().toISOString() };
    log.warn('money movement needs an operator', { reason: attention.message, refund_id: refund?.id });
    if (refund) Object.assign(refund, { attention, updated_at: attention.since });
    upsertSearchAttributes([{ key: RequiresAttentionKey, value: true }]);
    await record({ attention }, refund ? { refunds: [{ ...refund }] } : {});
  }

  /** This movement is unstuck; the payment stays flagged while another refund of it still waits for an operator. */
  async function clearAttention(refund?: Refund): Promise<void> {
    if (refund) refund.attention = null;
    const stillStuck = refunds.find((r) => r.attention && r.status === 'pending');
    if (!stillStuck) upsertSearchAttributes([{ key: RequiresAttentionKey, value: false }]);
    await record({ attention: stillStuck ? stillStuck.attention : null }, refund ? { refunds: [{ ...refund }] } : {});
  }

  /** A timer an operator can cut short (POST /v1/admin/payments/:id/retry). */
  async function backOff(ms: number): Promise<void> {
    retryableWaits++;
    await condition(() => retryNow, ms);
    retryableWaits--;
    retryNow = false;
  }

  /** Where the provider stands; `unknown` when it cannot say right now. */
  async function providerState(): Promise<ProviderPaymentState> {
    return askProviderForStatus(payment.provider, { ...mode, paymentId: payment.id, reference: payment.provider_reference }).catch(() => ({ status: 'unknown' as const }));
  }

  async function fail(failure: Failure, reference: string | null = payment.provider_reference): Promise<void> {
    await record({ status: 'failed', amount_capturable: 0, next_action: null, failure, provider_reference: reference });
  }

  /** Takes the refund's amount now and answers it `pending`; the queue sends it. */
  function acceptRefund(req: RefundRequest): Refund {
    const existing = refunds.find((r) => r.id === req.refundId);
    if (existing) return { ...existing };
    const amount = checkRefundable(req); // again: another refund may have been reserved since validation
    const r: Refund = {
      id: req.refundId, object: 'refund', merchant_id: payment.merchant_id, livemode: payment.livemode ?? false, payment_id: payment.id, amount,
      currency: payment.currency, status: 'pending', reason: req.reason, failure: null, created_at: req.createdAt, updated_at: req.createdAt,
    };
    refunds.push(r);
    refundsInFlight++;
    refundQueue = (refundQueue ?? Promise.resolve()).then(() => sendRefund(r, amount));
    return { ...r };
  }

  /** The first send waits its turn; a refund the provider leaves pending settles on its own, without holding the queue. */
  async function sendRefund(r: Refund, amount: number): Promise<void> {
    await recordPayment({ payment: { ...payment }, refunds: [{ ...r }] });
    const send = refundSender(r, amount);
    const first = await send();
    const settled = settleRefund(r, amount, first, send).finally(() => refundsInFlight--);
    if (first.status !== 'pending') await settled;
  }

  /** Only a decline fails a refund: after a fault its outcome is unknown, and marking it failed
   * would free the amount for a second refund. It is re-sent with the same key instead. */
  function refundSender(r: Refund, amount: number): () => Promise<RefundResult> {
    return () =>
      untilAnswered(
        () =>
          refundAtProvider(payment.provider, {
            ...mode, paymentId: payment.id, refundId: r.id, reference: payment.provider_reference!, amount, paymentAmount: payment.amount, currency: payment.currency, idempotencyKey: keyFor(`refund:${r.id}`),
          }),
        r,
      );
  }

  /** Runs started before `refunds-accepted-at-once`: the update stays open until its refund settles. */
  async function refund(req: RefundRequest): Promise<Refund> {
    const existing = refunds.find((r) => r.id === req.refundId);
    if (existing) {
      if (!isTransfer) await condition(() => existing.status !== 'pending');
      return existing;
    }
    const amount = checkRefundable(req); // again: another refund may have been reserved since validation
    const r: Refund = {
      id: req.refundId, object: 'refund', merchant_id: payment.merchant_id, livemode: payment.livemode ?? false, payment_id: payment.id, amount,
      currency: payment.currency, status: 'pending', reason: req.reason, failure: null, created_at: req.createdAt, updated_at: req.createdAt,
    };
    refunds.push(r);
    await recordPayment({ payment: { ...payment }, refunds: [{ ...r }] });
    const send = refundSender(r, amount);
    const first = await send();
    if (isTransfer && first.status === 'pending') {
      // A payout waits for the bank, for days: the merchant has its pending refund now, the rest goes on here.
      refundsInFlight++;
      void settleRefund(r, amount, first, send).finally(() => refundsInFlight--);
      return r;
    }
    return settleRefund(r, amount, first, send);
  }

  async function settleRefund(r: Refund, amount: number, first: RefundResult, send: () => Promise<RefundResult>): Promise<Refund> {
    let outcome = first;
    // Accepted but not settled: asked again after a pause, at once when the provider's webhook says it moved.
    // Up to an hour apart: a refund can stay pending for days, and each poll is history.
    for (let delayMs = 1000; outcome.status === 'pending'; delayMs = Math.min(delayMs * 2, MAX_RESEND_MS)) {
      await backOff(delayMs);
      outcome = await send();
    }
    r.updated_at = new Date().toISOString();
    if (outcome.status === 'declined') {
      Object.assign(r, { status: 'failed', failure: { code: outcome.code, message: outcome.message } });
      await recordPayment({ payment: { ...payment }, refunds: [{ ...r }] });
      return r;
    }
    r.status = 'succeeded';
    const refunded = payment.amount_refunded + amount;
    const posting: Posting = {
      id: keyFor(`refund:${r.id}`), merchantId: payment.merchant_id, livemode: payment.livemode ?? false, paymentId: payment.id, refundId: r.id, kind: 'refund', currency: payment.currency, amount,
      // A transfer's refund is a payout that has left our bank account.
      ...(isTransfer ? { clearing: Accounts.bankCash } : {}),
    };
    await record(
      { amount_refunded: refunded, status: refunded === payment.amount_captured ? 'refunded' : 'partially_refunded' },
      { refunds: [{ ...r }], postings: [posting] },
    );
    return r;
  }

  /**
   * Refunds (and their reversals) until the window ends. A payment with many refunds grows a long
   * history: once the server suggests it (or past `continueAsNewAfterEvents`), and with no refund
   * in flight, the payment continues as a new run carrying the payment, its refunds and the window.
   */
  async function awaitRefunds(windowEndsAt: number): Promise<void> {
    processing = false;
    const historyTooLong = () =>
      workflowInfo().continueAsNewSuggested || (input.continueAsNewAfterEvents !== undefined && workflowInfo().historyLength > input.continueAsNewAfterEvents);
    const restInNewRun = () => historyTooLong() && allHandlersFinished() && refundsInFlight === 0;
    if (hasPatch('one-timer-refund-window')) {
      // One timer for the whole window, left to run out: `condition(fn, timeout)` would open a
      // cancellation scope and race two promises, and the SDK captures a stack for every promise
      // a workflow makes (a third of an automatically captured payment's workflow CPU). The wait
      // itself still ends with the run's cancellation, as before.
      let windowOpen = windowEndsAt > Date.now();
      if (windowOpen) {
        sleep(windowEndsAt - Date.now()).then(
          () => {
            windowOpen = false;
          },
          () => undefined,
        );
      }
      await condition(() => !windowOpen || restInNewRun());
      if (windowOpen) await continueWaitingInNewRun(windowEndsAt);
      return;
    }
    for (;;) {
      const remaining = windowEndsAt - Date.now();
      if (remaining <= 0) return;
      if (await condition(restInNewRun, remaining)) await continueWaitingInNewRun(windowEndsAt);
    }
  }

  async function continueWaitingInNewRun(windowEndsAt: number): Promise<never> {
    log.info('continuing as new', { history_length: workflowInfo().historyLength, refunds: refunds.length });
    return continueAsNew<typeof paymentWorkflow>({
      ...input, payment: { ...payment },
      resume: { refunds: refunds.map((r) => ({ ...r })), refundWindowEndsAt: windowEndsAt, ...(isTransfer ? { transfer: true, funds } : {}) },
    });
  }

  /** Undoes a refund the provider failed after it succeeded: a compensating posting, `refund.failed`, and the amount refundable again. */
  async function reverseRefund(r: Refund, failure: Failure): Promise<void> {
    log.warn('refund reversed by the provider', { refund_id: r.id, amount: r.amount, code: failure.code });
    Object.assign(r, { status: 'failed', failure, updated_at: new Date().toISOString() });
    const refunded = payment.amount_refunded - r.amount;
    const posting: Posting = {
      id: keyFor(`refund_reversal:${r.id}`), merchantId: payment.merchant_id, livemode: payment.livemode ?? false, paymentId: payment.id, refundId: r.id,
      kind: 'refund_reversal', currency: payment.currency, amount: r.amount,
    };
    await record(
      { amount_refunded: refunded, status: refunded === 0 ? 'captured' : 'partially_refunded' },
      { refunds: [{ ...r }], postings: [posting] },
    );
  }

  /** Applies a transition, makes it searchable, and writes the read model and ledger in one go. */
  async function record(changes: Partial<Payment> = {}, extra: { refunds?: Refund[]; postings?: Posting[] } = {}): Promise<void> {
    stage(changes);
    await recordPayment({ payment: { ...payment }, ...extra });
  }

  /** The next version of the payment, as the next write will record it. */
  function stage(changes: Partial<Payment>): void {
    apply(next(changes));
  }

  function next(changes: Partial<Payment>): Payment {
    const version = payment.version + 1;
    return { ...payment, ...changes, version, ...(version > 1 ? { updated_at: new Date().toISOString() } : {}) };
  }

  function apply(nextVersion: Payment): void {
    const before: PaymentStatus = payment.status;
    Object.assign(payment, nextVersion);
    if (payment.status !== before || payment.version === 1) {
      // Every start sets the status search attribute (`paymentSearchAttributes`): the opening need not set it again.
      if (payment.status !== before || !hasPatch('status-set-at-start')) upsertSearchAttributes([{ key: PaymentStatusKey, value: payment.status }]);
      log.info('payment status', { from: before, status: payment.status, amount_captured: payment.amount_captured, amount_refunded: payment.amount_refunded });
    }
  }

  async function finish(): Promise<Payment> {
    processing = false;
    // A cancel that won the race against the customer's payment, or a payment made after the close.
    if ((paidAfterClose || mayHaveBeenCharged) && hasPatch('late-payment-refund')) await refundLatePayment();
    else if (closedWhileWaiting && customerWindowEndsAt !== undefined && customerWindowEndsAt > Date.now() && hasPatch('late-payment-watch')) {
      if (await paidBeforeWindowEnds(customerWindowEndsAt)) await refundLatePayment();
    }
    await condition(() => allHandlersFinished() && refundsInFlight === 0);
    return payment;
  }

  /**
   * Canceled while the customer could still act: a provider that had nothing to close yet (a
   * cashier not opened) may still take the customer's money until the window ends. It is
   * watched until then, by notification or by asking, and stops as soon as the provider says closed.
   */
  async function paidBeforeWindowEnds(endsAt: number): Promise<boolean> {
    for (let pollMs = FIRST_POLL_MS; ; pollMs = Math.min(pollMs * 2, MAX_POLL_MS)) {
      // A minute past the end for clocks that disagree.
      const remaining = endsAt + 60_000 - Date.now();
      if (remaining <= 0) return false;
      if (await condition(() => paidAfterClose, Math.min(pollMs, remaining))) return true;
      const state = await providerState();
      if (state.status === 'captured') return true;
      if (state.status !== 'unknown' && state.status !== 'requires_action') return false;
    }
  }

  /** The customer's money goes back through its own workflow, which outlives this one. */
  async function refundLatePayment(): Promise<void> {
    log.warn('payment paid after it was closed: refunding it in full', { status: payment.status });
    try {
      await startChild(latePaymentRefundWorkflow, { ...latePaymentRefundStart(payment), parentClosePolicy: ParentClosePolicy.ABANDON });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err; // the callback route started it first
    }
  }
}

/** What the first authorizing call can answer besides the provider's answer. */
type Authorization = OpenedOutcome | { status: 'not_opened' };
type AuthorizeOutcome = Exclude<Authorization, { status: 'not_sent' | 'not_opened' }>;

/** After the opening, an authorizing call answers only what the provider said. */
function asOpened(a: Authorization): AuthorizeOutcome {
  if (a.status === 'not_sent' || a.status === 'not_opened') throw new Error(`authorization answered ${a.status} after the opening`);
  return a;
}

/** A transfer's instructions, showing what is still to be sent. */
function withRemaining(action: NextAction | null, remaining: number): NextAction | null {
  const instructions = action?.display_bank_transfer_instructions;
  return instructions ? { ...action, display_bank_transfer_instructions: { ...instructions, amount_remaining: Math.max(0, remaining) } } : action;
}

function failureType(err: unknown): string | undefined {
  return err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause.type ?? undefined : undefined;
}

/** A provider fault that retrying cannot fix: not an unknown outcome, not an unreachable provider. */
function isFinalFault(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === FailureTypes.providerFault && err.cause.nonRetryable === true;
}
