/** Pure: the payment workflow names the accounts its postings move money between. */

/** Accounts of the double-entry ledger, per merchant and currency. */
export const Accounts = {
  /** Money the provider holds for us after a capture, until it settles (asset, debit-normal). */
  providerClearing: 'provider_clearing',
  /** What we owe the merchant (liability, credit-normal). */
  merchantPayable: 'merchant_payable',
  /** Where one currency turns into another for cross-border payments (per currency). */
  fxClearing: 'fx_clearing',
  /** Our FX margin: the mid-rate value of what the merchant is settled, less what it is owed. */
  fxRevenue: 'fx_revenue',
  /** Money on our receiving bank accounts (asset, debit-normal). */
  bankCash: 'bank_cash',
  /** Credits received and not yet applied to anything (liability). */
  unappliedCash: 'unapplied_cash',
  /** Credits applied to a transfer payment that is not funded yet (liability): the merchant's once captured. */
  transferFundsHeld: 'transfer_funds_held',
  /** Cash we hold for a customer, drawn by their later transfer payments (liability). */
  customerCashBalance: 'customer_cash_balance',
  /** Money owed back to a payer, until the bank confirms the payout (liability). */
  payoutsPending: 'payouts_pending',
  /** What providers kept as their fees (expense, debit-normal), as their settlement reports say: the merchant's balance is net of it. */
  providerFees: 'provider_fees',
} as const;

export type Account = (typeof Accounts)[keyof typeof Accounts];
