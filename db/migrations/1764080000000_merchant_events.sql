-- Up Migration

ALTER TABLE payments ADD COLUMN receipt_email text;

-- Merchant events: a transactional outbox written in the same transaction as the state change
-- it reports. Ids are derived from the object and the event type, so recording twice is a no-op.
CREATE TABLE events (
  id            text PRIMARY KEY,
  merchant_id   text NOT NULL REFERENCES merchants(id),
  type          text NOT NULL,
  object_id     text NOT NULL,
  -- Increases with every event: receivers drop an event older than the last one they applied.
  sequence      bigserial NOT NULL UNIQUE,
  data          jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- Set once deliveries (and receipts) have been started for it; null rows are still to fan out.
  dispatched_at timestamptz
);
CREATE INDEX events_merchant_created ON events (merchant_id, created_at DESC, id DESC);
CREATE INDEX events_merchant_object ON events (merchant_id, object_id, created_at DESC);
CREATE INDEX events_undispatched ON events (created_at) WHERE dispatched_at IS NULL;

CREATE TABLE webhook_endpoints (
  id                         text PRIMARY KEY,
  merchant_id                text NOT NULL REFERENCES merchants(id),
  url                        text NOT NULL,
  -- Event types it receives; '*' for all, 'payment.*' for a family.
  events                     text[] NOT NULL,
  description                text,
  status                     text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
  disabled_reason            text,
  -- Signing secrets sealed with the payload keys (AES-256-GCM): never stored in plain text.
  secret_sealed              text NOT NULL,
  previous_secret_sealed     text,
  previous_secret_expires_at timestamptz,
  last_success_at            timestamptz,
  created_at                 timestamptz NOT NULL DEFAULT now(),
  updated_at                 timestamptz NOT NULL DEFAULT now(),
  deleted_at                 timestamptz
);
CREATE INDEX webhook_endpoints_merchant ON webhook_endpoints (merchant_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;

-- One delivery per (event, endpoint), plus one per resend; each run by its own workflow.
CREATE TABLE webhook_deliveries (
  id              text PRIMARY KEY,
  event_id        text NOT NULL REFERENCES events(id),
  endpoint_id     text NOT NULL REFERENCES webhook_endpoints(id),
  merchant_id     text NOT NULL REFERENCES merchants(id),
  reason          text NOT NULL CHECK (reason IN ('event', 'resend')),
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
  attempt_count   integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  completed_at    timestamptz
);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id, created_at);

CREATE TABLE webhook_attempts (
  delivery_id  text NOT NULL REFERENCES webhook_deliveries(id),
  attempt      integer NOT NULL,
  attempted_at timestamptz NOT NULL,
  status_code  integer,
  latency_ms   integer NOT NULL,
  error        text,
  PRIMARY KEY (delivery_id, attempt)
);

-- Receipts sent to payers, one per event at most.
CREATE TABLE receipts (
  event_id   text PRIMARY KEY REFERENCES events(id),
  payment_id text NOT NULL,
  message_id text NOT NULL,
  sent_at    timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE receipts, webhook_attempts, webhook_deliveries, webhook_endpoints, events;
ALTER TABLE payments DROP COLUMN receipt_email;
