import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Pool } from 'pg';
import type { CreditRow } from '../db/bank';
import { claimCredit, creditRowId, insertCredit, toCredit } from '../db/bank';
import { inTransaction } from '../db/pool';
import type { BankCredit, Payer } from '../domain/bank';
import { bankCreditWorkflow, bankCreditWorkflowId } from '../workflows/bank-credit.workflow';

export type IncomingCredit = { credit_id: string; value_date: string; amount: number; currency: string; reference: string | null; payer: Payer };

export type CreditIntake = { pool: Pool; temporal: Client; taskQueue: string };

/**
 * Where every credit arrives, whatever told us (a test helper, the bank's webhook, a statement,
 * the sandbox's payer): stored once per (mode, bank id), then matched by its own workflow. A
 * credit seen again is not counted again; one still unmatched after a crash is started again.
 */
export async function receiveCredits(
  intake: CreditIntake,
  credits: IncomingCredit[],
  scope: { livemode: boolean; merchantId: string | null; source: BankCredit['source'] },
): Promise<{ credit: BankCredit; duplicate: boolean }[]> {
  const received: { credit: BankCredit; duplicate: boolean }[] = [];
  for (const c of credits) {
    const { row, inserted } = await inTransaction(intake.pool, async (client) => {
      const stored = await insertCredit(client, {
        id: creditRowId(scope.livemode, scope.merchantId, c.credit_id), livemode: scope.livemode, scopeMerchant: scope.merchantId, creditId: c.credit_id,
        source: scope.source, valueDate: c.value_date, amount: c.amount, currency: c.currency, reference: c.reference, payer: c.payer,
      });
      if (stored.inserted && scope.merchantId) await claimCredit(client, stored.row, scope.merchantId);
      return stored;
    });
    if (row.status === 'pending') await startMatching(intake, row);
    received.push({ credit: toCredit(row), duplicate: !inserted });
  }
  return received;
}

async function startMatching(intake: CreditIntake, row: CreditRow): Promise<void> {
  try {
    await intake.temporal.workflow.start(bankCreditWorkflow, {
      workflowId: bankCreditWorkflowId(row.id),
      taskQueue: intake.taskQueue,
      args: [{ creditId: row.id }],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}
