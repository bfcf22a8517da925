-- Up Migration

-- A payment's postings are read by payment (refunds of transfers find the credits that funded
-- it; reconciliation finds a day's captures) and a refund's by refund: both were full scans.
CREATE INDEX ledger_postings_payment ON ledger_postings (payment_id) WHERE payment_id IS NOT NULL;
CREATE INDEX ledger_postings_refund ON ledger_postings (refund_id) WHERE refund_id IS NOT NULL;

-- Down Migration
DROP INDEX ledger_postings_refund;
DROP INDEX ledger_postings_payment;
