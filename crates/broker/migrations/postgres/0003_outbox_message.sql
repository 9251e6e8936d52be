-- What an AMQP outbox row publishes, for the AMQP properties of the publish: `message_kind` is
-- the kind code of the broker-signed message in the payload (its AMQP `type`), `message_id` the
-- id inside that signed payload (its AMQP `message_id`). Both are written with the row, so the
-- outbox never reads them out of the payload. Email rows publish nothing and leave both NULL.
ALTER TABLE outbox ADD COLUMN message_kind TEXT;
ALTER TABLE outbox ADD COLUMN message_id TEXT;

-- Rows written before this migration: the kind follows from the ids each row carries (the
-- broker writes a delivery with its delivery id, feedback with only its alert id, an error
-- reply with neither). Their message id is not known without reading the signed payload, so it
-- stays NULL and such a row is published without an AMQP `message_id` (the recipient reads the
-- id from the verified payload in any case).
UPDATE outbox SET message_kind = CASE
        WHEN delivery_id IS NOT NULL THEN 'delivery'
        WHEN alert_id IS NOT NULL THEN 'feedback'
        ELSE 'error'
    END
    WHERE channel = 'amqp';


-- AMQP rows and email rows are claimed apart (email by a task of its own, so a slow mail relay
-- holds up no delivery), so the channel leads the claiming index after the state.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (state, channel, urgent DESC, next_attempt_at, claimed_until);
