//! Sealed sections: each alert section encrypted under its own content key, each content key
//! wrapped with HPKE to each recipient, and the broker's re-wrapping for the recipients a route
//! grants a section to.
//!
//! # Construction (wire format v1)
//!
//! For every section of a message with id `id` and routing header `header`:
//!
//! 1. A fresh random 32-byte content key `K` and 12-byte nonce `N`.
//! 2. `ciphertext = AEAD(K, N, aad_section, plaintext)` with the section's `aead`
//!    (`CHACHA20-POLY1305` or `AES-256-GCM`; the 16-byte tag appended), where
//!
//!    ```text
//!    aad_section = canonical_json({"header": <header>, "id": "<id>", "label": "<label>"})
//!    ```
//!
//!    `<header>` is the routing header object as it appears in the payload (`municipality`,
//!    `category`, `urgency`, `status`, and, when present, `planned_departure` and `correlation`),
//!    `<id>` the message id as a lowercase hyphenated UUID, `<label>` the section label code.
//!    The section is thereby bound to its message and header: moved to another message, or
//!    with the header edited, it no longer decrypts.
//! 3. For every recipient (the school wraps to the broker; the broker re-wraps for agencies),
//!    `K` is sealed with HPKE (RFC 9180) base mode to the recipient's sealing key:
//!
//!    ```text
//!    suite   = the key's suite: KEM DHKEM(X25519, HKDF-SHA256) or X-Wing,
//!              KDF HKDF-SHA256, AEAD ChaCha20-Poly1305
//!    info    = "varsel/v1 key wrap"   (ASCII)
//!    aad     = canonical_json({"id": "<id>", "label": "<label>", "recipient": "<participant id>"})
//!    (enc, wrapped) = SealBase(pkR, info, aad, K)
//!    ```
//!
//! `canonical_json` is RFC 8785 (JCS, [`crate::canonical`]): object keys sorted, no whitespace,
//! strings with JSON's minimal escapes. The header has one wire form, so that the object a
//! sender binds and the object a receiver rebuilds are the same: timestamps are RFC 3339 in
//! UTC with an uppercase `Z`, with fractional seconds only when not zero (in groups of three
//! digits: `.500`, not `.5`), and optional fields (`planned_departure`, `correlation`) are
//! left out when they have no value, never `null` or `[]`. A received header in any other
//! form is refused as `schema` naming the field ([`check_header_form`]), before any section is
//! opened. All binary fields are base64url without padding.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::json;
use uuid::Uuid;

use super::keys::{hpke_seal, SealingKey, SealingSecret};
use super::{b64, unb64, Error};
use crate::canonical::to_vec as canonical_json;
use crate::message::{Aead, Header, KeyWrap, ParticipantId, SealedSection, SectionLabel};
use crate::refusal::{Reason, Refusal};

/// The HPKE `info` of every key wrap.
pub const WRAP_INFO: &[u8] = b"varsel/v1 key wrap";

const CONTENT_KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// The associated data binding a section to its message (see the module docs).
pub fn section_aad(id: Uuid, header: &Header, label: SectionLabel) -> Vec<u8> {
    // A Header is made of strings, enums and timestamps: it always serialises.
    let header = serde_json::to_value(header).unwrap_or_default();
    canonical_json(&json!({"header": header, "id": id.to_string(), "label": label.code()}))
}

/// Checks that the routing header as received is written exactly as [`section_aad`] writes it
/// from the parsed header, so a section sealed by any sender's serialiser opens: timestamps
/// RFC 3339 in UTC with an uppercase `Z` and fractional seconds only when not zero (in groups
/// of three digits), optional fields left out rather than `null` or empty. A header in another
/// form is refused here as `schema`, naming the field, instead of every section failing later
/// as `undecryptable`.
pub fn check_header_form(header: &Header, received: &serde_json::Value) -> Result<(), Refusal> {
    // A Header is made of strings, enums and timestamps: it always serialises.
    let written = serde_json::to_value(header).unwrap_or_default();
    if written == *received {
        return Ok(());
    }
    let (Some(written), Some(received)) = (written.as_object(), received.as_object()) else {
        return Err(Refusal::new(Reason::Schema, "header is not an object"));
    };
    let mut keys: Vec<&String> = written.keys().chain(received.keys()).collect();
    keys.sort();
    let field = keys
        .into_iter()
        .find(|k| written.get(*k) != received.get(*k))
        .map_or("(unknown)", String::as_str);
    Err(Refusal::new(
        Reason::Schema,
        format!(
            "header.{field} is not in its one wire form, which the sections' associated data \
             binds: write timestamps in UTC with Z and fractional seconds only when not zero \
             (as 2026-10-24T04:40:00Z or 2026-10-24T04:40:00.500Z), and leave out an optional \
             field rather than writing null or an empty list"
        ),
    ))
}

/// The associated data binding a key wrap to its message, section and recipient.
pub fn wrap_aad(id: Uuid, label: SectionLabel, recipient: &ParticipantId) -> Vec<u8> {
    canonical_json(
        &json!({"id": id.to_string(), "label": label.code(), "recipient": recipient.as_str()}),
    )
}

fn algorithm(aead: Aead) -> &'static aead::Algorithm {
    match aead {
        Aead::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        Aead::Aes256Gcm => &aead::AES_256_GCM,
    }
}

/// A content key that is wiped when dropped.
struct ContentKey([u8; CONTENT_KEY_LEN]);

impl Drop for ContentKey {
    fn drop(&mut self) {
        self.0.fill(0);
    }
}

fn wrap(
    id: Uuid,
    label: SectionLabel,
    key: &ContentKey,
    recipient: &ParticipantId,
    to: &SealingKey,
) -> Result<KeyWrap, Error> {
    let (enc, wrapped) = hpke_seal(
        to.suite,
        &to.public_key,
        WRAP_INFO,
        &key.0,
        &wrap_aad(id, label, recipient),
    )
    .map_err(|_| Error::BadRecipientKey {
        recipient: recipient.to_string(),
        kid: to.kid.clone(),
        suite: to.suite,
    })?;
    Ok(KeyWrap {
        section: label,
        recipient: recipient.clone(),
        kid: to.kid.clone(),
        suite: to.suite,
        enc: b64(&enc),
        wrapped: b64(&wrapped),
    })
}

/// Encrypt sections and wrap their content keys to every recipient.
pub fn seal(
    id: Uuid,
    header: &Header,
    sections: &[(SectionLabel, Vec<u8>)],
    recipients: &[(ParticipantId, &SealingKey)],
    aead: Aead,
) -> Result<(Vec<SealedSection>, Vec<KeyWrap>), Error> {
    let rng = SystemRandom::new();
    let mut sealed = Vec::with_capacity(sections.len());
    let mut wraps = Vec::with_capacity(sections.len() * recipients.len());
    for (i, (label, plaintext)) in sections.iter().enumerate() {
        if sections[..i].iter().any(|(l, _)| l == label) {
            return Err(Error::Seal(format!("section {label} appears twice")));
        }
        let mut key = ContentKey([0; CONTENT_KEY_LEN]);
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut key.0).map_err(|_| Error::Random)?;
        rng.fill(&mut nonce).map_err(|_| Error::Random)?;
        let sealing = LessSafeKey::new(
            UnboundKey::new(algorithm(aead), &key.0)
                .map_err(|_| Error::Seal("bad key length".into()))?,
        );
        let mut buf = plaintext.clone();
        sealing
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(section_aad(id, header, *label)),
                &mut buf,
            )
            .map_err(|_| Error::Seal(format!("section {label} could not be encrypted")))?;
        sealed.push(SealedSection {
            label: *label,
            aead,
            nonce: b64(&nonce),
            ciphertext: b64(&buf),
        });
        for (recipient, to) in recipients {
            wraps.push(wrap(id, *label, &key, recipient, to)?);
        }
    }
    Ok((sealed, wraps))
}

/// Unwrap the content key of `label` wrapped to `me` with one of `keys`.
fn unwrap(
    id: Uuid,
    label: SectionLabel,
    wraps: &[KeyWrap],
    me: &ParticipantId,
    keys: &[SealingSecret],
    missing: Reason,
) -> Result<ContentKey, Refusal> {
    let mine: Vec<&KeyWrap> = wraps
        .iter()
        .filter(|w| w.section == label && &w.recipient == me)
        .collect();
    if mine.is_empty() {
        return Err(Refusal::new(
            missing,
            format!("section {label} is not wrapped for {me}"),
        ));
    }
    let Some((w, secret)) = mine.iter().find_map(|w| {
        keys.iter()
            .find(|k| k.kid == w.kid && k.suite == w.suite)
            .map(|k| (*w, k))
    }) else {
        return Err(Refusal::new(
            Reason::Undecryptable,
            format!(
                "section {label} is wrapped for {me} with a key this participant does not hold"
            ),
        ));
    };
    let undecryptable = || {
        Refusal::new(
            Reason::Undecryptable,
            format!(
                "the key wrap of section {label} for {me} (kid {}) does not open",
                w.kid
            ),
        )
    };
    let enc = unb64(&w.enc).ok_or_else(undecryptable)?;
    let wrapped = unb64(&w.wrapped).ok_or_else(undecryptable)?;
    let mut raw = secret
        .open(&enc, &wrapped, WRAP_INFO, &wrap_aad(id, label, me))
        .map_err(|_| undecryptable())?;
    let mut key = ContentKey([0; CONTENT_KEY_LEN]);
    let ok = raw.len() == CONTENT_KEY_LEN;
    if ok {
        key.0.copy_from_slice(&raw);
    }
    raw.fill(0);
    if ok {
        Ok(key)
    } else {
        Err(undecryptable())
    }
}

fn decrypt(
    id: Uuid,
    header: &Header,
    section: &SealedSection,
    key: &ContentKey,
) -> Result<Vec<u8>, Refusal> {
    let label = section.label;
    let undecryptable = || {
        Refusal::new(
            Reason::Undecryptable,
            format!("section {label} does not decrypt"),
        )
    };
    let nonce: [u8; NONCE_LEN] = unb64(&section.nonce)
        .and_then(|n| n.try_into().ok())
        .ok_or_else(undecryptable)?;
    let mut buf = unb64(&section.ciphertext).ok_or_else(undecryptable)?;
    let opening = LessSafeKey::new(
        UnboundKey::new(algorithm(section.aead), &key.0).map_err(|_| undecryptable())?,
    );
    let plain = opening
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(section_aad(id, header, label)),
            &mut buf,
        )
        .map_err(|_| undecryptable())?;
    let len = plain.len();
    buf.truncate(len);
    Ok(buf)
}

/// Open every section `me` can: per section its plaintext, or `not_wrapped_for_recipient` when
/// no key wrap names `me`, or `undecryptable` when the wrap or the ciphertext fails.
pub fn open(
    id: Uuid,
    header: &Header,
    sections: &[SealedSection],
    wraps: &[KeyWrap],
    me: &ParticipantId,
    keys: &[SealingSecret],
) -> Vec<(SectionLabel, Result<Vec<u8>, Refusal>)> {
    sections
        .iter()
        .map(|s| {
            let res = unwrap(id, s.label, wraps, me, keys, Reason::NotWrappedForRecipient)
                .and_then(|key| decrypt(id, header, s, &key));
            (s.label, res)
        })
        .collect()
}

/// The broker's re-wrap: the content keys of the granted sections, unwrapped with the broker's
/// secrets and wrapped to `recipient_key`. Section ciphertext and the school's JWS are not
/// touched. A granted section the message does not carry is skipped; a carried section not
/// wrapped to the broker is refused with `not_sealed_for_broker`. For a message handed to
/// several recipients, [`Unwrapped::rewrap`] unwraps each section once.
#[allow(clippy::too_many_arguments)]
pub fn rewrap(
    id: Uuid,
    header: &Header,
    wraps: &[KeyWrap],
    broker: &ParticipantId,
    broker_keys: &[SealingSecret],
    grant: &[SectionLabel],
    recipient: &ParticipantId,
    recipient_key: &SealingKey,
) -> Result<Vec<KeyWrap>, Refusal> {
    Unwrapped::new(id).rewrap(
        header,
        wraps,
        broker,
        broker_keys,
        grant,
        recipient,
        recipient_key,
    )
}

/// The content keys of one message that the broker has unwrapped so far, so that handing the
/// message to several recipients costs one unwrap per section rather than one per section and
/// recipient (an HPKE open is the most expensive step of a hand-over). The keys are wiped when
/// this is dropped; keep it no longer than the hand-overs of one message.
pub struct Unwrapped {
    id: Uuid,
    keys: Vec<(SectionLabel, ContentKey)>,
}

impl Unwrapped {
    /// No keys yet, for the message with this id.
    pub fn new(id: Uuid) -> Unwrapped {
        Unwrapped {
            id,
            keys: Vec::new(),
        }
    }

    /// As [`rewrap`], reusing the keys unwrapped for earlier recipients of the same message.
    /// `wraps` must be the same message's key wraps each time.
    #[allow(clippy::too_many_arguments)]
    pub fn rewrap(
        &mut self,
        header: &Header,
        wraps: &[KeyWrap],
        broker: &ParticipantId,
        broker_keys: &[SealingSecret],
        grant: &[SectionLabel],
        recipient: &ParticipantId,
        recipient_key: &SealingKey,
    ) -> Result<Vec<KeyWrap>, Refusal> {
        // The header is bound through the section AAD, which the broker cannot check without
        // decrypting; it is part of the signature so callers pass the verified one.
        let _ = header;
        let mut out = Vec::new();
        for (i, label) in grant.iter().enumerate() {
            if grant[..i].contains(label) || !wraps.iter().any(|w| w.section == *label) {
                continue;
            }
            let at = match self.keys.iter().position(|(l, _)| l == label) {
                Some(at) => at,
                None => {
                    let key = unwrap(
                        self.id,
                        *label,
                        wraps,
                        broker,
                        broker_keys,
                        Reason::NotSealedForBroker,
                    )?;
                    self.keys.push((*label, key));
                    self.keys.len() - 1
                }
            };
            let w = wrap(self.id, *label, &self.keys[at].1, recipient, recipient_key)
                .map_err(|e| Refusal::new(Reason::Undecryptable, e.to_string()))?;
            out.push(w);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Category, Status, Urgency};

    #[test]
    fn aad_is_canonical_json() {
        let header = Header {
            municipality: "0581".parse().unwrap(),
            category: Category::DepartureImminent,
            urgency: Urgency::Immediate,
            status: Status::Test,
            planned_departure: Some("2026-06-12T06:30:00Z".parse().unwrap()),
            correlation: vec![],
        };
        let id: Uuid = "0190f0c2-0000-7000-8000-000000000001".parse().unwrap();
        assert_eq!(
            String::from_utf8(section_aad(id, &header, SectionLabel::Family)).unwrap(),
            r#"{"header":{"category":"departure_imminent","municipality":"0581","planned_departure":"2026-06-12T06:30:00Z","status":"test","urgency":"immediate"},"id":"0190f0c2-0000-7000-8000-000000000001","label":"family"}"#
        );
        assert_eq!(
            String::from_utf8(wrap_aad(
                id,
                SectionLabel::Core,
                &"polisen".parse().unwrap()
            ))
            .unwrap(),
            r#"{"id":"0190f0c2-0000-7000-8000-000000000001","label":"core","recipient":"polisen"}"#
        );
    }
}
