-- Updates and cancels a school sent from the desk about one of its alerts: the kind and times in
-- the clear (no personal data), the signed message kept sealed as sent. The alert page lists them
-- in the order they were sent.
CREATE TABLE sent_follow_ups (
    id          TEXT    PRIMARY KEY,    -- the message id
    alert       TEXT    NOT NULL REFERENCES sent_alerts (id),
    participant TEXT    NOT NULL,
    account     BIGINT  NOT NULL REFERENCES accounts (id),
    kind        TEXT    NOT NULL,       -- update, cancel
    sent_at     BIGINT  NOT NULL,
    raw         BYTEA   NOT NULL
);
CREATE INDEX sent_follow_ups_alert ON sent_follow_ups (alert, sent_at);
