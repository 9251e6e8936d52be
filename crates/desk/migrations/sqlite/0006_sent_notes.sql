-- Notes an agency posted from the desk to a case it is a member of: the note kind and times in
-- the clear (no personal data), the signed message kept sealed as sent (to the broker and to the
-- agency itself). The officer's alert page lists them.
CREATE TABLE sent_notes (
    id          TEXT    PRIMARY KEY,    -- the message id
    alert       TEXT    NOT NULL,
    participant TEXT    NOT NULL,
    account     INTEGER NOT NULL REFERENCES accounts (id),
    kind        TEXT    NOT NULL,       -- the note kind
    sent_at     INTEGER NOT NULL,
    raw         BLOB    NOT NULL
);
CREATE INDEX sent_notes_alert ON sent_notes (participant, alert, sent_at);
