import type { Activities, Snapshot } from '.';
import type { RiskActivities, RiskAssessment, RiskInput } from './risk';

/**
 * A new payment's first step as one local activity: written where the API and operators can see
 * it, then checked against the merchant's risk rules. Two local activities cost the worker an
 * activation, a history marker and two encrypted payloads more; both are idempotent, so a retry
 * of the pair is as safe as a retry of either.
 */
export function createOpeningActivities(payments: Pick<Activities, 'recordPayment'>, risk: Pick<RiskActivities, 'evaluateRisk'>) {
  return {
    async openPayment(req: { snapshot: Snapshot; risk: RiskInput }): Promise<RiskAssessment> {
      await payments.recordPayment(req.snapshot);
      return risk.evaluateRisk(req.risk);
    },
  };
}

export type OpeningActivities = ReturnType<typeof createOpeningActivities>;
