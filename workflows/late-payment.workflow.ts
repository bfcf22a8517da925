import { ApplicationFailure, log, proxyActivities, sleep } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { Payment, ProviderName } from '../domain/payment';
import { moneyMovementOptions, statusCheckOptions } from './options';

/** What the provider holds is asked, not assumed: the amount refunded is the amount it took. */
export type LatePaymentInput = { paymentId: string; merchantId: string; provider: ProviderName; currency: string; livemode?: boolean };

export const latePaymentRefundWorkflowId = (paymentId: string) => `late-payment-refund:${paymentId}`;
/** Started by the payment's workflow or by the callback route, whichever learns of the payment first; restartable only after a failure. */
export const LATE_PAYMENT_REUSE_POLICY = 'ALLOW_DUPLICATE_FAILED_ONLY' as const;
/** How the payment's workflow (as a child) and the callback route (as a client) start it: the same id, policy and input. */
export function latePaymentRefundStart(p: Pick<Payment, 'id' | 'merchant_id' | 'provider' | 'currency' | 'livemode'>) {
  return {
    workflowId: latePaymentRefundWorkflowId(p.id),
    workflowIdReusePolicy: LATE_PAYMENT_REUSE_POLICY,
    args: [{ paymentId: p.id, merchantId: p.merchant_id, provider: p.provider, currency: p.currency, livemode: p.livemode ?? false }] as [LatePaymentInput],
  };
}

/** Our refund number for it at the provider (Alipay's `out_request_no`): one per payment, so it refunds once. */
export const latePaymentRefundId = (paymentId: string) => `${paymentId}_late`;

const MAX_RESEND_MS = 3_600_000;
/** How long the provider may take to show the payment (search indexes lag) before we conclude nothing is held. */
const LOOK_FOR_MS = 24 * 3_600_000;

/**
 * Money may have reached a payment we had already closed: a wallet cashier opened after the
 * merchant canceled, while the provider had no trade to close yet. It is not the merchant's to
 * keep and no payment of ours stands for it. The provider's own state decides: a charge is
 * refunded in full, a hold released, and nothing is done when nothing is held, so starting this
 * on a mere suspicion is safe. A refused refund fails this workflow, where operators see it.
 */
export async function latePaymentRefundWorkflow(input: LatePaymentInput): Promise<void> {
  const { refundAtProvider, cancelAtProvider } = proxyActivities<Activities>(moneyMovementOptions);
  const { askProviderForStatus } = proxyActivities<Activities>(statusCheckOptions);
  const refundId = latePaymentRefundId(input.paymentId);
  const mode = { livemode: input.livemode ?? false };
  const giveUpAt = Date.now() + LOOK_FOR_MS;
  for (let delayMs = 1000; ; delayMs = Math.min(delayMs * 2, MAX_RESEND_MS)) {
    try {
      const state = await askProviderForStatus(input.provider, { ...mode, paymentId: input.paymentId, reference: null, currency: input.currency });
      if (state.status === 'canceled' || state.status === 'failed') return; // nothing held (or our refund already closed it)
      if (state.status === 'authorized') {
        const released = await cancelAtProvider(input.provider, { ...mode, paymentId: input.paymentId, reference: state.reference, idempotencyKey: `${input.paymentId}:void` });
        if (released.status === 'succeeded') return log.warn('late authorization released', {});
      } else if (state.status === 'captured') {
        const outcome = await refundAtProvider(input.provider, {
          ...mode, paymentId: input.paymentId, refundId, reference: state.reference, amount: state.amountCaptured, paymentAmount: state.amountCaptured, currency: input.currency,
          idempotencyKey: `${input.paymentId}:refund:${refundId}`,
        });
        if (outcome.status === 'succeeded') return log.warn('late payment refunded to the customer', { amount: state.amountCaptured, currency: input.currency });
        // Pending (accepted, not settled) is asked again below. The merchant's Alipay balance can be topped up: that refusal is waited out, not final.
        if (outcome.status === 'declined' && outcome.code !== 'seller_balance_not_enough') {
          throw ApplicationFailure.nonRetryable(`The provider refused to refund a payment made after it was closed: ${outcome.code} ${outcome.message}`, 'LatePaymentRefundRefused');
        }
        if (outcome.status === 'declined') log.warn('late payment refund refused for now', { code: outcome.code });
      } else if (Date.now() >= giveUpAt) {
        return log.warn('no late payment found at the provider', { status: state.status });
      }
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
    }
    await sleep(delayMs); // an unknown outcome, a passing refusal or a payment not visible yet: asked again later
  }
}
