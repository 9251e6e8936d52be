//! Opening a database of either backend: the pool with the settings both stores need, its
//! embedded migrations run, and write transactions that queue in this process on SQLite.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, Postgres, Sqlite};

use crate::failure::sqlite_conn_predates_failure;
use crate::query::Conn;

/// How long a SQLite writer waits for another writer before giving up.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("store URL not understood: expected sqlite://<path> or postgres://<host>/<database>")]
    Url,
    #[error("cannot open the store: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot bring the store's schema up to date: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("the store's embedded migrations: {0}")]
    Migrations(String),
}

fn migrator(files: &[crate::migrations::File]) -> Result<sqlx::migrate::Migrator, OpenError> {
    crate::migrations::migrator(files).map_err(OpenError::Migrations)
}

/// What differs between the stores that open a database: their schema and pool sizes.
pub struct Settings {
    /// The embedded migration files (see [`crate::migrations!`]).
    pub migrations: crate::migrations::Migrations,
    pub sqlite_connections: u32,
    pub postgres_connections: u32,
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// A pooled connection of either backend.
pub enum PoolConn {
    Sqlite(PoolConnection<Sqlite>),
    Pg(PoolConnection<Postgres>),
}

impl PoolConn {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            PoolConn::Sqlite(c) => Conn::Sqlite(c),
            PoolConn::Pg(c) => Conn::Pg(c),
        }
    }
}

/// An open database. Cloning is cheap: clones share one connection pool.
#[derive(Clone, Debug)]
pub struct Db {
    pool: Pool,
    /// SQLite has one writer at a time, and a connection that finds the file locked sleeps and
    /// polls (up to 100 ms a try): under load a writer could wait for a long time while others
    /// kept taking the lock. This process's write transactions therefore queue here first, in
    /// the order they asked (tokio's mutex is fair), and take SQLite's lock without polling.
    /// Other processes on the same file still meet the busy timeout. Unused on PostgreSQL.
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl Db {
    /// Opens the database at `url` (`sqlite://path/to/file.db`, created if missing, or
    /// `postgres://…`) and brings its schema up to date with the embedded migrations.
    ///
    /// A pooled connection still inside a transaction is closed instead of reused: when SQLite
    /// fails a COMMIT (disk full, read-only file) it rolls the transaction back itself, the
    /// driver's own ROLLBACK then fails, and the connection would refuse every later BEGIN.
    /// SQLite connections opened before the last failure on the file are replaced too.
    pub async fn connect(url: &str, settings: &Settings) -> Result<Db, OpenError> {
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|_| OpenError::Url)?
                .create_if_missing(true)
                // Takes effect only on a new file (before its first table): erased content is
                // then given back by `PRAGMA incremental_vacuum`.
                .auto_vacuum(SqliteAutoVacuum::Incremental)
                // Erased content is overwritten with zeros, not left in the page's free space.
                .pragma("secure_delete", "ON")
                // Temporary files in memory: above all the journal of each savepoint (intake
                // takes one per message of a batch), which SQLite otherwise spills to a file past
                // 64 KiB and writes page by page. It only serves rolling back to a savepoint;
                // crash recovery is the WAL's.
                .pragma("temp_store", "MEMORY")
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: what was committed is acted on at once (an AMQP ack, a page's answer),
                // so a commit must survive power loss.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(settings.sqlite_connections)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        Ok(!conn.is_in_transaction() && !sqlite_conn_predates_failure(meta.age))
                    })
                })
                .connect_with(options)
                .await
                .map_err(OpenError::Connect)?;
            migrator(settings.migrations.sqlite)?
                .run(&pool)
                .await
                .map_err(OpenError::Migrate)?;
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(|_| OpenError::Url)?;
            let pool = PgPoolOptions::new()
                .max_connections(settings.postgres_connections)
                .before_acquire(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
                .connect_with(options)
                .await
                .map_err(OpenError::Connect)?;
            migrator(settings.migrations.postgres)?
                .run(&pool)
                .await
                .map_err(OpenError::Migrate)?;
            Pool::Pg(pool)
        } else {
            return Err(OpenError::Url);
        };
        Ok(Db {
            pool,
            writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Pg(_) => Backend::Postgres,
        }
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Pg(p) => p.close().await,
        }
    }

    pub async fn acquire(&self) -> Result<PoolConn, sqlx::Error> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => PoolConn::Sqlite(p.acquire().await?),
            Pool::Pg(p) => PoolConn::Pg(p.acquire().await?),
        })
    }

    /// This process's turn to write on SQLite (see `writer`), for work that writes outside a
    /// transaction (a vacuum); `None` on PostgreSQL.
    pub async fn writer_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match self.pool {
            Pool::Sqlite(_) => Some(self.writer.clone().lock_owned().await),
            Pool::Pg(_) => None,
        }
    }

    /// Starts a write transaction: on SQLite after this process's earlier writers, with
    /// `BEGIN IMMEDIATE` so that writers of other processes queue on the busy timeout instead of
    /// failing on a lock upgrade. [`Busy`](BeginError::Busy) when the turn did not come within
    /// the busy timeout.
    pub async fn begin(&self) -> Result<Tx, BeginError> {
        match &self.pool {
            Pool::Sqlite(p) => {
                let turn =
                    tokio::time::timeout(SQLITE_BUSY_TIMEOUT, self.writer.clone().lock_owned())
                        .await
                        .map_err(|_| BeginError::Busy)?;
                let tx = p.begin_with("BEGIN IMMEDIATE").await?;
                Ok(Tx {
                    inner: TxInner::Sqlite(tx),
                    _writer: Some(turn),
                })
            }
            Pool::Pg(p) => Ok(Tx {
                inner: TxInner::Pg(p.begin().await?),
                _writer: None,
            }),
        }
    }
}

/// Why a write transaction did not start.
#[derive(Debug, thiserror::Error)]
pub enum BeginError {
    #[error("this process's earlier writers held the store for longer than the busy timeout")]
    Busy,
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

enum TxInner {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Pg(sqlx::Transaction<'static, Postgres>),
}

/// One write transaction of either backend. Dropping it without [`Tx::commit`] rolls it back.
pub struct Tx {
    inner: TxInner,
    /// This process's turn to write (SQLite); given up after the transaction ends. Declared
    /// after `inner` so that it is dropped after it.
    _writer: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Tx {
    pub fn conn(&mut self) -> Conn<'_> {
        match &mut self.inner {
            TxInner::Sqlite(t) => Conn::Sqlite(t),
            TxInner::Pg(t) => Conn::Pg(t),
        }
    }

    pub fn is_pg(&self) -> bool {
        matches!(self.inner, TxInner::Pg(_))
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await,
            TxInner::Pg(t) => t.commit().await,
        }
    }

    /// Abandons the transaction (the same as dropping it, but waits for the rollback).
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.inner {
            TxInner::Sqlite(t) => t.rollback().await,
            TxInner::Pg(t) => t.rollback().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_connections_are_durable_and_keep_temporary_files_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            migrations: crate::migrations::Migrations {
                sqlite: &[],
                postgres: &[],
            },
            sqlite_connections: 2,
            postgres_connections: 1,
        };
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = Db::connect(&url, &settings).await.unwrap();
        // Both connections of the pool, held at once.
        let (mut a, mut b) = (db.acquire().await.unwrap(), db.acquire().await.unwrap());
        for c in [&mut a, &mut b] {
            let pragma = |name: &str| crate::Q::new(format!("PRAGMA {name}"));
            // 2 = MEMORY, 2 = FULL, 1 = ON.
            let (temp_store,): (i64,) = c.conn().fetch_one(pragma("temp_store")).await.unwrap();
            let (synchronous,): (i64,) = c.conn().fetch_one(pragma("synchronous")).await.unwrap();
            let (secure,): (i64,) = c.conn().fetch_one(pragma("secure_delete")).await.unwrap();
            let (mode,): (String,) = c.conn().fetch_one(pragma("journal_mode")).await.unwrap();
            assert_eq!(
                (temp_store, synchronous, secure, mode.as_str()),
                (2, 2, 1, "wal")
            );
        }
    }

    #[tokio::test]
    async fn unknown_url_schemes_are_refused() {
        let settings = Settings {
            migrations: crate::migrations::Migrations {
                sqlite: &[],
                postgres: &[],
            },
            sqlite_connections: 1,
            postgres_connections: 1,
        };
        assert!(matches!(
            Db::connect("mysql://x/y", &settings).await,
            Err(OpenError::Url)
        ));
    }
}
