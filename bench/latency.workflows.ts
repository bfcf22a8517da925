import { proxyActivities, proxyLocalActivities, sleep } from '@temporalio/workflow';

/** Bare workflows for `npm run bench:latency`: what a step of each kind costs at idle. */
const { noop } = proxyActivities<{ noop: () => Promise<string> }>({ startToCloseTimeout: '10s' });
const { noop: localNoop } = proxyLocalActivities<{ noop: () => Promise<string> }>({ startToCloseTimeout: '10s' });

export async function returnsAtOnce(): Promise<string> {
  return 'ok';
}
export async function oneActivity(): Promise<string> {
  return noop();
}
export async function twoActivities(): Promise<string> {
  await noop();
  return noop();
}
export async function oneLocalActivity(): Promise<string> {
  return localNoop();
}
export async function oneTimer(): Promise<string> {
  await sleep(1);
  return 'ok';
}
