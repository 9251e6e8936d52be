//! The audit chain's hash rule: what each entry's hash covers, and how a run of entries is
//! checked to link up from the first. The store appends by this rule; the audit module reads
//! the stored chain and exports by it.
//!
//! # The chain
//!
//! Entries are numbered `seq` = 1, 2, 3, … without gaps. Each entry stores `prev_hash`, the
//! `hash` of the entry before it (32 zero bytes for entry 1), and its own
//!
//! ```text
//! hash = SHA-256( prev_hash (32 bytes) || canonical JSON of
//!          {"seq": <integer>, "at": <unix milliseconds, integer>, "actor": <string>,
//!           "action": <string>, "alert": <UUID string or null>,
//!           "delivery": <UUID string or null>, "detail": <JSON value>} )
//! ```
//!
//! UUIDs are written lowercase with hyphens. The canonical JSON is RFC 8785 (JCS) for every
//! value the broker writes: no whitespace; object keys sorted by their UTF-16 code units;
//! strings escaped only where JSON requires (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`,
//! other control characters as `\u00xx`), everything else as raw UTF-8; integers in
//! decimal. (Details hold ids, codes and counts; a fractional number would be written as
//! `serde_json` writes it, which JCS may write differently.) The stored `detail` column holds
//! the canonical text of the detail, so an inspector with read access to the table can
//! recompute every hash with `sha256sum`-level tools.
//!
//! Seqs follow commit order (entries are chained when their transaction commits), and the
//! entries of one transaction are adjacent; `at` is the writer's own time and need not
//! increase with seq.
//!
//! Since each hash covers its predecessor's, changing, deleting, inserting or reordering any
//! entry breaks the chain at that entry or the next one; [`verify`] finds the first such seq.
//! Removing entries from the end is only visible against a head (seq and hash) recorded
//! elsewhere, for example in an earlier export of an alert's entries.

use serde_json::Value;
use uuid::Uuid;

/// The `prev_hash` of the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// Where and why a chain or an export failed verification. `seq` is 0 when the problem is
/// not with one entry (a malformed export).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at entry {seq}: {why}")]
pub struct Broken {
    pub seq: i64,
    pub why: String,
}

impl Broken {
    pub(crate) fn new(seq: i64, why: impl Into<String>) -> Broken {
        Broken {
            seq,
            why: why.into(),
        }
    }
}

/// The fields of one entry that its hash covers.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub seq: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub alert: Option<Uuid>,
    pub delivery: Option<Uuid>,
    pub detail: &'a Value,
}

impl Entry<'_> {
    /// The canonical JSON the hash covers.
    pub fn canonical(&self) -> String {
        self.canonical_with(&varsel_protocol::canonical::to_string(self.detail))
    }

    /// The canonical JSON the hash covers, given the canonical text of `detail` (what the
    /// store keeps in its `detail` column), so the detail is not canonicalized a second time.
    /// JCS writes an object as its members' canonical values in key order, which for these
    /// keys (by UTF-16 units) is action, actor, alert, at, delivery, detail, seq.
    pub fn canonical_with(&self, detail: &str) -> String {
        use varsel_protocol::canonical::to_string;
        let uuid = |u: Option<Uuid>| u.map_or_else(|| "null".to_owned(), |u| format!("\"{u}\""));
        format!(
            r#"{{"action":{},"actor":{},"alert":{},"at":{},"delivery":{},"detail":{detail},"seq":{}}}"#,
            to_string(&Value::from(self.action)),
            to_string(&Value::from(self.actor)),
            uuid(self.alert),
            self.at,
            uuid(self.delivery),
            self.seq,
        )
    }
}

/// SHA-256 over `prev` followed by the entry's canonical JSON.
pub fn entry_hash(prev: &[u8], entry: &Entry<'_>) -> [u8; 32] {
    hash_canonical(prev, &entry.canonical())
}

/// [`entry_hash`] for an entry whose detail's canonical text is at hand.
pub fn entry_hash_with(prev: &[u8], entry: &Entry<'_>, detail: &str) -> [u8; 32] {
    hash_canonical(prev, &entry.canonical_with(detail))
}

fn hash_canonical(prev: &[u8], canonical: &str) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(prev);
    ctx.update(canonical.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// One chained entry as it was stored: its hashed fields, the hash it follows and its own.
#[derive(Debug, Clone, Copy)]
pub struct Link<'a> {
    pub entry: Entry<'a>,
    pub prev_hash: &'a [u8],
    pub hash: &'a [u8],
}

/// Checks a whole chain, given in seq order from entry 1: gapless seqs, each `prev_hash`
/// equal to the previous entry's `hash`, and each `hash` recomputed. Returns how many entries
/// were checked, or the first entry that fails.
pub fn verify<'a>(links: impl IntoIterator<Item = Link<'a>>) -> Result<usize, Broken> {
    let mut prev: &[u8] = &GENESIS;
    let mut checked = 0;
    for link in links {
        let seq = link.entry.seq;
        let expected = i64::try_from(checked).map_or(i64::MAX, |i| i + 1);
        if seq > expected {
            return Err(Broken::new(
                expected,
                format!("entry {expected} is missing (the next entry is {seq})"),
            ));
        }
        if seq < expected {
            return Err(Broken::new(
                expected,
                format!("entry {seq} appears again where entry {expected} belongs"),
            ));
        }
        if link.prev_hash != prev {
            return Err(Broken::new(
                seq,
                "its prev_hash is not the hash of the entry before it (an entry was changed, \
                 removed, inserted or moved)",
            ));
        }
        if entry_hash(link.prev_hash, &link.entry) != link.hash {
            return Err(Broken::new(
                seq,
                "its content does not match its hash (the entry was changed)",
            ));
        }
        prev = link.hash;
        checked += 1;
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entry_hash_matches_the_documented_rule() {
        let detail = json!({"recipients": 3});
        let alert = Uuid::from_u128(7);
        let e = Entry {
            seq: 1,
            at: 1000,
            actor: "broker",
            action: "alert.accepted",
            alert: Some(alert),
            delivery: None,
            detail: &detail,
        };
        let text = format!(
            r#"{{"action":"alert.accepted","actor":"broker","alert":"{alert}","at":1000,"delivery":null,"detail":{{"recipients":3}},"seq":1}}"#
        );
        assert_eq!(e.canonical(), text);
        let mut bytes = GENESIS.to_vec();
        bytes.extend_from_slice(text.as_bytes());
        let expected = ring::digest::digest(&ring::digest::SHA256, &bytes);
        assert_eq!(entry_hash(&GENESIS, &e).as_slice(), expected.as_ref());
    }

    /// The entry as one JSON object, canonicalized whole: what the hash has always covered.
    fn canonical_of_whole_object(e: &Entry<'_>) -> String {
        varsel_protocol::canonical::to_string(&json!({
            "seq": e.seq,
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "alert": e.alert.map(|a| a.to_string()),
            "delivery": e.delivery.map(|d| d.to_string()),
            "detail": e.detail,
        }))
    }

    #[test]
    fn entries_assembled_from_the_canonical_detail_hash_as_the_whole_object_does() {
        let details = [
            json!({}),
            json!(null),
            json!({"z": [1, -2, "x\"\n\u{1}é"], "a": {"\u{ff61}": 1, "\u{1f600}": 2}}),
            json!({"recipients": [{"participant": "agency-1", "role": "primary", "policy": null}]}),
        ];
        let actors = ["broker", "sk\u{e5}ne \"q\"\t\\", ""];
        for (i, detail) in details.iter().enumerate() {
            for actor in actors {
                let e = Entry {
                    seq: i as i64 + 1,
                    at: -5 + 1_700_000_000_000 * i as i64,
                    actor,
                    action: "delivery_created\u{7f}",
                    alert: (i % 2 == 0).then(|| Uuid::from_u128(42)),
                    delivery: (i % 3 != 0).then(|| Uuid::from_u128(u128::MAX)),
                    detail,
                };
                let whole = canonical_of_whole_object(&e);
                assert_eq!(e.canonical(), whole);
                let text = varsel_protocol::canonical::to_string(detail);
                assert_eq!(e.canonical_with(&text), whole);
                assert_eq!(
                    entry_hash_with(&GENESIS, &e, &text),
                    entry_hash(&GENESIS, &e)
                );
            }
        }
    }
}
