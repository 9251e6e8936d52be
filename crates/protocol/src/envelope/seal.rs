//! Sealed sections: each alert section encrypted under its own content key, the content keys
//! sealed with HPKE to each recipient, and the broker's re-sealing of the keys a route grants.
//!
//! # Construction (wire format v2)
//!
//! For a message with id `id` and routing header `header`:
//!
//! 1. For every section: a fresh random 32-byte content key `K` and 12-byte nonce `N`, and
//!    `ciphertext = AEAD(K, N, aad_section, plaintext)` with the section's `aead`
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
//! 2. For every recipient (the school seals to the broker; the broker re-seals for each agency
//!    the sections its route grants), one key block: the content keys of the recipient's
//!    sections, in ascending order of their label codes, concatenated, and sealed with one HPKE
//!    (RFC 9180) base-mode encapsulation to the recipient's sealing key:
//!
//!    ```text
//!    suite   = the key's suite: KEM DHKEM(X25519, HKDF-SHA256) or X-Wing,
//!              KDF HKDF-SHA256, AEAD ChaCha20-Poly1305
//!    info    = "varsel/v2 key block"   (ASCII)
//!    labels  = the section label codes, ascending, each once (as listed in the block)
//!    aad     = canonical_json({"id": "<id>", "labels": [<labels>], "recipient": "<participant id>"})
//!    pt      = K_<labels[0]> || K_<labels[1]> || ...      (32 bytes each)
//!    (enc, ciphertext) = SealBase(pkR, info, aad, pt)
//!    ```
//!
//!    The block is `{"recipient", "kid", "suite", "labels", "enc", "ciphertext"}` (see
//!    [`KeyBlock`]). The associated data binds it to the message, the recipient and the list of
//!    labels: moved to another message or recipient, or with its labels reordered, swapped or
//!    edited, it does not open. A receiver refuses a block whose plaintext is not 32 bytes per
//!    label. The broker thus does one decapsulation per alert and one encapsulation per agency,
//!    whatever the number of sections.
//!
//! `canonical_json` is RFC 8785 (JCS, [`crate::canonical`]): object keys sorted, no whitespace,
//! strings with JSON's minimal escapes. All binary fields are base64url without padding.
//!
//! The header keeps v1's one wire form rather than binding a canonicalization of the header as
//! received: the form leaves nothing to canonicalize (every value is a code, a token or a
//! timestamp), a receiver's AAD is then rebuilt from its parsed header with no copy of the
//! received JSON, and a sender that writes another form hears so at once. Timestamps are
//! RFC 3339 in UTC with an uppercase `Z`, with fractional seconds only when not zero (in groups
//! of three digits: `.500`, not `.5`), and optional fields (`planned_departure`, `correlation`)
//! are left out when they have no value, never `null` or `[]`. A received header in any other
//! form is refused as `schema` naming the field ([`check_header_form`]), before any section is
//! opened.
//!
//! Randomness is drawn in this order, which the published test vectors rely on: per section its
//! key then its nonce, then per recipient the HPKE ephemeral key's `ikmE` (32 bytes for X25519).
//!
//! # Wire format v1 (still read)
//!
//! The same sections and section AAD; but each content key wrapped separately per section and
//! recipient, as `wraps: [{"section", "recipient", "kid", "suite", "enc", "wrapped"}]`, with
//! `info = "varsel/v1 key wrap"` and
//! `aad = canonical_json({"id": "<id>", "label": "<label>", "recipient": "<participant id>"})`
//! (see [`super::v1`]). The broker accepts v1 alerts until its `[wire] accept_v1_until` and
//! hands them over as v2 deliveries: the section AAD is the same in both, so only the keys'
//! packaging changes, and agencies read one delivery format.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use serde_json::json;
use uuid::Uuid;

use super::block::{block_order, open_block, seal_block};
use super::content_key::{ContentKey, CONTENT_KEY_LEN};
use super::keys::{SealingKey, SealingSecret};
use super::random::Randomness;
use super::{b64, unb64, v1, Error};
use crate::canonical::to_vec as canonical_json;
use crate::message::{
    Aead, Header, KeyBlock, KeyWrap, Keys, ParticipantId, SealedSection, SectionLabel,
};
use crate::refusal::{Reason, Refusal};

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

fn algorithm(aead: Aead) -> &'static aead::Algorithm {
    match aead {
        Aead::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        Aead::Aes256Gcm => &aead::AES_256_GCM,
    }
}

/// Encrypts the sections under fresh content keys: the sealed sections and their keys.
#[allow(clippy::type_complexity)]
fn encrypt_sections(
    id: Uuid,
    header: &Header,
    sections: &[(SectionLabel, Vec<u8>)],
    aead: Aead,
    rng: &mut impl hpke::rand_core::CryptoRng,
) -> Result<(Vec<SealedSection>, Vec<(SectionLabel, ContentKey)>), Error> {
    let mut sealed = Vec::with_capacity(sections.len());
    let mut keys = Vec::with_capacity(sections.len());
    for (i, (label, plaintext)) in sections.iter().enumerate() {
        if sections[..i].iter().any(|(l, _)| l == label) {
            return Err(Error::Seal(format!("section {label} appears twice")));
        }
        let mut key = ContentKey([0; CONTENT_KEY_LEN]);
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut key.0);
        rng.fill_bytes(&mut nonce);
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
        keys.push((*label, key));
    }
    Ok((sealed, keys))
}

/// Encrypt sections and seal all their keys to every recipient, one key block each (v2).
pub fn seal(
    id: Uuid,
    header: &Header,
    sections: &[(SectionLabel, Vec<u8>)],
    recipients: &[(ParticipantId, &SealingKey)],
    aead: Aead,
) -> Result<(Vec<SealedSection>, Vec<KeyBlock>), Error> {
    seal_with(
        &mut Randomness::system(),
        id,
        header,
        sections,
        recipients,
        aead,
    )
}

/// [`seal`] with the randomness taken from `rng`, in the order the module docs give: for test
/// vectors (with [`Randomness::Replay`]); anything else uses [`seal`].
pub fn seal_with(
    rng: &mut impl hpke::rand_core::CryptoRng,
    id: Uuid,
    header: &Header,
    sections: &[(SectionLabel, Vec<u8>)],
    recipients: &[(ParticipantId, &SealingKey)],
    aead: Aead,
) -> Result<(Vec<SealedSection>, Vec<KeyBlock>), Error> {
    let (sealed, mut keys) = encrypt_sections(id, header, sections, aead, rng)?;
    keys.sort_by_key(|(l, _)| l.code());
    let keys: Vec<(SectionLabel, &ContentKey)> = keys.iter().map(|(l, k)| (*l, k)).collect();
    let mut blocks = Vec::with_capacity(recipients.len());
    if !keys.is_empty() {
        for (recipient, to) in recipients {
            blocks.push(seal_block(id, &keys, recipient, to, rng)?);
        }
    }
    Ok((sealed, blocks))
}

/// Wire format v1: encrypt sections and wrap each key to every recipient separately. varsel no
/// longer sends v1; this is kept to test that v1 is still read and refused when its time is up.
pub fn seal_v1(
    id: Uuid,
    header: &Header,
    sections: &[(SectionLabel, Vec<u8>)],
    recipients: &[(ParticipantId, &SealingKey)],
    aead: Aead,
) -> Result<(Vec<SealedSection>, Vec<KeyWrap>), Error> {
    let rng = &mut Randomness::system();
    let (sealed, keys) = encrypt_sections(id, header, sections, aead, rng)?;
    let mut wraps = Vec::with_capacity(keys.len() * recipients.len());
    for (label, key) in &keys {
        for (recipient, to) in recipients {
            wraps.push(v1::wrap(id, *label, key, recipient, to, rng)?);
        }
    }
    Ok((sealed, wraps))
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
/// no key for it is sealed to `me`, or `undecryptable` when the key block, the key wrap or the
/// ciphertext fails. Reads v2 key blocks (one decapsulation) and v1 key wraps alike.
pub fn open(
    id: Uuid,
    header: &Header,
    sections: &[SealedSection],
    keys: Keys<'_>,
    me: &ParticipantId,
    secrets: &[SealingSecret],
) -> Vec<(SectionLabel, Result<Vec<u8>, Refusal>)> {
    enum Source<'a> {
        Wraps(&'a [KeyWrap]),
        Block(Result<Vec<(SectionLabel, ContentKey)>, Refusal>),
    }
    let source = match keys {
        Keys::V1(wraps) => Source::Wraps(wraps),
        Keys::V2(blocks) => Source::Block(open_block(
            id,
            blocks,
            me,
            secrets,
            Reason::NotWrappedForRecipient,
        )),
    };
    sections
        .iter()
        .map(|s| {
            let key = match &source {
                Source::Wraps(wraps) => v1::unwrap(
                    id,
                    s.label,
                    wraps,
                    me,
                    secrets,
                    Reason::NotWrappedForRecipient,
                ),
                Source::Block(Err(r)) => Err(r.clone()),
                Source::Block(Ok(opened)) => opened
                    .iter()
                    .find(|(l, _)| *l == s.label)
                    .map(|(_, k)| ContentKey::copy(&k.0))
                    .ok_or_else(|| {
                        Refusal::new(
                            Reason::NotWrappedForRecipient,
                            format!("section {} is not sealed for {me}", s.label),
                        )
                    }),
            };
            (s.label, key.and_then(|key| decrypt(id, header, s, &key)))
        })
        .collect()
}

/// The content keys of one message that the broker has opened so far, so that handing the
/// message to several recipients costs one decapsulation (v2; one unwrap per section in v1)
/// rather than one per recipient: an HPKE open is the most expensive step of a hand-over. The
/// keys are wiped when this is dropped; keep it no longer than the hand-overs of one message.
pub struct Unwrapped {
    id: Uuid,
    keys: Vec<(SectionLabel, ContentKey)>,
    /// Whether the broker's v2 key block was opened (it holds every key at once).
    opened_block: bool,
}

impl Unwrapped {
    /// No keys yet, for the message with this id.
    pub fn new(id: Uuid) -> Unwrapped {
        Unwrapped {
            id,
            keys: Vec::new(),
            opened_block: false,
        }
    }

    /// The broker's re-seal: the content keys of the granted sections, opened with the broker's
    /// secrets (once per message) and sealed in one v2 key block to `recipient_key`; `None`
    /// when the message carries none of the granted sections. Section ciphertext and the
    /// school's JWS are not touched. A v1 message's keys go into a v2 block too. A granted
    /// section not sealed to the broker is refused with `not_sealed_for_broker`. `keys` must be
    /// the same message's keys each time.
    pub fn rewrap(
        &mut self,
        keys: Keys<'_>,
        broker: &ParticipantId,
        broker_keys: &[SealingSecret],
        grant: &[SectionLabel],
        recipient: &ParticipantId,
        recipient_key: &SealingKey,
    ) -> Result<Option<KeyBlock>, Refusal> {
        self.rewrap_with(
            &mut Randomness::system(),
            keys,
            broker,
            broker_keys,
            grant,
            recipient,
            recipient_key,
        )
    }

    /// [`Unwrapped::rewrap`] with the HPKE randomness from `rng`: for test vectors.
    #[allow(clippy::too_many_arguments)]
    pub fn rewrap_with(
        &mut self,
        rng: &mut impl hpke::rand_core::CryptoRng,
        keys: Keys<'_>,
        broker: &ParticipantId,
        broker_keys: &[SealingSecret],
        grant: &[SectionLabel],
        recipient: &ParticipantId,
        recipient_key: &SealingKey,
    ) -> Result<Option<KeyBlock>, Refusal> {
        let carried = |label: &SectionLabel| match keys {
            Keys::V1(w) => w.iter().any(|w| w.section == *label),
            Keys::V2(b) => b.iter().any(|b| b.labels.contains(label)),
        };
        let grant = block_order(grant.iter().copied().filter(carried));
        if grant.is_empty() {
            return Ok(None);
        }
        match keys {
            Keys::V2(blocks) if !self.opened_block => {
                self.keys = open_block(
                    self.id,
                    blocks,
                    broker,
                    broker_keys,
                    Reason::NotSealedForBroker,
                )?;
                self.opened_block = true;
            }
            Keys::V2(_) => {}
            Keys::V1(wraps) => {
                for label in &grant {
                    if !self.keys.iter().any(|(l, _)| l == label) {
                        let key = v1::unwrap(
                            self.id,
                            *label,
                            wraps,
                            broker,
                            broker_keys,
                            Reason::NotSealedForBroker,
                        )?;
                        self.keys.push((*label, key));
                    }
                }
            }
        }
        let mut granted = Vec::with_capacity(grant.len());
        for label in &grant {
            let Some((_, key)) = self.keys.iter().find(|(l, _)| l == label) else {
                return Err(Refusal::new(
                    Reason::NotSealedForBroker,
                    format!("section {label} is not sealed to {broker}"),
                ));
            };
            granted.push((*label, key));
        }
        seal_block(self.id, &granted, recipient, recipient_key, rng)
            .map(Some)
            .map_err(|e| Refusal::new(Reason::Undecryptable, e.to_string()))
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
            String::from_utf8(v1::wrap_aad(
                id,
                SectionLabel::Core,
                &"polisen".parse().unwrap()
            ))
            .unwrap(),
            r#"{"id":"0190f0c2-0000-7000-8000-000000000001","label":"core","recipient":"polisen"}"#
        );
        assert_eq!(
            String::from_utf8(super::super::block::block_aad(
                id,
                &"polisen".parse().unwrap(),
                &[SectionLabel::Core, SectionLabel::Travel]
            ))
            .unwrap(),
            r#"{"id":"0190f0c2-0000-7000-8000-000000000001","labels":["core","travel"],"recipient":"polisen"}"#
        );
    }
}
