//! Wire format v2 key blocks: the content keys of every section one recipient is granted, sealed
//! together with one HPKE encapsulation (see the construction in the `seal` module's docs).

use serde_json::json;
use uuid::Uuid;

use super::content_key::{ContentKey, CONTENT_KEY_LEN};
use super::keys::{hpke_seal, SealingKey, SealingSecret};
use super::{b64, unb64, Error};
use crate::canonical::to_vec as canonical_json;
use crate::message::{KeyBlock, ParticipantId, SectionLabel};
use crate::refusal::{Reason, Refusal};

/// The HPKE `info` of every v2 key block.
pub const BLOCK_INFO: &[u8] = b"varsel/v2 key block";

/// The associated data binding a key block to its message, its recipient and the labels (in
/// their order, which is the order of the keys in the plaintext).
pub fn block_aad(id: Uuid, recipient: &ParticipantId, labels: &[SectionLabel]) -> Vec<u8> {
    let labels: Vec<&str> = labels.iter().map(|l| l.code()).collect();
    canonical_json(
        &json!({"id": id.to_string(), "labels": labels, "recipient": recipient.as_str()}),
    )
}

/// Labels in the one order a key block lists them: ascending by code, each once.
pub fn block_order(labels: impl IntoIterator<Item = SectionLabel>) -> Vec<SectionLabel> {
    let mut labels: Vec<SectionLabel> = labels.into_iter().collect();
    labels.sort_by_key(|l| l.code());
    labels.dedup();
    labels
}

/// Seals the keys of `keys` (in block order, see [`block_order`]) to one recipient.
pub(super) fn seal_block(
    id: Uuid,
    keys: &[(SectionLabel, &ContentKey)],
    recipient: &ParticipantId,
    to: &SealingKey,
    rng: &mut impl hpke::rand_core::CryptoRng,
) -> Result<KeyBlock, Error> {
    let labels: Vec<SectionLabel> = keys.iter().map(|(l, _)| *l).collect();
    debug_assert_eq!(labels, block_order(labels.iter().copied()));
    let mut plain = Vec::with_capacity(keys.len() * CONTENT_KEY_LEN);
    for (_, k) in keys {
        plain.extend_from_slice(&k.0);
    }
    let sealed = hpke_seal(
        to.suite,
        &to.public_key,
        BLOCK_INFO,
        &plain,
        &block_aad(id, recipient, &labels),
        rng,
    );
    plain.fill(0);
    let (enc, ciphertext) = sealed.map_err(|_| Error::BadRecipientKey {
        recipient: recipient.to_string(),
        kid: to.kid.clone(),
        suite: to.suite,
    })?;
    Ok(KeyBlock {
        recipient: recipient.clone(),
        kid: to.kid.clone(),
        suite: to.suite,
        labels,
        enc: b64(&enc),
        ciphertext: b64(&ciphertext),
    })
}

/// Opens the block sealed to `me` with one of `secrets`: every key it carries, by label.
/// `missing` is the reason when no block names `me`.
pub(super) fn open_block(
    id: Uuid,
    blocks: &[KeyBlock],
    me: &ParticipantId,
    secrets: &[SealingSecret],
    missing: Reason,
) -> Result<Vec<(SectionLabel, ContentKey)>, Refusal> {
    let mine: Vec<&KeyBlock> = blocks.iter().filter(|b| &b.recipient == me).collect();
    if mine.is_empty() {
        return Err(Refusal::new(
            missing,
            format!("no key block is sealed to {me}"),
        ));
    }
    let Some((b, secret)) = mine.iter().find_map(|b| {
        secrets
            .iter()
            .find(|k| k.kid == b.kid && k.suite == b.suite)
            .map(|k| (*b, k))
    }) else {
        return Err(Refusal::new(
            Reason::Undecryptable,
            format!("the key block for {me} is sealed with a key this participant does not hold"),
        ));
    };
    let undecryptable = || {
        Refusal::new(
            Reason::Undecryptable,
            format!("the key block for {me} (kid {}) does not open", b.kid),
        )
    };
    let enc = unb64(&b.enc).ok_or_else(undecryptable)?;
    let ciphertext = unb64(&b.ciphertext).ok_or_else(undecryptable)?;
    let mut plain = secret
        .open(&enc, &ciphertext, BLOCK_INFO, &block_aad(id, me, &b.labels))
        .map_err(|_| undecryptable())?;
    let keys = if plain.len() == b.labels.len() * CONTENT_KEY_LEN {
        Some(
            b.labels
                .iter()
                .zip(plain.chunks_exact(CONTENT_KEY_LEN))
                .map(|(l, k)| (*l, ContentKey::copy(k)))
                .collect(),
        )
    } else {
        None
    };
    plain.fill(0);
    keys.ok_or_else(undecryptable)
}
