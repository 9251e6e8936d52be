//! What the store's test binaries share: every test body is written once and runs against a
//! fresh SQLite file and a fresh PostgreSQL database (`on_both!`), fixed test times, and raw SQL
//! for tampering behind the store's back.
#![allow(dead_code)]

use std::future::Future;

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Connection};
use uuid::Uuid;

use varsel_broker::store::{Backend, Store};

pub const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const BASE_MS: i64 = 1_700_000_000_000;

/// A moment `ms` milliseconds after a fixed base time.
pub fn t(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(BASE_MS + ms).expect("test time in range")
}

/// What a test body gets: an open store and the URL to open more handles on the same database.
pub struct Ctx {
    pub store: Store,
    pub url: String,
}

pub async fn on_sqlite<F, Fut>(body: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("varsel.db").display());
    let store = Store::connect(&url).await.expect("open SQLite store");
    assert_eq!(store.backend(), Backend::Sqlite);
    let outcome = tokio::spawn(body(Ctx {
        store: store.clone(),
        url,
    }))
    .await;
    store.close().await;
    drop(dir);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[host_start..].find('/') {
        Some(i) => &base[..host_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

pub async fn on_postgres<F, Fut>(body: F)
where
    F: FnOnce(Ctx) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let admin_url = std::env::var("VARSEL_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_PG.into());
    let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(c) => c,
        Err(e) => panic!(
            "PostgreSQL is not reachable ({e}). These tests need it: start it, or point \
             VARSEL_TEST_POSTGRES at it (default {DEFAULT_PG})."
        ),
    };
    let name = format!("varsel_test_{}", Uuid::now_v7().simple());
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let url = with_database(&admin_url, &name);
    // The body runs in its own task so that a failing assertion still lets the database go.
    let outcome = tokio::spawn(async move {
        let store = Store::connect(&url).await.expect("open PostgreSQL store");
        assert_eq!(store.backend(), Backend::Postgres);
        body(Ctx {
            store: store.clone(),
            url,
        })
        .await;
        store.close().await;
    })
    .await;
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .expect("drop the test database");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Runs raw SQL against the database behind the store, bypassing it (to tamper).
pub async fn raw_sql(url: &str, sql: &str) {
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url)
            .await
            .expect("raw SQLite");
        sqlx::query(AssertSqlSafe(sql.to_owned()))
            .execute(&mut c)
            .await
            .expect("raw SQL");
    } else {
        let mut c = sqlx::PgConnection::connect(url)
            .await
            .expect("raw PostgreSQL");
        sqlx::query(AssertSqlSafe(sql.to_owned()))
            .execute(&mut c)
            .await
            .expect("raw SQL");
    }
}

#[macro_export]
macro_rules! on_both {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::on_sqlite(super::$name).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::on_postgres(super::$name).await
                }
            )+
        }
    };
}

pub fn participant(id: &str) -> varsel_protocol::message::ParticipantId {
    id.parse().expect("valid participant id")
}
