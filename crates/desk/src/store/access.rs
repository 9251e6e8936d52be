//! The access log's table: appending an entry chained to the last, reading and verifying it.

use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;

use super::{Error, Store};
use crate::access_log::{self, Action, Broken, Entry, Link};

fn link(row: &sqlx::sqlite::SqliteRow) -> Result<Link, Error> {
    let delivery: Option<String> = row.try_get("delivery")?;
    let detail: String = row.try_get("detail")?;
    Ok(Link {
        entry: Entry {
            seq: row.try_get("seq")?,
            at: row.try_get("at")?,
            actor: row.try_get("actor")?,
            action: row.try_get("action")?,
            delivery: delivery
                .map(|d| d.parse())
                .transpose()
                .map_err(|e| Error::Corrupt(format!("access log delivery: {e}")))?,
            detail: serde_json::from_str(&detail)
                .map_err(|e| Error::Corrupt(format!("access log detail: {e}")))?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

impl Store {
    /// Appends an entry after the last one.
    pub async fn log_access(
        &self,
        actor: &str,
        action: Action,
        delivery: Option<Uuid>,
        detail: Value,
        now: i64,
    ) -> Result<Link, Error> {
        let _one_writer = self.log_writer.lock().await;
        // Taken for writing at once: a transaction that read first could not write after
        // another connection (the inbox consumer) wrote, and would fail at once.
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let last = sqlx::query("SELECT * FROM access_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        let last = last.as_ref().map(link).transpose()?;
        let l = access_log::link(last.as_ref(), now, actor, action, delivery, detail);
        sqlx::query(
            "INSERT INTO access_log (seq, at, actor, action, delivery, detail, prev_hash, hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(l.entry.seq)
        .bind(l.entry.at)
        .bind(&l.entry.actor)
        .bind(&l.entry.action)
        .bind(l.entry.delivery.map(|d| d.to_string()))
        .bind(varsel_protocol::canonical::to_string(&l.entry.detail))
        .bind(&l.prev_hash)
        .bind(&l.hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(l)
    }

    /// The whole access log in order.
    pub async fn access_log(&self) -> Result<Vec<Link>, Error> {
        let rows = sqlx::query("SELECT * FROM access_log ORDER BY seq")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(link).collect()
    }

    /// Verifies the whole access log; the number of entries, or where it is broken.
    pub async fn verify_access_log(&self) -> Result<Result<usize, Broken>, Error> {
        Ok(access_log::verify(&self.access_log().await?))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use varsel_protocol::message::ParticipantId;

    use super::*;

    #[tokio::test]
    async fn entries_chain_in_the_store_and_an_edit_is_found() {
        let (_dir, store) = crate::store::scratch().await;
        let d = Uuid::now_v7();
        for i in 0..3 {
            store
                .log_access(
                    "handlaggare1",
                    Action::Opened,
                    Some(d),
                    json!({"sections": ["core"]}),
                    1_800_000_000_000 + i,
                )
                .await
                .unwrap();
        }
        assert_eq!(store.verify_access_log().await.unwrap(), Ok(3));
        sqlx::query("UPDATE access_log SET actor = 'someone' WHERE seq = 2")
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(store.verify_access_log().await.unwrap().unwrap_err().seq, 2);
    }

    /// The inbox consumer writes while a page logs an access: the entry waits for it instead of
    /// failing with "database is locked" (a read transaction cannot be upgraded once another
    /// connection wrote).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_entry_is_written_while_the_inbox_writes() {
        let (_dir, store) = crate::store::scratch().await;
        let inbox = store.clone();
        let p: ParticipantId = "norrkoping-ektorpsskolan".parse().unwrap();
        let writes = tokio::spawn(async move {
            for i in 0..240u32 {
                inbox
                    .keep_other(&p, "feedback", &i.to_be_bytes(), 1)
                    .await
                    .unwrap();
            }
        });
        for i in 0..60 {
            store
                .log_access("kurator", Action::Opened, None, json!({}), i)
                .await
                .unwrap();
        }
        writes.await.unwrap();
        assert_eq!(store.verify_access_log().await.unwrap(), Ok(60));
    }
}
