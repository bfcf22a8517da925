-- Up Migration

-- Cross-border payments: reference rates as fetched (the ECB feed, refreshed by a schedule),
-- quotes that lock a rate, and the merchant's FX margin.
CREATE TABLE fx_rate_tables (
  id          bigserial PRIMARY KEY,
  source      text NOT NULL,
  as_of       date NOT NULL,
  fetched_at  timestamptz NOT NULL,
  -- 1 EUR = x, decimal strings
  rates       jsonb NOT NULL
);
CREATE INDEX fx_rate_tables_latest ON fx_rate_tables (source, fetched_at DESC);

CREATE TABLE fx_quotes (
  id                 text PRIMARY KEY,
  merchant_id        text NOT NULL REFERENCES merchants(id),
  livemode           boolean NOT NULL,
  from_currency      char(3) NOT NULL,
  to_currency        char(3) NOT NULL,
  mid_rate           text NOT NULL,
  rate               text NOT NULL,
  margin_bps         integer NOT NULL,
  amount             bigint,
  converted_amount   bigint,
  source             text NOT NULL,
  as_of              date NOT NULL,
  expires_at         timestamptz NOT NULL,
  -- The payment that locked it: a quote settles one payment.
  payment_id         text,
  created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fx_quotes_merchant_created ON fx_quotes (merchant_id, livemode, created_at DESC, id DESC);

ALTER TABLE merchants ADD COLUMN fx_margin_bps integer NOT NULL DEFAULT 0 CHECK (fx_margin_bps BETWEEN 0 AND 1000);
-- { quote_id, rate, mid_rate, settlement_currency, settlement_amount, settlement_amount_mid }
ALTER TABLE payments ADD COLUMN fx jsonb;

-- Down Migration
ALTER TABLE payments DROP COLUMN fx;
ALTER TABLE merchants DROP COLUMN fx_margin_bps;
DROP TABLE fx_quotes;
DROP TABLE fx_rate_tables;
