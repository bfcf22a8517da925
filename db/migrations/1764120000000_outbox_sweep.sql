-- Up Migration

-- When a delivery's workflow was started: the outbox sweep looks for deliveries never started
-- (a crash between recording and starting), not for deliveries merely not attempted yet.
ALTER TABLE webhook_deliveries ADD COLUMN started_at timestamptz;
UPDATE webhook_deliveries SET started_at = created_at WHERE attempt_count > 0 OR status <> 'pending';
CREATE INDEX webhook_deliveries_unstarted ON webhook_deliveries (created_at) WHERE started_at IS NULL;

-- Down Migration
DROP INDEX webhook_deliveries_unstarted;
ALTER TABLE webhook_deliveries DROP COLUMN started_at;
