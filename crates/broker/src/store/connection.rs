//! Opening the store: the database of either backend with the broker's schema migrations (the
//! pools and their settings are varsel-sql's), and the [`Store`] handle that the other store
//! modules add their queries to.

use std::fmt;

use varsel_sql::{Db, PoolConn, Settings, Q};

use super::error::Error;

pub use varsel_sql::Backend;

/// The schema, embedded (a test holds this list equal to the migrations directories).
static MIGRATIONS: varsel_sql::migrations::Migrations = varsel_sql::migrations![
    "0001_store.sql",
    "0002_outbox_urgency_and_indexes.sql",
    "0003_outbox_message.sql",
    "0004_error_replies.sql",
    "0005_retention.sql",
    "0006_lines.sql",
];

static SETTINGS: Settings = Settings {
    migrations: MIGRATIONS,
    sqlite_connections: 8,
    postgres_connections: 16,
};

/// A handle on the store. Cloning is cheap: clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    pub(super) db: Db,
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
    pub async fn connect(url: &str) -> Result<Store, Error> {
        Ok(Store {
            db: Db::connect(url, &SETTINGS).await?,
        })
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        self.db.close().await
    }

    pub(super) async fn acquire(&self) -> Result<PoolConn, Error> {
        Ok(self.db.acquire().await?)
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
            Err(Error::Open(varsel_sql::OpenError::Url))
        ));
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
