-- The desk's own store, SQLite. Times are unix milliseconds, ids are UUID text, states are codes.
-- No column holds a pupil's personal data: received messages are kept sealed in `raw`, exactly as
-- they came from the broker, and opened only when a signed-in person asks.

-- Staff accounts. Each belongs to one participant the desk serves.
CREATE TABLE accounts (
    id              INTEGER PRIMARY KEY,
    username        TEXT    NOT NULL UNIQUE,
    display_name    TEXT    NOT NULL,   -- the name an acknowledgement is signed with
    participant     TEXT    NOT NULL,
    role            TEXT    NOT NULL,
    password_hash   TEXT    NOT NULL,   -- argon2id, PHC string
    totp_secret     BLOB    NOT NULL,
    totp_last_step  INTEGER,            -- the last TOTP step used: a code is good once
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until    INTEGER,
    disabled_at     INTEGER,
    created_at      INTEGER NOT NULL
);

-- Browser sessions, keyed by the SHA-256 of the cookie's token (the token itself is not kept).
CREATE TABLE sessions (
    token_digest BLOB    PRIMARY KEY,
    account      INTEGER REFERENCES accounts (id),
    stage        TEXT    NOT NULL,      -- anonymous, password (awaiting the code), signed_in
    csrf         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL
);
CREATE INDEX sessions_last_seen ON sessions (last_seen);

-- Deliveries taken from a participant's inbox: the routing header in the clear (no personal
-- data), the message sealed.
CREATE TABLE deliveries (
    delivery          TEXT    PRIMARY KEY,
    participant       TEXT    NOT NULL,
    alert             TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    school            TEXT    NOT NULL,
    municipality      TEXT    NOT NULL,
    category          TEXT    NOT NULL,
    urgency           TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    role              TEXT    NOT NULL,
    planned_departure INTEGER,
    receipt_due       INTEGER,
    ack_due           INTEGER,
    received_at       INTEGER NOT NULL,
    receipt_sent_at   INTEGER,
    ack_state         TEXT,             -- NULL, sending, sent
    acked_at          INTEGER,
    acked_by          INTEGER REFERENCES accounts (id),
    outcome           TEXT,
    ack_message       TEXT,
    raw               BLOB    NOT NULL  -- the broker's signed delivery, exactly as received
);
CREATE INDEX deliveries_participant ON deliveries (participant, received_at);

-- Other inbox messages (feedback, error replies, checkpoints), kept as received.
CREATE TABLE inbox_other (
    digest      BLOB    PRIMARY KEY,    -- SHA-256 of raw: a redelivery is kept once
    participant TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    raw         BLOB    NOT NULL
);

-- Who opened, sent or acknowledged what, and when: hash-chained (see access_log.rs).
CREATE TABLE access_log (
    seq       INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    delivery  TEXT,
    detail    TEXT    NOT NULL,         -- canonical JSON
    prev_hash BLOB    NOT NULL,
    hash      BLOB    NOT NULL
);
