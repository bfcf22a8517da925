import { proxyActivities } from '@temporalio/workflow';
import type { FxActivities } from '../activities/fx';

const { refreshFxRates } = proxyActivities<FxActivities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 6 },
});

/** One refresh of the ECB reference rates, started by the `fx-rates-refresh` Temporal Schedule. */
export async function fxRatesRefreshWorkflow(): Promise<{ asOf: string; currencies: number; changed: boolean }> {
  return refreshFxRates();
}

export const FX_REFRESH_SCHEDULE_ID = 'fx-rates-refresh';
