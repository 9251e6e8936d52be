//! The access log's table: appending an entry chained to the last, reading and verifying it.

use serde_json::Value;
use uuid::Uuid;
use varsel_sql::Q;

use super::{Error, Store};
use crate::access_log::{self, Action, Broken, Entry, Link};

/// The advisory lock key that serialises the access log's appends on PostgreSQL across desk
/// processes ("varsel-d" in ASCII); on SQLite the write transaction's lock does.
const LOG_LOCK_KEY: i64 = 0x7661_7273_656c_2d64;

const COLUMNS: &str = "seq, at, actor, action, delivery, detail, prev_hash, hash";

varsel_sql::row! {
    struct Row {
        seq: i64,
        at: i64,
        actor: String,
        action: String,
        delivery: Option<String>,
        detail: String,
        prev_hash: Vec<u8>,
        hash: Vec<u8>,
    }
}

impl Row {
    fn link(self) -> Result<Link, Error> {
        Ok(Link {
            entry: Entry {
                seq: self.seq,
                at: self.at,
                actor: self.actor,
                action: self.action,
                delivery: self
                    .delivery
                    .map(|d| d.parse())
                    .transpose()
                    .map_err(|e| Error::Corrupt(format!("access log delivery: {e}")))?,
                detail: serde_json::from_str(&self.detail)
                    .map_err(|e| Error::Corrupt(format!("access log detail: {e}")))?,
            },
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

impl Store {
    /// Appends an entry after the last one, in a transaction that holds the log's lock across
    /// processes (PostgreSQL's advisory lock, SQLite's write lock), so each entry follows the
    /// last one committed by any desk.
    pub async fn log_access(
        &self,
        actor: &str,
        action: Action,
        delivery: Option<Uuid>,
        detail: Value,
        now: i64,
    ) -> Result<Link, Error> {
        let mut tx = self.begin().await?;
        tx.conn().chain_lock(LOG_LOCK_KEY).await?;
        let last: Option<Row> = tx
            .conn()
            .fetch_optional(Q::new(format!(
                "SELECT {COLUMNS} FROM access_log ORDER BY seq DESC LIMIT 1"
            )))
            .await?;
        let last = last.map(Row::link).transpose()?;
        let l = access_log::link(last.as_ref(), now, actor, action, delivery, detail);
        tx.conn()
            .execute(
                Q::new(
                    "INSERT INTO access_log (seq, at, actor, action, delivery, detail, prev_hash, \
                     hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .i64(l.entry.seq)
                .i64(l.entry.at)
                .text(&l.entry.actor)
                .text(&l.entry.action)
                .opt_text(l.entry.delivery.map(|d| d.to_string()))
                .text(varsel_protocol::canonical::to_string(&l.entry.detail))
                .bytes(l.prev_hash.clone())
                .bytes(l.hash.clone()),
            )
            .await?;
        tx.commit().await?;
        Ok(l)
    }

    /// The whole access log in order.
    pub async fn access_log(&self) -> Result<Vec<Link>, Error> {
        let rows: Vec<Row> = self
            .conn()
            .await?
            .conn()
            .fetch_all(Q::new(format!(
                "SELECT {COLUMNS} FROM access_log ORDER BY seq"
            )))
            .await?;
        rows.into_iter().map(Row::link).collect()
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
        crate::store::testing::on_both(|ctx| entries_chain_and_an_edit_is_found(ctx.store)).await;
    }

    /// Two desks on one store append at once: every append succeeds, in one unbroken chain.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_desks_appending_at_once_make_one_chain() {
        crate::store::testing::on_both(|ctx| async move {
            let other = ctx.another_desk().await;
            let mut appends = Vec::new();
            for i in 0..24 {
                let desk = if i % 2 == 0 { &ctx.store } else { &other }.clone();
                appends.push(tokio::spawn(async move {
                    desk.log_access(
                        &format!("handlaggare{}", i % 2),
                        Action::Opened,
                        None,
                        json!({ "n": i }),
                        1_800_000_000_000 + i,
                    )
                    .await
                }));
            }
            for a in appends {
                a.await.unwrap().expect("every append succeeds");
            }
            assert_eq!(ctx.store.verify_access_log().await.unwrap(), Ok(24));
            other.close().await;
        })
        .await;
    }

    async fn entries_chain_and_an_edit_is_found(store: Store) {
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
        store
            .execute(Q::new(
                "UPDATE access_log SET actor = 'someone' WHERE seq = 2",
            ))
            .await
            .unwrap();
        assert_eq!(store.verify_access_log().await.unwrap().unwrap_err().seq, 2);
    }

    /// The inbox consumer writes while a page logs an access: the entry waits for it instead of
    /// failing with "database is locked" (a read transaction cannot be upgraded once another
    /// connection wrote).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_entry_is_written_while_the_inbox_writes() {
        crate::store::testing::on_both(|ctx| written_while_the_inbox_writes(ctx.store)).await;
    }

    async fn written_while_the_inbox_writes(store: Store) {
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
