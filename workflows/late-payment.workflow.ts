import { ApplicationFailure, log, proxyActivities, sleep } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { Payment, ProviderName } from '../domain/payment';
import { moneyMovementOptions } from './options';

export type LatePaymentInput = { paymentId: string; merchantId: string; provider: ProviderName; amount: number; currency: string };

export const latePaymentRefundWorkflowId = (paymentId: string) => `late-payment-refund:${paymentId}`;
/** Started by the payment's workflow or by the callback route, whichever learns of the payment first; restartable only after a failure. */
export const LATE_PAYMENT_REUSE_POLICY = 'ALLOW_DUPLICATE_FAILED_ONLY' as const;
/** How the payment's workflow (as a child) and the callback route (as a client) start it: the same id, policy and input. */
export function latePaymentRefundStart(p: Pick<Payment, 'id' | 'merchant_id' | 'provider' | 'amount' | 'currency'>) {
  return {
    workflowId: latePaymentRefundWorkflowId(p.id),
    workflowIdReusePolicy: LATE_PAYMENT_REUSE_POLICY,
    args: [{ paymentId: p.id, merchantId: p.merchant_id, provider: p.provider, amount: p.amount, currency: p.currency }] as [LatePaymentInput],
  };
}

/** Our refund number for it at the provider (Alipay's `out_request_no`): one per payment, so it refunds once. */
export const latePaymentRefundId = (paymentId: string) => `${paymentId}_late`;

const MAX_RESEND_MS = 3_600_000;

/**
 * The customer paid a payment we had already closed as canceled or failed: a wallet cashier
 * opened after the merchant canceled, while the provider had no trade to close yet. The money
 * is not the merchant's to keep, and no payment of ours stands for it, so it goes back to the
 * customer in full, once. A refused refund fails this workflow, where operators see it.
 */
export async function latePaymentRefundWorkflow(input: LatePaymentInput): Promise<void> {
  const { refundAtProvider } = proxyActivities<Activities>(moneyMovementOptions);
  const refundId = latePaymentRefundId(input.paymentId);
  for (let delayMs = 1000; ; delayMs = Math.min(delayMs * 2, MAX_RESEND_MS)) {
    try {
      const outcome = await refundAtProvider(input.provider, {
        paymentId: input.paymentId, refundId, reference: input.paymentId, amount: input.amount, currency: input.currency,
        idempotencyKey: `${input.paymentId}:refund:${refundId}`,
      });
      if (outcome.status === 'succeeded') {
        log.warn('late payment refunded to the customer', { amount: input.amount, currency: input.currency });
        return;
      }
      // The merchant's Alipay balance can be topped up: that refusal is waited out, not final.
      if (outcome.code !== 'seller_balance_not_enough') {
        throw ApplicationFailure.nonRetryable(`The provider refused to refund a payment made after it was closed: ${outcome.code} ${outcome.message}`, 'LatePaymentRefundRefused');
      }
      log.warn('late payment refund refused for now', { code: outcome.code });
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
    }
    await sleep(delayMs); // an unknown outcome or a passing refusal: the same refund number again, later
  }
}
