import { ApplicationFailure } from '@temporalio/activity';
import type { Pool } from 'pg';
import { latestRateTable, saveRateTable } from '../db/fx';
import { parseEcbDaily } from '../fx/rates';

/** Fetching the ECB reference rates: the schedule's one activity. */
export function createFxActivities({ pool, ecbUrl }: { pool: Pool; ecbUrl: string }) {
  return {
    /** Fetches and stores the feed; answers its date. A feed that parses as nothing is refused, never stored. */
    async refreshFxRates(): Promise<{ asOf: string; currencies: number; changed: boolean }> {
      const res = await fetch(ecbUrl, { signal: AbortSignal.timeout(20_000), headers: { accept: 'application/xml, text/xml' } });
      if (!res.ok) throw ApplicationFailure.retryable(`ECB feed answered ${res.status}`, 'FxFeedUnavailable');
      let table;
      try {
        table = parseEcbDaily(await res.text(), new Date());
      } catch (err) {
        throw ApplicationFailure.nonRetryable(`ECB feed unreadable: ${(err as Error).message}`, 'FxFeedInvalid');
      }
      const before = await latestRateTable(pool, 'ecb');
      // Stored on every fetch: `fetched_at` is what says the rates are fresh (the feed skips weekends and holidays).
      await saveRateTable(pool, table);
      return { asOf: table.asOf, currencies: Object.keys(table.rates).length, changed: before?.asOf !== table.asOf };
    },
  };
}

export type FxActivities = ReturnType<typeof createFxActivities>;
