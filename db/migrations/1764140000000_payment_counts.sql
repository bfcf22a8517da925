-- Up Migration

-- Payment counts for /metrics, kept by a trigger so a scrape reads a few hundred rows instead
-- of grouping the whole payments table. Each payment always lands in the same one of 16 shards
-- (by its id), so concurrent payments rarely wait on the same counter row.
CREATE TABLE payment_status_counts (
  shard     smallint NOT NULL,
  status    text     NOT NULL,
  provider  text     NOT NULL,
  method    text     NOT NULL,
  livemode  boolean  NOT NULL,
  n         bigint   NOT NULL DEFAULT 0,
  PRIMARY KEY (status, provider, method, livemode, shard)
);

CREATE FUNCTION count_payment_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE payment_status_counts SET n = n - 1
     WHERE shard = abs(hashtext(OLD.id)) % 16 AND status = OLD.status AND provider = OLD.provider
       AND method = coalesce(OLD.payment_method->>'type', '') AND livemode = OLD.livemode;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO payment_status_counts AS c (shard, status, provider, method, livemode, n)
    VALUES (abs(hashtext(NEW.id)) % 16, NEW.status, NEW.provider, coalesce(NEW.payment_method->>'type', ''), NEW.livemode, 1)
    ON CONFLICT (status, provider, method, livemode, shard) DO UPDATE SET n = c.n + 1;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER payments_count_insert_delete AFTER INSERT OR DELETE ON payments
  FOR EACH ROW EXECUTE FUNCTION count_payment_status();
-- Only a change of a counted column moves a payment between counters.
CREATE TRIGGER payments_count_update AFTER UPDATE ON payments
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.provider IS DISTINCT FROM NEW.provider
                     OR OLD.livemode IS DISTINCT FROM NEW.livemode
                     OR OLD.payment_method->>'type' IS DISTINCT FROM NEW.payment_method->>'type')
  EXECUTE FUNCTION count_payment_status();

INSERT INTO payment_status_counts (shard, status, provider, method, livemode, n)
SELECT abs(hashtext(id)) % 16, status, provider, coalesce(payment_method->>'type', ''), livemode, count(*)
  FROM payments GROUP BY 1, 2, 3, 4, 5;

-- Down Migration
DROP TRIGGER payments_count_update ON payments;
DROP TRIGGER payments_count_insert_delete ON payments;
DROP FUNCTION count_payment_status();
DROP TABLE payment_status_counts;
