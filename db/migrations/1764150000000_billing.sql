-- Up Migration

-- Recurring billing. Customers, their saved payment methods and test clocks are written by the
-- API; subscriptions and invoices are read models of their workflows (versioned snapshots).

CREATE TABLE test_clocks (
  id           text PRIMARY KEY,
  merchant_id  text NOT NULL REFERENCES merchants(id),
  livemode     boolean NOT NULL DEFAULT false CHECK (NOT livemode),
  name         text,
  frozen_time  bigint NOT NULL,            -- unix seconds, as Stripe's
  status       text NOT NULL,              -- ready | advancing
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX test_clocks_merchant_created ON test_clocks (merchant_id, livemode, created_at DESC, id DESC);

CREATE TABLE customers (
  id                     text PRIMARY KEY,
  merchant_id            text NOT NULL REFERENCES merchants(id),
  livemode               boolean NOT NULL,
  email                  text,
  name                   text,
  metadata               jsonb NOT NULL DEFAULT '{}',
  test_clock_id          text REFERENCES test_clocks(id),
  default_payment_method text,
  -- Credit owed to the customer per currency (minor units, >= 0), applied to the next invoices.
  credit_balance         jsonb NOT NULL DEFAULT '{}',
  -- The provider's customer (Stripe cus_…) per provider, once a method is saved there.
  provider_customers     jsonb NOT NULL DEFAULT '{}',
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customers_merchant_created ON customers (merchant_id, livemode, created_at DESC, id DESC);
CREATE INDEX customers_clock ON customers (test_clock_id) WHERE test_clock_id IS NOT NULL;

-- Provider references only (a Stripe pm_…, a sandbox token): never card numbers.
CREATE TABLE customer_payment_methods (
  id                 text PRIMARY KEY,
  merchant_id        text NOT NULL REFERENCES merchants(id),
  livemode           boolean NOT NULL,
  customer_id        text NOT NULL REFERENCES customers(id),
  type               text NOT NULL,
  provider           text NOT NULL,
  provider_reference text NOT NULL,
  card               jsonb,
  created_at         timestamptz NOT NULL DEFAULT now(),
  detached_at        timestamptz
);
CREATE INDEX customer_payment_methods_customer ON customer_payment_methods (customer_id, created_at);

-- Every change of a customer's credit, keyed by what caused it, so a rerun changes nothing.
CREATE TABLE customer_balance_transactions (
  id          text PRIMARY KEY,
  customer_id text NOT NULL REFERENCES customers(id),
  currency    char(3) NOT NULL,
  amount      bigint NOT NULL,              -- > 0 adds credit, < 0 uses it
  reason      text NOT NULL,
  object_id   text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE subscriptions (
  id            text PRIMARY KEY,
  merchant_id   text NOT NULL REFERENCES merchants(id),
  livemode      boolean NOT NULL,
  customer_id   text NOT NULL REFERENCES customers(id),
  status        text NOT NULL,
  test_clock_id text,
  -- Test clock time (unix seconds) up to which the workflow has run everything due.
  clock_time    bigint,
  data          jsonb NOT NULL,
  version       integer NOT NULL,
  created_at    timestamptz NOT NULL
);
CREATE INDEX subscriptions_merchant_created ON subscriptions (merchant_id, livemode, created_at DESC, id DESC);
CREATE INDEX subscriptions_customer ON subscriptions (customer_id);
CREATE INDEX subscriptions_clock ON subscriptions (test_clock_id) WHERE test_clock_id IS NOT NULL;

CREATE TABLE invoices (
  id              text PRIMARY KEY,
  merchant_id     text NOT NULL REFERENCES merchants(id),
  livemode        boolean NOT NULL,
  customer_id     text NOT NULL,
  subscription_id text,
  status          text NOT NULL,
  data            jsonb NOT NULL,
  version         integer NOT NULL,
  created_at      timestamptz NOT NULL
);
CREATE INDEX invoices_merchant_created ON invoices (merchant_id, livemode, created_at DESC, id DESC);
CREATE INDEX invoices_subscription ON invoices (subscription_id, created_at DESC);

-- Dunning policy per merchant and mode.
CREATE TABLE billing_settings (
  merchant_id text NOT NULL REFERENCES merchants(id),
  livemode    boolean NOT NULL,
  dunning     jsonb NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (merchant_id, livemode)
);

-- An operator may charge a subscription's open invoices now.
ALTER TABLE operator_actions DROP CONSTRAINT operator_actions_action_check;
ALTER TABLE operator_actions ADD CONSTRAINT operator_actions_action_check CHECK (action IN ('retry_step', 'force_cancel', 'resend_event', 'retry_subscription'));

-- Down Migration
ALTER TABLE operator_actions DROP CONSTRAINT operator_actions_action_check;
ALTER TABLE operator_actions ADD CONSTRAINT operator_actions_action_check CHECK (action IN ('retry_step', 'force_cancel', 'resend_event'));
DROP TABLE billing_settings;
DROP TABLE invoices;
DROP TABLE subscriptions;
DROP TABLE customer_balance_transactions;
DROP TABLE customer_payment_methods;
DROP TABLE customers;
DROP TABLE test_clocks;
