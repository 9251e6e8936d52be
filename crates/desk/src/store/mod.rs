//! The desk's own store, on SQLite (one file, WAL: the default, one desk process) or PostgreSQL
//! (several desk processes may share it), its schema brought up to date by the embedded
//! migrations. [`accounts`], [`sessions`], [`deliveries`], [`sent`], [`follow_ups`],
//! [`journal`], [`notes`] and [`access`] add the queries of each table; [`streams`] what the live
//! inbox asks. No column holds a pupil's personal data: deliveries are kept sealed, and the TOTP
//! secrets and the journal's texts are sealed with the desk's [`secrets`](crate::secrets) key.
//!
//! How to add to it:
//! - a table: a migration in both `migrations/sqlite/` and `migrations/postgres/` under the same
//!   number and name (SQLite's `INTEGER`/`BLOB` are PostgreSQL's `BIGINT`/`BYTEA`: a number read
//!   as `i64` must be a `BIGINT` there);
//! - queries: a file here with an `impl Store` block; one SQL text for both backends, built with
//!   varsel-sql's [`Q`] (`$1, $2, …` placeholders) and run on [`Store::conn`] (one statement) or
//!   in a [`Store::begin`] transaction (several that must hold together); rows decode into tuples
//!   or `varsel_sql::row!` structs of `i64`, `String`, `Vec<u8>` and their `Option`s;
//!   `RETURNING` instead of a last insert id.
//!
//! Concurrency: a write transaction takes SQLite's write lock at its start (`BEGIN IMMEDIATE`), so
//! writers of every process queue; on PostgreSQL, the access log's appends are serialised by an
//! advisory lock (see [`access`]), and the rest relies on conditional updates (`WHERE ack_state IS
//! NULL`) and keys (`ON CONFLICT DO NOTHING`), which hold on both.

pub mod access;
pub mod accounts;
pub mod deliveries;
pub mod follow_ups;
pub mod journal;
pub mod notes;
pub mod sent;
pub mod sessions;
pub mod streams;

use std::sync::Arc;

use varsel_sql::{BeginError, Db, OpenError, PoolConn, Settings, Tx, Q};

pub use varsel_sql::Backend;

use crate::config::{Config, StoreAt};
use crate::secrets::{self, Key};

/// The schema, embedded (a test holds this list equal to the migrations directories).
static MIGRATIONS: varsel_sql::migrations::Migrations = varsel_sql::migrations![
    "0001_desk.sql",
    "0002_sent.sql",
    "0003_sealed_secrets.sql",
    "0004_follow_ups.sql",
    "0005_journal.sql",
    "0006_sent_notes.sql",
];

static SETTINGS: Settings = Settings {
    migrations: MIGRATIONS,
    sqlite_connections: 4,
    postgres_connections: 8,
};

/// What the key check seals (see [`Store::check_key`]).
const KEY_CHECK: &[u8] = b"varsel desk secrets key";
const KEY_CHECK_CONTEXT: &str = "key check";

/// What went wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the desk's store {at}: {source}")]
    Open {
        at: String,
        #[source]
        source: OpenError,
    },
    #[error(transparent)]
    Key(#[from] secrets::Error),
    #[error(
        "the desk's store was sealed with another key than the one in {0}: start it with the \
         key file it was first used with"
    )]
    WrongKey(std::path::PathBuf),
    #[error("the desk's store: {0}")]
    Sql(#[source] sqlx::Error),
    #[error("the desk's store was busy for longer than its timeout")]
    Busy,
    #[error("the desk's store holds a value it cannot read: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Error {
        varsel_sql::note_failure(&e);
        Error::Sql(e)
    }
}

impl From<BeginError> for Error {
    fn from(e: BeginError) -> Error {
        match e {
            BeginError::Busy => Error::Busy,
            BeginError::Sql(e) => e.into(),
        }
    }
}

/// A message or delivery id read back from a text column; `name` says which, when it is not one.
pub(crate) fn parse_uuid(name: &str, s: &str) -> Result<uuid::Uuid, Error> {
    s.parse()
        .map_err(|e| Error::Corrupt(format!("{name} {s:?}: {e}")))
}

/// A handle on the store; clones share one pool.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    key: Arc<Key>,
}

impl Store {
    /// Opens the store `config` names with its secrets key, which must exist.
    pub async fn open(config: &Config) -> Result<Store, Error> {
        Store::open_at(&config.store, Key::load(&config.secrets_key)?).await
    }

    /// Like [`Store::open`], making the secrets key first if there is none (for the first
    /// account: `varsel desk user add`).
    pub async fn open_making_key(config: &Config) -> Result<Store, Error> {
        Store::open_at(&config.store, Key::load_or_create(&config.secrets_key)?).await
    }

    /// Opens (creating a SQLite file if missing) and migrates the store at `at`, and checks that
    /// `key` is the one its secrets were sealed with.
    pub async fn open_at(at: &StoreAt, key: Key) -> Result<Store, Error> {
        let db = Db::connect(&at.url(), &SETTINGS)
            .await
            .map_err(|source| Error::Open {
                at: match at {
                    StoreAt::Sqlite(path) => path.display().to_string(),
                    // The URL may hold a password.
                    StoreAt::Postgres(_) => "(PostgreSQL, as `store` names it)".into(),
                },
                source,
            })?;
        let store = Store {
            db,
            key: Arc::new(key),
        };
        store.check_key().await?;
        Ok(store)
    }

    /// The first key a store is used with seals a known value; any later one must open it.
    async fn check_key(&self) -> Result<(), Error> {
        let sealed = self.key.seal(KEY_CHECK_CONTEXT, KEY_CHECK);
        let mut c = self.conn().await?;
        c.conn()
            .execute(
                Q::new(
                    "INSERT INTO key_check (id, sealed) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
                )
                .bytes(sealed),
            )
            .await?;
        let (stored,): (Vec<u8>,) = c
            .conn()
            .fetch_one(Q::new("SELECT sealed FROM key_check WHERE id = 1"))
            .await?;
        match self.key.open(KEY_CHECK_CONTEXT, &stored) {
            Some(v) if v == KEY_CHECK => Ok(()),
            _ => Err(Error::WrongKey(self.key.file().to_owned())),
        }
    }

    /// Which database the store is on.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// A pooled connection, for one statement.
    pub(crate) async fn conn(&self) -> Result<PoolConn, Error> {
        Ok(self.db.acquire().await?)
    }

    /// A write transaction, for statements that must hold together.
    pub(crate) async fn begin(&self) -> Result<Tx, Error> {
        Ok(self.db.begin().await?)
    }

    /// Runs one statement; the number of rows it changed.
    pub(crate) async fn execute(&self, q: Q) -> Result<u64, Error> {
        Ok(self.conn().await?.conn().execute(q).await?)
    }

    pub(crate) fn key(&self) -> &Key {
        &self.key
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.db.close().await
    }
}

/// What the store's tests share: every test body runs on a fresh SQLite file and on a fresh
/// PostgreSQL database (`VARSEL_TEST_POSTGRES`, or the local one; a PostgreSQL that cannot be
/// reached fails the test, it is not skipped).
#[cfg(test)]
pub(crate) mod testing {
    use std::future::Future;

    use super::*;

    /// A store on a SQLite file in `dir`, sealed with a new key there.
    pub(crate) async fn sqlite(dir: &std::path::Path) -> Store {
        let key = Key::load_or_create(&dir.join("secrets.key")).unwrap();
        Store::open_at(&StoreAt::Sqlite(dir.join("desk.sqlite")), key)
            .await
            .unwrap()
    }

    /// What a test body gets: a store, and what opens another handle on it (another desk).
    pub(crate) struct Ctx {
        pub(crate) store: Store,
        pub(crate) at: StoreAt,
        pub(crate) key_file: std::path::PathBuf,
    }

    impl Ctx {
        /// Another handle with a pool of its own, as another desk process has.
        pub(crate) async fn another_desk(&self) -> Store {
            Store::open_at(&self.at, Key::load(&self.key_file).unwrap())
                .await
                .unwrap()
        }
    }

    /// Runs `body` on a store on each backend.
    pub(crate) async fn on_both<F, Fut>(body: F)
    where
        F: Fn(Ctx) -> Fut,
        Fut: Future<Output = ()>,
    {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(dir.path()).await;
        assert_eq!(store.backend(), Backend::Sqlite);
        body(Ctx {
            store: store.clone(),
            at: StoreAt::Sqlite(dir.path().join("desk.sqlite")),
            key_file: dir.path().join("secrets.key"),
        })
        .await;
        store.close().await;

        let pg = varsel_testkit::fleet::Database::create(&varsel_testkit::fleet::admin_pg()).await;
        let at = StoreAt::Postgres(pg.url.clone().into());
        let key_file = dir.path().join("pg.key");
        let store = Store::open_at(&at, Key::load_or_create(&key_file).unwrap())
            .await
            .unwrap();
        assert_eq!(store.backend(), Backend::Postgres);
        body(Ctx {
            store: store.clone(),
            at,
            key_file,
        })
        .await;
        store.close().await;
    }
}

#[cfg(test)]
mod migration_files {
    #[test]
    fn every_migration_file_is_embedded_as_it_is() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let problems = varsel_sql::migrations::unembedded(&root, &super::MIGRATIONS);
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
