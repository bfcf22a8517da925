import { ApplicationFailure, allHandlersFinished, condition, defineQuery, defineUpdate, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { OfferOutcome } from '../activities/bank';
import type { BankCreditStatus, MatchedBy } from '../domain/bank';
import { FailureTypes } from '../domain/errors';
import { bankWriteOptions, fundPaymentOptions } from './options';

const { matchBankCredit, settleBankCredit, claimCreditFor } = proxyActivities<Activities>(bankWriteOptions);
const { offerCreditToPayment } = proxyActivities<Activities>(fundPaymentOptions);

/** An operator applies an unmatched credit to a payment (already checked to be theirs to apply). */
export const applyBankCreditUpdate = defineUpdate<BankCreditStatus, [{ paymentId: string }]>('applyBankCredit');
export const bankCreditStatusQuery = defineQuery<BankCreditStatus>('bankCreditStatus');
export const bankCreditWorkflowId = (creditId: string) => `bank-credit:${creditId}`;

/**
 * One incoming bank credit, from arrival to where its money went: matched to a transfer payment
 * (by reference, then by the payer's customer and amount), the part the payment does not take
 * kept as customer balance or returned; or unmatched, waiting durably for an operator to apply it.
 */
export async function bankCreditWorkflow(input: { creditId: string }): Promise<BankCreditStatus> {
  const { creditId } = input;
  let status: BankCreditStatus = 'pending';
  let applying = false;
  setHandler(bankCreditStatusQuery, () => status);

  setHandler(
    applyBankCreditUpdate,
    async ({ paymentId }) => {
      applying = true;
      try {
        const offer = await offerCreditToPayment({ creditId, paymentId });
        // By hand, a payment that takes nothing is a mistake to report, not money to move elsewhere.
        if (offer.outcome !== 'applied') throw ApplicationFailure.create({ type: FailureTypes.invalidState, message: offer.message, nonRetryable: true });
        await claimCreditFor({ creditId, paymentId });
        status = await settle(paymentId, 'manual', offer);
        return status;
      } finally {
        applying = false;
      }
    },
    {
      validator: (_req: { paymentId: string }) => {
        if (status !== 'unmatched' || applying) throw ApplicationFailure.create({ type: FailureTypes.invalidState, message: `This credit is ${applying ? 'being applied' : status}: only an unmatched credit can be applied.`, nonRetryable: true });
      },
    },
  );

  const match = await matchBankCredit(creditId);
  if (match.paymentId) {
    const offer = await offerCreditToPayment({ creditId, paymentId: match.paymentId });
    if (offer.outcome !== 'refused') status = await settle(match.paymentId, match.matchedBy, offer);
  }
  if (status === 'pending') {
    status = await settleBankCredit({ creditId, paymentId: null, matchedBy: null, applied: 0, customerId: null, late: false });
    await condition(() => status !== 'unmatched');
  }
  await condition(allHandlersFinished);
  return status;

  function settle(paymentId: string, matchedBy: MatchedBy, offer: OfferOutcome): Promise<BankCreditStatus> {
    return settleBankCredit({
      // Funded already: an overpayment. Closed unfunded: a late credit, as the merchant's rule for unfunded transfers says.
      creditId, paymentId, matchedBy, applied: offer.outcome === 'applied' ? offer.applied : 0, customerId: offer.customerId, late: offer.outcome === 'closed',
    });
  }
}
