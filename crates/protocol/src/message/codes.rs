//! The closed sets of wire codes (kinds, categories, urgencies, section labels, suites, delivery
//! states ...) and `code_enum!`, the macro that declares them, so every code is read, printed and
//! serialized the same way.

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
        /// The broker vouches for its audit chain's head (sent to ops, kept outside its store).
        Checkpoint = "checkpoint",
        /// The broker checks an agency's line: answered with a receipt, shown to nobody.
        Heartbeat = "heartbeat",
        /// A member of a case posts a sealed note to it: an agency e.g. a travel ban decided, the
        /// school the case's closing.
        Note = "note",
    }
);

code_enum!(
    /// What a note to a case is about: cleartext, a code only; what it says is sealed.
    NoteKind {
        /// A temporary travel ban decided (31 d § LVU), with its decision time and reference.
        TravelBanDecided = "travel_ban_decided",
        /// An extended travel ban applied for at the administrative court (31 a § LVU).
        TravelBanRequested = "travel_ban_requested",
        /// The child has been found.
        ChildLocated = "child_located",
        /// The sending agency leads the case from now on.
        CaseTaken = "case_taken",
        /// One agency asks another for information about the case.
        InformationRequest = "information_request",
        /// The answer to an information request.
        InformationReply = "information_reply",
        /// The school closes the case with its outcome (sealed in the body): every member is
        /// told, the case's timers stop, and nothing more is accepted for it.
        CaseClosed = "case_closed",
    }
);

code_enum!(
    /// How a case ended, as the school closes it. Sealed in the closing note's body, never
    /// cleartext: it says what happened to one pupil.
    CaseOutcome {
        /// The pupil is back in school.
        Returned = "returned",
        /// Not a pupil taken abroad: absence the school handles as problematic absence.
        ProblematicAbsence = "problematic_absence",
        /// The pupil moved, and where to is known.
        Moved = "moved",
        /// The pupil is abroad against their will.
        AbroadAgainstWill = "abroad_against_will",
        Other = "other",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_back() {
        for c in Category::ALL {
            assert_eq!(c.code().parse::<Category>().unwrap(), *c);
        }
        assert!("vacation".parse::<Category>().is_err());
    }
}
