-- Up Migration

-- An in-flight request holds its key until `locked_until`: a concurrent duplicate answers 409,
-- and a request that died without an answer is taken over by the client's retry after the lease.
ALTER TABLE idempotency_keys ADD COLUMN locked_until timestamptz;
-- Who holds the lease: only its holder may free the key or release the lease.
ALTER TABLE idempotency_keys ADD COLUMN lease_token text;
-- The request that made an endpoint's current secret: its rerun does not rotate a second time.
ALTER TABLE webhook_endpoints ADD COLUMN last_rotation_key text;

-- Down Migration
ALTER TABLE webhook_endpoints DROP COLUMN last_rotation_key;
ALTER TABLE idempotency_keys DROP COLUMN lease_token, DROP COLUMN locked_until;
