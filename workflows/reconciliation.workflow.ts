import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ActivityFailure, ApplicationFailure, executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ReconciliationActivities, RunRef } from '../activities/reconciliation';
import type { ProviderName } from '../domain/payment';
import { bankWriteOptions } from './options';

/** Fetching a report: a provider that cannot answer yet (a bill not generated) is asked again for hours. */
const { fetchSettlementReport } = proxyActivities<ReconciliationActivities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: '2m',
  scheduleToCloseTimeout: '12h',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30m' },
});
const { beginReconciliation, matchSettlement, completeReconciliation, failReconciliation, reconciliationDays } = proxyActivities<ReconciliationActivities>({
  ...bankWriteOptions,
  startToCloseTimeout: '5m',
});

export const reconciliationWorkflowId = (provider: string, livemode: boolean, date: string) => `reconciliation:${provider}:${livemode ? 'live' : 'test'}:${date}`;

/**
 * One provider's settlement report of one day against our books. Each step is an activity
 * that a crash resumes from; the run and its items are keyed by provider, mode and day, so
 * running the day again updates them and books no fee twice.
 */
export async function reconciliationWorkflow(ref: RunRef): Promise<Record<string, number>> {
  await beginReconciliation(ref);
  try {
    await fetchSettlementReport(ref);
    const counts = await matchSettlement(ref);
    await completeReconciliation(ref);
    return counts;
  } catch (err) {
    const cause = err instanceof ActivityFailure && err.cause ? err.cause.message : String(err);
    await failReconciliation({ ...ref, message: cause });
    throw ApplicationFailure.nonRetryable(`reconciliation failed: ${cause}`, 'ReconciliationFailed');
  }
}

/**
 * Started by the daily Temporal Schedule: reconciles the day before in the provider's time zone
 * (T+1), and again the day whose grace period ends now. A day an operator is running already is
 * left to that run.
 */
export async function scheduledReconciliationWorkflow(req: { provider: ProviderName; livemode: boolean }): Promise<void> {
  const days = await reconciliationDays({ ...req, firedAt: workflowInfo().runStartTime.getTime() });
  for (const { date, runId } of days) {
    try {
      await executeChild(reconciliationWorkflow, {
        workflowId: reconciliationWorkflowId(req.provider, req.livemode, date),
        args: [{ runId, provider: req.provider, livemode: req.livemode, date }],
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }
}
