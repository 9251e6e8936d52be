//! Audit rows: the entries to append and as stored, reading the chain, and chaining a
//! transaction's entries at commit under the hash rule of [`crate::chain`].

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::connection::Store;
use super::error::Error;
use super::rows::{convert_all, json, ms, opt_uuid, time};
use varsel_sql::{Conn, Q};

/// The advisory lock key that serialises audit appends on PostgreSQL ("varsel-a" in ASCII).
const AUDIT_LOCK_KEY: i64 = 0x7661_7273_656c_2d61;

/// The last entry's seq and hash.
const HEAD: &str = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1";

const AUDIT_COLS: &str = "seq, at, actor, action, alert_id, delivery_id, detail, prev_hash, hash";

/// An audit entry to append. `detail` holds metadata only (codes, ids, counts), never content.
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub at: DateTime<Utc>,
    /// Who did it: a participant id, `broker`, or an ops user.
    pub actor: String,
    /// What happened, as a code such as `alert.accepted`.
    pub action: String,
    pub alert: Option<Uuid>,
    pub delivery: Option<Uuid>,
    pub detail: serde_json::Value,
}

/// A stored audit entry; see [`crate::chain`] for how `hash` is computed.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub alert: Option<Uuid>,
    pub delivery: Option<Uuid>,
    pub detail: serde_json::Value,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

impl AuditRow {
    /// The fields of this entry that its hash covers.
    pub fn entry(&self) -> crate::chain::Entry<'_> {
        crate::chain::Entry {
            seq: self.seq,
            at: ms(self.at),
            actor: &self.actor,
            action: &self.action,
            alert: self.alert,
            delivery: self.delivery,
            detail: &self.detail,
        }
    }
}

varsel_sql::row! {
    struct RawAudit {
        seq: i64,
        at: i64,
        actor: String,
        action: String,
        alert_id: Option<String>,
        delivery_id: Option<String>,
        detail: String,
        prev_hash: Vec<u8>,
        hash: Vec<u8>,
    }
}

impl RawAudit {
    fn into_row(self) -> Result<AuditRow, Error> {
        const T: &str = "audit";
        Ok(AuditRow {
            seq: self.seq,
            at: time(T, "at", self.at)?,
            actor: self.actor,
            action: self.action,
            alert: opt_uuid(T, "alert_id", self.alert_id.as_deref())?,
            delivery: opt_uuid(T, "delivery_id", self.delivery_id.as_deref())?,
            detail: json(T, "detail", &self.detail)?,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

impl Store {
    /// Audit entries ordered by seq: the whole chain, or only those naming `alert`.
    pub async fn audit_entries(&self, alert: Option<Uuid>) -> Result<Vec<AuditRow>, Error> {
        let q = match alert {
            None => Q::new(format!("SELECT {AUDIT_COLS} FROM audit ORDER BY seq")),
            Some(a) => Q::new(format!(
                "SELECT {AUDIT_COLS} FROM audit WHERE alert_id = $1 ORDER BY seq"
            ))
            .text(a.to_string()),
        };
        let mut c = self.acquire().await?;
        let rows: Vec<RawAudit> = c.conn().fetch_all(q).await?;
        convert_all(rows, RawAudit::into_row)
    }

    /// The last audit entry's seq and hash, if the log is not empty.
    pub async fn audit_head(&self) -> Result<Option<(i64, Vec<u8>)>, Error> {
        let mut c = self.acquire().await?;
        Ok(c.conn().fetch_optional(Q::new(HEAD)).await?)
    }
}

/// The last entry's seq and hash, read on `conn`.
pub(super) async fn head(mut conn: Conn<'_>) -> Result<Option<(i64, Vec<u8>)>, Error> {
    Ok(conn.fetch_optional(Q::new(HEAD)).await?)
}

/// Chains `entries` (each with its canonical detail text) after the last stored entry, under
/// the chain lock.
pub(super) async fn append(
    mut conn: Conn<'_>,
    entries: Vec<(NewAudit, String)>,
) -> Result<(), Error> {
    conn.chain_lock(AUDIT_LOCK_KEY).await?;
    let tail: Option<(i64, Vec<u8>)> = conn.fetch_optional(Q::new(HEAD)).await?;
    let (mut seq, mut prev) = tail.unwrap_or((0, crate::chain::GENESIS.to_vec()));
    for (e, detail) in entries {
        seq += 1;
        let at = ms(e.at);
        let hash = crate::chain::entry_hash_with(
            &prev,
            &crate::chain::Entry {
                seq,
                at,
                actor: &e.actor,
                action: &e.action,
                alert: e.alert,
                delivery: e.delivery,
                detail: &e.detail,
            },
            &detail,
        );
        let q = Q::new(
            "INSERT INTO audit (seq, at, actor, action, alert_id, delivery_id, detail, \
             prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .i64(seq)
        .i64(at)
        .text(e.actor)
        .text(e.action)
        .opt_text(e.alert.map(|a| a.to_string()))
        .opt_text(e.delivery.map(|d| d.to_string()))
        .text(detail)
        .bytes(prev)
        .bytes(hash.to_vec());
        conn.execute(q).await?;
        prev = hash.to_vec();
    }
    Ok(())
}
