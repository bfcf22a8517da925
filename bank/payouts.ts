import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Pool } from 'pg';
import type { BankPayout } from '../domain/bank';
import { findPayout, markPayoutPaid, toPayout } from '../db/bank';
import { Accounts, recordPosting } from '../db/ledger';
import { inTransaction } from '../db/pool';
import { paymentWorkflowId, refundNotificationSignal } from '../workflows/messages';

/**
 * A payout left our account (an operator says so, or the bank's statement shows it). A return
 * leaves the books here; a refund's payment is told, and its refund succeeds on its next look.
 * Confirming twice changes nothing.
 */
export async function confirmPayout(pool: Pool, temporal: Client, id: string): Promise<BankPayout | undefined> {
  const moved = await inTransaction(pool, async (client) => {
    const row = await markPayoutPaid(client, id);
    if (row?.kind === 'return') {
      await recordPosting(client, {
        id: `${row.id}:paid`, merchantId: row.merchant_id, livemode: row.livemode, ...(row.payment_id ? { paymentId: row.payment_id } : {}), ...(row.credit_id ? { creditId: row.credit_id } : {}),
        kind: 'payout_paid', currency: row.currency, amount: row.amount, debit: Accounts.payoutsPending, credit: Accounts.bankCash,
      });
    }
    return row;
  });
  const payout = moved ? toPayout(moved) : await findPayout(pool, id);
  if (payout?.kind === 'refund' && payout.payment_id && payout.refund_id && payout.status === 'paid') {
    try {
      await temporal.workflow.getHandle(paymentWorkflowId(payout.payment_id)).signal(refundNotificationSignal, {
        provider: 'bank', eventId: payout.id, paymentId: payout.payment_id, refundId: payout.refund_id, status: 'succeeded', amount: payout.amount,
      });
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
  return payout;
}
