//! The payload of every varsel message (wire format v2, still reading v1): who sent it, when, what
//! kind it is, the cleartext routing header, references, and the kind-specific content.
//!
//! The payload travels as the payload of a JWS (see `envelope`). Everything in this module is
//! cleartext on the wire and in the store's plain columns, so nothing here may hold personal data:
//! the routing [`Header`] is made only of codes, enums, timestamps and opaque tokens, and pupil,
//! family and travel details exist only inside [`SealedSection`] ciphertext.
//!
//! Kinds in one line each: a school sends `alert`, `update`, `cancel`; an agency sends `receipt`
//! (its machine) and `ack` (a named officer); the broker sends `delivery`, `feedback`, `error`,
//! `checkpoint` (to ops) and `heartbeat` (to each agency, answered by a `receipt` naming the
//! heartbeat's id; see [`Heartbeat`]). A member of a case (an agency) posts a `note` to it (see
//! [`Note`]), handed over to other members as a `delivery` like an alert; a school that gets one
//! receipts it (and acks it when the routing table requires) like an agency. The school closes
//! its case with a note of kind `case_closed`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod codes;
mod ids;
mod wire_form;

pub use codes::{
    code_enum, Aead, CaseOutcome, Category, DeliveryState, Kind, NoteKind, Outcome, RecipientRole,
    SectionLabel, Status, Suite, Urgency,
};
#[doc(hidden)]
pub use ids::invalid;
pub use ids::{InvalidValue, Kommunkod, ParticipantId, Token};

/// The wire format version every payload is written in (`v`).
pub const VERSION: u8 = 2;

/// The earlier wire format, still read during the transition (see `envelope::seal` for the
/// differences and the broker's `[wire] accept_v1_until` for its end): content keys in one
/// [`KeyWrap`] per section and recipient, JWS `alg: EdDSA`.
pub const VERSION_1: u8 = 1;

/// The cleartext routing header of an alert, update or cancel. It holds no personal data: every
/// field is a code, an enum, a timestamp or an opaque token, and unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub municipality: Kommunkod,
    pub category: Category,
    pub urgency: Urgency,
    pub status: Status,
    /// When the pupil is expected to leave the country, if known. Escalation steps may be timed
    /// against it.
    /// Written in one form only (see `wire_form`), as is `correlation`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "wire_form::planned_departure"
    )]
    pub planned_departure: Option<DateTime<Utc>>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "wire_form::correlation"
    )]
    pub correlation: Vec<Token>,
}

/// One encrypted section of an alert body. The ciphertext includes the AEAD tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedSection {
    pub label: SectionLabel,
    pub aead: Aead,
    /// base64url (no padding) of the 12-byte nonce.
    pub nonce: String,
    /// base64url (no padding) of ciphertext and tag.
    pub ciphertext: String,
}

/// A section's content key wrapped with HPKE to one recipient's sealing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyWrap {
    pub section: SectionLabel,
    pub recipient: ParticipantId,
    /// The key id of the recipient's sealing key.
    pub kid: String,
    pub suite: Suite,
    /// base64url of the HPKE encapsulated key.
    pub enc: String,
    /// base64url of the HPKE ciphertext of the content key.
    pub wrapped: String,
}

/// Wire format v2: the content keys of the sections one recipient is granted, sealed together
/// with one HPKE encapsulation to the recipient's sealing key (see `envelope::seal`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyBlock {
    pub recipient: ParticipantId,
    /// The key id of the recipient's sealing key.
    pub kid: String,
    pub suite: Suite,
    /// The sections whose keys the block carries, in ascending order of their codes, each once:
    /// the order of the keys in the plaintext, bound by the associated data.
    #[serde(deserialize_with = "wire_form::labels")]
    pub labels: Vec<SectionLabel>,
    /// base64url of the HPKE encapsulated key.
    pub enc: String,
    /// base64url of the HPKE ciphertext of the content keys.
    pub ciphertext: String,
}

/// The content of an alert, update or cancel from a school: header, sealed sections and the
/// content keys sealed to the broker: `keys` in wire format v2, `wraps` in v1, never both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    pub header: Header,
    #[serde(default)]
    pub sections: Vec<SealedSection>,
    /// v1 only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wraps: Vec<KeyWrap>,
    /// v2 only: one block per recipient.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyBlock>,
}

/// A note an agency posts to a case: the case is the alert it references (`references` holds
/// exactly the alert's id). The note kind is cleartext, a code only; what the note says (see
/// the body of the note module) is sealed in the section `core`, its content key sealed to the broker in
/// a v2 key block, exactly as an alert's sections are, and the broker re-seals it for each member
/// the routing table's note lines name. `header` is the case's routing header as the member
/// received it (the sections' associated data binds it); the broker refuses a note whose header
/// is not the alert's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    pub note: NoteKind,
    pub header: Header,
    #[serde(default)]
    pub sections: Vec<SealedSection>,
    /// One block per recipient (wire format v2 only: notes came after v1).
    #[serde(default)]
    pub keys: Vec<KeyBlock>,
}

impl Note {
    /// The note's header, sections and keys as the sealed content every hand-over works with.
    pub fn sealed(&self) -> Sealed {
        Sealed {
            header: self.header.clone(),
            sections: self.sections.clone(),
            wraps: Vec::new(),
            keys: self.keys.clone(),
        }
    }
}

/// An agency client's machine receipt for a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub delivery: Uuid,
}

/// A named officer's acknowledgement of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ack {
    pub delivery: Uuid,
    /// The officer who took the case (staff, not pupil data; kept out of logs and metrics).
    pub officer: String,
    pub outcome: Outcome,
}

/// The broker's hand-over of one alert (or update, or cancel) to one recipient: the school's
/// original signed message unchanged (v1 or v2), plus the content keys of the granted sections
/// sealed to this recipient: in v2 one [`KeyBlock`] in `keys` (none when nothing is granted), in
/// v1 one [`KeyWrap`] per section in `wraps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    pub delivery: Uuid,
    pub alert: Uuid,
    pub recipient: ParticipantId,
    pub role: RecipientRole,
    /// The school's message (or a case member's note) in JWS compact serialization, exactly as
    /// received.
    pub original: String,
    /// v1 only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wraps: Vec<KeyWrap>,
    /// v2 only: at most one block, for `recipient`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyBlock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_due: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_due: Option<DateTime<Utc>>,
}

/// The broker's report to a school about one recipient of its alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    pub alert: Uuid,
    pub delivery: Uuid,
    pub recipient: ParticipantId,
    pub state: DeliveryState,
    pub at: DateTime<Utc>,
    /// The officer's name, only when the recipient's registry entry allows it to be shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub officer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Set when this report is about an escalation step rather than a recipient's own action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<String>,
    /// The delivery's deadlines as the broker holds them when it reports: by when the recipient
    /// must receipt it and, when it is required, acknowledge it (absent when there is none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_due: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_due: Option<DateTime<Utc>>,
}

/// The broker's refusal of a message, sent to the sender's inbox when the sender is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorReply {
    /// The refused message's id, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<Uuid>,
    /// The reason code (see `refusal::Reason`).
    pub reason: String,
    /// A human-readable explanation without personal data.
    pub detail: String,
}

/// The broker's heartbeat through one agency's line: published on `varsel.out` to
/// `inbox.<recipient>` exactly as a delivery is, so it proves the exchange, the queue, the
/// agency's consumer and its signing key all work. The agency's client answers at once with an
/// ordinary signed [`Receipt`] whose `delivery` is the heartbeat's `heartbeat` id, and shows
/// nothing to a person. It carries no alert and no personal data; `status` is always `test` (CAP),
/// so a client that does not know heartbeats still never takes it for a real alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// The id the receipt names in its `delivery` field.
    pub heartbeat: Uuid,
    pub recipient: ParticipantId,
    /// Always [`Status::Test`]; any other status is refused when read.
    #[serde(deserialize_with = "test_only")]
    pub status: Status,
    /// A receipt after this time counts the line as down until it arrives.
    pub receipt_due: DateTime<Utc>,
}

fn test_only<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
    match Status::deserialize(d)? {
        Status::Test => Ok(Status::Test),
        other => Err(serde::de::Error::custom(format!(
            "a heartbeat's status is always test, not {other}"
        ))),
    }
}

/// The head of the broker's audit chain as the broker signed it: entry `seq` has `hash`
/// (lowercase hex SHA-256) at the time `at`. Holds no content, only the chain's position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub at: DateTime<Utc>,
}

/// The kind-specific content of a payload, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Content {
    Alert(Sealed),
    Update(Sealed),
    Cancel(Sealed),
    Receipt(Receipt),
    Ack(Ack),
    Delivery(Delivery),
    Feedback(Feedback),
    Error(ErrorReply),
    Checkpoint(Checkpoint),
    Heartbeat(Heartbeat),
    Note(Note),
}

impl Content {
    pub fn kind(&self) -> Kind {
        match self {
            Content::Alert(_) => Kind::Alert,
            Content::Update(_) => Kind::Update,
            Content::Cancel(_) => Kind::Cancel,
            Content::Receipt(_) => Kind::Receipt,
            Content::Ack(_) => Kind::Ack,
            Content::Delivery(_) => Kind::Delivery,
            Content::Feedback(_) => Kind::Feedback,
            Content::Error(_) => Kind::Error,
            Content::Checkpoint(_) => Kind::Checkpoint,
            Content::Heartbeat(_) => Kind::Heartbeat,
            Content::Note(_) => Kind::Note,
        }
    }

    /// The sealed content of an alert, update or cancel.
    pub fn sealed(&self) -> Option<&Sealed> {
        match self {
            Content::Alert(s) | Content::Update(s) | Content::Cancel(s) => Some(s),
            _ => None,
        }
    }
}

/// The JSON payload of a varsel JWS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// Wire format version: [`VERSION`] when written, [`VERSION`] or [`VERSION_1`] when read.
    pub v: u8,
    /// The message id, a UUIDv7.
    pub id: Uuid,
    pub sender: ParticipantId,
    pub sent_at: DateTime<Utc>,
    /// Ids of earlier messages this one is about (CAP `references`): an update's or cancel's
    /// original alert, a receipt's alert.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Uuid>,
    #[serde(flatten)]
    pub content: Content,
}

impl Payload {
    /// A new payload with a fresh UUIDv7 id, sent now.
    pub fn new(sender: ParticipantId, content: Content) -> Payload {
        Payload {
            v: VERSION,
            id: Uuid::now_v7(),
            sender,
            sent_at: Utc::now(),
            references: Vec::new(),
            content,
        }
    }

    pub fn kind(&self) -> Kind {
        self.content.kind()
    }

    /// Checks that the content keys are carried the way the payload's version carries them
    /// (`keys` in v2, `wraps` in v1): the field that does not belong is named.
    pub fn check_version_fields(&self) -> Result<(), String> {
        let (wraps, keys) = match &self.content {
            Content::Alert(s) | Content::Update(s) | Content::Cancel(s) => (&s.wraps, &s.keys),
            Content::Note(_) if self.v != VERSION => {
                return Err(format!("a note is written in wire format v{VERSION} only"));
            }
            Content::Delivery(d) => {
                if d.keys.len() > 1 {
                    return Err("a delivery carries at most one key block".into());
                }
                if let Some(b) = d.keys.iter().find(|b| b.recipient != d.recipient) {
                    return Err(format!(
                        "the delivery's key block is for {}, not for its recipient",
                        b.recipient
                    ));
                }
                (&d.wraps, &d.keys)
            }
            _ => return Ok(()),
        };
        match self.v {
            VERSION if !wraps.is_empty() => {
                Err("wraps is wire format v1; v2 carries content keys in keys".into())
            }
            VERSION_1 if !keys.is_empty() => {
                Err("keys is wire format v2; v1 carries content keys in wraps".into())
            }
            _ => Ok(()),
        }
    }
}

/// The content keys of a message as it carries them: per section in v1, per recipient in v2.
#[derive(Debug, Clone, Copy)]
pub enum Keys<'a> {
    V1(&'a [KeyWrap]),
    V2(&'a [KeyBlock]),
}

impl<'a> Keys<'a> {
    /// The keys of a message that has passed [`Payload::check_version_fields`]: `wraps` when
    /// there are any, else `keys`.
    pub fn of(wraps: &'a [KeyWrap], keys: &'a [KeyBlock]) -> Keys<'a> {
        if wraps.is_empty() {
            Keys::V2(keys)
        } else {
            Keys::V1(wraps)
        }
    }

    /// The suite of the first key sealed to `recipient`, if any.
    pub fn suite_for(&self, recipient: &ParticipantId) -> Option<Suite> {
        match self {
            Keys::V1(w) => w
                .iter()
                .find(|w| &w.recipient == recipient)
                .map(|w| w.suite),
            Keys::V2(b) => b
                .iter()
                .find(|b| &b.recipient == recipient)
                .map(|b| b.suite),
        }
    }

    /// Whether a key for section `label` is sealed to `recipient`.
    pub fn has(&self, label: SectionLabel, recipient: &ParticipantId) -> bool {
        match self {
            Keys::V1(w) => w
                .iter()
                .any(|w| w.section == label && &w.recipient == recipient),
            Keys::V2(b) => b
                .iter()
                .any(|b| &b.recipient == recipient && b.labels.contains(&label)),
        }
    }
}

impl Sealed {
    pub fn key_view(&self) -> Keys<'_> {
        Keys::of(&self.wraps, &self.keys)
    }
}

impl Delivery {
    pub fn key_view(&self) -> Keys<'_> {
        Keys::of(&self.wraps, &self.keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_refuses_unknown_fields() {
        let json = r#"{"municipality":"0581","category":"departure_imminent","urgency":"immediate",
                       "status":"actual","pupil_name":"Anna"}"#;
        assert!(serde_json::from_str::<Header>(json).is_err());
    }

    #[test]
    fn payload_round_trips_with_kind_tag() {
        let p = Payload::new(
            "skola-a".parse().unwrap(),
            Content::Receipt(Receipt {
                delivery: Uuid::now_v7(),
            }),
        );
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["kind"], "receipt");
        let back: Payload = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
    }
}
