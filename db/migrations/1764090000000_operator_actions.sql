-- Up Migration

-- What operators did through the admin API, and why: the audit trail. Each row also becomes an
-- `operator.action` event of the merchant concerned.
CREATE TABLE operator_actions (
  id          text PRIMARY KEY,
  merchant_id text NOT NULL REFERENCES merchants(id),
  action      text NOT NULL CHECK (action IN ('retry_step', 'force_cancel', 'resend_event')),
  target_id   text NOT NULL,
  reason      text NOT NULL,
  outcome     text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX operator_actions_target ON operator_actions (target_id, created_at);

-- Down Migration
DROP TABLE operator_actions;
