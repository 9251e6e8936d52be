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
        /// The JWS header names an algorithm other than EdDSA (including `none`), or an unknown
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
        /// The alert is not wrapped to the broker, so it cannot be re-wrapped for recipients.
        NotSealedForBroker = "not_sealed_for_broker",
        /// A section is not wrapped for the participant trying to open it.
        NotWrappedForRecipient = "not_wrapped_for_recipient",
        /// A section or key wrap does not decrypt (tampered ciphertext or wrong key).
        Undecryptable = "undecryptable",
        /// A personnummer or samordningsnummer fails its checksum or date check.
        InvalidPersonnummer = "invalid_personnummer",
    }
);

/// A refused message: the reason code and a detail for humans, free of personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Reason,
    pub detail: String,
}

impl Refusal {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Refusal {
        Refusal {
            reason,
            detail: detail.into(),
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
