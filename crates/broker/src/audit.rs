//! The audit log as an inspector reads it: verifying the stored chain and exporting one
//! alert's history in a form that can be verified on its own. Entries are appended by the store
//! ([`Tx::audit`](crate::store::Tx::audit)) under the hash rule of [`crate::chain`], which also
//! describes the chain.
//!
//! # Exporting one alert
//!
//! [`export`] writes a self-contained JSON record of one alert's entries: every entry with its
//! fields, its `prev_hash` (the hash of the entry just before it in the whole chain, which
//! usually belongs to another alert) and its `hash`, plus the chain's head at export time. An
//! inspector verifies it by ([`verify_export`] does the same):
//! 1. recomputing each entry's hash from its `prev_hash` and fields by the chain's rule: this
//!    proves the entry is exactly what was chained after `prev_hash`;
//! 2. checking that seqs increase, and that where two exported entries are consecutive
//!    (seq n and n+1) the second's `prev_hash` is the first's `hash`;
//! 3. checking that every entry names the exported alert and no seq exceeds the head's
//!    (and equals its hash where the last entry is the head).
//!
//! To tie the subset to the full chain, the inspector compares each exported `hash` with the
//! entry of the same seq in the store (after [`verify`] passes on the whole chain there), or
//! compares the exported head with the head the operator publishes: a later chain can only
//! contain the exported entries unchanged, because every later hash depends on them.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::chain::{self, entry_hash, Entry, Link, GENESIS};
use crate::store::{self, AuditRow, Store};

pub use crate::chain::Broken;

/// The `format` of an [`export`].
pub const EXPORT_FORMAT: &str = "varsel-audit-export/1";

/// Why an audit export could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the audit log: {0}")]
    Store(#[from] store::Error),
}

/// Checks a whole stored chain, given in seq order from entry 1 (see [`chain::verify`]).
/// Returns how many entries were checked, or the first entry that fails.
pub fn verify(entries: &[AuditRow]) -> Result<usize, Broken> {
    chain::verify(entries.iter().map(|row| Link {
        entry: row.entry(),
        prev_hash: &row.prev_hash,
        hash: &row.hash,
    }))
}

/// A self-contained, verifiable record of one alert's audit entries (see the module
/// documentation for its form and how to check it).
pub async fn export(store: &Store, alert: Uuid) -> Result<Value, Error> {
    let entries = store.audit_entries(Some(alert)).await?;
    let head = store.audit_head().await?;
    let entries: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "seq": e.seq,
                "at": e.at.timestamp_millis(),
                "actor": e.actor,
                "action": e.action,
                "alert": e.alert.map(|a| a.to_string()),
                "delivery": e.delivery.map(|d| d.to_string()),
                "detail": e.detail,
                "prev_hash": hex::encode(&e.prev_hash),
                "hash": hex::encode(&e.hash),
            })
        })
        .collect();
    Ok(json!({
        "format": EXPORT_FORMAT,
        "alert": alert.to_string(),
        "hash_rule": "hash = SHA-256(prev_hash || RFC 8785 canonical JSON of {seq, at (unix ms), \
                      actor, action, alert, delivery, detail}); entry 1 has prev_hash = 32 zero bytes",
        "chain_head": head.map(|(seq, hash)| json!({ "seq": seq, "hash": hex::encode(hash) })),
        "entries": entries,
    }))
}

/// Verifies an [`export`] on its own: every entry's hash, the links between consecutive
/// entries, that every entry names the exported alert, and the head.
pub fn verify_export(export: &Value) -> Result<(), Broken> {
    let obj = export
        .as_object()
        .ok_or_else(|| Broken::new(0, "the export is not a JSON object"))?;
    if obj.get("format").and_then(Value::as_str) != Some(EXPORT_FORMAT) {
        return Err(Broken::new(
            0,
            format!("the export's format is not {EXPORT_FORMAT}"),
        ));
    }
    let alert = obj
        .get("alert")
        .and_then(Value::as_str)
        .and_then(|a| Uuid::parse_str(a).ok())
        .ok_or_else(|| Broken::new(0, "the export does not name its alert"))?;
    let entries = obj
        .get("entries")
        .and_then(Value::as_array)
        .ok_or_else(|| Broken::new(0, "the export has no entries list"))?;
    let head = match obj.get("chain_head") {
        None | Some(Value::Null) => None,
        Some(h) => Some((
            h.get("seq")
                .and_then(Value::as_i64)
                .ok_or_else(|| Broken::new(0, "the chain head has no seq"))?,
            h.get("hash")
                .and_then(Value::as_str)
                .and_then(unhex)
                .ok_or_else(|| Broken::new(0, "the chain head has no hash"))?,
        )),
    };
    if head.is_none() && !entries.is_empty() {
        return Err(Broken::new(0, "the export has entries but no chain head"));
    }
    let mut last: Option<(i64, Vec<u8>)> = None;
    for e in entries {
        let seq = e
            .get("seq")
            .and_then(Value::as_i64)
            .ok_or_else(|| Broken::new(0, "an entry has no seq"))?;
        let field = |name: &str| Broken::new(seq, format!("the entry has no valid {name}"));
        let at = e
            .get("at")
            .and_then(Value::as_i64)
            .ok_or_else(|| field("at"))?;
        let actor = e
            .get("actor")
            .and_then(Value::as_str)
            .ok_or_else(|| field("actor"))?;
        let action = e
            .get("action")
            .and_then(Value::as_str)
            .ok_or_else(|| field("action"))?;
        let entry_alert = opt_uuid(e.get("alert")).ok_or_else(|| field("alert"))?;
        let delivery = opt_uuid(e.get("delivery")).ok_or_else(|| field("delivery"))?;
        let detail = e.get("detail").ok_or_else(|| field("detail"))?;
        let prev_hash = e
            .get("prev_hash")
            .and_then(Value::as_str)
            .and_then(unhex)
            .ok_or_else(|| field("prev_hash"))?;
        let hash = e
            .get("hash")
            .and_then(Value::as_str)
            .and_then(unhex)
            .ok_or_else(|| field("hash"))?;
        if entry_alert != Some(alert) {
            return Err(Broken::new(seq, "the entry belongs to another alert"));
        }
        if seq < 1 {
            return Err(Broken::new(seq, "seqs start at 1"));
        }
        if seq == 1 && prev_hash != GENESIS {
            return Err(Broken::new(seq, "entry 1 must follow the all-zero hash"));
        }
        if let Some((last_seq, last_hash)) = &last {
            if seq <= *last_seq {
                return Err(Broken::new(
                    seq,
                    format!("the entry comes after entry {last_seq}"),
                ));
            }
            if seq == last_seq + 1 && prev_hash != *last_hash {
                return Err(Broken::new(
                    seq,
                    "its prev_hash is not the hash of the entry before it",
                ));
            }
        }
        let entry = Entry {
            seq,
            at,
            actor,
            action,
            alert: entry_alert,
            delivery,
            detail,
        };
        if entry_hash(&prev_hash, &entry) != hash.as_slice() {
            return Err(Broken::new(
                seq,
                "its content does not match its hash (the entry was changed)",
            ));
        }
        if let Some((head_seq, head_hash)) = &head {
            if seq > *head_seq {
                return Err(Broken::new(seq, "the entry lies beyond the chain head"));
            }
            if seq == *head_seq && hash != *head_hash {
                return Err(Broken::new(
                    seq,
                    "the entry is the head but its hash differs",
                ));
            }
        }
        last = Some((seq, hash));
    }
    Ok(())
}

/// `Some(None)` for JSON null, `Some(Some(id))` for a UUID string, `None` if malformed.
fn opt_uuid(v: Option<&Value>) -> Option<Option<Uuid>> {
    match v {
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Uuid::parse_str(s).ok().map(Some),
        _ => None,
    }
}

/// A hash from an export: lowercase or uppercase hex, nothing else.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    hex::decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn chain(n: i64) -> Vec<AuditRow> {
        let mut prev = GENESIS.to_vec();
        let mut rows = Vec::new();
        for seq in 1..=n {
            let mut row = AuditRow {
                seq,
                at: DateTime::from_timestamp_millis(1_700_000_000_000 + seq).unwrap(),
                actor: "broker".into(),
                action: "alert.accepted".into(),
                alert: Some(Uuid::from_u128(seq as u128)),
                delivery: None,
                detail: json!({ "n": seq }),
                prev_hash: prev.clone(),
                hash: Vec::new(),
            };
            row.hash = entry_hash(&prev, &row.entry()).to_vec();
            prev = row.hash.clone();
            rows.push(row);
        }
        rows
    }

    #[test]
    fn verify_accepts_a_good_chain_and_finds_the_first_break() {
        let rows = chain(5);
        assert_eq!(verify(&rows), Ok(5));
        assert_eq!(verify(&[]), Ok(0));

        let mut changed = rows.clone();
        changed[2].detail = json!({"n": 99});
        assert_eq!(verify(&changed).unwrap_err().seq, 3);

        let mut deleted = rows.clone();
        deleted.remove(1);
        assert_eq!(verify(&deleted).unwrap_err().seq, 2);

        let mut swapped = rows.clone();
        swapped.swap(1, 3);
        swapped[1].seq = 2;
        swapped[3].seq = 4;
        assert_eq!(verify(&swapped).unwrap_err().seq, 2);

        // Re-hashing a changed entry moves the break to the next entry, never hides it.
        let mut rehashed = rows.clone();
        rehashed[2].actor = "someone".into();
        rehashed[2].hash = entry_hash(&rehashed[2].prev_hash, &rehashed[2].entry()).to_vec();
        assert_eq!(verify(&rehashed).unwrap_err().seq, 4);
    }

    #[test]
    fn hex_round_trips() {
        let b = vec![0u8, 1, 0xab, 0xff];
        assert_eq!(hex::encode(&b), "0001abff");
        assert_eq!(unhex("0001abff"), Some(b));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
        // `u8::from_str_radix`, which the hand-written decoder used, takes a sign.
        assert_eq!(unhex("+a"), None);
    }
}
