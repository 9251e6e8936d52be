//! The desk's access log: who opened, sent or acknowledged what, and when. Social services must
//! be able to show who read a child's case, so the log is hash-chained as the broker's audit log
//! is: any edit, deletion, insertion or reordering breaks the chain where it was made.
//!
//! Entries are numbered `seq` = 1, 2, 3, … without gaps; each stores the hash of the one before
//! (32 zero bytes for entry 1) and its own
//!
//! ```text
//! hash = SHA-256( prev_hash (32 bytes) || canonical JSON (RFC 8785) of
//!          {"seq": <integer>, "at": <unix milliseconds>, "actor": <string>,
//!           "action": <string>, "delivery": <UUID string or null>, "detail": <JSON value>} )
//! ```
//!
//! The actor is the account's user name; the detail holds ids and codes, never content.

use serde_json::{json, Value};
use uuid::Uuid;

/// The `prev_hash` of the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A person opened the sealed sections of a delivery.
    Opened,
    /// A person acknowledged a delivery; the detail holds the outcome and the ack's message id.
    Acknowledged,
    /// A person signed in (both factors).
    SignedIn,
    /// A person sent an alert; the detail holds its message id.
    Sent,
    /// Written before an alert is published, so that every alert that left the desk has an
    /// entry even when the store fails after RabbitMQ confirmed it; the detail holds its message
    /// id. Followed by [`Sent`](Action::Sent) or [`SendFailed`](Action::SendFailed).
    Sending,
    /// The alert of a [`Sending`](Action::Sending) entry was not sent (RabbitMQ did not confirm).
    SendFailed,
    /// Written before an acknowledgement is published, as [`Sending`](Action::Sending) is; the
    /// detail holds the outcome and its message id. Followed by
    /// [`Acknowledged`](Action::Acknowledged) or [`AckFailed`](Action::AckFailed).
    Acknowledging,
    /// The acknowledgement of an [`Acknowledging`](Action::Acknowledging) entry was not sent.
    AckFailed,
    /// A person wrote in a case's journal; the detail holds the alert, the entry and its item.
    JournalWritten,
}

impl Action {
    pub fn code(self) -> &'static str {
        match self {
            Action::Opened => "opened",
            Action::Acknowledged => "acknowledged",
            Action::SignedIn => "signed_in",
            Action::Sent => "sent",
            Action::Sending => "sending",
            Action::SendFailed => "send_failed",
            Action::Acknowledging => "acknowledging",
            Action::AckFailed => "ack_failed",
            Action::JournalWritten => "journal_written",
        }
    }
}

/// One entry's hashed fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub delivery: Option<Uuid>,
    pub detail: Value,
}

impl Entry {
    /// The canonical JSON the hash covers.
    pub fn canonical(&self) -> String {
        varsel_protocol::canonical::to_string(&json!({
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "delivery": self.delivery.map(|d| d.to_string()),
            "detail": self.detail,
        }))
    }

    /// SHA-256 over `prev` and the canonical JSON.
    pub fn hash(&self, prev: &[u8]) -> Vec<u8> {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(prev);
        ctx.update(self.canonical().as_bytes());
        ctx.finish().as_ref().to_vec()
    }
}

/// One stored entry with the hash it follows and its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub entry: Entry,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// Where the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the access log is broken at entry {seq}: {why}")]
pub struct Broken {
    pub seq: i64,
    pub why: String,
}

/// Checks a whole chain from entry 1 in seq order; returns how many entries were checked.
pub fn verify(links: &[Link]) -> Result<usize, Broken> {
    let mut prev: &[u8] = &GENESIS;
    for (i, link) in links.iter().enumerate() {
        let expected = i as i64 + 1;
        let broken = |why: &str| Broken {
            seq: expected,
            why: why.to_owned(),
        };
        if link.entry.seq != expected {
            return Err(broken(&format!(
                "entry {expected} is missing (found entry {})",
                link.entry.seq
            )));
        }
        if link.prev_hash != prev {
            return Err(broken("it does not follow the entry before it"));
        }
        if link.entry.hash(prev) != link.hash {
            return Err(broken("its content does not match its hash"));
        }
        prev = &link.hash;
    }
    Ok(links.len())
}

/// The next link after `last` (None for the first entry).
pub fn link(
    last: Option<&Link>,
    at: i64,
    actor: &str,
    action: Action,
    delivery: Option<Uuid>,
    detail: Value,
) -> Link {
    let (seq, prev) = match last {
        Some(l) => (l.entry.seq + 1, l.hash.clone()),
        None => (1, GENESIS.to_vec()),
    };
    let entry = Entry {
        seq,
        at,
        actor: actor.to_owned(),
        action: action.code().to_owned(),
        delivery,
        detail,
    };
    let hash = entry.hash(&prev);
    Link {
        entry,
        prev_hash: prev,
        hash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Vec<Link> {
        let mut links: Vec<Link> = Vec::new();
        for i in 0..n {
            let l = link(
                links.last(),
                1_800_000_000_000 + i as i64,
                "handlaggare1",
                Action::Opened,
                Some(Uuid::nil()),
                json!({"sections": ["core"]}),
            );
            links.push(l);
        }
        links
    }

    #[test]
    fn the_hash_covers_the_canonical_entry_after_the_previous_hash() {
        let l = &chain(1)[0];
        assert_eq!(
            l.entry.canonical(),
            r#"{"action":"opened","actor":"handlaggare1","at":1800000000000,"delivery":"00000000-0000-0000-0000-000000000000","detail":{"sections":["core"]},"seq":1}"#
        );
        let mut expected = GENESIS.to_vec();
        expected.extend_from_slice(l.entry.canonical().as_bytes());
        assert_eq!(
            l.hash,
            ring::digest::digest(&ring::digest::SHA256, &expected).as_ref()
        );
    }

    #[test]
    fn any_change_breaks_the_chain_where_it_was_made() {
        let links = chain(4);
        assert_eq!(verify(&links), Ok(4));

        let mut edited = links.clone();
        edited[1].entry.actor = "someone_else".into();
        assert_eq!(verify(&edited).unwrap_err().seq, 2);

        let mut deleted = links.clone();
        deleted.remove(2);
        assert_eq!(verify(&deleted).unwrap_err().seq, 3);

        let mut swapped = links.clone();
        swapped.swap(0, 1);
        assert_eq!(verify(&swapped).unwrap_err().seq, 1);

        // Rewriting an entry with a fresh hash still breaks the link to the next one.
        let mut rehashed = links.clone();
        rehashed[2].entry.detail = json!({"sections": []});
        rehashed[2].hash = rehashed[2].entry.hash(&rehashed[2].prev_hash);
        assert_eq!(verify(&rehashed).unwrap_err().seq, 4);
    }
}
