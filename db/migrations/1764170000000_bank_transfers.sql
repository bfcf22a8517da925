-- Up Migration

-- Bank transfer payments: the funding instructions issued for each (a reference with a check
-- digit, the receiving account), the credits that arrive on the receiving accounts and what
-- they were applied to, money going back out (refunds and returns) as payouts, and the
-- customers' cash balances that excess transfers build up.

ALTER TABLE payments ADD COLUMN amount_received bigint;

CREATE TABLE bank_transfers (
  payment_id          text PRIMARY KEY,
  merchant_id         text NOT NULL REFERENCES merchants(id),
  livemode            boolean NOT NULL,
  reference           text NOT NULL UNIQUE,
  currency            char(3) NOT NULL,
  financial_addresses jsonb NOT NULL,
  expires_at          timestamptz NOT NULL,
  -- open | funded | closed
  status              text NOT NULL DEFAULT 'open',
  created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE bank_credits (
  id             text PRIMARY KEY,
  livemode       boolean NOT NULL,
  -- Null: arrived on the platform's account (webhook feed); known once a payment of a merchant is matched.
  merchant_id    text REFERENCES merchants(id),
  -- Whose feed it came from: a merchant's own (test helper, its statement import) or the platform's.
  scope_merchant text REFERENCES merchants(id),
  credit_id      text NOT NULL,
  source         text NOT NULL,
  value_date     date NOT NULL,
  amount         bigint NOT NULL CHECK (amount > 0),
  currency       char(3) NOT NULL,
  reference      text,
  payer          jsonb NOT NULL DEFAULT '{}',
  -- pending (being matched) | applied | unmatched | customer_balance | returned
  status         text NOT NULL DEFAULT 'pending',
  -- reference | reference_corrected | customer_amount | manual
  matched_by     text,
  payment_id     text,
  customer_id    text,
  amount_applied bigint NOT NULL DEFAULT 0,
  -- What was not applied to the payment: kept as customer balance or returned to the payer.
  amount_excess  bigint NOT NULL DEFAULT 0,
  -- customer_balance | returned
  excess_to      text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
-- A bank's id is unique on its account: per mode and feed (a merchant's own, or the platform's).
CREATE UNIQUE INDEX bank_credits_bank_id ON bank_credits (livemode, (COALESCE(scope_merchant, '')), credit_id);
CREATE INDEX bank_credits_merchant ON bank_credits (merchant_id, livemode, created_at DESC, id DESC);
CREATE INDEX bank_credits_scope ON bank_credits (scope_merchant, livemode, created_at DESC, id DESC);
CREATE INDEX bank_credits_payment ON bank_credits (payment_id) WHERE payment_id IS NOT NULL;

CREATE TABLE bank_payouts (
  id          text PRIMARY KEY,
  merchant_id text NOT NULL REFERENCES merchants(id),
  livemode    boolean NOT NULL,
  -- refund: a refund of a funded payment; return: money received that no payment keeps
  kind        text NOT NULL CHECK (kind IN ('refund', 'return')),
  payment_id  text,
  refund_id   text,
  credit_id   text,
  amount      bigint NOT NULL CHECK (amount > 0),
  currency    char(3) NOT NULL,
  payee       jsonb NOT NULL,
  reason      text NOT NULL,
  -- pending | paid
  status      text NOT NULL DEFAULT 'pending',
  created_at  timestamptz NOT NULL DEFAULT now(),
  paid_at     timestamptz
);
CREATE INDEX bank_payouts_merchant ON bank_payouts (merchant_id, livemode, created_at DESC, id DESC);

-- Payer accounts seen paying a customer's payments: a credit from one without a usable
-- reference is matched to that customer's open payment of the same amount.
CREATE TABLE customer_payer_accounts (
  merchant_id text NOT NULL REFERENCES merchants(id),
  livemode    boolean NOT NULL,
  account     text NOT NULL,
  customer_id text NOT NULL REFERENCES customers(id),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (merchant_id, livemode, account, customer_id)
);

CREATE TABLE bank_transfer_settings (
  merchant_id           text NOT NULL REFERENCES merchants(id),
  livemode              boolean NOT NULL,
  expires_after_seconds integer NOT NULL,
  underpaid             text NOT NULL CHECK (underpaid IN ('return', 'customer_balance')),
  overpaid              text NOT NULL CHECK (overpaid IN ('return', 'customer_balance')),
  PRIMARY KEY (merchant_id, livemode)
);

-- Cash received for a customer and not yet used (per currency), apart from invoice credit.
ALTER TABLE customers ADD COLUMN cash_balance jsonb NOT NULL DEFAULT '{}';
ALTER TABLE customer_balance_transactions ADD COLUMN balance text NOT NULL DEFAULT 'credit';

-- Credits and payouts are postings too: not every posting belongs to a payment.
ALTER TABLE ledger_postings ALTER COLUMN payment_id DROP NOT NULL;
ALTER TABLE ledger_postings ADD COLUMN credit_id text;

ALTER TABLE operator_actions DROP CONSTRAINT operator_actions_action_check;
ALTER TABLE operator_actions ADD CONSTRAINT operator_actions_action_check CHECK (action IN ('retry_step', 'force_cancel', 'resend_event', 'retry_subscription', 'apply_bank_credit', 'confirm_bank_payout'));

-- Down Migration
ALTER TABLE operator_actions DROP CONSTRAINT operator_actions_action_check;
ALTER TABLE operator_actions ADD CONSTRAINT operator_actions_action_check CHECK (action IN ('retry_step', 'force_cancel', 'resend_event', 'retry_subscription'));
ALTER TABLE ledger_postings DROP COLUMN credit_id;
ALTER TABLE customer_balance_transactions DROP COLUMN balance;
ALTER TABLE customers DROP COLUMN cash_balance;
DROP TABLE bank_transfer_settings;
DROP TABLE customer_payer_accounts;
DROP TABLE bank_payouts;
DROP TABLE bank_credits;
DROP TABLE bank_transfers;
ALTER TABLE payments DROP COLUMN amount_received;
