-- TOTP secrets are kept sealed with the desk's secrets key (see src/secrets.rs) from here on. A
-- migration has no key to seal those stored in the clear before, so they are erased: accounts made
-- before this must be made again.
ALTER TABLE accounts DROP COLUMN totp_secret;
ALTER TABLE accounts ADD COLUMN totp_sealed BYTEA NOT NULL DEFAULT ''::bytea;

-- One value sealed with the key the store was first used with: a desk started with another key is
-- refused at once, naming its key file, instead of failing at every sign-in.
CREATE TABLE key_check (
    id     BIGINT  PRIMARY KEY CHECK (id = 1),
    sealed BYTEA   NOT NULL
);
