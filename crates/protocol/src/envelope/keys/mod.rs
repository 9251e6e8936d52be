//! Keys: a participant's private Ed25519 signing key and HPKE sealing secrets (here), the files
//! they live in and `keygen` ([`files`]), and the public keys participants register, with their
//! validity ([`public`]).
//!
//! Nothing here prints secret bytes: `Debug` shows the suite and key id only.

mod files;
mod public;

use std::fmt;

use hpke::kem::{X25519HkdfSha256, XWing};
use hpke::{Deserializable, Kem, Serializable};
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair as _};

use super::{key_id, Error, SIGNING_KEY_TAG};
use crate::message::Suite;

pub use files::{
    keygen, parse_sealing_file, pem_decode, pem_encode, sealing_file, KeySet, Keygen,
    KEYGEN_VALIDITY_DAYS,
};
pub use public::{KeyLookup, SealingKey, SigningKey, Usability, Validity};

/// The DER of a PKCS#8 v1 `PrivateKeyInfo` for Ed25519 up to the 32-byte seed (RFC 8410 §7):
/// SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }.
const PKCS8_V1_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// An Ed25519 signing key pair.
pub struct SigningKeyPair {
    pair: Ed25519KeyPair,
    kid: String,
}

impl SigningKeyPair {
    /// A fresh key pair and its PKCS#8 v1 document (the only form in which the secret leaves
    /// memory).
    ///
    /// Version 1 (RFC 5208; RFC 8410 §7 for Ed25519) holds the private key alone, and is what
    /// every PKCS#8 reader accepts; the v2 form `ring` generates also carries the public key,
    /// which OpenSSL before 3.5 and Python's `cryptography` refuse.
    pub fn generate() -> Result<(SigningKeyPair, Vec<u8>), Error> {
        let mut seed = [0u8; 32];
        SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| Error::Random)?;
        let mut der = Vec::with_capacity(PKCS8_V1_ED25519_PREFIX.len() + seed.len());
        der.extend_from_slice(&PKCS8_V1_ED25519_PREFIX);
        der.extend_from_slice(&seed);
        seed.fill(0);
        Ok((SigningKeyPair::from_pkcs8(&der)?, der))
    }

    /// Load a key pair from a PKCS#8 (v1 or v2) document.
    pub fn from_pkcs8(der: &[u8]) -> Result<SigningKeyPair, Error> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|e| Error::BadSigningKey(e.to_string()))?;
        Ok(SigningKeyPair::from_ring(pair))
    }

    /// Load a key pair from a PEM `PRIVATE KEY` block.
    pub fn from_pem(text: &str) -> Result<SigningKeyPair, Error> {
        let der = pem_decode(text, "PRIVATE KEY")
            .ok_or_else(|| Error::BadSigningKey("not a PEM \"PRIVATE KEY\" block".into()))?;
        SigningKeyPair::from_pkcs8(&der)
    }

    /// Load a key pair from a 32-byte RFC 8032 seed and check it against the public key. Meant
    /// for test vectors; real keys live in PKCS#8 files.
    pub fn from_seed(seed: &[u8], public_key: &[u8]) -> Result<SigningKeyPair, Error> {
        let pair = Ed25519KeyPair::from_seed_and_public_key(seed, public_key)
            .map_err(|e| Error::BadSigningKey(e.to_string()))?;
        Ok(SigningKeyPair::from_ring(pair))
    }

    fn from_ring(pair: Ed25519KeyPair) -> SigningKeyPair {
        let kid = key_id(SIGNING_KEY_TAG, pair.public_key().as_ref());
        SigningKeyPair { pair, kid }
    }

    /// The key id (see the `envelope` module docs).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The 64-byte Ed25519 signature of `msg`.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.pair.sign(msg).as_ref().to_vec()
    }
}

impl fmt::Debug for SigningKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyPair")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

// The X-Wing key holds its expanded ML-KEM key (a few KiB); boxing it would only add an
// allocation, and a participant has a handful of these.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum SecretKey {
    X25519(<X25519HkdfSha256 as Kem>::PrivateKey),
    XWing(<XWing as Kem>::PrivateKey),
}

/// A sealing (HPKE) private key of one suite. Kept parsed, so opening a wrap does not repeat the
/// X-Wing key expansion.
#[derive(Clone)]
pub struct SealingSecret {
    pub suite: Suite,
    pub kid: String,
    secret: SecretKey,
    public_key: Vec<u8>,
}

impl SealingSecret {
    /// A fresh random secret of the given suite.
    pub fn generate(suite: Suite) -> Result<SealingSecret, Error> {
        let mut ikm = [0u8; 32];
        ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut ikm)
            .map_err(|_| Error::Random)?;
        let secret = SealingSecret::derive(suite, &ikm);
        ikm.fill(0);
        Ok(secret)
    }

    /// The key pair RFC 9180 `DeriveKeyPair` gives for this input keying material.
    pub fn derive(suite: Suite, ikm: &[u8]) -> SealingSecret {
        match suite {
            Suite::X25519 => {
                let (sk, pk) = X25519HkdfSha256::derive_keypair(ikm);
                SealingSecret::assemble(suite, SecretKey::X25519(sk), pk.to_bytes().to_vec())
            }
            Suite::XWing => {
                let (sk, pk) = XWing::derive_keypair(ikm);
                SealingSecret::assemble(suite, SecretKey::XWing(sk), pk.to_bytes().to_vec())
            }
        }
    }

    /// Load a secret from its 32 stored bytes.
    pub fn from_bytes(suite: Suite, bytes: &[u8]) -> Result<SealingSecret, Error> {
        let bad = |e: hpke::HpkeError| Error::BadSealingKey {
            suite,
            why: e.to_string(),
        };
        Ok(match suite {
            Suite::X25519 => {
                let sk = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(bytes).map_err(bad)?;
                let pk = X25519HkdfSha256::sk_to_pk(&sk).to_bytes().to_vec();
                SealingSecret::assemble(suite, SecretKey::X25519(sk), pk)
            }
            Suite::XWing => {
                let sk = <XWing as Kem>::PrivateKey::from_bytes(bytes).map_err(bad)?;
                let pk = XWing::sk_to_pk(&sk).to_bytes().to_vec();
                SealingSecret::assemble(suite, SecretKey::XWing(sk), pk)
            }
        })
    }

    fn assemble(suite: Suite, secret: SecretKey, public_key: Vec<u8>) -> SealingSecret {
        SealingSecret {
            suite,
            kid: key_id(suite.code(), &public_key),
            secret,
            public_key,
        }
    }

    /// The 32 secret bytes, for writing the key file.
    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.secret {
            SecretKey::X25519(sk) => sk.to_bytes().to_vec(),
            SecretKey::XWing(sk) => sk.to_bytes().to_vec(),
        }
    }

    /// The public key to enter in the registry.
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// Whether two secrets are the same key. The hpke key types compare in constant time.
    pub fn same_secret(&self, other: &SealingSecret) -> bool {
        match (&self.secret, &other.secret) {
            (SecretKey::X25519(a), SecretKey::X25519(b)) => a == b,
            (SecretKey::XWing(a), SecretKey::XWing(b)) => a == b,
            _ => false,
        }
    }

    /// HPKE base-mode open with this secret.
    pub(crate) fn open(
        &self,
        enc: &[u8],
        ciphertext: &[u8],
        info: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, hpke::HpkeError> {
        use hpke::aead::ChaCha20Poly1305;
        use hpke::kdf::HkdfSha256;
        match &self.secret {
            SecretKey::X25519(sk) => {
                let enc = <X25519HkdfSha256 as Kem>::EncappedKey::from_bytes(enc)?;
                hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
                    &hpke::OpModeR::Base,
                    sk,
                    &enc,
                    info,
                    ciphertext,
                    aad,
                )
            }
            SecretKey::XWing(sk) => {
                let enc = <XWing as Kem>::EncappedKey::from_bytes(enc)?;
                hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, XWing>(
                    &hpke::OpModeR::Base,
                    sk,
                    &enc,
                    info,
                    ciphertext,
                    aad,
                )
            }
        }
    }
}

impl fmt::Debug for SealingSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingSecret")
            .field("suite", &self.suite)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Check that bytes are a valid public key of a suite (used by the registry).
pub fn check_sealing_public_key(suite: Suite, bytes: &[u8]) -> Result<(), String> {
    let res = match suite {
        Suite::X25519 => <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(bytes).map(|_| ()),
        Suite::XWing => <XWing as Kem>::PublicKey::from_bytes(bytes).map(|_| ()),
    };
    res.map_err(|e| e.to_string())
}

/// The expected length of a public sealing key of a suite.
pub fn sealing_public_key_len(suite: Suite) -> usize {
    match suite {
        Suite::X25519 => <<X25519HkdfSha256 as Kem>::PublicKey as Serializable>::size(),
        Suite::XWing => <<XWing as Kem>::PublicKey as Serializable>::size(),
    }
}

/// HPKE base-mode seal to a public key of a suite: `(enc, ciphertext)`.
/// `rng` gives the ephemeral key's input keying material (RFC 9180 `ikmE`, 32 bytes for X25519).
pub(crate) fn hpke_seal(
    suite: Suite,
    public_key: &[u8],
    info: &[u8],
    plaintext: &[u8],
    aad: &[u8],
    rng: &mut impl hpke::rand_core::CryptoRng,
) -> Result<(Vec<u8>, Vec<u8>), hpke::HpkeError> {
    use hpke::aead::ChaCha20Poly1305;
    use hpke::kdf::HkdfSha256;
    match suite {
        Suite::X25519 => {
            let pk = <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(public_key)?;
            let (enc, ct) = hpke::single_shot_seal_with_rng::<
                ChaCha20Poly1305,
                HkdfSha256,
                X25519HkdfSha256,
            >(&hpke::OpModeS::Base, &pk, info, plaintext, aad, rng)?;
            Ok((enc.to_bytes().to_vec(), ct))
        }
        Suite::XWing => {
            let pk = <XWing as Kem>::PublicKey::from_bytes(public_key)?;
            let (enc, ct) = hpke::single_shot_seal_with_rng::<ChaCha20Poly1305, HkdfSha256, XWing>(
                &hpke::OpModeS::Base,
                &pk,
                info,
                plaintext,
                aad,
                rng,
            )?;
            Ok((enc.to_bytes().to_vec(), ct))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::envelope::b64;

    #[test]
    fn sealing_secret_round_trips_and_hides_its_bytes() {
        for suite in Suite::ALL {
            let s = SealingSecret::generate(*suite).unwrap();
            let back = SealingSecret::from_bytes(*suite, &s.to_bytes()).unwrap();
            assert_eq!(back.kid, s.kid);
            assert_eq!(back.public_key(), s.public_key());
            assert!(back.same_secret(&s));
            assert!(!SealingSecret::generate(*suite).unwrap().same_secret(&s));
            let dbg = format!("{s:?}");
            assert!(!dbg.contains(&b64(&s.to_bytes())));
            assert!(dbg.contains(&s.kid));
            assert_eq!(s.public_key().len(), sealing_public_key_len(*suite));
            assert!(check_sealing_public_key(*suite, s.public_key()).is_ok());
        }
    }
}
