-- varsel store, SQLite. Times are unix milliseconds, ids are UUID text, digests and payloads are
-- bytes, states are codes. No column holds personal data: message bodies stay sealed inside `raw`.

CREATE TABLE messages (
    id          TEXT    PRIMARY KEY,   -- the message id; the key is what refuses duplicates
    kind        TEXT    NOT NULL,
    sender      TEXT    NOT NULL,
    digest      BLOB    NOT NULL,      -- SHA-256 of raw
    received_at INTEGER NOT NULL,
    raw         BLOB    NOT NULL       -- the JWS exactly as received
);

CREATE TABLE alerts (
    id                TEXT    PRIMARY KEY REFERENCES messages (id),
    sender            TEXT    NOT NULL,
    municipality      TEXT    NOT NULL,
    category          TEXT    NOT NULL,
    urgency           TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    planned_departure INTEGER,
    table_version     TEXT    NOT NULL,
    policy            TEXT,
    state             TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    last_message_id   TEXT    REFERENCES messages (id)
);
CREATE INDEX alerts_created ON alerts (created_at);
CREATE INDEX alerts_state ON alerts (state);

CREATE TABLE deliveries (
    id          TEXT    PRIMARY KEY,
    alert_id    TEXT    NOT NULL REFERENCES alerts (id),
    message_id  TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    policy      TEXT,
    recipient   TEXT    NOT NULL,
    role        TEXT    NOT NULL,
    sections    TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    sent_at     INTEGER,
    received_at INTEGER,
    acked_at    INTEGER,
    officer     TEXT,
    outcome     TEXT,
    receipt_due INTEGER,
    ack_due     INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX deliveries_alert ON deliveries (alert_id);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    channel         TEXT    NOT NULL,
    destination     TEXT    NOT NULL,
    payload         BLOB    NOT NULL,
    delivery_id     TEXT    REFERENCES deliveries (id),
    alert_id        TEXT    REFERENCES alerts (id),
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_by      TEXT,
    claimed_until   INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_alert ON outbox (alert_id);

CREATE TABLE timers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id      TEXT    NOT NULL REFERENCES alerts (id),
    delivery_id   TEXT    REFERENCES deliveries (id),
    action        TEXT    NOT NULL,
    due_at        INTEGER NOT NULL,
    state         TEXT    NOT NULL,
    claimed_by    TEXT,
    claimed_until INTEGER,
    fired_at      INTEGER,
    created_at    INTEGER NOT NULL
);
CREATE INDEX timers_due ON timers (state, due_at);
CREATE INDEX timers_alert ON timers (alert_id);

-- The audit log is a hash chain; alert_id and delivery_id carry no foreign key so that entries
-- about refused input (no alert row) fit the same chain.
CREATE TABLE audit (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    alert_id    TEXT,
    delivery_id TEXT,
    detail      TEXT    NOT NULL,
    prev_hash   BLOB    NOT NULL,
    hash        BLOB    NOT NULL
);
CREATE INDEX audit_alert ON audit (alert_id);
