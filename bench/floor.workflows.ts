import { allHandlersFinished, condition, defineUpdate, proxyActivities, setHandler } from '@temporalio/workflow';

/**
 * The floor: the least a durable payment could cost on the same Temporal server. Started by
 * update-with-start, its update answers after one no-op activity, as our create answers after
 * the first provider round trip.
 */
export const floorUpdate = defineUpdate<string>('floor');

const { noop } = proxyActivities<{ noop: () => Promise<string> }>({ startToCloseTimeout: '10s' });

export async function floorWorkflow(): Promise<string> {
  const done = noop();
  setHandler(floorUpdate, () => done);
  const result = await done;
  await condition(allHandlersFinished);
  return result;
}

/** The B4 floor: a bare workflow that ran one no-op activity and stays open, as an authorized payment does. */
export async function floorOpenWorkflow(): Promise<string> {
  const result = await noop();
  await condition(() => false);
  return result;
}
