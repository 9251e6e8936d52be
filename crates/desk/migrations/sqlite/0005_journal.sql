-- The school's journal of a case: the checklist items it has done and its free-text entries,
-- each with who wrote it, when it was done and when it was written. The item's code and the
-- times are in the clear (they say how far the school has come, not about whom); what an entry
-- says is sealed with the desk's secrets key. `shared` is the id of the update that told the
-- case's recipients, when the school shared the entry.
CREATE TABLE journal (
    id          TEXT    PRIMARY KEY,
    alert       TEXT    NOT NULL REFERENCES sent_alerts (id),
    participant TEXT    NOT NULL,
    account     INTEGER NOT NULL REFERENCES accounts (id),
    item        TEXT    NOT NULL,       -- a checklist action's code, or note
    done_at     INTEGER NOT NULL,
    written_at  INTEGER NOT NULL,
    sealed      BLOB    NOT NULL,
    shared      TEXT
);
CREATE INDEX journal_alert ON journal (alert, written_at);
