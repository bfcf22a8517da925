/** Bank transfer objects as the API shows them. Pure types: the workflows import them. */

export const BANK_CREDIT_STATUSES = ['pending', 'applied', 'unmatched', 'customer_balance', 'returned'] as const;
export type BankCreditStatus = (typeof BANK_CREDIT_STATUSES)[number];

/** How a credit found its payment: its reference as written, its reference repaired (one swap), the payer's customer and the exact amount, or an operator. */
export type MatchedBy = 'reference' | 'reference_corrected' | 'customer_amount' | 'manual';

export type Payer = { name: string | null; account: string | null; bank_code: string | null };

export type BankCredit = {
  id: string;
  object: 'bank_credit';
  livemode: boolean;
  /** The bank's id of the credit: a credit seen twice (a feed and a statement, a retried webhook) is counted once. */
  credit_id: string;
  source: 'test_helper' | 'webhook' | 'statement' | 'sandbox';
  value_date: string;
  amount: number;
  currency: string;
  reference: string | null;
  payer: Payer;
  status: BankCreditStatus;
  matched_by: MatchedBy | null;
  payment_id: string | null;
  customer_id: string | null;
  amount_applied: number;
  /** What the payment did not need (or could no longer take): kept as the customer's balance or returned to the payer. */
  amount_excess: number;
  excess_to: 'customer_balance' | 'returned' | null;
  created_at: string;
  updated_at: string;
};

export type BankPayout = {
  id: string;
  object: 'bank_payout';
  livemode: boolean;
  /** `refund`: a refund of a funded transfer payment; `return`: money received that no payment keeps. */
  kind: 'refund' | 'return';
  payment_id: string | null;
  refund_id: string | null;
  credit_id: string | null;
  amount: number;
  currency: string;
  payee: Payer;
  reason: string;
  /** `paid` once an operator or the bank's statement confirms it left our account. */
  status: 'pending' | 'paid';
  created_at: string;
  paid_at: string | null;
};

export const FUNDS_POLICIES = ['return', 'customer_balance'] as const;
export type FundsPolicy = (typeof FUNDS_POLICIES)[number];

/**
 * What a merchant's transfers do: how long instructions stay valid, what happens to what was
 * received when a transfer expires underpaid (or a credit arrives after it closed), and to what
 * exceeds the amount. Money of a payment without a customer can only go back to the payer.
 */
export type BankTransferSettings = { expires_after_seconds: number; underpaid: FundsPolicy; overpaid: FundsPolicy };

/** A credit a payment took: from which credit, how much of it, and who paid it. */
export type FundsApplied = { creditId: string; amount: number; payer: Payer };
