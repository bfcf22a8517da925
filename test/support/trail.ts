import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

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
