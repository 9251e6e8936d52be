//! Writing what a message causes, inside the caller's store transaction: the one place that
//! records incoming messages, creates deliveries, signs the broker's own messages into the outbox
//! and pages ops.
//!
//! Intake (a new alert, an update, a cancel), acknowledgement (receipts, acks, a decline's
//! re-routing) and the escalation scheduler (an added recipient, a page) all write through it, so
//! a delivery looks the same whoever created it, and what one message causes commits or rolls back
//! as one.
//!
//! It sits just above the store and the lifecycles and below every stage that uses it: the
//! escalation policy's say in a new delivery arrives as plain [`Deadlines`], worked out by the
//! caller (see `escalation::Policy::deadlines`), so nothing here reaches back into routing or escalation.

mod end;
mod feedback;
mod hand_over;
mod page;
mod undeliverable;

use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::store::{self, NewMessage};
use varsel_protocol::envelope::{self, KeySet};
use varsel_protocol::message::{ParticipantId, Payload};
use varsel_protocol::refusal::Refusal;

pub use end::Ending;
pub use hand_over::{Deadlines, HandOver};

/// Why writing what a message causes failed without a verdict (the input stays unacknowledged
/// and is retried): the store could not be reached, or a broker key is missing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("cannot build the broker's own message: {0}")]
    Envelope(String),
}

impl Error {
    /// Whether doing the same again may succeed once the cause has passed (see
    /// [`store::Error::is_transient`]); building a message fails the same way every time.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Store(e) => e.is_transient(),
            Error::Envelope(_) => false,
        }
    }
}

/// The broker as the author of what it writes: its participant id, and its keys for re-wrapping
/// sections to recipients and signing its own messages.
pub struct Writer {
    broker: ParticipantId,
    keys: Arc<KeySet>,
    /// The content keys of the message handed over last, by the digest of its compact form: a
    /// message's recipients are handed over one after the other, so each section is unwrapped
    /// once per message.
    unwrapped: Mutex<Option<([u8; 32], envelope::Unwrapped)>>,
}

impl Writer {
    pub fn new(broker: ParticipantId, keys: Arc<KeySet>) -> Writer {
        Writer {
            broker,
            keys,
            unwrapped: Mutex::new(None),
        }
    }

    /// The broker's participant id: the actor of its audit entries and the sender of its messages.
    pub fn broker(&self) -> &ParticipantId {
        &self.broker
    }

    /// Signs one of the broker's own messages.
    pub fn sign(&self, payload: &Payload) -> String {
        envelope::sign(payload, &self.keys.signing)
    }
}

/// How long a recipient took to receipt or ack a delivery (from the delivery's creation, on the
/// broker's clock); reported to the metrics only after the commit that recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// An ack (or decline) rather than a receipt.
    pub ack: bool,
    /// The recipient that answered (the histograms are by recipient).
    pub recipient: varsel_protocol::message::ParticipantId,
    pub elapsed: std::time::Duration,
}

/// The result of a commit attempt.
pub enum Committed {
    Done {
        alert: Uuid,
        deliveries: usize,
        defaulted: bool,
        timing: Option<Timing>,
    },
    /// A receipt for a heartbeat: the agency's line is up (see the heartbeat module).
    Heartbeat {
        line: varsel_protocol::message::ParticipantId,
    },
    Seen(Seen),
    Refused(Refusal),
}

/// A message id found in the store.
pub enum Seen {
    /// The very same bytes were accepted under this id before.
    Duplicate(Uuid),
    /// Different bytes were accepted under this id before.
    Reused(Uuid),
}

impl Seen {
    /// Compares the digest stored under `id` with the digest of the message in hand.
    pub fn classify(id: Uuid, stored: &[u8], ours: &[u8]) -> Seen {
        if stored == ours {
            Seen::Duplicate(id)
        } else {
            Seen::Reused(id)
        }
    }
}

/// Records the message in the transaction; reports a duplicate or reused id found there
/// (another broker instance may have committed it since the first check).
pub async fn insert_message(
    tx: &mut store::Tx,
    message: &NewMessage,
) -> Result<Option<Seen>, Error> {
    match tx.insert_message(message).await? {
        store::Inserted::New => Ok(None),
        store::Inserted::Exists { digest } => {
            Ok(Some(Seen::classify(message.id, &digest, &message.digest)))
        }
    }
}
