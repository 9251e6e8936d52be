-- Outbox rows carry their payload (kilobytes each). Queries that only need a row's state and
-- times are answered from indexes, so they never read the payloads: with 100,000 alerts in the
-- store, counting the pending rows by reading the table took seconds.

-- Urgent rows (the deliveries of an `immediate` alert) are claimed before every other due row.
ALTER TABLE outbox ADD COLUMN urgent INTEGER NOT NULL DEFAULT 0;

-- Claiming due rows, urgent first: state, urgency, due time and lease all in the index.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (state, urgent DESC, next_attempt_at, claimed_until);

-- The pending count and the age of the oldest pending row (metrics, readiness).
CREATE INDEX outbox_pending_age ON outbox (state, created_at);

-- The last publication of a delivery, for a redelivery step.
CREATE INDEX outbox_delivery ON outbox (delivery_id, id);
