-- Up Migration

-- Test and live modes (as Stripe's): a merchant has one key per mode, and every object belongs
-- to the mode of the key that made it. Existing rows were all made with test keys.
ALTER TABLE merchants ADD COLUMN live_api_key_hash text UNIQUE;

ALTER TABLE payments          ADD COLUMN livemode boolean NOT NULL DEFAULT false;
ALTER TABLE payments          ADD COLUMN routing jsonb;
ALTER TABLE refunds           ADD COLUMN livemode boolean NOT NULL DEFAULT false;
ALTER TABLE events            ADD COLUMN livemode boolean NOT NULL DEFAULT false;
ALTER TABLE webhook_endpoints ADD COLUMN livemode boolean NOT NULL DEFAULT false;
ALTER TABLE ledger_postings   ADD COLUMN livemode boolean NOT NULL DEFAULT false;
ALTER TABLE ledger_entries    ADD COLUMN livemode boolean NOT NULL DEFAULT false;

CREATE INDEX payments_merchant_mode_created ON payments (merchant_id, livemode, created_at DESC, id DESC);
CREATE INDEX refunds_merchant_mode_created ON refunds (merchant_id, livemode, created_at DESC, id DESC);
CREATE INDEX events_merchant_mode_created ON events (merchant_id, livemode, created_at DESC, id DESC);
CREATE INDEX ledger_entries_merchant_mode_account ON ledger_entries (merchant_id, livemode, account, currency);

-- Routing rules per merchant and mode: the whole document, validated by the API before it is saved.
CREATE TABLE routing_configs (
  merchant_id text NOT NULL REFERENCES merchants(id),
  livemode    boolean NOT NULL,
  config      jsonb NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (merchant_id, livemode)
);

-- Provider health, where every worker and API process sees it: a circuit breaker per provider and mode.
CREATE TABLE provider_health (
  provider             text NOT NULL,
  livemode             boolean NOT NULL,
  state                text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
  consecutive_failures integer NOT NULL DEFAULT 0,
  opened_at            timestamptz,
  -- While half-open, the one call allowed through to probe the provider, and until when it may hold the probe.
  probe_until          timestamptz,
  last_failure         text,
  last_failure_at      timestamptz,
  last_success_at      timestamptz,
  updated_at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider, livemode)
);

-- Down Migration
DROP TABLE provider_health, routing_configs;
DROP INDEX payments_merchant_mode_created, refunds_merchant_mode_created, events_merchant_mode_created, ledger_entries_merchant_mode_account;
ALTER TABLE ledger_entries DROP COLUMN livemode;
ALTER TABLE ledger_postings DROP COLUMN livemode;
ALTER TABLE webhook_endpoints DROP COLUMN livemode;
ALTER TABLE events DROP COLUMN livemode;
ALTER TABLE refunds DROP COLUMN livemode;
ALTER TABLE payments DROP COLUMN routing, DROP COLUMN livemode;
ALTER TABLE merchants DROP COLUMN live_api_key_hash;
