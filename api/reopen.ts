import { findPaymentById, refundsOfPayment } from '../db/payments';
import { paymentWorkflowId } from '../workflows/messages';
import type { PaymentWorkflowInput } from '../workflows/messages';
import { paymentSearchAttributes } from '../workflows/search-attributes';
import type { ApiContext } from './context';

/** How long a payment reopened after its refund window stays open for more refunds or reversals. */
const REOPENED_FOR_MS = 3_600_000;

/**
 * Start options for a payment's workflow again after its last run ended (its refund window
 * passed): from the read model, final since that run ended, with every refund so far. Used with
 * update-with-start or signal-with-start on the same workflow id, so a racing request attaches to it.
 */
export async function reopenedPayment(ctx: ApiContext, paymentId: string) {
  const payment = (await findPaymentById(ctx.pool, paymentId))!;
  const refunds = await refundsOfPayment(ctx.pool, paymentId);
  const { config } = ctx;
  const input: PaymentWorkflowInput = {
    payment, authorizationTtlMs: config.AUTHORIZATION_TTL_MS, actionTtlMs: config.ACTION_TTL_MS, refundWindowMs: config.REFUND_WINDOW_MS,
    resume: { refunds, refundWindowEndsAt: Date.now() + REOPENED_FOR_MS },
  };
  return {
    workflowId: paymentWorkflowId(paymentId),
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    args: [input] as [PaymentWorkflowInput],
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const,
    typedSearchAttributes: paymentSearchAttributes(payment),
  };
}
