-- Up Migration

-- Risk checks before authorization: each merchant's rules per mode, the payments counted into
-- velocity windows (keyed by hashes of the payer's address, email, customer or card, never the
-- values), and what the check decided for each payment.
CREATE TABLE risk_rules (
  merchant_id text NOT NULL REFERENCES merchants(id),
  livemode    boolean NOT NULL,
  rules       jsonb NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (merchant_id, livemode)
);

CREATE TABLE risk_velocity (
  payment_id  text NOT NULL,
  key_type    text NOT NULL,
  merchant_id text NOT NULL REFERENCES merchants(id),
  livemode    boolean NOT NULL,
  key_value   text NOT NULL,
  amount      bigint NOT NULL,
  currency    char(3) NOT NULL,
  at          timestamptz NOT NULL,
  -- The order payments were counted in (under the key's lock): a payment counts those before it, however their clocks disagree.
  seq         bigserial NOT NULL,
  PRIMARY KEY (payment_id, key_type)
);
CREATE INDEX risk_velocity_window ON risk_velocity (merchant_id, livemode, key_type, key_value, at);

ALTER TABLE payments ADD COLUMN risk jsonb;

-- Down Migration
ALTER TABLE payments DROP COLUMN risk;
DROP TABLE risk_velocity;
DROP TABLE risk_rules;
