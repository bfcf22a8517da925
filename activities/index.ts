import { ApplicationFailure } from '@temporalio/activity';
import type { Pool } from 'pg';
import type { Posting } from '../db/ledger';
import { recordPosting } from '../db/ledger';
import { upsertPayment, upsertRefund } from '../db/payments';
import { inTransaction } from '../db/pool';
import type { Payment, ProviderName, Refund } from '../domain/payment';
import type {
  AuthorizeRequest, AuthorizeResult, CancelRequest, CaptureRequest, OperationResult, PaymentProvider,
  ProviderPaymentState, RefundRequest, StatusRequest,
} from '../providers/provider';
import { FailureTypes } from '../domain/errors';
import { ProviderFault } from '../providers/provider';
import type { Metrics } from '../runtime/metrics';
import { recordEvents } from '../db/events';
import type { NotificationDeps } from './notifications';
import { createNotificationActivities, eventsOf } from './notifications';

export type ActivityDeps = {
  pool: Pool;
  providers: Partial<Record<ProviderName, PaymentProvider>>;
  metrics?: Metrics;
  /** Merchant events' fan-out, webhook delivery and receipts; without it events are only recorded. */
  notifications?: NotificationDeps;
};

export type Snapshot = { payment: Payment; refunds?: Refund[]; postings?: Posting[] };

/** One converter from provider faults to Temporal failures: the retry decision is the fault's own flag. */
async function callProvider<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ProviderFault) {
      throw ApplicationFailure.create({
        type: err.outcomeUnknown ? FailureTypes.outcomeUnknown : FailureTypes.providerFault,
        message: err.message,
        nonRetryable: !err.retryable || err.outcomeUnknown,
        ...(err.retryAfterMs !== undefined ? { nextRetryDelay: err.retryAfterMs } : {}),
      });
    }
    throw err;
  }
}

export function createActivities({ pool, providers, metrics, notifications }: ActivityDeps) {
  const provider = (name: ProviderName): PaymentProvider => {
    const p = providers[name];
    if (!p) throw ApplicationFailure.nonRetryable(`provider ${name} is not configured`, FailureTypes.providerFault);
    return p;
  };

  const timed = <T extends { status: string }>(name: ProviderName, operation: string, call: () => Promise<T>) =>
    callProvider(() => (metrics ? metrics.timeProviderCall(name, operation, call) : call()));

  return {
    async authorizeAtProvider(name: ProviderName, req: AuthorizeRequest): Promise<AuthorizeResult> {
      return timed(name, 'authorize', () => provider(name).authorize(req));
    },
    async captureAtProvider(name: ProviderName, req: CaptureRequest): Promise<OperationResult> {
      return timed(name, 'capture', () => provider(name).capture(req));
    },
    async cancelAtProvider(name: ProviderName, req: CancelRequest): Promise<OperationResult> {
      return timed(name, 'cancel', () => provider(name).cancel(req));
    },
    async refundAtProvider(name: ProviderName, req: RefundRequest): Promise<OperationResult> {
      return timed(name, 'refund', () => provider(name).refund(req));
    },
    async askProviderForStatus(name: ProviderName, req: StatusRequest): Promise<ProviderPaymentState> {
      return timed(name, 'status', () => provider(name).getStatus(req));
    },
    /**
     * Read model, ledger and merchant events move together in one transaction. Snapshots are
     * versioned, postings and events keyed by what they record, so a late or repeated run
     * changes nothing. The events' deliveries start after the commit; a crash before they all
     * started re-runs this activity, which starts only what is missing.
     */
    async recordPayment(snapshot: Snapshot): Promise<void> {
      const events = eventsOf(snapshot.payment, snapshot.refunds);
      await inTransaction(pool, async (client) => {
        await upsertPayment(client, snapshot.payment);
        for (const r of snapshot.refunds ?? []) await upsertRefund(client, r);
        for (const p of snapshot.postings ?? []) await recordPosting(client, p);
        await recordEvents(client, events);
      });
      if (notifications && events.length > 0) await notifications.dispatcher.dispatch(events.map((e) => e.id));
    },
    ...createNotificationActivities(pool, notifications, metrics),
  };
}

export type Activities = ReturnType<typeof createActivities>;
