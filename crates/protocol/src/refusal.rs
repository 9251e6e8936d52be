//! Why input is refused. A [`Refusal`] is a value, not a log line: its reason code goes to the
//! dead-letter header (`x-varsel-reason`), the `varsel_refused_total{reason}` metric label, the
//! audit log and the `error` reply to the sender alike, so an operator and a school see the same
//! words. Details never carry personal data or key material.

use std::fmt;

use crate::message::code_enum;

code_enum!(
    /// The reason code of a refusal.
    Reason {
        /// The message is larger than the configured limit.
        Oversized = "oversized",
        /// Not a JWS in compact serialization, bad base64url, or not JSON.
        Malformed = "malformed",
        /// The JWS header names an algorithm other than Ed25519 or EdDSA (including `none`), or an unknown
        /// `typ` or critical extension.
        UnsupportedAlg = "unsupported_alg",
        /// No registered signing key has this `kid`.
        UnknownKey = "unknown_key",
        /// The sender named in the payload is not in the registry.
        UnknownSender = "unknown_sender",
        /// The signing key belongs to another participant than the named sender.
        KeyNotSenders = "key_not_senders",
        /// The signing key has been revoked.
        KeyRevoked = "key_revoked",
        /// The signing key's validity period has ended or not yet begun.
        KeyExpired = "key_expired",
        /// The signature does not verify over the received bytes.
        BadSignature = "bad_signature",
        /// The payload does not follow the schema (missing or unknown fields, bad values).
        Schema = "schema",
        /// The payload's wire format version (`v`) is not one this receiver reads: unknown, or
        /// v1 after the end of the transition (the broker's `[wire] accept_v1_until`).
        UnsupportedVersion = "unsupported_version",
        /// The sender's role may not send this kind of message.
        KindNotAllowed = "kind_not_allowed",
        /// `sent_at` is older than the accepted window (a replay, or a message held too long).
        Stale = "stale",
        /// `sent_at` lies further in the future than the allowed clock skew.
        FutureDated = "future_dated",
        /// A message id that was already accepted arrived again with different bytes.
        ReusedId = "reused_id",
        /// The AMQP routing key does not name the signer (`<kind>.<sender>`).
        WrongRoutingKey = "wrong_routing_key",
        /// The AMQP user that published the message is not the signer's registered identity.
        IdentityMismatch = "identity_mismatch",
        /// An update, cancel, receipt or ack refers to an alert or delivery the broker does not
        /// know.
        UnknownReference = "unknown_reference",
        /// An update or cancel from someone other than the alert's sender (or one acting for it),
        /// or a receipt or ack from someone other than the delivery's recipient.
        NotEntitled = "not_entitled",
        /// A note about a case from a participant that is neither the alert's school nor one of
        /// its recipients.
        NotACaseMember = "not_a_case_member",
        /// A note of a kind the sender may not post (see the note module): a school, or an
        /// agency whose registry entry names no agency kind or one not entitled to this note.
        NoteKindNotPermitted = "note_kind_not_permitted",
        /// The alert is not wrapped to the broker, so it cannot be re-wrapped for recipients.
        NotSealedForBroker = "not_sealed_for_broker",
        /// A section is not wrapped for the participant trying to open it.
        NotWrappedForRecipient = "not_wrapped_for_recipient",
        /// A section or key wrap does not decrypt (tampered ciphertext or wrong key).
        Undecryptable = "undecryptable",
        /// A personnummer or samordningsnummer fails its checksum or date check.
        InvalidPersonnummer = "invalid_personnummer",
        /// The broker could not process the message because of a fault of its own that retrying
        /// does not cure (a store error that is not transient): the message was set aside on the
        /// dead-letter queue and ops were paged. The sender should raise the alert another way.
        Internal = "internal",
    }
);

/// A refused message: the reason code and a detail for humans, free of personal data.
///
/// The detail often quotes the input (a `kid`, an algorithm, a field name), and it travels to a
/// dead-letter header, the logs, the audit log and the error reply: [`Refusal::new`] bounds it to
/// [`MAX_DETAIL_CHARS`] characters and escapes control and bidirectional-formatting characters, so
/// no input can make it large enough to break an AMQP frame or forge a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Reason,
    pub detail: String,
}

/// The most characters of a refusal's detail; the rest is cut and counted.
pub const MAX_DETAIL_CHARS: usize = 1000;

/// `text` bounded to [`MAX_DETAIL_CHARS`] characters, with control characters and the invisible
/// characters that reorder or hide text (bidirectional overrides and isolates, zero-width marks)
/// written as `\u{…}` escapes.
pub fn bounded(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_DETAIL_CHARS + 32));
    for (shown, (at, c)) in text.char_indices().enumerate() {
        if shown == MAX_DETAIL_CHARS {
            out.push_str(&format!("… ({} more bytes)", text.len() - at));
            break;
        }
        if c.is_control() || hides_or_reorders(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

fn hides_or_reorders(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

impl Refusal {
    /// A refusal whose detail is [`bounded`].
    pub fn new(reason: Reason, detail: impl Into<String>) -> Refusal {
        Refusal {
            reason,
            detail: bounded(&detail.into()),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused ({}): {}", self.reason.code(), self.detail)
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn a_detail_is_bounded_and_escaped() {
        let huge = format!("unknown kid {:?}", "k".repeat(190 * 1024));
        let r = Refusal::new(Reason::UnknownKey, huge.clone());
        assert!(
            r.detail.chars().count() < MAX_DETAIL_CHARS + 40,
            "{}",
            r.detail.len()
        );
        assert!(r.detail.starts_with("unknown kid \"kkk"));
        let cut = huge.len() - (MAX_DETAIL_CHARS);
        assert!(
            r.detail.ends_with(&format!("… ({cut} more bytes)")),
            "{}",
            r.detail
        );

        let forged = Refusal::new(Reason::Schema, "bad\nINFO accepted\u{202E}txt\u{7}");
        assert_eq!(forged.detail, "bad\\u{a}INFO accepted\\u{202e}txt\\u{7}");
        assert!(!forged.detail.chars().any(|c| c.is_control()));

        let short = Refusal::new(Reason::Stale, "sent 3700s ago; åäö are fine");
        assert_eq!(short.detail, "sent 3700s ago; åäö are fine");
    }

    #[test]
    fn every_reason_has_its_own_code() {
        let codes: HashSet<_> = Reason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), Reason::ALL.len());
        for r in Reason::ALL {
            assert!(r
                .code()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }

    #[test]
    fn display_names_the_code() {
        let r = Refusal::new(Reason::Stale, "sent 3h ago, window is 15m");
        assert_eq!(r.to_string(), "refused (stale): sent 3h ago, window is 15m");
    }
}
