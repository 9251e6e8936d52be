//! Leases: claiming outbox rows and timers for one broker instance until a lease runs out, in
//! a write transaction of their own.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::connection::{Backend, Store};
use super::error::Error;
use super::rows::ms;
use varsel_sql::Q;

impl Store {
    pub(super) fn skip_locked(&self) -> &'static str {
        match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// Runs a claiming `UPDATE … RETURNING` in its own write transaction.
    pub(super) async fn claim<T>(&self, q: Q) -> Result<Vec<T>, Error>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        let mut tx = self.begin().await?;
        let rows = tx.conn().fetch_all(q).await?;
        tx.commit().await?;
        Ok(rows)
    }
}

pub(super) fn until(now: DateTime<Utc>, lease: Duration) -> Result<i64, Error> {
    let lease =
        i64::try_from(lease.as_millis()).map_err(|_| Error::Value("lease too long".into()))?;
    ms(now)
        .checked_add(lease)
        .ok_or_else(|| Error::Value("lease too long".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_add_milliseconds() {
        let now = DateTime::from_timestamp_millis(1_000).unwrap();
        assert_eq!(until(now, Duration::from_secs(2)).unwrap(), 3_000);
        assert!(until(now, Duration::from_secs(u64::MAX)).is_err());
    }
}
