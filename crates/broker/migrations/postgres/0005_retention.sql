-- Retention and the anchored audit head.
--
-- An alert closed long enough ago has its content erased: the sealed bytes of its messages
-- (`messages.raw` emptied, `erased_at` set) and its outbox payloads (sent rows deleted, others
-- emptied). Ids, codes, times, states, digests and every audit entry stay. A legal hold keeps an
-- alert's content however old it is. On PostgreSQL the space of erased values is reclaimed for
-- reuse by (auto)vacuum; the broker runs a plain VACUUM of the touched tables after pruning.

ALTER TABLE alerts ADD COLUMN legal_hold BIGINT NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN erased_at BIGINT;
ALTER TABLE messages ADD COLUMN erased_at BIGINT;
ALTER TABLE outbox ADD COLUMN erased_at BIGINT;

-- Finding closed alerts by when they last changed.
CREATE INDEX alerts_closed ON alerts (state, updated_at);

-- The checkpoints this store's brokers made of the audit chain's head: when the next is due.
-- The evidence itself lives outside the database (the checkpoint file, the ops inbox).
CREATE TABLE checkpoints (
    seq  BIGINT PRIMARY KEY,
    hash BYTEA   NOT NULL,
    at   BIGINT  NOT NULL,
    jws  TEXT    NOT NULL
);
