//! The desk's own store on SQLite (one file, WAL), its schema brought up to date by the embedded
//! migrations. [`accounts`], [`sessions`], [`deliveries`], [`sent`], [`follow_ups`] and [`access`]
//! add the queries of each table; [`streams`] what the live inbox asks. No column holds a pupil's
//! personal data: deliveries are kept sealed.

pub mod access;
pub mod accounts;
pub mod deliveries;
pub mod follow_ups;
pub mod sent;
pub mod sessions;
pub mod streams;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What went wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the desk's store {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot bring the desk's store up to date: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the desk's store: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("the desk's store holds a value it cannot read: {0}")]
    Corrupt(String),
}

/// A handle on the store; clones share one pool.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// The access log is appended to by one writer at a time in this process, so each entry
    /// follows the last one committed.
    log_writer: Arc<tokio::sync::Mutex<()>>,
}

impl Store {
    /// Opens (creating if missing) the SQLite file at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<Store, Error> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .pragma("secure_delete", "ON")
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| Error::Open {
                path: path.display().to_string(),
                source,
            })?;
        MIGRATIONS.run(&pool).await?;
        Ok(Store {
            pool,
            log_writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

#[cfg(test)]
pub(crate) async fn scratch() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("desk.sqlite")).await.unwrap();
    (dir, store)
}
