-- Heartbeats: one row per agency line (a registry participant that receives deliveries). The
-- row is the schedule and the state of the line, shared by every broker instance on this store:
-- the instance that takes a due row in its transaction sends the heartbeat (through the outbox)
-- and moves next_at on, so a heartbeat goes once per interval however many instances run, and
-- none is lost when one dies (its transaction rolls back and another takes the row).

CREATE TABLE lines (
    participant     TEXT    PRIMARY KEY,
    state           TEXT    NOT NULL,            -- unknown (no receipt yet), up, down
    next_at         INTEGER NOT NULL,            -- when the next heartbeat is sent
    heartbeat_id    TEXT,                        -- the last heartbeat sent
    sent_at         INTEGER,
    receipt_due     INTEGER,                     -- set while the last heartbeat awaits its receipt
    last_receipt_at INTEGER,
    receipts        INTEGER NOT NULL DEFAULT 0,
    misses          INTEGER NOT NULL DEFAULT 0,  -- heartbeats missed in a row
    paged           INTEGER NOT NULL DEFAULT 0,  -- 1 once ops were paged for this outage
    down_since      INTEGER,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX lines_next ON lines (next_at);
