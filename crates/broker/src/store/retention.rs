//! Retention in the store: which alerts' content may be erased, erasing it, legal holds, and
//! giving the space back to the file system (SQLite) or for reuse (PostgreSQL).
//!
//! An alert's content is the sealed bytes of its messages (`messages.raw`: the alert, its
//! updates and cancel, the agencies' receipts and acks) and the payloads of its outbox rows
//! (each delivery carries the school's sealed alert). Erasing empties those bytes and marks
//! them `erased_at`; sent outbox rows are deleted outright. Ids, codes, times, states,
//! digests and the audit log stay. An alert's messages are found by its id, its deliveries'
//! message ids, and the `message` its audit entries name.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::connection::{Backend, Store};
use super::error::Error;
use super::rows::{ms, uuid};
use super::tx::Tx;
use varsel_sql::{placeholders, Conn, Q};

/// Closed (acknowledged, cancelled, or closed with an outcome), not held, last changed at or before `$1`, with content
/// not yet erased since it last changed, and nothing of it still waiting in the outbox.
/// Written against the table's own name (no alias), so a single-row UPDATE can check it on
/// its row instead of through a subquery over every alert.
const ERASABLE_WHERE: &str = "alerts.state IN ('acknowledged', 'cancelled', 'closed') \
     AND alerts.legal_hold = 0 AND alerts.updated_at <= $1 \
     AND (alerts.erased_at IS NULL OR alerts.erased_at < alerts.updated_at) \
     AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.alert_id = alerts.id AND o.state = 'pending')";

/// What erasing one alert's content removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Erased {
    /// Messages whose sealed bytes were emptied.
    pub messages: u64,
    pub message_bytes: u64,
    /// Sent outbox rows deleted.
    pub outbox_deleted: u64,
    /// Outbox rows kept (failed, unroutable) whose payload was emptied.
    pub outbox_emptied: u64,
    pub outbox_bytes: u64,
}

impl Erased {
    /// Adds another alert's figures to these.
    pub fn add(&mut self, o: &Erased) {
        self.messages += o.messages;
        self.message_bytes += o.message_bytes;
        self.outbox_deleted += o.outbox_deleted;
        self.outbox_emptied += o.outbox_emptied;
        self.outbox_bytes += o.outbox_bytes;
    }
}

/// What pruning would do now, for `varsel store prune --dry-run`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Alerts whose content would be erased, and what that removes.
    pub alerts: u64,
    pub erased: Erased,
    /// Sent error replies (no alert) old enough to be deleted.
    pub error_replies: u64,
    /// Closed alerts as old that a legal hold keeps.
    pub held: u64,
    /// Alerts not closed (open or escalated): never erased.
    pub open: u64,
}

/// How the store's file gives erased space back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reclaim {
    /// SQLite with `auto_vacuum = INCREMENTAL`: free pages are returned to the file system.
    Incremental,
    /// SQLite created before incremental vacuum: free pages are reused but the file does not
    /// shrink until `varsel store vacuum` converts it.
    Reuse,
    /// PostgreSQL: VACUUM marks the space for reuse.
    Postgres,
}

varsel_sql::row! {
    struct Sum {
        n: i64,
        bytes: i64,
    }
}

impl Store {
    /// Up to `limit` alerts whose content may be erased, given the retention `cutoff` (alerts
    /// last changed at or before it), oldest first.
    pub async fn erasable(&self, cutoff: DateTime<Utc>, limit: u32) -> Result<Vec<Uuid>, Error> {
        let q = Q::new(format!(
            "SELECT id FROM alerts WHERE {ERASABLE_WHERE} ORDER BY updated_at, id LIMIT $2"
        ))
        .i64(ms(cutoff))
        .i64(i64::from(limit));
        let mut c = self.acquire().await?;
        let ids: Vec<(String,)> = c.conn().fetch_all(q).await?;
        ids.iter().map(|(id,)| uuid("alerts", "id", id)).collect()
    }

    /// What pruning at `cutoff` would erase and delete, without writing anything.
    pub async fn prune_plan(&self, cutoff: DateTime<Utc>) -> Result<Plan, Error> {
        let ids = self.erasable(cutoff, u32::MAX).await?;
        let mut c = self.acquire().await?;
        let mut plan = Plan {
            alerts: ids.len() as u64,
            ..Plan::default()
        };
        for id in ids {
            let messages = messages_of(&mut c.conn(), id).await?;
            let m = message_sum(&mut c.conn(), &messages).await?;
            let o = outbox_sum(&mut c.conn(), id).await?;
            plan.erased.add(&Erased {
                messages: m.n as u64,
                message_bytes: m.bytes as u64,
                outbox_deleted: o.n as u64,
                outbox_emptied: 0,
                outbox_bytes: o.bytes as u64,
            });
        }
        let (replies,): (i64,) = c
            .conn()
            .fetch_one(
                Q::new(format!(
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE {OLD_REPLIES_WHERE}"
                ))
                .i64(ms(cutoff)),
            )
            .await?;
        plan.error_replies = replies as u64;
        let (held,): (i64,) = c
            .conn()
            .fetch_one(
                Q::new(
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM alerts \
                     WHERE state IN ('acknowledged', 'cancelled', 'closed') AND legal_hold <> 0 \
                     AND updated_at <= $1",
                )
                .i64(ms(cutoff)),
            )
            .await?;
        plan.held = held as u64;
        let (open,): (i64,) = c
            .conn()
            .fetch_one(Q::new(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM alerts \
                 WHERE state NOT IN ('acknowledged', 'cancelled', 'closed')",
            ))
            .await?;
        plan.open = open as u64;
        Ok(plan)
    }

    /// Whether the alert is under a legal hold; `None` if there is no such alert.
    pub async fn legal_hold(&self, alert: Uuid) -> Result<Option<bool>, Error> {
        let mut c = self.acquire().await?;
        let row: Option<(i64,)> = c
            .conn()
            .fetch_optional(
                Q::new("SELECT legal_hold FROM alerts WHERE id = $1").text(alert.to_string()),
            )
            .await?;
        Ok(row.map(|(h,)| h != 0))
    }

    /// How this store gives erased space back (see [`Reclaim`]).
    pub async fn reclaim_mode(&self) -> Result<Reclaim, Error> {
        match self.backend() {
            Backend::Postgres => Ok(Reclaim::Postgres),
            Backend::Sqlite => {
                let mut c = self.acquire().await?;
                let (mode,): (i64,) = c.conn().fetch_one(Q::new("PRAGMA auto_vacuum")).await?;
                Ok(if mode == 2 {
                    Reclaim::Incremental
                } else {
                    Reclaim::Reuse
                })
            }
        }
    }

    /// Gives the space of erased content back after a prune: SQLite returns its free pages to
    /// the file system (incremental vacuum, and a WAL checkpoint so the file itself shrinks);
    /// PostgreSQL vacuums the pruned tables. Returns the bytes the SQLite file shrank by (0 on
    /// PostgreSQL, whose files keep the space for reuse).
    pub async fn reclaim(&self) -> Result<u64, Error> {
        self.give_back(false).await
    }

    /// The size of the store: the SQLite file's pages in use and free, or the PostgreSQL
    /// database's size on disk.
    pub async fn size(&self) -> Result<u64, Error> {
        let mut c = self.acquire().await?;
        let bytes: i64 = match self.backend() {
            Backend::Sqlite => {
                let (pages,): (i64,) = c.conn().fetch_one(Q::new("PRAGMA page_count")).await?;
                let (size,): (i64,) = c.conn().fetch_one(Q::new("PRAGMA page_size")).await?;
                pages * size
            }
            Backend::Postgres => {
                let (b,): (i64,) = c
                    .conn()
                    .fetch_one(Q::new(
                        "SELECT CAST(pg_database_size(current_database()) AS BIGINT)",
                    ))
                    .await?;
                b
            }
        };
        Ok(bytes.max(0) as u64)
    }

    /// Converts an SQLite file made before incremental vacuum (`VACUUM` rewrites the whole
    /// file: run it with the broker stopped) and returns the bytes the file shrank by. On
    /// PostgreSQL, a `VACUUM` of the pruned tables.
    pub async fn vacuum(&self) -> Result<u64, Error> {
        self.give_back(true).await
    }

    /// Frees erased space: on SQLite the free pages (`full`: by rewriting the whole file, which
    /// also turns incremental vacuum on), then a WAL checkpoint so the file itself shrinks; on
    /// PostgreSQL a `VACUUM` of the pruned tables. Returns how much the store shrank by.
    async fn give_back(&self, full: bool) -> Result<u64, Error> {
        let before = self.size().await?;
        let mut c = self.acquire().await?;
        match self.backend() {
            Backend::Sqlite => {
                // The writer queue keeps it from interleaving with a transaction of this process.
                let _turn = self.db.writer_turn().await;
                let steps: &[&str] = if full {
                    &["PRAGMA auto_vacuum = INCREMENTAL", "VACUUM"]
                } else {
                    &["PRAGMA incremental_vacuum"]
                };
                for step in steps.iter().chain(&["PRAGMA wal_checkpoint(TRUNCATE)"]) {
                    c.conn().execute(Q::new(*step)).await?;
                }
            }
            Backend::Postgres => {
                c.conn().execute(Q::new("VACUUM messages, outbox")).await?;
            }
        }
        drop(c);
        Ok(before.saturating_sub(self.size().await?))
    }
}

/// Sent error replies (outbox rows of no alert) older than `$1`.
const OLD_REPLIES_WHERE: &str =
    "alert_id IS NULL AND message_kind = 'error' AND state = 'sent' AND sent_at <= $1";

impl Tx {
    /// Erases the content of `alert` if it is still erasable at `cutoff` (checked again inside
    /// this transaction, so a follow-up or a hold that arrived since keeps it). `None` if it
    /// was not erased.
    pub async fn erase_alert(
        &mut self,
        alert: Uuid,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Erased>, Error> {
        let marked = self
            .conn()
            .execute(
                Q::new(format!(
                    "UPDATE alerts SET erased_at = $2 WHERE id = $3 AND {ERASABLE_WHERE}"
                ))
                .i64(ms(cutoff))
                .i64(ms(now))
                .text(alert.to_string()),
            )
            .await?;
        if marked == 0 {
            return Ok(None);
        }
        let messages = messages_of(&mut self.conn(), alert).await?;
        let m = message_sum(&mut self.conn(), &messages).await?;
        if !messages.is_empty() {
            let mut q = Q::new(format!(
                "UPDATE messages SET raw = $1, erased_at = $2 WHERE erased_at IS NULL AND id IN ({})",
                placeholders(3, messages.len())
            ))
            .bytes(Vec::new())
            .i64(ms(now));
            for id in &messages {
                q = q.text(id.clone());
            }
            self.conn().execute(q).await?;
        }
        // The alert's rows are read by `alert_id` alone and then changed by id: with the state
        // in the same WHERE, SQLite would search by state instead and read every sent row.
        let rows: Vec<(i64, String, i64, Option<i64>)> = self
            .conn()
            .fetch_all(
                Q::new(
                    "SELECT id, state, CAST(LENGTH(payload) AS BIGINT), erased_at FROM outbox \
                     WHERE alert_id = $1",
                )
                .text(alert.to_string()),
            )
            .await?;
        let kept = |(_, _, _, erased): &&(i64, String, i64, Option<i64>)| erased.is_none();
        let outbox_bytes: i64 = rows.iter().filter(kept).map(|r| r.2.max(0)).sum();
        let ids = |state: &dyn Fn(&str) -> bool| -> Vec<i64> {
            rows.iter()
                .filter(kept)
                .filter(|r| state(&r.1))
                .map(|r| r.0)
                .collect()
        };
        let sent = ids(&|s| s == "sent");
        let settled = ids(&|s| s != "sent" && s != "pending");
        let deleted = self.by_ids("DELETE FROM outbox WHERE", &sent, None).await?;
        let emptied = self
            .by_ids(
                "UPDATE outbox SET payload = $1, erased_at = $2 WHERE",
                &settled,
                Some(now),
            )
            .await?;
        Ok(Some(Erased {
            messages: m.n as u64,
            message_bytes: m.bytes as u64,
            outbox_deleted: deleted,
            outbox_emptied: emptied,
            outbox_bytes: outbox_bytes as u64,
        }))
    }

    /// Runs `head` (a DELETE or UPDATE up to its WHERE) on the outbox rows `ids`; with `erased`,
    /// `$1` is bound to an empty payload and `$2` to that time.
    async fn by_ids(
        &mut self,
        head: &str,
        ids: &[i64],
        erased: Option<DateTime<Utc>>,
    ) -> Result<u64, Error> {
        if ids.is_empty() {
            return Ok(0);
        }
        let first = if erased.is_some() { 3 } else { 1 };
        let mut q = Q::new(format!("{head} id IN ({})", placeholders(first, ids.len())));
        if let Some(at) = erased {
            q = q.bytes(Vec::new()).i64(ms(at));
        }
        for id in ids {
            q = q.i64(*id);
        }
        Ok(self.conn().execute(q).await?)
    }

    /// Deletes up to `limit` sent error replies older than `cutoff` (their refusals stay in the
    /// audit log, with the refused bytes' digest in `refused_bytes`). Returns the rows and bytes.
    pub async fn prune_error_replies(
        &mut self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<(u64, u64), Error> {
        let ids: Vec<(i64, i64)> = self
            .conn()
            .fetch_all(
                Q::new(format!(
                    "SELECT id, CAST(LENGTH(payload) AS BIGINT) FROM outbox \
                     WHERE {OLD_REPLIES_WHERE} ORDER BY id LIMIT $2"
                ))
                .i64(ms(cutoff))
                .i64(i64::from(limit)),
            )
            .await?;
        if ids.is_empty() {
            return Ok((0, 0));
        }
        let rows = self
            .by_ids(
                "DELETE FROM outbox WHERE",
                &ids.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
                None,
            )
            .await?;
        Ok((rows, ids.iter().map(|(_, b)| (*b).max(0) as u64).sum()))
    }

    /// Sets or clears the legal hold on an alert. `None` if there is no such alert, otherwise
    /// whether the hold changed.
    pub async fn set_legal_hold(&mut self, alert: Uuid, hold: bool) -> Result<Option<bool>, Error> {
        let changed = self
            .conn()
            .execute(
                Q::new("UPDATE alerts SET legal_hold = $1 WHERE id = $2 AND legal_hold <> $1")
                    .i64(i64::from(hold))
                    .text(alert.to_string()),
            )
            .await?;
        if changed == 1 {
            return Ok(Some(true));
        }
        let exists: Option<(String,)> = self
            .conn()
            .fetch_optional(Q::new("SELECT id FROM alerts WHERE id = $1").text(alert.to_string()))
            .await?;
        Ok(exists.map(|_| false))
    }
}

/// The ids of the messages that belong to `alert`: its own, those its deliveries carry, and
/// those its audit entries name (receipts, acks, updates, cancels).
async fn messages_of(conn: &mut Conn<'_>, alert: Uuid) -> Result<Vec<String>, Error> {
    let id = alert.to_string();
    let mut ids = std::collections::BTreeSet::from([id.clone()]);
    let carried: Vec<(String,)> = conn
        .fetch_all(
            Q::new("SELECT DISTINCT message_id FROM deliveries WHERE alert_id = $1").text(&id),
        )
        .await?;
    ids.extend(carried.into_iter().map(|(m,)| m));
    let details: Vec<(String,)> = conn
        .fetch_all(Q::new("SELECT detail FROM audit WHERE alert_id = $1").text(&id))
        .await?;
    for (detail,) in details {
        let named = serde_json::from_str::<serde_json::Value>(&detail)
            .ok()
            .and_then(|d| d.get("message")?.as_str().map(str::to_owned));
        if let Some(m) = named.filter(|m| Uuid::parse_str(m).is_ok()) {
            ids.insert(m);
        }
    }
    Ok(ids.into_iter().collect())
}

/// How many outbox rows of `alert` still hold their payload, and how many bytes.
async fn outbox_sum(conn: &mut Conn<'_>, alert: Uuid) -> Result<Sum, Error> {
    let q = Q::new(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n, \
         CAST(COALESCE(SUM(LENGTH(payload)), 0) AS BIGINT) AS bytes \
         FROM outbox WHERE alert_id = $1 AND erased_at IS NULL",
    )
    .text(alert.to_string());
    Ok(conn.fetch_one(q).await?)
}

/// How many of `ids` still hold their bytes, and how many bytes.
async fn message_sum(conn: &mut Conn<'_>, ids: &[String]) -> Result<Sum, Error> {
    if ids.is_empty() {
        return Ok(Sum { n: 0, bytes: 0 });
    }
    let mut q = Q::new(format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n, CAST(COALESCE(SUM(LENGTH(raw)), 0) AS BIGINT) AS bytes \
         FROM messages WHERE erased_at IS NULL AND id IN ({})",
        placeholders(1, ids.len())
    ));
    for id in ids {
        q = q.text(id.clone());
    }
    Ok(conn.fetch_one(q).await?)
}
