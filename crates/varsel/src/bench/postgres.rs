//! A PostgreSQL database of the bench's own, for `--store postgres://…`.

use anyhow::Context;

use varsel_testkit::rabbitmq::short_id;

/// A fresh PostgreSQL database for one run.
pub(super) struct PgDatabase {
    pub(super) admin: String,
    pub(super) name: String,
    pub(super) url: String,
}

impl PgDatabase {
    pub(super) async fn create(admin: &str) -> anyhow::Result<PgDatabase> {
        use sqlx::Connection as _;
        let name = format!("varsel_bench_{}", short_id());
        let mut c = sqlx::PgConnection::connect(admin)
            .await
            .context("connecting to PostgreSQL")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut c)
            .await
            .context("creating the bench database")?;
        let _ = c.close().await;
        let base = match admin.rfind('/') {
            Some(i) if i > admin.find("://").map(|s| s + 2).unwrap_or(0) => &admin[..i],
            _ => admin,
        };
        Ok(PgDatabase {
            admin: admin.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }

    pub(super) async fn drop_it(self) {
        use sqlx::Connection as _;
        if let Ok(mut c) = sqlx::PgConnection::connect(&self.admin).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut c)
            .await;
            let _ = c.close().await;
        }
    }
}
