-- Retention and the anchored audit head.
--
-- An alert closed long enough ago has its content erased: the sealed bytes of its messages
-- (`messages.raw` emptied, `erased_at` set) and its outbox payloads (sent rows deleted, others
-- emptied). Ids, codes, times, states, digests and every audit entry stay. A legal hold keeps an
-- alert's content however old it is. New SQLite files are created with
-- `auto_vacuum = INCREMENTAL` by the store itself (a pragma that must come before the first
-- table); a file created before that is converted by `varsel store vacuum` (VACUUM cannot run
-- inside a migration's transaction).

ALTER TABLE alerts ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN erased_at INTEGER;
ALTER TABLE messages ADD COLUMN erased_at INTEGER;
ALTER TABLE outbox ADD COLUMN erased_at INTEGER;

-- Finding closed alerts by when they last changed.
CREATE INDEX alerts_closed ON alerts (state, updated_at);

-- The checkpoints this store's brokers made of the audit chain's head: when the next is due.
-- The evidence itself lives outside the database (the checkpoint file, the ops inbox).
CREATE TABLE checkpoints (
    seq  INTEGER PRIMARY KEY,
    hash BLOB    NOT NULL,
    at   INTEGER NOT NULL,
    jws  TEXT    NOT NULL
);
