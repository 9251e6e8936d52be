//! Staff accounts: created, listed, disabled; failed sign-ins counted and locks set.

use varsel_protocol::message::ParticipantId;

use varsel_sql::Q;

use super::{Error, Store};
use crate::role::Role;
use crate::secrets::Key;
use crate::totp::Secret;

/// One staff account as stored.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub participant: ParticipantId,
    pub role: Role,
    pub password_hash: String,
    pub totp: Secret,
    pub totp_last_step: Option<i64>,
    pub failed_attempts: u32,
    pub locked_until: Option<i64>,
    pub disabled_at: Option<i64>,
}

/// A new account's fields.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub participant: &'a ParticipantId,
    pub role: Role,
    pub password_hash: &'a str,
    pub totp: &'a Secret,
}

const COLUMNS: &str = "id, username, display_name, participant, role, password_hash, \
    totp_sealed, totp_last_step, failed_attempts, locked_until, disabled_at";

varsel_sql::row! {
    struct Row {
        id: i64,
        username: String,
        display_name: String,
        participant: String,
        role: String,
        password_hash: String,
        totp_sealed: Vec<u8>,
        totp_last_step: Option<i64>,
        failed_attempts: i64,
        locked_until: Option<i64>,
        disabled_at: Option<i64>,
    }
}

/// What a TOTP secret is sealed to: its account's user name, so that a sealed secret copied to
/// another account's row does not open there.
fn totp_context(username: &str) -> String {
    format!("totp {username}")
}

impl Row {
    fn account(self, key: &Key) -> Result<Account, Error> {
        let corrupt = |what: String| Error::Corrupt(what);
        if self.totp_sealed.is_empty() {
            return Err(corrupt(format!(
                "account {:?} was made before TOTP secrets were sealed: disable it and make it again",
                self.username
            )));
        }
        let totp = key
            .open(&totp_context(&self.username), &self.totp_sealed)
            .ok_or_else(|| {
                corrupt(format!(
                    "the TOTP secret of account {:?} does not open with the key in {}",
                    self.username,
                    key.file().display()
                ))
            })?;
        Ok(Account {
            id: self.id,
            participant: self
                .participant
                .parse()
                .map_err(|e| corrupt(format!("account participant: {e}")))?,
            role: self
                .role
                .parse()
                .map_err(|e| corrupt(format!("account role: {e}")))?,
            username: self.username,
            display_name: self.display_name,
            password_hash: self.password_hash,
            totp: Secret::from_bytes(totp),
            totp_last_step: self.totp_last_step,
            failed_attempts: u32::try_from(self.failed_attempts).unwrap_or(u32::MAX),
            locked_until: self.locked_until,
            disabled_at: self.disabled_at,
        })
    }
}

impl Store {
    /// Adds an account, its TOTP secret sealed; `None` when the user name is taken.
    pub async fn add_account(&self, new: &NewAccount<'_>, now: i64) -> Result<Option<i64>, Error> {
        let sealed = self
            .key()
            .seal(&totp_context(new.username), new.totp.bytes());
        let id: Option<(i64,)> = self
            .conn()
            .await?
            .conn()
            .fetch_optional(
                Q::new(
                    "INSERT INTO accounts (username, display_name, participant, role, \
                     password_hash, totp_sealed, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (username) DO NOTHING RETURNING id",
                )
                .text(new.username)
                .text(new.display_name)
                .text(new.participant.as_str())
                .text(new.role.code())
                .text(new.password_hash)
                .bytes(sealed)
                .i64(now),
            )
            .await?;
        Ok(id.map(|(id,)| id))
    }

    async fn one_account(&self, q: Q) -> Result<Option<Account>, Error> {
        let row: Option<Row> = self.conn().await?.conn().fetch_optional(q).await?;
        row.map(|r| r.account(self.key())).transpose()
    }

    pub async fn account_by_name(&self, username: &str) -> Result<Option<Account>, Error> {
        self.one_account(
            Q::new(format!(
                "SELECT {COLUMNS} FROM accounts WHERE username = $1"
            ))
            .text(username),
        )
        .await
    }

    pub async fn account(&self, id: i64) -> Result<Option<Account>, Error> {
        self.one_account(Q::new(format!("SELECT {COLUMNS} FROM accounts WHERE id = $1")).i64(id))
            .await
    }

    /// Every account, by user name.
    pub async fn accounts(&self) -> Result<Vec<Account>, Error> {
        let rows: Vec<Row> = self
            .conn()
            .await?
            .conn()
            .fetch_all(Q::new(format!(
                "SELECT {COLUMNS} FROM accounts ORDER BY username"
            )))
            .await?;
        rows.into_iter().map(|r| r.account(self.key())).collect()
    }

    /// Disables an account and ends its sessions; false when there is no such account.
    pub async fn disable_account(&self, username: &str, now: i64) -> Result<bool, Error> {
        let mut tx = self.begin().await?;
        let changed = tx
            .conn()
            .execute(
                Q::new(
                    "UPDATE accounts SET disabled_at = COALESCE(disabled_at, $1) \
                     WHERE username = $2",
                )
                .i64(now)
                .text(username),
            )
            .await?;
        tx.conn()
            .execute(
                Q::new(
                    "DELETE FROM sessions WHERE account = \
                     (SELECT id FROM accounts WHERE username = $1)",
                )
                .text(username),
            )
            .await?;
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// Records a failed sign-in: the new count and, when it locks the account, until when.
    pub async fn sign_in_failed(
        &self,
        id: i64,
        failed: u32,
        locked_until: Option<i64>,
    ) -> Result<(), Error> {
        self.execute(
            Q::new(
                "UPDATE accounts SET failed_attempts = $1, \
                 locked_until = COALESCE($2, locked_until) WHERE id = $3",
            )
            .i64(i64::from(failed))
            .opt_i64(locked_until)
            .i64(id),
        )
        .await?;
        Ok(())
    }

    /// Records a good second factor: the step used (a code is good once), the count cleared.
    /// False when another sign-in used this step or a later one first.
    pub async fn second_factor_used(&self, id: i64, step: i64) -> Result<bool, Error> {
        let changed = self
            .execute(
                Q::new(
                    "UPDATE accounts SET totp_last_step = $1, failed_attempts = 0 \
                     WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $3)",
                )
                .i64(step)
                .i64(id)
                .i64(step),
            )
            .await?;
        Ok(changed == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreAt;
    use crate::store::testing::{on_both, Ctx};

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[tokio::test]
    async fn totp_secrets_are_sealed_and_another_key_is_refused_naming_its_file() {
        on_both(sealed_secrets).await;
    }

    async fn sealed_secrets(ctx: Ctx) {
        let participant: ParticipantId = "norrkoping-socialtjansten".parse().unwrap();
        let new = |username, totp| NewAccount {
            username,
            display_name: "Anna Andersson",
            participant: &participant,
            role: Role::AgencyOfficer,
            password_hash: "$argon2id$…",
            totp,
        };
        let (anna, bertil) = (Secret::generate(), Secret::generate());
        let s = &ctx.store;
        let id = s
            .add_account(&new("anna", &anna), 1)
            .await
            .unwrap()
            .unwrap();
        let other = s
            .add_account(&new("bertil", &bertil), 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.add_account(&new("anna", &bertil), 1).await.unwrap(), None);
        assert_eq!(s.account(id).await.unwrap().unwrap().totp, anna);

        // Not in the row, nor anywhere in the SQLite file and its write-ahead log.
        let (sealed,): (Vec<u8>,) = s
            .conn()
            .await
            .unwrap()
            .conn()
            .fetch_one(Q::new("SELECT totp_sealed FROM accounts WHERE id = $1").i64(id))
            .await
            .unwrap();
        let mut stored = vec![sealed.clone()];
        if let StoreAt::Sqlite(file) = &ctx.at {
            let wal = file.with_extension("sqlite-wal");
            stored.push(std::fs::read(file).unwrap());
            stored.push(std::fs::read(&wal).unwrap_or_default());
        }
        for bytes in &stored {
            assert!(!contains(bytes, anna.bytes()));
            assert!(!contains(bytes, anna.base32().as_bytes()));
            assert!(!contains(bytes, anna.base32().to_lowercase().as_bytes()));
        }

        // A sealed secret copied into another account's row does not open there.
        s.execute(
            Q::new("UPDATE accounts SET totp_sealed = $1 WHERE id = $2")
                .bytes(sealed)
                .i64(other),
        )
        .await
        .unwrap();
        let e = s.account(other).await.unwrap_err();
        assert!(
            matches!(&e, Error::Corrupt(why) if why.contains("\"bertil\"")),
            "{e}"
        );

        // Another key: the store is refused at once, naming the key's file.
        let dir = tempfile::tempdir().unwrap();
        let wrong = Key::load_or_create(&dir.path().join("wrong.key")).unwrap();
        let e = Store::open_at(&ctx.at, wrong).await.unwrap_err();
        assert!(matches!(e, Error::WrongKey(_)), "{e}");
        assert!(e.to_string().contains("wrong.key"), "{e}");
    }
}
