//! Wire format v1 key wraps: one HPKE encapsulation per section and recipient. Still read
//! (messages sent before the move to v2, until the broker's `[wire] accept_v1_until`); written
//! only by `seal::seal_v1`, for the transition's tests.

use serde_json::json;
use uuid::Uuid;

use super::content_key::ContentKey;
use super::keys::{hpke_seal, SealingKey, SealingSecret};
use super::{b64, unb64, Error};
use crate::canonical::to_vec as canonical_json;
use crate::message::{KeyWrap, ParticipantId, SectionLabel};
use crate::refusal::{Reason, Refusal};

/// The HPKE `info` of every v1 key wrap.
pub const WRAP_INFO: &[u8] = b"varsel/v1 key wrap";

/// The associated data binding a key wrap to its message, section and recipient.
pub fn wrap_aad(id: Uuid, label: SectionLabel, recipient: &ParticipantId) -> Vec<u8> {
    canonical_json(
        &json!({"id": id.to_string(), "label": label.code(), "recipient": recipient.as_str()}),
    )
}

pub(super) fn wrap(
    id: Uuid,
    label: SectionLabel,
    key: &ContentKey,
    recipient: &ParticipantId,
    to: &SealingKey,
    rng: &mut impl hpke::rand_core::CryptoRng,
) -> Result<KeyWrap, Error> {
    let (enc, wrapped) = hpke_seal(
        to.suite,
        &to.public_key,
        WRAP_INFO,
        &key.0,
        &wrap_aad(id, label, recipient),
        rng,
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

/// Unwrap the content key of `label` wrapped to `me` with one of `keys`.
pub(super) fn unwrap(
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
    let raw = secret
        .open(&enc, &wrapped, WRAP_INFO, &wrap_aad(id, label, me))
        .map_err(|_| undecryptable())?;
    ContentKey::take(raw).ok_or_else(undecryptable)
}
