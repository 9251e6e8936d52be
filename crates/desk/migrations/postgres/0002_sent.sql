-- Alerts a school sent from the desk: the routing header in the clear (no personal data), the
-- signed message kept sealed as sent.
CREATE TABLE sent_alerts (
    id           TEXT    PRIMARY KEY,   -- the message id
    participant  TEXT    NOT NULL,
    account      BIGINT  NOT NULL REFERENCES accounts (id),
    category     TEXT    NOT NULL,
    urgency      TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    sent_at      BIGINT  NOT NULL,
    raw          BYTEA    NOT NULL
);
CREATE INDEX sent_alerts_participant ON sent_alerts (participant, sent_at);

-- The one-time token of each New alert form that was sent: the same form posted again (a double
-- click, the back button, a replay) is refused instead of sending a second alert.
CREATE TABLE sent_forms (
    form TEXT    PRIMARY KEY,
    at   BIGINT  NOT NULL
);
