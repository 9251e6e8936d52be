//! The public keys participants register, with when they may be used, and the lookup
//! verification needs. They live with the envelope, not the registry, so checking a signature
//! needs only "which key has this id and whose is it", whatever holds the keys.

use chrono::{DateTime, Utc};

use crate::message::{ParticipantId, Suite};

/// When a key may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validity {
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub revoked: bool,
}

/// Whether a key may be used at an instant, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usability {
    Usable,
    Revoked,
    NotYetValid,
    Expired,
}

impl Validity {
    /// Whether the key may be used at `at`. Revocation wins over the validity period; the period
    /// is half-open, `valid_from <= at < valid_until`.
    pub fn usability(&self, at: DateTime<Utc>) -> Usability {
        if self.revoked {
            Usability::Revoked
        } else if at < self.valid_from {
            Usability::NotYetValid
        } else if self.valid_until.is_some_and(|until| at >= until) {
            Usability::Expired
        } else {
            Usability::Usable
        }
    }

    pub fn is_usable(&self, at: DateTime<Utc>) -> bool {
        self.usability(at) == Usability::Usable
    }
}

/// A registered Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    /// The 32-byte public key.
    pub public_key: Vec<u8>,
    pub validity: Validity,
}

/// A registered HPKE public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealingKey {
    pub kid: String,
    pub suite: Suite,
    pub public_key: Vec<u8>,
    pub validity: Validity,
}

/// Where verification finds signing keys and senders. The registry is the real one; keeping the
/// question this small is what lets the envelope verify without knowing how the registry is
/// loaded or stored.
pub trait KeyLookup {
    /// The signing key with this key id and the id of its owner, whatever its validity.
    fn signing_key_owner(&self, kid: &str) -> Option<(&ParticipantId, &SigningKey)>;

    /// Whether a participant with this id is registered.
    fn is_registered(&self, id: &ParticipantId) -> bool;
}

// The broker shares one registry between tasks behind an `Arc`, tests hold one in an `Rc`;
// whatever points at a lookup is one, so callers pass `&Arc<Registry>` as they always did.
impl<P> KeyLookup for P
where
    P: std::ops::Deref,
    P::Target: KeyLookup,
{
    fn signing_key_owner(&self, kid: &str) -> Option<(&ParticipantId, &SigningKey)> {
        (**self).signing_key_owner(kid)
    }

    fn is_registered(&self, id: &ParticipantId) -> bool {
        (**self).is_registered(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_tells_why_a_key_is_unusable() {
        let v = Validity {
            valid_from: "2026-01-01T00:00:00Z".parse().unwrap(),
            valid_until: Some("2027-01-01T00:00:00Z".parse().unwrap()),
            revoked: false,
        };
        assert_eq!(
            v.usability("2025-12-31T23:59:59Z".parse().unwrap()),
            Usability::NotYetValid
        );
        assert_eq!(
            v.usability("2026-01-01T00:00:00Z".parse().unwrap()),
            Usability::Usable
        );
        assert_eq!(
            v.usability("2027-01-01T00:00:00Z".parse().unwrap()),
            Usability::Expired
        );
        let revoked = Validity { revoked: true, ..v };
        assert_eq!(
            revoked.usability("2026-06-01T00:00:00Z".parse().unwrap()),
            Usability::Revoked
        );
    }
}
