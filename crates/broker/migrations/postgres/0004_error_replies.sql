-- Error replies are bounded: one per distinct refused bytes from a signer, and at most
-- [intake] error_replies per signer in each error_reply_window (see store/replies.rs).

CREATE TABLE refused_bytes (
    signer     TEXT    NOT NULL,
    digest     BYTEA   NOT NULL,      -- SHA-256 of the refused message as received
    refused_at BIGINT  NOT NULL,
    PRIMARY KEY (signer, digest)
);
CREATE INDEX refused_bytes_at ON refused_bytes (signer, refused_at);

CREATE TABLE error_reply_windows (
    signer       TEXT    PRIMARY KEY,
    window_start BIGINT  NOT NULL,
    refusals     BIGINT  NOT NULL,   -- refusals answered or not in this window
    carried      BIGINT  NOT NULL    -- refusals left unanswered in the window before
);
