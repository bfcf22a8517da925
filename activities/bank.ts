import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { Pool, PoolClient } from 'pg';
import { possibleReferences } from '../bank/reference';
import type { CreditRow } from '../db/bank';
import {
  claimCredit, createPayout, customersOfPayer, findCredit, findTransferByReference, learnPayerAccount, oldestOpenTransfer, transferSettings, updateCredit,
} from '../db/bank';
import { moveCredit } from '../db/billing';
import { Accounts, recordPosting } from '../db/ledger';
import type { Posting } from '../db/ledger';
import { inTransaction } from '../db/pool';
import type { Account } from '../domain/accounts';
import type { BankCredit, FundsApplied, MatchedBy } from '../domain/bank';
import { FailureTypes } from '../domain/errors';
import { derivedId } from '../domain/ids';
import { fundPaymentUpdate, paymentWorkflowId } from '../workflows/messages';

/** Where a credit goes: a payment (and how it was found), or nowhere yet (an operator decides). */
export type CreditMatch = { paymentId: string; merchantId: string; matchedBy: MatchedBy } | { paymentId: null };

/** What a payment did with a credit offered to it. */
export type OfferOutcome = { outcome: 'applied'; applied: number; customerId: string | null } | { outcome: 'closed' | 'funded' | 'refused'; message: string; customerId: string | null };

const posting = (p: Omit<Posting, 'kind' | 'debit' | 'credit'>, kind: Posting['kind'], debit: Account, credit: Account): Posting => ({ ...p, kind, debit, credit });

/** Money of a merchant's customer kept as their cash balance, or returned to the payer as a payout. */
async function keepOrReturn(
  client: PoolClient,
  m: { merchantId: string; livemode: boolean; currency: string; customerId: string | null; paymentId: string | null; creditId: string | null },
  amount: number, keep: boolean, from: Account, key: string, payee: BankCredit['payer'], reason: string,
): Promise<'customer_balance' | 'returned'> {
  const base = { merchantId: m.merchantId, livemode: m.livemode, currency: m.currency, amount, ...(m.paymentId ? { paymentId: m.paymentId } : {}), ...(m.creditId ? { creditId: m.creditId } : {}) };
  if (keep && m.customerId) {
    await moveCredit(client, m.customerId, m.currency, amount, derivedId('cbtxn', key), reason, m.paymentId ?? m.creditId ?? key, 'cash');
    await recordPosting(client, posting({ ...base, id: `${key}:to_balance` }, 'to_customer_balance', from, Accounts.customerCashBalance));
    return 'customer_balance';
  }
  await createPayout(client, {
    id: derivedId('bpo', key), merchant_id: m.merchantId, livemode: m.livemode, kind: 'return', payment_id: m.paymentId, refund_id: null, credit_id: m.creditId,
    amount, currency: m.currency, payee, reason,
  });
  await recordPosting(client, posting({ ...base, id: `${key}:return` }, 'return', from, Accounts.payoutsPending));
  return 'returned';
}

export function createBankActivities(pool: Pool) {
  const loadCredit = async (id: string): Promise<CreditRow> => {
    const c = await findCredit(pool, id);
    if (!c) throw ApplicationFailure.nonRetryable(`no bank credit ${id}`, 'NotFound');
    return c;
  };

  return {
    /** Draws the customer's cash balance for a new transfer payment; returns what it took. */
    async drawCustomerCash(req: { paymentId: string; merchantId: string; livemode: boolean; customerId: string; currency: string; amount: number }): Promise<number> {
      return inTransaction(pool, async (client) => {
        const owned = await client.query('SELECT 1 FROM customers WHERE id = $1 AND merchant_id = $2 AND livemode = $3', [req.customerId, req.merchantId, req.livemode]);
        if (owned.rowCount === 0) return 0;
        const drawn = -(await moveCredit(client, req.customerId, req.currency, -req.amount, derivedId('cbtxn', req.paymentId, 'cash_drawn'), 'transfer_payment', req.paymentId, 'cash'));
        if (drawn > 0) {
          await recordPosting(client, posting(
            { id: `${req.paymentId}:cash_drawn`, merchantId: req.merchantId, livemode: req.livemode, paymentId: req.paymentId, currency: req.currency, amount: drawn },
            'balance_application', Accounts.customerCashBalance, Accounts.transferFundsHeld,
          ));
        }
        return drawn;
      });
    },

    /**
     * A transfer closed before it was funded: the customer's cash it drew goes back to their
     * balance; each credit goes back to its payer, or to the customer's balance when the
     * merchant's policy says so.
     */
    async returnTransferFunds(req: { paymentId: string; merchantId: string; livemode: boolean; customerId: string | null; currency: string; funds: FundsApplied[]; drawn: number }): Promise<void> {
      const settings = await transferSettings(pool, { merchantId: req.merchantId, livemode: req.livemode }, 0);
      await inTransaction(pool, async (client) => {
        const m = { merchantId: req.merchantId, livemode: req.livemode, currency: req.currency, customerId: req.customerId, paymentId: req.paymentId };
        if (req.drawn > 0) await keepOrReturn(client, { ...m, creditId: null }, req.drawn, true, Accounts.transferFundsHeld, `${req.paymentId}:cash_restored`, { name: null, account: null, bank_code: null }, 'transfer_closed');
        for (const f of req.funds) {
          await keepOrReturn(client, { ...m, creditId: f.creditId }, f.amount, settings.underpaid === 'customer_balance', Accounts.transferFundsHeld, `${req.paymentId}:${f.creditId}`, f.payer, 'transfer_closed');
        }
      });
    },

    /** By reference (as written, or with one swap undone), then by the payer's customer and the exact amount. */
    async matchBankCredit(creditId: string): Promise<CreditMatch> {
      const c = await loadCredit(creditId);
      let match: CreditMatch = { paymentId: null };
      // Of the references the text may mean, the one that names an open transfer in the credit's currency.
      const named: CreditMatch[] = [];
      for (const meant of c.reference ? possibleReferences(c.reference) : []) {
        const t = await findTransferByReference(pool, c.livemode, meant.reference, c.scope_merchant);
        if (t && t.currency === c.currency) named.push({ paymentId: t.payment_id, merchantId: t.merchant_id, matchedBy: meant.corrected ? 'reference_corrected' : 'reference' });
      }
      if (named.length === 1) match = named[0]!;
      if (!match.paymentId && c.payer.account) {
        const customers = await customersOfPayer(pool, c.livemode, c.payer.account, c.scope_merchant);
        // An account that paid for several customers says nothing about which one this is.
        if (customers.length === 1) {
          const { merchant_id: merchantId, customer_id: customerId } = customers[0]!;
          const paymentId = await oldestOpenTransfer(pool, { merchantId, livemode: c.livemode, customerId, currency: c.currency, amount: c.amount });
          if (paymentId) match = { paymentId, merchantId, matchedBy: 'customer_amount' };
        }
      }
      if (match.paymentId) await inTransaction(pool, (client) => claimCredit(client, c, match.merchantId));
      return match;
    },

    /** Offers the credit to its payment's workflow, which takes what it still needs. */
    async offerCreditToPayment(req: { creditId: string; paymentId: string }): Promise<OfferOutcome> {
      const c = await loadCredit(req.creditId);
      // The payment's customer, only if it is the payment's merchant's in the payment's mode.
      const { rows } = await pool.query<{ customer_id: string | null }>(
        'SELECT c.id AS customer_id FROM payments p JOIN customers c ON c.id = p.customer_id AND c.merchant_id = p.merchant_id AND c.livemode = p.livemode WHERE p.id = $1',
        [req.paymentId],
      );
      const customerId = rows[0]?.customer_id ?? null;
      // Taken already (an earlier attempt whose answer was lost, before the payment closed): that is the answer.
      const taken = await pool.query<{ amount: number }>(
        `SELECT le.amount FROM ledger_entries le WHERE le.posting_id = $1 AND le.account = $2`, [`${req.paymentId}:credit:${c.id}`, Accounts.unappliedCash],
      );
      if (taken.rows[0]) return { outcome: 'applied', applied: taken.rows[0].amount, customerId };
      try {
        const { applied } = await Context.current().client.workflow.getHandle(paymentWorkflowId(req.paymentId)).executeUpdate(fundPaymentUpdate, {
          args: [{ creditId: c.id, amount: c.amount, currency: c.currency, payer: c.payer }],
          updateId: `fund:${c.id}`,
        });
        return { outcome: 'applied', applied, customerId };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return { outcome: 'closed', message: 'The payment is closed.', customerId };
        if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && err.cause.type === FailureTypes.paymentFunded) {
          return { outcome: 'funded', message: err.cause.message, customerId };
        }
        if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && err.cause.type === FailureTypes.invalidState) {
          const currency = /is in [A-Z]{3}, the credit in/.test(err.cause.message);
          return { outcome: currency ? 'refused' : 'closed', message: err.cause.message, customerId };
        }
        throw err;
      }
    },

    /**
     * Writes where the credit went. What the payment did not take (an overpayment, or a payment
     * that had closed) is kept as the customer's balance or returned, by the merchant's policy.
     */
    async settleBankCredit(req: { creditId: string; paymentId: string | null; matchedBy: MatchedBy | null; applied: number; customerId: string | null; late: boolean }): Promise<BankCredit['status']> {
      const c = await loadCredit(req.creditId);
      if (c.status !== 'pending' && c.status !== 'unmatched') return c.status;
      if (!req.paymentId) {
        await updateCredit(pool, c.id, { status: 'unmatched' });
        return 'unmatched';
      }
      const merchantId = c.merchant_id!;
      const settings = await transferSettings(pool, { merchantId, livemode: c.livemode }, 0);
      const excess = c.amount - req.applied;
      return inTransaction(pool, async (client) => {
        let excessTo: BankCredit['excess_to'] = null;
        if (excess > 0) {
          // After the payment closed, the merchant's rule for unfunded transfers applies; before, the one for overpayments.
          const keep = (req.late ? settings.underpaid : settings.overpaid) === 'customer_balance';
          excessTo = await keepOrReturn(
            client, { merchantId, livemode: c.livemode, currency: c.currency, customerId: req.customerId, paymentId: req.paymentId, creditId: c.id },
            excess, keep, Accounts.unappliedCash, `${c.id}:excess`, c.payer, req.late ? 'payment_closed' : 'overpayment',
          );
        }
        const status: BankCredit['status'] = req.applied > 0 ? 'applied' : excessTo!;
        await updateCredit(client, c.id, {
          status, merchantId, matchedBy: req.matchedBy, paymentId: req.paymentId, customerId: req.customerId, amountApplied: req.applied, amountExcess: excess, excessTo,
        });
        if (req.applied > 0 && req.customerId && c.payer.account) await learnPayerAccount(client, merchantId, c.livemode, c.payer.account, req.customerId);
        return status;
      });
    },

    /** An operator's apply: the credit enters the payment's merchant's books first. */
    async claimCreditFor(req: { creditId: string; paymentId: string }): Promise<void> {
      const c = await loadCredit(req.creditId);
      const { rows } = await pool.query<{ merchant_id: string }>('SELECT merchant_id FROM payments WHERE id = $1', [req.paymentId]);
      if (!rows[0]) throw ApplicationFailure.nonRetryable(`no payment ${req.paymentId}`, 'NotFound');
      await inTransaction(pool, (client) => claimCredit(client, c, rows[0]!.merchant_id));
    },
  };
}

export type BankActivities = ReturnType<typeof createBankActivities>;
