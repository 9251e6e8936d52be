//! The files a participant's private keys live in, and `keygen`, which makes them.
//!
//! Files written by [`keygen`], both created with mode 0600 and never overwritten:
//!
//! * `<id>.signing.pem`: the Ed25519 key as PKCS#8 v1 (RFC 8410) in a PEM block labelled
//!   `PRIVATE KEY`, readable by OpenSSL (`openssl pkey`), Python's `cryptography` and JOSE
//!   libraries. Files holding PKCS#8 v2 (with the public key, as earlier versions wrote) are
//!   read too.
//! * `<id>.sealing.toml`: one `[[sealing_secret]]` table per secret with `suite`, `kid`,
//!   `secret` (base64url of the 32-byte HPKE private key; for X-Wing the 32-byte seed) and
//!   `created`.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Duration, SecondsFormat, Utc};

use super::{SealingSecret, SigningKeyPair};
use crate::envelope::{b64, unb64, Error};
use crate::message::{ParticipantId, Suite};

/// How long keys made by [`keygen`] are entered as valid in the registry snippet.
pub const KEYGEN_VALIDITY_DAYS: i64 = 730;

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
/// and X-Wing). Writes `<id>.signing.pem` and `<id>.sealing.toml` into `out_dir` with mode 0600,
/// creating the directory (mode 0700) when it is missing; refuses to overwrite existing files.
pub fn keygen(id: &ParticipantId, out_dir: &Path, now: DateTime<Utc>) -> Result<Keygen, Error> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(out_dir)
        .map_err(|source| Error::Io {
            path: out_dir.display().to_string(),
            source,
        })?;
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
    fn signing_keys_are_written_as_pkcs8_v1_and_v2_files_are_still_read() {
        let (k, der) = SigningKeyPair::generate().unwrap();
        // PrivateKeyInfo, version 0 (v1), no public key: 48 bytes in all (RFC 8410 §10.3).
        assert_eq!(der.len(), 48);
        assert_eq!(&der[..5], &[0x30, 0x2e, 0x02, 0x01, 0x00]);
        assert_eq!(
            SigningKeyPair::from_pkcs8(&der).unwrap().public_key(),
            k.public_key()
        );
        // A v2 document (version 1, with the public key) as ring and earlier versions write.
        let v2 = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .unwrap();
        assert_eq!(&v2.as_ref()[2..5], &[0x02, 0x01, 0x01]);
        let pem = pem_encode("PRIVATE KEY", v2.as_ref());
        let read = SigningKeyPair::from_pem(&pem).unwrap();
        assert_eq!(read.public_key(), &v2.as_ref()[v2.as_ref().len() - 32..]);
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
