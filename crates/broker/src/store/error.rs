//! Why a store operation failed, and whether trying again may help.

/// Why a store operation failed. No variant carries message content or personal data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Open(#[from] varsel_sql::OpenError),
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
            Error::Conflict(_) | Error::Open(varsel_sql::OpenError::Connect(_)) => true,
            Error::Query(e) => transient_sqlx(e),
            Error::Open(_) | Error::Corrupt { .. } | Error::Code { .. } | Error::Value(_) => false,
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

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Error {
        varsel_sql::note_failure(&e);
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
