//! The payload of every varsel message (wire format v1): who sent it, when, what kind it is, the
//! cleartext routing header, references, and the kind-specific content.
//!
//! The payload travels as the payload of a JWS (see `envelope`). Everything in this file is
//! cleartext on the wire and in the store's plain columns, so nothing here may hold personal data:
//! the routing [`Header`] is made only of codes, enums, timestamps and opaque tokens, and pupil,
//! family and travel details exist only inside [`SealedSection`] ciphertext.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The wire format version carried in every payload (`v`).
pub const VERSION: u8 = 1;

/// Why an identifier or code in a message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {why}")]
pub struct InvalidValue {
    pub what: &'static str,
    pub why: String,
}

#[doc(hidden)]
pub fn invalid(what: &'static str, why: impl Into<String>) -> InvalidValue {
    InvalidValue {
        what,
        why: why.into(),
    }
}

/// A registered participant's id, e.g. `norrkoping-ektorpsskolan`.
///
/// It appears in AMQP routing keys (`alert.<id>`) and queue names (`inbox.<id>`), so it is
/// restricted to lowercase ASCII letters, digits and `-` (2 to 63 characters, starting with a
/// letter or digit): no dots, wildcards or whitespace that could widen a topic permission.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ParticipantId(String);

impl ParticipantId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ParticipantId {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, InvalidValue> {
        let ok_len = (2..=63).contains(&s.len());
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let ok_start = s
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok_len && ok_chars && ok_start {
            Ok(ParticipantId(s))
        } else {
            Err(invalid(
                "participant id",
                format!("{s:?} must be 2-63 characters of a-z, 0-9 and '-', starting with a letter or digit"),
            ))
        }
    }
}

impl FromStr for ParticipantId {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, InvalidValue> {
        ParticipantId::try_from(s.to_owned())
    }
}

impl From<ParticipantId> for String {
    fn from(p: ParticipantId) -> String {
        p.0
    }
}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Swedish municipality code (kommunkod): exactly four digits, e.g. `0581` for Norrköping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Kommunkod(String);

impl Kommunkod {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Kommunkod {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, InvalidValue> {
        if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Kommunkod(s))
        } else {
            Err(invalid(
                "municipality code",
                format!("{s:?} must be four digits"),
            ))
        }
    }
}

impl FromStr for Kommunkod {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, InvalidValue> {
        Kommunkod::try_from(s.to_owned())
    }
}

impl From<Kommunkod> for String {
    fn from(k: Kommunkod) -> String {
        k.0
    }
}

impl fmt::Display for Kommunkod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An opaque correlation token in the routing header (for example a school's own case number
/// hashed by the school): 1-64 characters of `A-Z a-z 0-9 _ -`, so it cannot carry a name or a
/// personal identity number in readable form by accident (no spaces, no digits-only tokens of
/// personnummer length).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Token(String);

impl Token {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Token {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, InvalidValue> {
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let all_digits = s.bytes().all(|b| b.is_ascii_digit() || b == b'-');
        if !(1..=64).contains(&s.len()) || !ok_chars {
            return Err(invalid(
                "correlation token",
                "must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'",
            ));
        }
        if all_digits && s.len() >= 10 {
            return Err(invalid(
                "correlation token",
                "looks like a personal identity number; tokens must be opaque",
            ));
        }
        Ok(Token(s))
    }
}

impl From<Token> for String {
    fn from(t: Token) -> String {
        t.0
    }
}

/// Declares an enum of wire codes with `code()`, `FromStr`, `Display` and serde as the code.
/// Other varsel crates use it for codes of their own (for example the alert states in the store).
#[macro_export]
#[doc(hidden)]
macro_rules! code_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $code)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The code used on the wire, in the store, in metrics labels and in configuration.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.code())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::message::InvalidValue;
            fn from_str(s: &str) -> Result<Self, $crate::message::InvalidValue> {
                match s {
                    $($code => Ok($name::$variant),)+
                    other => Err($crate::message::invalid(stringify!($name), format!(
                        "{other:?} is not one of {}", [$($code),+].join(", ")))),
                }
            }
        }
    };
}
#[doc(hidden)]
pub use crate::code_enum;

code_enum!(
    /// What a message is. The JWS `typ` header names it too (see `envelope`).
    Kind {
        /// A school raises a new alert.
        Alert = "alert",
        /// A school adds to or corrects an alert it raised (CAP msgType Update).
        Update = "update",
        /// A school withdraws an alert (CAP msgType Cancel), e.g. the pupil came back.
        Cancel = "cancel",
        /// An agency's client confirms, by machine, that a delivery arrived.
        Receipt = "receipt",
        /// A named officer at an agency has taken the case.
        Ack = "ack",
        /// The broker hands an alert to one recipient.
        Delivery = "delivery",
        /// The broker tells a school how its alert is getting on.
        Feedback = "feedback",
        /// The broker tells a sender why its message was refused.
        Error = "error",
    }
);

code_enum!(
    /// Why the school is raising the alert.
    Category {
        DepartureImminent = "departure_imminent",
        NotReturnedAfterBreak = "not_returned_after_break",
        MissingAtTermStart = "missing_at_term_start",
        SuspectedAbroad = "suspected_abroad",
    }
);

code_enum!(
    /// How soon action is needed (CAP 1.2 `urgency`, without `Past` and `Unknown`).
    Urgency {
        Immediate = "immediate",
        Expected = "expected",
        Future = "future",
    }
);

code_enum!(
    /// Whether the alert is real (CAP 1.2 `status`). Exercise and test alerts follow the same
    /// path but are marked everywhere and counted separately.
    Status {
        Actual = "actual",
        Exercise = "exercise",
        Test = "test",
    }
);

code_enum!(
    /// The labelled parts of an alert body. Each is encrypted on its own so a route can grant a
    /// recipient only the parts it needs.
    SectionLabel {
        /// Pupil, school, concern and indicators.
        Core = "core",
        /// Guardians and siblings.
        Family = "family",
        /// Destination, departure and carrier.
        Travel = "travel",
        /// What the school has already done, its contact person and free text.
        SchoolActions = "school_actions",
    }
);

code_enum!(
    /// The authenticated encryption used for a section's ciphertext.
    Aead {
        ChaCha20Poly1305 = "CHACHA20-POLY1305",
        Aes256Gcm = "AES-256-GCM",
    }
);

code_enum!(
    /// The HPKE suite (RFC 9180) used to wrap a section's content key for one recipient.
    Suite {
        /// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305.
        X25519 = "DHKEM-X25519-HKDF-SHA256/HKDF-SHA256/CHACHA20-POLY1305",
        /// X-Wing (ML-KEM-768 + X25519 hybrid, post-quantum), HKDF-SHA256, ChaCha20-Poly1305.
        XWing = "X-WING/HKDF-SHA256/CHACHA20-POLY1305",
    }
);

code_enum!(
    /// Whether a recipient must acknowledge (`required`) or is only kept informed.
    RecipientRole {
        Required = "required",
        Informed = "informed",
    }
);

code_enum!(
    /// What an officer decided when taking a delivery.
    Outcome {
        CaseOpened = "case_opened",
        AlreadyKnown = "already_known",
        /// Declines the delivery; the escalation policy decides where it goes instead.
        NotOurJurisdiction = "not_our_jurisdiction",
        Forwarded = "forwarded",
        NoActionNeeded = "no_action_needed",
    }
);

code_enum!(
    /// Where one delivery stands. `pending → sent → received → acknowledged`, or `declined`,
    /// `escalated`, `cancelled`, `expired`, and `unroutable` when RabbitMQ could not place it.
    DeliveryState {
        Pending = "pending",
        Sent = "sent",
        Received = "received",
        Acknowledged = "acknowledged",
        Declined = "declined",
        Escalated = "escalated",
        Cancelled = "cancelled",
        Expired = "expired",
        Unroutable = "unroutable",
    }
);

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_departure: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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

/// The content of an alert, update or cancel from a school: header, sealed sections and the
/// content keys wrapped to the broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    pub header: Header,
    #[serde(default)]
    pub sections: Vec<SealedSection>,
    #[serde(default)]
    pub wraps: Vec<KeyWrap>,
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
/// original signed message unchanged, plus the content keys of the granted sections wrapped to
/// this recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    pub delivery: Uuid,
    pub alert: Uuid,
    pub recipient: ParticipantId,
    pub role: RecipientRole,
    /// The school's message in JWS compact serialization, exactly as received.
    pub original: String,
    pub wraps: Vec<KeyWrap>,
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
    /// Wire format version, always [`VERSION`].
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn participant_ids_cannot_widen_routing_keys() {
        for bad in ["", "a", "Skola", "a.b", "a*", "a#", "a b", "-ab", "å-skola"] {
            assert!(bad.parse::<ParticipantId>().is_err(), "{bad:?} accepted");
        }
        assert!("norrkoping-ektorpsskolan".parse::<ParticipantId>().is_ok());
    }

    #[test]
    fn kommunkod_is_four_digits() {
        assert!("0581".parse::<Kommunkod>().is_ok());
        for bad in ["581", "05811", "05a1", ""] {
            assert!(bad.parse::<Kommunkod>().is_err());
        }
    }

    #[test]
    fn tokens_refuse_identity_numbers_and_free_text() {
        assert!(Token::try_from("case-7f3a".to_owned()).is_ok());
        assert!(Token::try_from("20120101-1234".to_owned()).is_err());
        assert!(Token::try_from("201201011234".to_owned()).is_err());
        assert!(Token::try_from("Anna Svensson".to_owned()).is_err());
    }

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

    #[test]
    fn codes_parse_back() {
        for c in Category::ALL {
            assert_eq!(c.code().parse::<Category>().unwrap(), *c);
        }
        assert!("vacation".parse::<Category>().is_err());
    }
}
