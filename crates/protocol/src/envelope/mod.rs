//! The envelope: JWS signing and verification, sealed sections and HPKE key wraps. The only module that touches keys.
//!
//! * [`jws`] signs a [`Payload`](crate::message::Payload) as a JWS in compact serialization
//!   (RFC 7515, `alg: Ed25519` from RFC 9864; `EdDSA` from RFC 8037 read too) and verifies
//!   received bytes exactly as they arrived.
//! * [`seal`] encrypts alert sections with per-section content keys and seals those keys with
//!   HPKE (RFC 9180) in one key block per recipient ([`block`]; v1's one wrap per section and
//!   recipient in [`v1`] is still read); the broker re-seals granted sections' keys without ever
//!   seeing the plaintext body. [`random`] is where sealing's randomness comes from.
//! * [`keys`] holds the private key types, their file formats and `keygen`, and the registered
//!   public keys with the [`KeyLookup`](keys::KeyLookup) verification asks, so the envelope
//!   needs nothing from the registry.
//!
//! Primitives: `ring` for Ed25519, ChaCha20-Poly1305 / AES-256-GCM, SHA-256 and randomness; the
//! `hpke` crate for key wrapping, because `ring` only offers ephemeral X25519 keys.
//!
//! # Key ids
//!
//! A key id is derived from the public key, so the registry can check it and nobody has to invent
//! one:
//!
//! ```text
//! kid = base64url_nopad( SHA-256( tag || 0x00 || public_key ) )[..22]
//! ```
//!
//! where `tag` is the ASCII string `Ed25519` for signing keys and the suite code (for example
//! `DHKEM-X25519-HKDF-SHA256/HKDF-SHA256/CHACHA20-POLY1305`) for sealing keys. 22 characters
//! carry 132 bits of the hash.

pub mod block;
mod content_key;
pub mod jws;
pub mod keys;
pub mod random;
pub mod seal;
pub mod v1;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

pub use jws::{payload_of, sign, verify, Verified, DEFAULT_MAX_MESSAGE};
pub use keys::{keygen, KeySet, Keygen, SealingSecret, SigningKeyPair};
pub use seal::{open, seal, Unwrapped};

/// Why a local envelope operation (key handling, sealing) failed. Refusals of received input are
/// [`Refusal`](crate::refusal::Refusal) values instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the system random number generator failed")]
    Random,
    #[error("the signing key is not a valid Ed25519 PKCS#8 document: {0}")]
    BadSigningKey(String),
    #[error("the sealing key for suite {suite} is not valid: {why}")]
    BadSealingKey {
        suite: crate::message::Suite,
        why: String,
    },
    #[error("the public sealing key of {recipient} (kid {kid}) is not a valid {suite} key")]
    BadRecipientKey {
        recipient: String,
        kid: String,
        suite: crate::message::Suite,
    },
    #[error("sealing failed: {0}")]
    Seal(String),
    #[error("{path}: {why}")]
    KeyFile { path: String, why: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The tag hashed into a signing key's id.
pub const SIGNING_KEY_TAG: &str = "Ed25519";

/// Derive a key id from a tag (see the module docs) and a public key.
pub fn key_id(tag: &str, public_key: &[u8]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(tag.as_bytes());
    ctx.update(&[0]);
    ctx.update(public_key);
    let mut kid = URL_SAFE_NO_PAD.encode(ctx.finish().as_ref());
    kid.truncate(22);
    kid
}

/// SHA-256 of some bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// base64url without padding, the encoding of every binary field on the wire.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url decoding: no padding, no stray trailing bits, so one value has one encoding.
pub fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_depend_on_tag_and_key() {
        let k = [7u8; 32];
        let a = key_id(SIGNING_KEY_TAG, &k);
        assert_eq!(a.len(), 22);
        assert_ne!(a, key_id("other", &k));
        assert_ne!(a, key_id(SIGNING_KEY_TAG, &[8u8; 32]));
        assert_eq!(a, key_id(SIGNING_KEY_TAG, &k));
    }

    #[test]
    fn base64url_is_strict() {
        assert_eq!(unb64(&b64(b"ab")).unwrap(), b"ab");
        assert!(unb64("YWI=").is_none(), "padding accepted");
        assert!(unb64("YWJ").is_none(), "non-zero trailing bits accepted");
        assert!(unb64("YW+").is_none(), "standard alphabet accepted");
    }
}
