-- Up Migration

-- A money movement that cannot finish without a person (a refusal that is not a decline: revoked
-- credentials, a request the provider will never take) is flagged here instead of looping unseen.
ALTER TABLE payments ADD COLUMN attention jsonb;
ALTER TABLE refunds  ADD COLUMN attention jsonb;
CREATE INDEX payments_requiring_attention ON payments (merchant_id) WHERE attention IS NOT NULL;

-- Down Migration
DROP INDEX payments_requiring_attention;
ALTER TABLE refunds DROP COLUMN attention;
ALTER TABLE payments DROP COLUMN attention;
