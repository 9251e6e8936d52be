//! Private keys: a participant's Ed25519 signing key and its HPKE sealing secrets, their files,
//! and `keygen`.
//!
//! Files written by [`keygen`], both created with mode 0600 and never overwritten:
//!
//! * `<id>.signing.pem`: the Ed25519 key as PKCS#8 v2 (as produced by `ring`) in a PEM block
//!   labelled `PRIVATE KEY`, readable by OpenSSL and most JOSE libraries.
//! * `<id>.sealing.toml`: one `[[sealing_secret]]` table per secret with `suite`, `kid`,
//!   `secret` (base64url of the 32-byte HPKE private key; for X-Wing the 32-byte seed) and
//!   `created`.
//!
//! Nothing here prints secret bytes: `Debug` shows the suite and key id only.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use hpke::kem::{X25519HkdfSha256, XWing};
use hpke::{Deserializable, Kem, Serializable};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair as _};

use super::{b64, key_id, unb64, Error, SIGNING_KEY_TAG};
use crate::message::{ParticipantId, Suite};

/// How long keys made by [`keygen`] are entered as valid in the registry snippet.
pub const KEYGEN_VALIDITY_DAYS: i64 = 730;

/// An Ed25519 signing key pair.
pub struct SigningKeyPair {
    pair: Ed25519KeyPair,
    kid: String,
}

impl SigningKeyPair {
    /// A fresh key pair and its PKCS#8 v2 document (the only form in which the secret leaves
    /// memory).
    pub fn generate() -> Result<(SigningKeyPair, Vec<u8>), Error> {
        let rng = SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| Error::Random)?;
        let der = doc.as_ref().to_vec();
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
pub(crate) fn hpke_seal(
    suite: Suite,
    public_key: &[u8],
    info: &[u8],
    plaintext: &[u8],
    aad: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), hpke::HpkeError> {
    use hpke::aead::ChaCha20Poly1305;
    use hpke::kdf::HkdfSha256;
    match suite {
        Suite::X25519 => {
            let pk = <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(public_key)?;
            let (enc, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
                &hpke::OpModeS::Base,
                &pk,
                info,
                plaintext,
                aad,
            )?;
            Ok((enc.to_bytes().to_vec(), ct))
        }
        Suite::XWing => {
            let pk = <XWing as Kem>::PublicKey::from_bytes(public_key)?;
            let (enc, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, XWing>(
                &hpke::OpModeS::Base,
                &pk,
                info,
                plaintext,
                aad,
            )?;
            Ok((enc.to_bytes().to_vec(), ct))
        }
    }
}

/// A participant's private keys, as loaded by [`KeySet::load`].
#[derive(Debug)]
pub struct KeySet {
    pub id: ParticipantId,
    pub signing: SigningKeyPair,
    pub sealing: Vec<SealingSecret>,
}

impl KeySet {
    /// Load `<id>.signing.pem` and `<id>.sealing.toml` from `dir`. Files readable by group or
    /// others are refused, as ssh does, so a leaked permission is noticed.
    pub fn load(dir: &Path, id: &ParticipantId) -> Result<KeySet, Error> {
        let signing_path = dir.join(format!("{id}.signing.pem"));
        let sealing_path = dir.join(format!("{id}.sealing.toml"));
        let signing = SigningKeyPair::from_pem(&read_private(&signing_path)?).map_err(|e| {
            Error::KeyFile {
                path: signing_path.display().to_string(),
                why: e.to_string(),
            }
        })?;
        let sealing =
            parse_sealing_file(&read_private(&sealing_path)?).map_err(|why| Error::KeyFile {
                path: sealing_path.display().to_string(),
                why,
            })?;
        Ok(KeySet {
            id: id.clone(),
            signing,
            sealing,
        })
    }
}

fn read_private(path: &Path) -> Result<String, Error> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let meta = fs::metadata(path).map_err(io)?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(Error::KeyFile {
            path: path.display().to_string(),
            why: format!(
                "private key file has mode {:o}; it must not be readable by group or others (chmod 600)",
                meta.permissions().mode() & 0o777
            ),
        });
    }
    fs::read_to_string(path).map_err(io)
}

/// Parse a sealing secrets file (see the module docs).
pub fn parse_sealing_file(text: &str) -> Result<Vec<SealingSecret>, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        sealing_secret: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Entry {
        suite: String,
        kid: String,
        secret: String,
        #[allow(dead_code)]
        created: Option<String>,
    }
    // toml's own error text may quote the offending line, which holds the secret: keep only a
    // position-free summary.
    let file: File = toml::from_str(text).map_err(|e| {
        format!(
            "not a sealing secrets file ({})",
            e.message().lines().next().unwrap_or("invalid TOML")
        )
    })?;
    if file.sealing_secret.is_empty() {
        return Err("no [[sealing_secret]] entries".into());
    }
    file.sealing_secret
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let suite: Suite = e
                .suite
                .parse()
                .map_err(|err| format!("sealing_secret[{i}].suite: {err}"))?;
            let bytes = unb64(&e.secret)
                .ok_or_else(|| format!("sealing_secret[{i}].secret: not base64url"))?;
            let secret = SealingSecret::from_bytes(suite, &bytes)
                .map_err(|err| format!("sealing_secret[{i}].secret: {err}"))?;
            if secret.kid != e.kid {
                return Err(format!(
                    "sealing_secret[{i}].kid: {:?} does not match the key (expected {:?})",
                    e.kid, secret.kid
                ));
            }
            Ok(secret)
        })
        .collect()
}

/// Render sealing secrets as a sealing secrets file.
pub fn sealing_file(id: &ParticipantId, secrets: &[SealingSecret], now: DateTime<Utc>) -> String {
    let mut out = format!("# Sealing (HPKE) secrets of {id}. Private: keep mode 0600.\n");
    for s in secrets {
        out.push_str(&format!(
            "\n[[sealing_secret]]\nsuite = \"{}\"\nkid = \"{}\"\nsecret = \"{}\"\ncreated = \"{}\"\n",
            s.suite.code(),
            s.kid,
            b64(&s.to_bytes()),
            now.to_rfc3339_opts(SecondsFormat::Secs, true)
        ));
    }
    out
}

/// A PEM block of a DER document.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER document of the first PEM block with this label.
pub fn pem_decode(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let body: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(body).ok()
}

/// What [`keygen`] wrote.
#[derive(Debug, Clone)]
pub struct Keygen {
    pub signing_path: PathBuf,
    pub sealing_path: PathBuf,
    pub signing_kid: String,
    pub sealing_kids: Vec<(Suite, String)>,
    /// The public keys as `[[participant.signing_key]]` and `[[participant.sealing_key]]`
    /// tables, to paste under the participant's `[[participant]]` in the registry.
    pub registry_entry: String,
}

/// Make a participant's keys: an Ed25519 signing key and one sealing secret per suite (X25519
/// and X-Wing). Writes `<id>.signing.pem` and `<id>.sealing.toml` into `out_dir` with mode 0600;
/// refuses to overwrite existing files.
pub fn keygen(id: &ParticipantId, out_dir: &Path, now: DateTime<Utc>) -> Result<Keygen, Error> {
    let (signing, der) = SigningKeyPair::generate()?;
    let sealing = vec![
        SealingSecret::generate(Suite::X25519)?,
        SealingSecret::generate(Suite::XWing)?,
    ];
    let signing_path = out_dir.join(format!("{id}.signing.pem"));
    let sealing_path = out_dir.join(format!("{id}.sealing.toml"));
    for p in [&signing_path, &sealing_path] {
        if p.exists() {
            return Err(Error::KeyFile {
                path: p.display().to_string(),
                why: "already exists; keys are never overwritten".into(),
            });
        }
    }
    write_private(&signing_path, pem_encode("PRIVATE KEY", &der).as_bytes())?;
    write_private(&sealing_path, sealing_file(id, &sealing, now).as_bytes())?;

    let from = now.to_rfc3339_opts(SecondsFormat::Secs, true);
    let until =
        (now + Duration::days(KEYGEN_VALIDITY_DAYS)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut entry = format!(
        "[[participant.signing_key]]\nkid = \"{}\"\npublic_key = \"{}\"\nvalid_from = \"{from}\"\nvalid_until = \"{until}\"\nrevoked = false\n",
        signing.kid(),
        b64(signing.public_key())
    );
    for s in &sealing {
        entry.push_str(&format!(
            "\n[[participant.sealing_key]]\nkid = \"{}\"\nsuite = \"{}\"\npublic_key = \"{}\"\nvalid_from = \"{from}\"\nvalid_until = \"{until}\"\nrevoked = false\n",
            s.kid,
            s.suite.code(),
            b64(s.public_key())
        ));
    }
    Ok(Keygen {
        signing_path,
        sealing_path,
        signing_kid: signing.kid().to_owned(),
        sealing_kids: sealing.iter().map(|s| (s.suite, s.kid.clone())).collect(),
        registry_entry: entry,
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_key_round_trips_through_pem() {
        let (k, der) = SigningKeyPair::generate().unwrap();
        let pem = pem_encode("PRIVATE KEY", &der);
        let back = SigningKeyPair::from_pem(&pem).unwrap();
        assert_eq!(back.public_key(), k.public_key());
        assert_eq!(back.kid(), k.kid());
        assert!(SigningKeyPair::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
        )
        .is_err());
    }

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

    #[test]
    fn keygen_writes_private_files_once() {
        let dir = tempfile::tempdir().unwrap();
        let id: ParticipantId = "skola-a".parse().unwrap();
        let out = keygen(&id, dir.path(), Utc::now()).unwrap();
        for p in [&out.signing_path, &out.sealing_path] {
            let mode = fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", p.display());
        }
        let set = KeySet::load(dir.path(), &id).unwrap();
        assert_eq!(set.signing.kid(), out.signing_kid);
        let kids: Vec<_> = set
            .sealing
            .iter()
            .map(|s| (s.suite, s.kid.clone()))
            .collect();
        assert_eq!(kids, out.sealing_kids);
        assert!(out.registry_entry.contains(&out.signing_kid));
        assert!(matches!(
            keygen(&id, dir.path(), Utc::now()),
            Err(Error::KeyFile { .. })
        ));
        fs::set_permissions(&out.sealing_path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            KeySet::load(dir.path(), &id),
            Err(Error::KeyFile { .. })
        ));
    }

    #[test]
    fn sealing_file_errors_do_not_quote_secrets() {
        let s = SealingSecret::generate(Suite::X25519).unwrap();
        let secret = b64(&s.to_bytes());
        let text =
            format!("[[sealing_secret]]\nsuite = \"nope\"\nkid = \"x\"\nsecret = \"{secret}\"\n");
        let err = parse_sealing_file(&text).unwrap_err();
        assert!(!err.contains(&secret));
        let text = format!("[[sealing_secret]]\nsuite = \"x\" kid\nsecret = \"{secret}\"\n");
        let err = parse_sealing_file(&text).unwrap_err();
        assert!(!err.contains(&secret), "{err}");
    }
}
