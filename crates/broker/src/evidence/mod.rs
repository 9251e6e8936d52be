//! The anchored audit head: signed checkpoints of the audit chain kept outside the broker's
//! database, and checking a stored chain against them.
//!
//! The hash chain ([`crate::chain`]) shows any change in the middle, but not entries cut off the
//! end or a chain recomputed from a changed entry on: whoever can write the database can do
//! both. So the broker ([`anchor`]) signs its chain's head every `checkpoint_every` entries and
//! every `checkpoint_interval` as a `checkpoint` message (a JWS by its Ed25519 key, see
//! `varsel_protocol::envelope`) and puts it where the database's writers cannot reach:
//! appended, one JSON line each, to the checkpoint file (fsync'd), and published through the
//! outbox to every ops participant's inbox.
//!
//! A line of the checkpoint file:
//!
//! ```text
//! {"format":"varsel-checkpoint/1","seq":1042,"hash":"<hex>","at":"2026-10-22T09:00:00Z","jws":"<compact JWS>"}
//! ```
//!
//! Only the JWS counts: `seq`, `hash` and `at` are there to read, and must equal what it signs.
//! [`verify_chain`] then finds, in this order: a break inside the chain; a checkpoint whose
//! entry has another hash (history changed and re-chained); a checkpoint beyond the chain's last
//! entry (entries cut off after it, or the store put back to an older copy). Each names the first
//! seq that no longer matches.

pub mod anchor;

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::audit;
use crate::chain::Broken;
use crate::store::{AuditRow, CheckpointRow, Store};
use varsel_protocol::envelope;
use varsel_protocol::envelope::keys::{KeyLookup, SigningKey, Validity};
use varsel_protocol::message::{Checkpoint, Content, ParticipantId};
use varsel_protocol::registry::{Registry, Role};

/// The `format` of a checkpoint file line.
pub const LINE_FORMAT: &str = "varsel-checkpoint/1";

/// The largest checkpoint JWS accepted (they are a few hundred bytes).
const MAX_JWS: usize = 8 * 1024;

/// A checkpoint whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub seq: i64,
    pub hash: Vec<u8>,
    pub at: DateTime<Utc>,
    /// The broker that signed it.
    pub signer: ParticipantId,
}

/// Whose signature a checkpoint must carry.
pub enum Keys<'a> {
    /// Any participant of role `broker` in this registry.
    Registry(&'a Registry),
    /// This Ed25519 public key (32 bytes), for an auditor who holds only the broker's key.
    Key(&'a [u8]),
}

/// The checkpoint file's line for a checkpoint.
pub fn line(c: &CheckpointRow) -> String {
    json!({
        "format": LINE_FORMAT,
        "seq": c.seq,
        "hash": hex::encode(&c.hash),
        "at": c.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "jws": c.jws,
    })
    .to_string()
}

/// Appends lines to the checkpoint file (created if missing) and waits until they are on disk.
pub fn append(path: &Path, lines: &[String]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut text = String::new();
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// One single key, as a lookup for `envelope::verify`.
struct OneKey {
    owner: ParticipantId,
    key: SigningKey,
}

impl KeyLookup for OneKey {
    fn signing_key_owner(&self, kid: &str) -> Option<(&ParticipantId, &SigningKey)> {
        (kid == self.key.kid).then_some((&self.owner, &self.key))
    }

    fn is_registered(&self, id: &ParticipantId) -> bool {
        *id == self.owner
    }
}

/// Verifies a checkpoint JWS: the signature by a broker's key (valid at the time it claims), a
/// `checkpoint` message, and a well-formed hash.
pub fn verify_jws(jws: &str, keys: &Keys<'_>) -> Result<Signed, String> {
    let unverified = envelope::payload_of(jws)?;
    let at = unverified.sent_at;
    let verified = match keys {
        Keys::Registry(r) => {
            let v = envelope::verify(jws.as_bytes(), r, at, MAX_JWS).map_err(|e| e.to_string())?;
            if r.participant(&v.signer).map(|p| p.role) != Some(Role::Broker) {
                return Err(format!("signed by {}, which is not a broker", v.signer));
            }
            v
        }
        Keys::Key(pk) => {
            let lookup = OneKey {
                owner: unverified.sender.clone(),
                key: SigningKey {
                    kid: envelope::key_id(envelope::SIGNING_KEY_TAG, pk),
                    public_key: pk.to_vec(),
                    validity: Validity {
                        valid_from: DateTime::<Utc>::MIN_UTC,
                        valid_until: None,
                        revoked: false,
                    },
                },
            };
            envelope::verify(jws.as_bytes(), &lookup, at, MAX_JWS).map_err(|e| e.to_string())?
        }
    };
    let Content::Checkpoint(Checkpoint { seq, hash, at }) = verified.payload.content else {
        return Err(format!(
            "a {} message, not a checkpoint",
            verified.payload.kind()
        ));
    };
    let hash = audit::unhex(&hash)
        .filter(|h| h.len() == 32)
        .ok_or("the hash is not 64 hex digits")?;
    Ok(Signed {
        seq,
        hash,
        at,
        signer: verified.signer,
    })
}

/// Verifies one line of a checkpoint file: its JWS, and that the readable fields say the same.
pub fn verify_line(text: &str, keys: &Keys<'_>) -> Result<Signed, String> {
    let v: Value = serde_json::from_str(text).map_err(|_| "not a JSON object".to_owned())?;
    if v.get("format").and_then(Value::as_str) != Some(LINE_FORMAT) {
        return Err(format!("the format is not {LINE_FORMAT}"));
    }
    let jws = v.get("jws").and_then(Value::as_str).ok_or("no jws")?;
    let signed = verify_jws(jws, keys)?;
    let same = v.get("seq").and_then(Value::as_i64) == Some(signed.seq)
        && v.get("hash").and_then(Value::as_str) == Some(hex::encode(&signed.hash).as_str());
    if !same {
        return Err("seq or hash differ from what the signature covers".into());
    }
    Ok(signed)
}

/// Reads and verifies a checkpoint file. Every line must verify: a line that does not is an
/// error naming its number (the file is evidence; nothing in it is skipped).
pub fn read_file(path: &Path, keys: &Keys<'_>) -> Result<Vec<Signed>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        let bounded: String = l.chars().take(MAX_JWS * 2).collect();
        out.push(
            verify_line(&bounded, keys)
                .map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))?,
        );
    }
    Ok(out)
}

/// What a chain checked against checkpoints showed when it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Entries in the chain.
    pub entries: usize,
    /// Checkpoints it matched.
    pub checkpoints: usize,
    /// The highest seq a checkpoint vouches for.
    pub anchored: Option<i64>,
}

/// How a chain failed against its checkpoints. Each names the first seq that no longer
/// matches ([`Finding::seq`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Finding {
    #[error("{0}")]
    Broken(Broken),
    #[error(
        "entry {seq} does not match the checkpoint signed at {at}: history was changed and the \
         chain recomputed (entries after {since} up to {seq} differ from what was signed)"
    )]
    Rechained {
        seq: i64,
        /// The last checkpointed seq that still matched (0 for none).
        since: i64,
        at: DateTime<Utc>,
    },
    #[error(
        "the chain ends at entry {head} but a checkpoint signed at {at} vouches for entry \
         {checkpoint}: entries from {seq} on are missing (cut off, or the store is an older copy)"
    )]
    Truncated {
        /// The first missing seq.
        seq: i64,
        head: i64,
        checkpoint: i64,
        at: DateTime<Utc>,
    },
}

impl Finding {
    /// The first seq that no longer matches.
    pub fn seq(&self) -> i64 {
        match self {
            Finding::Broken(b) => b.seq,
            Finding::Rechained { seq, .. } | Finding::Truncated { seq, .. } => *seq,
        }
    }
}

/// [`audit::export`] with the latest checkpoint that covers the exported entries (its seq is
/// at least the last entry's), under `checkpoint`, if the broker has made one yet.
pub async fn export(store: &Store, alert: Uuid) -> Result<Value, audit::Error> {
    let mut record = audit::export(store, alert).await?;
    let last = record["entries"]
        .as_array()
        .and_then(|e| e.last())
        .and_then(|e| e["seq"].as_i64());
    if let Some(c) = match last {
        Some(seq) => store.checkpoint_covering(seq).await?,
        None => None,
    } {
        record["checkpoint"] = json!({
            "seq": c.seq,
            "hash": hex::encode(&c.hash),
            "at": c.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "jws": c.jws,
        });
    }
    Ok(record)
}

/// [`audit::verify_export`], and the embedded checkpoint if there is one: its signature (by
/// `keys`), that it covers every exported entry, and that its hash is the hash of the entry or
/// head of the same seq where the export holds one. Returns the verified checkpoint.
pub fn verify_export(export: &Value, keys: Option<&Keys<'_>>) -> Result<Option<Signed>, Broken> {
    audit::verify_export(export)?;
    let c = match export.get("checkpoint") {
        None | Some(Value::Null) => return Ok(None),
        Some(c) => c,
    };
    let keys = keys.ok_or_else(|| {
        Broken::new(
            0,
            "the export embeds a checkpoint: give the broker's registry or public key to check it",
        )
    })?;
    let jws = c
        .get("jws")
        .and_then(Value::as_str)
        .ok_or_else(|| Broken::new(0, "the checkpoint has no jws"))?;
    let signed = verify_jws(jws, keys)
        .map_err(|e| Broken::new(0, format!("the checkpoint does not verify: {e}")))?;
    let hex = hex::encode(&signed.hash);
    if c.get("seq").and_then(Value::as_i64) != Some(signed.seq)
        || c.get("hash").and_then(Value::as_str) != Some(hex.as_str())
    {
        return Err(Broken::new(
            signed.seq,
            "the checkpoint's seq or hash differ from what its signature covers",
        ));
    }
    let differs = |seq: i64| Broken::new(seq, "its hash differs from the signed checkpoint's");
    for e in export["entries"].as_array().into_iter().flatten() {
        let seq = e["seq"].as_i64().unwrap_or(0);
        if seq > signed.seq {
            return Err(Broken::new(
                seq,
                "the entry lies beyond the embedded checkpoint",
            ));
        }
        if seq == signed.seq && e["hash"].as_str() != Some(hex.as_str()) {
            return Err(differs(seq));
        }
    }
    let head = &export["chain_head"];
    if head["seq"].as_i64() == Some(signed.seq) && head["hash"].as_str() != Some(hex.as_str()) {
        return Err(differs(signed.seq));
    }
    Ok(Some(signed))
}

/// Checks a whole stored chain (in seq order from 1) and then each checkpoint against it.
pub fn verify_chain(entries: &[AuditRow], checkpoints: &[Signed]) -> Result<Checked, Finding> {
    let n = audit::verify(entries).map_err(Finding::Broken)?;
    let head = n as i64;
    let mut sorted: Vec<&Signed> = checkpoints.iter().collect();
    sorted.sort_by_key(|c| c.seq);
    let mut since = 0;
    for c in &sorted {
        if c.seq < 1 {
            continue;
        }
        if c.seq > head {
            return Err(Finding::Truncated {
                seq: head + 1,
                head,
                checkpoint: c.seq,
                at: c.at,
            });
        }
        let stored = &entries[(c.seq - 1) as usize];
        if stored.hash != c.hash {
            return Err(Finding::Rechained {
                seq: c.seq,
                since,
                at: c.at,
            });
        }
        since = c.seq;
    }
    Ok(Checked {
        entries: n,
        checkpoints: sorted.len(),
        anchored: sorted.last().map(|c| c.seq),
    })
}
