//! Opening the store: the connection pools of both backends, the embedded schema migrations,
//! and the [`Store`] handle that the other store modules add their queries to.

use std::fmt;
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

use super::error::{sqlite_conn_predates_failure, Error};
use super::sql::{Conn, Q};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// How long a SQLite writer waits for another writer before giving up.
pub(super) const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub(super) enum Pool {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

pub(super) enum PoolConn {
    Sqlite(PoolConnection<Sqlite>),
    Pg(PoolConnection<Postgres>),
}

impl PoolConn {
    pub(super) fn conn(&mut self) -> Conn<'_> {
        match self {
            PoolConn::Sqlite(c) => Conn::Sqlite(c),
            PoolConn::Pg(c) => Conn::Pg(c),
        }
    }
}

/// A handle on the store. Cloning is cheap: clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    pub(super) pool: Pool,
    /// SQLite has one writer at a time, and a connection that finds the file locked sleeps and
    /// polls (up to 100 ms a try): under load a writer could wait for a long time while others
    /// kept taking the lock. This process's write transactions therefore queue here first, in
    /// the order they asked (tokio's mutex is fair), and take SQLite's lock without polling.
    /// Other processes on the same file still meet the busy timeout. Unused on PostgreSQL.
    pub(super) writer: Arc<tokio::sync::Mutex<()>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish()
    }
}

impl Store {
    /// Opens the store at `url` (`sqlite://path/to/file.db`, created if missing, or
    /// `postgres://…`) and brings its schema up to date with the embedded migrations.
    ///
    /// A pooled connection still inside a transaction is closed instead of reused: when SQLite
    /// fails a COMMIT (disk full, read-only file) it rolls the transaction back itself, the
    /// driver's own ROLLBACK then fails, and the connection would refuse every later BEGIN.
    /// SQLite connections opened before the last failure on the file are replaced too.
    pub async fn connect(url: &str) -> Result<Store, Error> {
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|_| Error::Url)?
                .create_if_missing(true)
                // Takes effect only on a new file (before its first table): erased content is
                // then given back by `PRAGMA incremental_vacuum` (see store::retention).
                .auto_vacuum(SqliteAutoVacuum::Incremental)
                // Erased content is overwritten with zeros, not left in the page's free space.
                .pragma("secure_delete", "ON")
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: input is acked on AMQP once committed, so a commit must survive power loss.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        Ok(!conn.is_in_transaction() && !sqlite_conn_predates_failure(meta.age))
                    })
                })
                .connect_with(options)
                .await
                .map_err(Error::Connect)?;
            SQLITE_MIGRATIONS.run(&pool).await.map_err(Error::Migrate)?;
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(|_| Error::Url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .before_acquire(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
                .connect_with(options)
                .await
                .map_err(Error::Connect)?;
            POSTGRES_MIGRATIONS
                .run(&pool)
                .await
                .map_err(Error::Migrate)?;
            Pool::Pg(pool)
        } else {
            return Err(Error::Url);
        };
        Ok(Store {
            pool,
            writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Which database this store runs on.
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

    pub(super) async fn acquire(&self) -> Result<PoolConn, Error> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => PoolConn::Sqlite(p.acquire().await?),
            Pool::Pg(p) => PoolConn::Pg(p.acquire().await?),
        })
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), Error> {
        let mut c = self.acquire().await?;
        let (one,): (i64,) = c
            .conn()
            .fetch_one(Q::new("SELECT CAST(1 AS BIGINT)"))
            .await?;
        if one == 1 {
            Ok(())
        } else {
            Err(Error::Value("the database answered a ping wrongly".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_url_schemes_are_refused() {
        assert!(matches!(
            Store::connect("mysql://x/y").await,
            Err(Error::Url)
        ));
    }
}
