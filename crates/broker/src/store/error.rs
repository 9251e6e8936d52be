//! Why a store operation failed, and how a failed SQLite file is noticed so that pooled
//! connections opened before the failure are replaced.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Why a store operation failed. No variant carries message content or personal data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store URL not understood: expected sqlite://<path> or postgres://<host>/<database>")]
    Url,
    #[error("cannot open the store: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot bring the store's schema up to date: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("store query failed: {0}")]
    Query(#[source] sqlx::Error),
    #[error("the store was busy or two transactions collided; the operation can be retried: {0}")]
    Conflict(#[source] sqlx::Error),
    #[error("the store holds an invalid value in {table}.{column}: {why}")]
    Corrupt {
        table: &'static str,
        column: &'static str,
        why: String,
    },
    #[error("not a valid {what} code: {code:?}")]
    Code { what: &'static str, code: String },
    #[error("value does not fit the store: {0}")]
    Value(String),
}

impl Error {
    /// True when running the same operation again may succeed once the cause has passed: the
    /// store is away or busy, two transactions collided, the disk is full or the file read-only.
    /// False when the same input will fail the same way (a constraint, a corrupt or undecodable
    /// value, a query the schema does not answer): retrying that forever would hold up everything
    /// behind it.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Conflict(_) | Error::Connect(_) => true,
            Error::Query(e) => transient_sqlx(e),
            Error::Url
            | Error::Migrate(_)
            | Error::Corrupt { .. }
            | Error::Code { .. }
            | Error::Value(_) => false,
        }
    }
}

fn transient_sqlx(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // Primary result codes (the low byte of an extended code): BUSY 5, LOCKED 6,
                // NOMEM 7, READONLY 8, INTERRUPT 9, IOERR 10, FULL 13, CANTOPEN 14, PROTOCOL 15.
                let primary = code.parse::<u32>().map(|c| c & 0xff).unwrap_or(0);
                matches!(primary, 5..=10 | 13..=15)
            } else {
                // PostgreSQL SQLSTATE classes: 08 connection exception, 40 transaction rollback,
                // 53 insufficient resources (disk full, out of memory, too many connections),
                // 57 operator intervention (shutdown, cannot connect now), 58 system error (I/O);
                // and 25006, a read-only transaction (a standby, or default_transaction_read_only).
                matches!(code.get(..2), Some("08" | "40" | "53" | "57" | "58")) || code == "25006"
            }
        }
        _ => false,
    }
}

/// When a SQLite connection last failed on its file (read-only, I/O error, disk full, cannot
/// open), in milliseconds since [`sqlite_epoch`]; 0 for never. Pooled connections older than
/// that are replaced before reuse: SQLite opens a file it may not write read-only and keeps it
/// so, and a connection that failed on I/O may keep failing after the cause is gone.
static SQLITE_FILE_FAILED_AT: AtomicU64 = AtomicU64::new(0);

fn sqlite_epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn note_sqlite_failure(db: &dyn sqlx::error::DatabaseError) {
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_none() {
        return;
    }
    // Primary result codes: SQLITE_READONLY 8, SQLITE_IOERR 10, SQLITE_FULL 13,
    // SQLITE_CANTOPEN 14 (the low byte of an extended code).
    let primary = db
        .code()
        .and_then(|c| c.parse::<u32>().ok())
        .map(|c| c & 0xff);
    if matches!(primary, Some(8 | 10 | 13 | 14)) {
        let at = u64::try_from(sqlite_epoch().elapsed().as_millis()).unwrap_or(u64::MAX);
        SQLITE_FILE_FAILED_AT.fetch_max(at.max(1), Ordering::Relaxed);
    }
}

/// Whether a pooled SQLite connection of this age was opened before the last file failure.
pub(super) fn sqlite_conn_predates_failure(age: Duration) -> bool {
    let failed = SQLITE_FILE_FAILED_AT.load(Ordering::Relaxed);
    if failed == 0 {
        return false;
    }
    let now = sqlite_epoch().elapsed();
    let opened = now.saturating_sub(age);
    opened.as_millis() <= u128::from(failed)
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Error {
        if let sqlx::Error::Database(db) = &e {
            note_sqlite_failure(db.as_ref());
        }
        let conflict = match &e {
            sqlx::Error::Database(db) => matches!(
                db.code().as_deref(),
                // PostgreSQL serialization_failure, deadlock_detected; SQLite BUSY, LOCKED and
                // their extended codes (SQLITE_BUSY_SNAPSHOT = 517, …).
                Some("40001" | "40P01" | "5" | "6" | "261" | "262" | "517" | "773")
            ),
            _ => false,
        };
        if conflict {
            Error::Conflict(e)
        } else {
            Error::Query(e)
        }
    }
}
