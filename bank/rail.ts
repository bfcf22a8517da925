import type { Pool } from 'pg';
import { createPayout, findPayout, findTransfer, issueTransfer, outstandingTransfer, setTransferStatus } from '../db/bank';
import { derivedId } from '../domain/ids';
import type { NextAction } from '../domain/payment';
import type { AuthorizeRequest, PaymentProblem, PaymentShape, ProviderPaymentState, RefundRequest, RefundResult } from '../providers/provider';
import type { ReceivingAccounts } from './accounts';
import type { Payer } from '../domain/bank';

/**
 * What every bank transfer needs, whoever holds the receiving account (the sandbox's example
 * accounts in test mode, ours in live mode): instructions with a reference, the transfer's state,
 * and refunds as payouts to the payer's account, which count as done only once confirmed.
 */
export class BankRail {
  constructor(private readonly pool: Pool, private readonly accounts: ReceivingAccounts) {}

  problemWith(p: PaymentShape): PaymentProblem | undefined {
    if (p.methodType !== 'bank_transfer') return undefined;
    if (p.captureMethod === 'manual') {
      return { param: 'capture_method', code: 'parameter_invalid', message: 'Bank transfers are captured when the money arrives: capture_method must be automatic.' };
    }
    if (!this.accounts(p.currency)) {
      return { param: 'currency', code: 'currency_not_supported', message: `No receiving bank account is configured for ${p.currency} transfers (BANK_ACCOUNTS).` };
    }
    return undefined;
  }

  /** Issues (once per payment) the reference and the account the payer sends the money to. */
  async instructions(req: AuthorizeRequest): Promise<NextAction> {
    const address = this.accounts(req.currency);
    if (!address) throw new Error(`no receiving account for ${req.currency}`);
    const t = await issueTransfer(this.pool, {
      payment_id: req.paymentId, merchant_id: req.merchantId, livemode: req.livemode ?? false, currency: req.currency,
      financial_addresses: [address], expires_at: new Date(req.actionExpiresAt),
    });
    return {
      type: 'bank_transfer_instructions',
      reference: t.reference,
      expires_at: t.expires_at.toISOString(),
      display_bank_transfer_instructions: {
        reference: t.reference, amount_remaining: req.amount, currency: t.currency, financial_addresses: t.financial_addresses, expires_at: t.expires_at.toISOString(),
      },
    };
  }

  /** The reference and what is still owed, while the transfer waits for money. */
  outstanding(paymentId: string) {
    return outstandingTransfer(this.pool, paymentId);
  }

  funded(paymentId: string) {
    return setTransferStatus(this.pool, paymentId, 'funded');
  }

  closed(paymentId: string) {
    return setTransferStatus(this.pool, paymentId, 'closed');
  }

  async status(paymentId: string): Promise<ProviderPaymentState> {
    const t = await findTransfer(this.pool, paymentId);
    if (!t) return { status: 'unknown' };
    if (t.status === 'funded') {
      const { rows } = await this.pool.query<{ amount: number }>('SELECT amount FROM payments WHERE id = $1', [paymentId]);
      return { status: 'captured', reference: t.reference, amountCaptured: rows[0]?.amount ?? 0 };
    }
    return { status: t.status === 'closed' ? 'canceled' : 'requires_action', reference: t.reference };
  }

  /**
   * A refund goes back to the account that paid (the latest credit applied to the payment), as a
   * payout that stays pending until an operator or the bank's statement confirms it. The ledger
   * says which credits the payment took: it is written as the payment takes them, before it can
   * be captured, while the credit's own row says so only once its workflow settles it, and a
   * refund asked for in between would find no payer.
   */
  async refund(req: RefundRequest): Promise<RefundResult> {
    const id = derivedId('bpo', req.idempotencyKey);
    const existing = await findPayout(this.pool, id);
    if (existing) return existing.status === 'paid' ? { status: 'succeeded' } : { status: 'pending' };
    const { rows } = await this.pool.query<{ payer: Payer; merchant_id: string }>(
      `SELECT c.payer, c.merchant_id FROM ledger_postings lp JOIN bank_credits c ON c.id = lp.credit_id
       WHERE lp.payment_id = $1 AND lp.kind = 'credit_application' AND c.payer->>'account' IS NOT NULL ORDER BY lp.created_at DESC LIMIT 1`,
      [req.paymentId],
    );
    const payer = rows[0];
    if (!payer) return { status: 'declined', code: 'payer_account_unknown', message: "No payer's account is known for this transfer: nothing can be sent back." };
    await createPayout(this.pool, {
      id, merchant_id: payer.merchant_id, livemode: req.livemode ?? false, kind: 'refund', payment_id: req.paymentId, refund_id: req.refundId, credit_id: null,
      amount: req.amount, currency: req.currency, payee: payer.payer, reason: 'refund',
    });
    return { status: 'pending' };
  }
}
