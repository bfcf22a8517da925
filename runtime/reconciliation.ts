import type { Client } from '@temporalio/client';
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Config } from '../config';
import type { ProviderName } from '../domain/payment';
import { reportsOf } from '../activities/reconciliation';
import type { Providers } from './providers';
import { scheduledReconciliationWorkflow } from '../workflows/reconciliation.workflow';

export const reconciliationScheduleId = (provider: ProviderName, livemode: boolean, taskQueue: string) => `reconciliation:${provider}:${livemode ? 'live' : 'test'}:${taskQueue}`;

/**
 * One daily schedule per provider and mode that has a settlement report here, at
 * RECONCILIATION_AT in RECONCILIATION_TIME_ZONE (one per task queue: side-by-side deployments
 * never share one). An existing schedule is updated to the configured time.
 */
export async function ensureReconciliationSchedules(temporal: Client, providers: Providers, config: Config): Promise<string[]> {
  const [hour, minute] = config.RECONCILIATION_AT.split(':').map(Number) as [number, number];
  const created: string[] = [];
  for (const provider of Object.keys(providers.modes) as ProviderName[]) {
    const livemode = providers.modes[provider] === 'live';
    if (!reportsOf(providers, provider, livemode)) continue;
    const scheduleId = reconciliationScheduleId(provider, livemode, config.TEMPORAL_TASK_QUEUE);
    const spec = { calendars: [{ hour, minute }], timezone: config.RECONCILIATION_TIME_ZONE };
    try {
      await temporal.schedule.create({
        scheduleId,
        spec,
        action: { type: 'startWorkflow', workflowType: scheduledReconciliationWorkflow, taskQueue: config.TEMPORAL_TASK_QUEUE, workflowId: scheduleId, args: [{ provider, livemode }] },
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 day' },
        state: { note: `Reconciles ${provider} (${livemode ? 'live' : 'test'}) against its settlement report of the day before.` },
      });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await temporal.schedule.getHandle(scheduleId).update((s) => ({ ...s, spec }));
    }
    created.push(scheduleId);
  }
  return created;
}
