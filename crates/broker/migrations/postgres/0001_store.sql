-- varsel store, PostgreSQL. Times are unix milliseconds, ids are UUID text, digests and payloads are
-- bytes, states are codes. No column holds personal data: message bodies stay sealed inside `raw`.

CREATE TABLE messages (
    id          TEXT    PRIMARY KEY,   -- the message id; the key is what refuses duplicates
    kind        TEXT    NOT NULL,
    sender      TEXT    NOT NULL,
    digest      BYTEA    NOT NULL,      -- SHA-256 of raw
    received_at BIGINT NOT NULL,
    raw         BYTEA    NOT NULL       -- the JWS exactly as received
);

CREATE TABLE alerts (
    id                TEXT    PRIMARY KEY REFERENCES messages (id),
    sender            TEXT    NOT NULL,
    municipality      TEXT    NOT NULL,
    category          TEXT    NOT NULL,
    urgency           TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    planned_departure BIGINT,
    table_version     TEXT    NOT NULL,
    policy            TEXT,
    state             TEXT    NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
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
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    sent_at     BIGINT,
    received_at BIGINT,
    acked_at    BIGINT,
    officer     TEXT,
    outcome     TEXT,
    receipt_due BIGINT,
    ack_due     BIGINT,
    attempts    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX deliveries_alert ON deliveries (alert_id);

CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    channel         TEXT    NOT NULL,
    destination     TEXT    NOT NULL,
    payload         BYTEA    NOT NULL,
    delivery_id     TEXT    REFERENCES deliveries (id),
    alert_id        TEXT    REFERENCES alerts (id),
    state           TEXT    NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_by      TEXT,
    claimed_until   BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_alert ON outbox (alert_id);

CREATE TABLE timers (
    id            BIGSERIAL PRIMARY KEY,
    alert_id      TEXT    NOT NULL REFERENCES alerts (id),
    delivery_id   TEXT    REFERENCES deliveries (id),
    action        TEXT    NOT NULL,
    due_at        BIGINT NOT NULL,
    state         TEXT    NOT NULL,
    claimed_by    TEXT,
    claimed_until BIGINT,
    fired_at      BIGINT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX timers_due ON timers (state, due_at);
CREATE INDEX timers_alert ON timers (alert_id);

-- The audit log is a hash chain; alert_id and delivery_id carry no foreign key so that entries
-- about refused input (no alert row) fit the same chain.
CREATE TABLE audit (
    seq         BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    alert_id    TEXT,
    delivery_id TEXT,
    detail      TEXT    NOT NULL,
    prev_hash   BYTEA    NOT NULL,
    hash        BYTEA    NOT NULL
);
CREATE INDEX audit_alert ON audit (alert_id);
