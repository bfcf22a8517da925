-- Up Migration

-- Reconciliation against the providers' settlement reports: one run per provider, mode and
-- report day (re-running a day updates the same run and items), the report's lines as fetched,
-- and one item per line or per local movement the report lacks, with its classification.
CREATE TABLE reconciliation_runs (
  id           text PRIMARY KEY,
  provider     text NOT NULL,
  livemode     boolean NOT NULL,
  report_date  date NOT NULL,
  -- running | completed | failed
  status       text NOT NULL,
  counts       jsonb NOT NULL DEFAULT '{}',
  totals       jsonb NOT NULL DEFAULT '[]',
  failure      text,
  attempts     integer NOT NULL DEFAULT 1,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  UNIQUE (provider, livemode, report_date)
);
CREATE INDEX reconciliation_runs_created ON reconciliation_runs (livemode, created_at DESC, id DESC);

CREATE TABLE reconciliation_lines (
  run_id             text NOT NULL REFERENCES reconciliation_runs(id),
  line_no            integer NOT NULL,
  line               jsonb NOT NULL,
  PRIMARY KEY (run_id, line_no)
);

CREATE TABLE reconciliation_items (
  id                 text PRIMARY KEY,
  run_id             text NOT NULL REFERENCES reconciliation_runs(id),
  -- The merchant whose payment it concerns; null for money we have no record of.
  merchant_id        text REFERENCES merchants(id),
  livemode           boolean NOT NULL,
  provider           text NOT NULL,
  status             text NOT NULL,
  payment_id         text,
  refund_id          text,
  provider_reference text,
  -- What the provider reported and what we recorded (amount, currency, fee, status).
  reported           jsonb,
  recorded           jsonb,
  message            text NOT NULL,
  resolution         text,
  note               text,
  resolved_at        timestamptz,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reconciliation_items_run ON reconciliation_items (run_id, status);
CREATE INDEX reconciliation_items_merchant ON reconciliation_items (merchant_id, livemode, created_at DESC, id DESC);

-- Down Migration
DROP TABLE reconciliation_items;
DROP TABLE reconciliation_lines;
DROP TABLE reconciliation_runs;
