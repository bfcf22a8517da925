import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/common';
import { invoicePaymentSignal, subscriptionWorkflowId } from '../workflows/billing-messages';
import type { Pool } from 'pg';
import type { Posting } from '../db/ledger';
import { entriesFor, postingWrites } from '../db/ledger';
import { paymentWrite, refundWrite } from '../db/payments';
import type { Write } from '../db/pool';
import { asOneStatement } from '../db/pool';
import type { Payment, ProviderName, Refund } from '../domain/payment';
import type {
  AuthorizeRequest, AuthorizeResult, CancelRequest, CaptureRequest, OperationResult, PaymentProvider, RefundResult,
  ProviderPaymentState, RefundRequest, StatusRequest,
} from '../providers/provider';
import { FailureTypes } from '../domain/errors';
import { ProviderFault } from '../providers/provider';
import type { Metrics } from '../runtime/metrics';
import type { Providers } from '../runtime/providers';
import { providerFor } from '../runtime/providers';
import type { CircuitBreaker } from '../routing/circuit-breaker';
import { eventsPendingSelect, eventsWrite } from '../db/events';
import type { NotificationDeps } from './notifications';
import { createNotificationActivities, eventsOf } from './notifications';
import { createBankActivities } from './bank';

export type ActivityDeps = {
  pool: Pool;
  providers: Providers;
  /** Provider health shared by every process; without it no circuit is kept. */
  circuits?: CircuitBreaker;
  metrics?: Metrics;
  /** Merchant events' fan-out, webhook delivery and receipts; without it events are only recorded. */
  notifications?: NotificationDeps;
};

export type Snapshot = { payment: Payment; refunds?: Refund[]; postings?: Posting[] };

/**
 * What the authorizing call does after the provider answers: `recordIfCaptured` is the payment as
 * the workflow would record it once captured in that call (all but the provider's reference), so
 * the capture is written by the call that made it, without a local activity of its own.
 */
export type AfterAuthorize = { recordIfCaptured?: Snapshot };
/** `recorded`: the capture is written as the workflow staged it, with the provider's reference. */
export type AuthorizeOutcome = AuthorizeResult & { recorded?: true };

/** One converter from provider faults to Temporal failures: the retry decision is the fault's own flag. */
async function callProvider<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ProviderFault) {
      throw ApplicationFailure.create({
        type: err.notProcessed ? FailureTypes.notProcessed : err.outcomeUnknown ? FailureTypes.outcomeUnknown : FailureTypes.providerFault,
        message: err.message,
        // Not processed: the workflow decides (the next candidate, or this one again after a backoff).
        nonRetryable: !err.retryable || err.outcomeUnknown || err.notProcessed,
        ...(err.retryAfterMs !== undefined ? { nextRetryDelay: err.retryAfterMs } : {}),
      });
    }
    throw err;
  }
}

/**
 * An invoice's payment that ended tells its subscription, after it is recorded (a rerun tells it
 * again; the subscription ignores what it already knows). A subscription that has ended has no
 * run to tell.
 */
async function tellSubscription(payment: Payment): Promise<void> {
  const { subscription_id: subscriptionId, invoice_id: invoiceId } = payment.metadata;
  if (payment.channel !== 'subscription' || !subscriptionId || !invoiceId || !['captured', 'failed', 'canceled'].includes(payment.status)) return;
  try {
    await Context.current().client.workflow.getHandle(subscriptionWorkflowId(subscriptionId)).signal(invoicePaymentSignal, {
      invoiceId, paymentId: payment.id, status: payment.status, failure: payment.failure, amount: payment.amount_captured,
    });
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
}

export function createActivities({ pool, providers, circuits, metrics, notifications }: ActivityDeps) {
  /** The provider of this name in the payment's mode: a live payment never reaches the sandbox or a test account. */
  const provider = (name: ProviderName, livemode: boolean | undefined): PaymentProvider => {
    const p = providerFor(providers, name, livemode ?? false);
    if (!p) throw ApplicationFailure.nonRetryable(`provider ${name} is not configured for ${livemode ? 'live' : 'test'} mode`, FailureTypes.providerFault);
    return p;
  };

  /** Circuit bookkeeping never replaces what the provider answered (the money may have moved). */
  const health = async (write: () => Promise<void> | undefined) => {
    try {
      await write();
    } catch {
      // The database is down: the circuit misses one observation.
    }
  };

  /**
   * Times the call and feeds the provider's circuit: a provider that could not be reached or did
   * not answer in time counts against it; any answer (a decline, a refusal, a rate limit) for it.
   */
  const timed = async <T extends { status: string }>(
    name: ProviderName, livemode: boolean | undefined, operation: string, call: () => Promise<T>, answerRecordedLater?: (result: T) => boolean,
  ) => {
    const mode = livemode ?? false;
    try {
      const result = await callProvider(() => (metrics ? metrics.timeProviderCall(name, mode ? 'live' : 'test', operation, call) : call()));
      // A caller that writes what the provider did writes the circuit's success with it (one statement).
      if (!answerRecordedLater?.(result)) await health(() => circuits?.recordSuccess(name, mode));
      return result;
    } catch (err) {
      const down = err instanceof ApplicationFailure && (err.type === FailureTypes.notProcessed || err.type === FailureTypes.outcomeUnknown);
      if (down) await health(() => circuits?.recordFailure(name, mode, `${operation}: ${err.message}`));
      else if (err instanceof ApplicationFailure && err.type === FailureTypes.providerFault) await health(() => circuits?.recordSuccess(name, mode));
      throw err;
    }
  };

  /**
   * Read model, ledger and merchant events move together in one statement (atomic as a
   * transaction, one round trip), with `more` writes if the caller has any. Snapshots are
   * versioned, postings and events keyed by what they record, so a late or repeated run changes
   * nothing. The events' deliveries start after the commit; a crash before they all started
   * re-runs this activity, which starts only what is missing.
   */
  const writeSnapshot = async (snapshot: Snapshot, more: Write[] = []): Promise<void> => {
    const events = eventsOf(snapshot.payment, snapshot.refunds);
    const { payment, refunds = [], postings = [] } = snapshot;
    // A cross-border posting's entries follow from what the payment's earlier postings moved,
    // read before the statement: a second one in the same snapshot would not see the first.
    if (postings.length > 1 && payment.fx) throw ApplicationFailure.nonRetryable(`payment ${payment.id}: one FX posting per snapshot`);
    const writes = [
      paymentWrite('payment', payment),
      ...refunds.map((r, i) => refundWrite(`refund_${i}`, r)),
      ...(await Promise.all(postings.map(async (p, i) => postingWrites(`posting_${i}`, p, await entriesFor(pool, p, payment))))).flat(),
      ...more,
    ];
    let fanOut = false;
    if (events.length === 0) {
      await pool.query(asOneStatement(writes, 'SELECT NULL'));
    } else {
      const receipt = notifications?.dispatcher.receiptWanted(events.map((e) => e.type), payment.receipt_email);
      writes.push(eventsWrite('recorded_events', events, notifications && !receipt ? 'without_endpoint' : false));
      const { rows } = await pool.query<{ pending: boolean }>(asOneStatement(writes, eventsPendingSelect('recorded_events', events.length)));
      fanOut = rows[0]?.pending ?? true;
    }
    if (notifications && fanOut) await notifications.dispatcher.dispatch(events.map((e) => e.id));
    await tellSubscription(payment);
  };
  const recordPayment = (snapshot: Snapshot): Promise<void> => writeSnapshot(snapshot);

  return {
    /**
     * A write that fails after the provider captured fails the attempt: the retry asks again with
     * the same key (one capture at the provider) and writes again; a run that gives up on the
     * call learns the capture from the provider's status and records it itself.
     */
    async authorizeAtProvider(name: ProviderName, req: AuthorizeRequest, after: AfterAuthorize = {}): Promise<AuthorizeOutcome> {
      const p = provider(name, req.livemode);
      if (req.skipIfUnhealthy && circuits && !(await circuits.allow(name, req.livemode ?? false))) {
        metrics?.providerSkipped.inc({ provider: name, mode: req.livemode ? 'live' : 'test' });
        throw ApplicationFailure.create({ type: FailureTypes.notProcessed, message: `${name}: circuit open, not tried`, nonRetryable: true });
      }
      const { recordIfCaptured: snapshot } = after;
      const recordsCapture = (r: AuthorizeResult) => r.status === 'captured' && snapshot !== undefined;
      const result = await timed(name, req.livemode, 'authorize', () => p.authorize(req), recordsCapture);
      if (!snapshot || !recordsCapture(result)) return result;
      const answered = circuits ? [circuits.successWrite(name, req.livemode ?? false)] : [];
      await writeSnapshot({ ...snapshot, payment: { ...snapshot.payment, provider_reference: result.reference } }, answered);
      return { ...result, recorded: true };
    },
    async captureAtProvider(name: ProviderName, req: CaptureRequest): Promise<OperationResult> {
      return timed(name, req.livemode, 'capture', () => provider(name, req.livemode).capture(req));
    },
    async cancelAtProvider(name: ProviderName, req: CancelRequest): Promise<OperationResult> {
      return timed(name, req.livemode, 'cancel', () => provider(name, req.livemode).cancel(req));
    },
    async refundAtProvider(name: ProviderName, req: RefundRequest): Promise<RefundResult> {
      return timed(name, req.livemode, 'refund', () => provider(name, req.livemode).refund(req));
    },
    async askProviderForStatus(name: ProviderName, req: StatusRequest): Promise<ProviderPaymentState> {
      return timed(name, req.livemode, 'status', () => provider(name, req.livemode).getStatus(req));
    },
    recordPayment,
    ...createNotificationActivities(pool, notifications, metrics),
    ...createBankActivities(pool),
  };
}

export type Activities = ReturnType<typeof createActivities>;
