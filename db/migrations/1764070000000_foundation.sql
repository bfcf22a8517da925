-- Up Migration

CREATE TABLE merchants (
  id                  text PRIMARY KEY,
  name                text NOT NULL,
  settlement_currency char(3),
  -- Only the SHA-256 of the API key is stored; the key is shown once at creation.
  api_key_hash        text NOT NULL UNIQUE,
  created_at          timestamptz NOT NULL DEFAULT now()
);

-- Idempotency-Key records: the same key with the same body returns the same object.
-- The resource id is allocated before any side effect, so a retry after a crash reuses it.
CREATE TABLE idempotency_keys (
  scope           text NOT NULL,          -- merchant id, or 'admin'
  key             text NOT NULL,
  request_hash    text NOT NULL,
  resource_type   text NOT NULL,
  resource_id     text NOT NULL,
  response_status integer,                -- null while the first request is in flight
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- Read model, kept current by the PaymentWorkflow's activities (never by the API).
CREATE TABLE payments (
  id                 text PRIMARY KEY,
  merchant_id        text NOT NULL REFERENCES merchants(id),
  status             text NOT NULL,
  amount             bigint NOT NULL CHECK (amount > 0),
  currency           char(3) NOT NULL,
  amount_capturable  bigint NOT NULL CHECK (amount_capturable >= 0),
  amount_captured    bigint NOT NULL CHECK (amount_captured >= 0),
  amount_refunded    bigint NOT NULL CHECK (amount_refunded >= 0 AND amount_refunded <= amount_captured),
  capture_method     text NOT NULL,
  payment_method     jsonb NOT NULL,
  provider           text NOT NULL,
  provider_reference text,
  channel            text NOT NULL,
  next_action        jsonb,
  failure            jsonb,
  customer_id        text,
  description        text,
  metadata           jsonb NOT NULL DEFAULT '{}',
  return_url         text,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL,
  version            integer NOT NULL
);
CREATE INDEX payments_merchant_created ON payments (merchant_id, created_at DESC, id DESC);
CREATE INDEX payments_merchant_status ON payments (merchant_id, status, created_at DESC);
CREATE INDEX payments_merchant_customer ON payments (merchant_id, customer_id, created_at DESC);

CREATE TABLE refunds (
  id          text PRIMARY KEY,
  merchant_id text NOT NULL REFERENCES merchants(id),
  payment_id  text NOT NULL REFERENCES payments(id),
  amount      bigint NOT NULL CHECK (amount > 0),
  currency    char(3) NOT NULL,
  status      text NOT NULL,
  reason      text,
  failure     jsonb,
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL
);
CREATE INDEX refunds_merchant_created ON refunds (merchant_id, created_at DESC, id DESC);
CREATE INDEX refunds_payment ON refunds (payment_id, created_at DESC);

-- Double-entry ledger. Amounts are signed minor units: debit > 0, credit < 0.
-- A posting id is derived from the payment and the operation, so recording twice is a no-op.
CREATE TABLE ledger_postings (
  id          text PRIMARY KEY,
  merchant_id text NOT NULL REFERENCES merchants(id),
  payment_id  text NOT NULL,
  refund_id   text,
  kind        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger_entries (
  id          bigserial PRIMARY KEY,
  posting_id  text NOT NULL REFERENCES ledger_postings(id),
  merchant_id text NOT NULL REFERENCES merchants(id),
  account     text NOT NULL,
  currency    char(3) NOT NULL,
  amount      bigint NOT NULL CHECK (amount <> 0)
);
CREATE INDEX ledger_entries_merchant_account ON ledger_entries (merchant_id, account, currency);
CREATE INDEX ledger_entries_posting ON ledger_entries (posting_id);

-- Every posting balances per currency, checked at commit.
CREATE FUNCTION ledger_posting_balances() RETURNS trigger AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM ledger_entries WHERE posting_id = NEW.posting_id
    GROUP BY currency HAVING sum(amount) <> 0
  ) THEN
    RAISE EXCEPTION 'ledger posting % does not balance', NEW.posting_id;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER ledger_entries_balanced
  AFTER INSERT OR UPDATE ON ledger_entries
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION ledger_posting_balances();

-- Inbound provider callbacks already processed (deduplicated by the provider's event id).
CREATE TABLE provider_events (
  provider    text NOT NULL,
  event_id    text NOT NULL,
  payment_id  text,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider, event_id)
);

-- The sandbox processor's own books: what a real processor would hold on its side.
CREATE TABLE sandbox_payments (
  reference            text PRIMARY KEY,
  payment_id           text NOT NULL UNIQUE,
  merchant_id          text NOT NULL,
  method_type          text NOT NULL,
  token                text NOT NULL,
  status               text NOT NULL,
  amount               bigint NOT NULL,
  currency             char(3) NOT NULL,
  amount_captured      bigint NOT NULL DEFAULT 0,
  amount_refunded      bigint NOT NULL DEFAULT 0,
  customer_completes_at timestamptz,
  action_expires_at    timestamptz,
  failure_code         text,
  created_at           timestamptz NOT NULL DEFAULT now()
);

-- One row per effect actually applied; the unique key makes a repeated call a no-op.
CREATE TABLE sandbox_charges (
  id              text PRIMARY KEY,
  reference       text NOT NULL REFERENCES sandbox_payments(reference),
  payment_id      text NOT NULL,
  operation       text NOT NULL CHECK (operation IN ('authorize', 'capture', 'void', 'refund')),
  amount          bigint NOT NULL,
  currency        char(3) NOT NULL,
  idempotency_key text NOT NULL UNIQUE,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sandbox_charges_payment ON sandbox_charges (payment_id, created_at);

-- Calls seen per idempotency key, to script faults such as "503 twice, then succeed".
CREATE TABLE sandbox_attempts (
  idempotency_key text PRIMARY KEY,
  attempts        integer NOT NULL
);

-- Down Migration
DROP TABLE sandbox_attempts, sandbox_charges, sandbox_payments, provider_events,
  ledger_entries, ledger_postings, refunds, payments, idempotency_keys, merchants;
DROP FUNCTION ledger_posting_balances();
