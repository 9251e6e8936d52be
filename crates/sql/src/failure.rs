//! How a failed SQLite file is noticed, so that pooled connections opened before the failure are
//! replaced instead of reused.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// When a SQLite connection last failed on its file (read-only, I/O error, disk full, cannot
/// open), in milliseconds since [`sqlite_epoch`]; 0 for never. Pooled connections older than
/// that are replaced before reuse: SQLite opens a file it may not write read-only and keeps it
/// so, and a connection that failed on I/O may keep failing after the cause is gone.
static SQLITE_FILE_FAILED_AT: AtomicU64 = AtomicU64::new(0);

fn sqlite_epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Notes a failure of a SQLite file (a store's error conversion calls this for every error).
pub fn note_failure(e: &sqlx::Error) {
    let sqlx::Error::Database(db) = e else {
        return;
    };
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
pub(crate) fn sqlite_conn_predates_failure(age: Duration) -> bool {
    let failed = SQLITE_FILE_FAILED_AT.load(Ordering::Relaxed);
    if failed == 0 {
        return false;
    }
    let now = sqlite_epoch().elapsed();
    let opened = now.saturating_sub(age);
    opened.as_millis() <= u128::from(failed)
}
