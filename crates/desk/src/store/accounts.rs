//! Staff accounts: created, listed, disabled; failed sign-ins counted and locks set.

use sqlx::Row;

use varsel_protocol::message::ParticipantId;

use super::{Error, Store};
use crate::role::Role;
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

macro_rules! columns {
    () => {
        "id, username, display_name, participant, role, password_hash, totp_secret, totp_last_step, failed_attempts, locked_until, disabled_at"
    };
}

fn account(row: &sqlx::sqlite::SqliteRow) -> Result<Account, Error> {
    let corrupt = |what: String| Error::Corrupt(what);
    let participant: String = row.try_get("participant")?;
    let role: String = row.try_get("role")?;
    let failed: i64 = row.try_get("failed_attempts")?;
    Ok(Account {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        participant: participant
            .parse()
            .map_err(|e| corrupt(format!("account participant: {e}")))?,
        role: role
            .parse()
            .map_err(|e| corrupt(format!("account role: {e}")))?,
        password_hash: row.try_get("password_hash")?,
        totp: Secret::from_bytes(row.try_get("totp_secret")?),
        totp_last_step: row.try_get("totp_last_step")?,
        failed_attempts: u32::try_from(failed).unwrap_or(u32::MAX),
        locked_until: row.try_get("locked_until")?,
        disabled_at: row.try_get("disabled_at")?,
    })
}

impl Store {
    /// Adds an account; `None` when the user name is taken.
    pub async fn add_account(&self, new: &NewAccount<'_>, now: i64) -> Result<Option<i64>, Error> {
        let r = sqlx::query(
            "INSERT INTO accounts (username, display_name, participant, role, password_hash, \
             totp_secret, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (username) DO NOTHING",
        )
        .bind(new.username)
        .bind(new.display_name)
        .bind(new.participant.as_str())
        .bind(new.role.code())
        .bind(new.password_hash)
        .bind(new.totp.bytes())
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok((r.rows_affected() == 1).then(|| r.last_insert_rowid()))
    }

    pub async fn account_by_name(&self, username: &str) -> Result<Option<Account>, Error> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM accounts WHERE username = ?"
        ))
        .bind(username)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(account).transpose()
    }

    pub async fn account(&self, id: i64) -> Result<Option<Account>, Error> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM accounts WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(account).transpose()
    }

    /// Every account, by user name.
    pub async fn accounts(&self) -> Result<Vec<Account>, Error> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM accounts ORDER BY username"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(account).collect()
    }

    /// Disables an account and ends its sessions; false when there is no such account.
    pub async fn disable_account(&self, username: &str, now: i64) -> Result<bool, Error> {
        let mut tx = self.pool().begin().await?;
        let r = sqlx::query(
            "UPDATE accounts SET disabled_at = COALESCE(disabled_at, ?) WHERE username = ?",
        )
        .bind(now)
        .bind(username)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM sessions WHERE account = (SELECT id FROM accounts WHERE username = ?)",
        )
        .bind(username)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Records a failed sign-in: the new count and, when it locks the account, until when.
    pub async fn sign_in_failed(
        &self,
        id: i64,
        failed: u32,
        locked_until: Option<i64>,
    ) -> Result<(), Error> {
        sqlx::query(
            "UPDATE accounts SET failed_attempts = ?, locked_until = COALESCE(?, locked_until) WHERE id = ?",
        )
        .bind(i64::from(failed))
        .bind(locked_until)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records a good second factor: the step used (a code is good once), the count cleared.
    /// False when another sign-in used this step or a later one first.
    pub async fn second_factor_used(&self, id: i64, step: i64) -> Result<bool, Error> {
        let r = sqlx::query(
            "UPDATE accounts SET totp_last_step = ?, failed_attempts = 0 \
             WHERE id = ? AND (totp_last_step IS NULL OR totp_last_step < ?)",
        )
        .bind(step)
        .bind(id)
        .bind(step)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }
}
