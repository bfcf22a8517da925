import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';

const EventType = temporal.api.enums.v1.EventType;

/**
 * A workflow's history in one line per event (type, time, and the failure or timeout if any), with
 * its pending activities: what a test prints when a run stalls, so a CI log says where it stopped.
 */
export async function workflowTrail(temporalClient: Client, workflowId: string): Promise<string> {
  try {
    const handle = temporalClient.workflow.getHandle(workflowId);
    const [{ events }, described] = await Promise.all([handle.fetchHistory(), handle.describe()]);
    const lines = (events ?? []).map((e) => {
      const type = EventType[e.eventType ?? 0]?.replace(/^EVENT_TYPE_/, '') ?? String(e.eventType);
      const at = e.eventTime ? new Date(Number(e.eventTime.seconds ?? 0) * 1000 + Math.floor((e.eventTime.nanos ?? 0) / 1e6)).toISOString().slice(11, 23) : '';
      const detail = e.workflowTaskFailedEventAttributes?.failure?.message
        ?? e.workflowTaskTimedOutEventAttributes?.timeoutType
        ?? e.activityTaskScheduledEventAttributes?.activityType?.name
        ?? e.activityTaskFailedEventAttributes?.failure?.message
        ?? e.activityTaskTimedOutEventAttributes?.failure?.message
        ?? e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name
        ?? e.markerRecordedEventAttributes?.markerName
        ?? (e.workflowTaskScheduledEventAttributes ? `${e.workflowTaskScheduledEventAttributes.taskQueue?.name} attempt ${e.workflowTaskScheduledEventAttributes.attempt}` : '');
      return `  ${e.eventId} ${at} ${type} ${detail}`;
    });
    const pending = (described.raw.pendingActivities ?? []).map((a) => `  pending ${a.activityType?.name} attempt ${a.attempt} state ${a.state} ${a.lastFailure?.message ?? ''}`);
    const task = described.raw.pendingWorkflowTask;
    const pendingTask = task ? [`  pending workflow task state ${task.state} attempt ${task.attempt}`] : [];
    return [`${workflowId} (${described.status.name})`, ...lines, ...pending, ...pendingTask].join('\n');
  } catch (err) {
    return `${workflowId}: ${(err as Error).message}`;
  }
}

/** Runs `body`; when it throws, prints the named workflows' trails first. */
export async function withTrails<T>(temporalClient: Client, workflowIds: () => string[], body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    const trails = await Promise.all(workflowIds().map((id) => workflowTrail(temporalClient, id)));
    console.error(`workflows at the failure:\n${trails.join('\n')}`);
    throw err;
  }
}

const Cause = temporal.api.enums.v1.WorkflowTaskFailedCause;
/** A task failed for these is retried and goes on (a message arrived meanwhile, a worker went away); any other cause is a bug. */
const BENIGN_CAUSES = new Set([Cause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND, Cause.WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE]);

/**
 * Every workflow task a worker failed in the workflows a visibility query names (a test's task
 * queue, one workflow id), decrypted: a workflow whose code throws is stuck (its updates are never
 * accepted) while the API answers 503, so a test asserts there are none, and prints what threw where.
 */
export async function failedWorkflowTasks(temporalClient: Client, query: string): Promise<string[]> {
  const found: string[] = [];
  for await (const wf of temporalClient.workflow.list({ query })) {
    const { events } = await temporalClient.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    for (const e of events ?? []) {
      const failed = e.workflowTaskFailedEventAttributes;
      if (!failed || BENIGN_CAUSES.has(failed.cause ?? 0)) continue;
      const error = await decodeOptionalFailureToOptionalError(temporalClient.options.loadedDataConverter, failed.failure);
      found.push(`${wf.workflowId} event ${e.eventId} (${Cause[failed.cause ?? 0]}): ${error?.stack ?? error?.message}`);
      break;
    }
  }
  return found;
}
