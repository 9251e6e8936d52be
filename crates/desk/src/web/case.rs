//! What the school's alert page shows of one case, gathered by `follow` and `follow_open` and
//! rendered by `follow_pages` and `journal_pages`: the alert as sent, its updates, cancel and
//! closing, each recipient's state, the broker's refusals, the journal, and the notes the school
//! was told of.

use std::collections::BTreeMap;

use serde_json::Value;
use uuid::Uuid;

use varsel_protocol::message::{Feedback, Header};

use super::school_pages::Report;
use crate::store::follow_ups::FollowUp;
use crate::store::journal::Entry;
use crate::store::sent::Sent;

/// A refusal from the broker about a message of this alert.
pub(crate) struct Refused {
    pub at: i64,
    /// The refused message's id.
    pub message: Uuid,
    /// alert, update or cancel.
    pub kind: String,
    pub reason: String,
    /// The broker's detail, bounded and escaped of control characters.
    pub detail: String,
}

/// One message of the thread as opened: its body by section, or why it did not open.
pub(crate) struct Opened {
    pub kind: String,
    /// Who sent it, for a note the school received from another member of the case.
    pub from: Option<String>,
    pub message: Uuid,
    pub sent_at: i64,
    pub body: Result<Value, String>,
}

/// Everything the page shows.
pub(crate) struct Thread {
    pub alert: Sent,
    pub header: Option<Header>,
    pub follow_ups: Vec<FollowUp>,
    /// Each delivery's latest report, the alert's first.
    pub recipients: Vec<Report>,
    /// The escalation reports in order (recipient's name, report).
    pub escalations: Vec<(String, Feedback)>,
    pub refused: Vec<Refused>,
    pub opened: Option<Vec<Opened>>,
    pub cancelled: bool,
    /// The school closed the case (its outcome is sealed in the closing).
    pub closed: bool,
    /// The alert as sent, sealed.
    pub raw: Vec<u8>,
    /// Fresh one-time tokens for the update, the cancel and the closing form.
    pub form_tokens: (String, String, String),
    /// The school's journal of the case, in the order it was written.
    pub journal: Vec<Entry>,
    /// What each entry says, once opened (None for one that did not open).
    pub journal_texts: Option<BTreeMap<Uuid, Option<String>>>,
    /// A fresh one-time token for the journal's form.
    pub journal_token: String,
    /// The notes other members of the case sent the school, in arrival order (delivery, note
    /// kind, received at).
    pub received: Vec<(Uuid, String, i64)>,
}

impl Thread {
    /// Whether the case still takes updates: not cancelled, not closed.
    pub(crate) fn shareable(&self) -> bool {
        !self.cancelled && !self.closed
    }
}
