import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import type { Activities, AfterAuthorize, AuthorizeOutcome, Snapshot } from '.';
import { openWithRisk } from '../db/payments';
import { FailureTypes } from '../domain/errors';
import type { ProviderName } from '../domain/payment';
import type { AuthorizeRequest } from '../providers/provider';
import type { RiskActivities, RiskAssessment, RiskInput } from './risk';

export type OpeningRequest = { snapshot: Snapshot; risk: RiskInput };
/** `open`: the payment's opening, written and risk-checked by the authorizing call before it asks anyone. */
export type AfterOpening = AfterAuthorize & { open?: OpeningRequest };
/** `not_sent`: the risk check held or blocked the payment, and no provider was asked. */
export type OpenedOutcome = (AuthorizeOutcome & { risk?: RiskAssessment }) | { status: 'not_sent'; risk: RiskAssessment };

/**
 * A new payment's first step: written where the API and operators can see it, then checked
 * against the merchant's risk rules. Both are idempotent, so a retry of the pair is as safe as a
 * retry of either.
 */
export function createOpeningActivities(pool: Pool, payments: Pick<Activities, 'recordPayment' | 'authorizeAtProvider'>, risk: Pick<RiskActivities, 'evaluateRisk'>) {
  return {
    /** As one local activity (`paymentWorkflowV3`, V4, and V5's fallback). */
    async openPayment(req: OpeningRequest): Promise<RiskAssessment> {
      await payments.recordPayment(req.snapshot);
      return risk.evaluateRisk(req.risk);
    },

    /**
     * The authorizing call, opening the payment first when asked to (`paymentWorkflowV5` and later): no
     * local activity, activation or marker before it. The risk decision is written with the
     * opening and the first one kept, so a retried call goes on with the decision that may
     * already have let it reach the provider. An opening that fails in the first attempt asked
     * nobody: the workflow opens the payment by its local activity instead, which waits out a
     * database outage.
     */
    async authorizeAtProvider(name: ProviderName, req: AuthorizeRequest, after: AfterOpening = {}): Promise<OpenedOutcome> {
      const { open, ...then } = after;
      if (!open) return payments.authorizeAtProvider(name, req, then);
      let decided: RiskAssessment;
      try {
        decided = await openWithRisk(pool, { ...open.snapshot.payment, risk: await risk.evaluateRisk(open.risk) });
      } catch (err) {
        if (Context.current().info.attempt > 1) throw err;
        throw ApplicationFailure.create({ type: FailureTypes.openingFailed, message: `opening the payment: ${err instanceof Error ? err.message : String(err)}`, nonRetryable: true });
      }
      if (decided.decision !== 'allow') return { status: 'not_sent', risk: decided };
      const capture = then.recordIfCaptured;
      const outcome = await payments.authorizeAtProvider(name, req, capture ? { recordIfCaptured: { ...capture, payment: { ...capture.payment, risk: decided } } } : {});
      return { ...outcome, risk: decided };
    },
  };
}

export type OpeningActivities = ReturnType<typeof createOpeningActivities>;
