//! The desk's key for secrets at rest: the TOTP secrets are sealed in the store with it
//! (ChaCha20-Poly1305, a random nonce per value, the account's user name as associated data), so a
//! copy of the store (a backup, a PostgreSQL dump) reveals no secret without the key file.
//!
//! The key is a file of its own, named by `secrets_key` in `desk.toml`, rather than derived from
//! a participant's private key: one desk serves several participants, and a participant's keys
//! are rotated, which would lock every account out. It holds 32 random bytes as 64 hex digits;
//! `varsel desk user add` makes it (mode 0600) when it is missing, everything else refuses to
//! start without it, naming the file.

use std::io::Write;
use std::path::{Path, PathBuf};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

/// The first byte of a sealed value: the format (nonce, then ciphertext with its tag).
const FORMAT: u8 = 1;
const KEY_LEN: usize = 32;

/// Why the key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "the secrets key {0} does not exist: `varsel desk user add` makes it with the first \
         account; a store whose key is lost needs its accounts made again"
    )]
    Missing(PathBuf),
    #[error("cannot read the secrets key {file}: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the secrets key {0} is not 64 hex digits")]
    Malformed(PathBuf),
    #[error("cannot make the secrets key {file}: {source}")]
    Create {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The key, with the file it came from (for messages).
pub struct Key {
    key: LessSafeKey,
    file: PathBuf,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").field("file", &self.file).finish()
    }
}

impl Key {
    /// Reads the key from `file`, which must exist.
    pub fn load(file: &Path) -> Result<Key, Error> {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Missing(file.to_owned()))
            }
            Err(source) => {
                return Err(Error::Read {
                    file: file.to_owned(),
                    source,
                })
            }
        };
        let bytes = hex::decode(text.trim()).map_err(|_| Error::Malformed(file.to_owned()))?;
        if bytes.len() != KEY_LEN {
            return Err(Error::Malformed(file.to_owned()));
        }
        Ok(Key::from_bytes(&bytes, file))
    }

    /// Reads the key from `file`, making a new one there (readable by its owner only) when
    /// there is none.
    pub fn load_or_create(file: &Path) -> Result<Key, Error> {
        match Key::load(file) {
            Err(Error::Missing(_)) => {}
            other => return other,
        }
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("the system's random source works");
        let create = |source| Error::Create {
            file: file.to_owned(),
            source,
        };
        let mut f = new_private_file(file).map_err(create)?;
        f.write_all(format!("{}\n", hex::encode(bytes)).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(create)?;
        Ok(Key::from_bytes(&bytes, file))
    }

    fn from_bytes(bytes: &[u8], file: &Path) -> Key {
        Key {
            key: LessSafeKey::new(
                UnboundKey::new(&CHACHA20_POLY1305, bytes).expect("a 32-byte key"),
            ),
            file: file.to_owned(),
        }
    }

    /// The file the key came from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Seals `plain`, bound to `context` (which opening must give again).
    pub fn seal(&self, context: &str, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system's random source works");
        let mut sealed = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .expect("a value this small seals");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what [`Key::seal`] sealed with this key and `context`; `None` for another key,
    /// another context, or bytes that were changed.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        let (&format, rest) = sealed.split_first()?;
        if format != FORMAT || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(unix)]
fn new_private_file(file: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
}

#[cfg(not(unix))]
fn new_private_file(file: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_is_private_and_reads_back_and_another_key_opens_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets.key");
        assert!(matches!(Key::load(&file), Err(Error::Missing(f)) if f == file));
        let key = Key::load_or_create(&file).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sealed = key.seal("anna", b"12345678901234567890");
        assert!(!sealed.windows(20).any(|w| w == b"12345678901234567890"));
        let again = Key::load(&file).unwrap();
        assert_eq!(
            again.open("anna", &sealed).unwrap(),
            b"12345678901234567890"
        );
        // Bound to its context, and to the bytes as sealed.
        assert_eq!(again.open("bertil", &sealed), None);
        let mut changed = sealed.clone();
        *changed.last_mut().unwrap() ^= 1;
        assert_eq!(again.open("anna", &changed), None);
        assert_eq!(again.open("anna", &[]), None);

        let other = Key::load_or_create(&dir.path().join("other.key")).unwrap();
        assert_eq!(other.open("anna", &sealed), None);

        std::fs::write(&file, "not hex\n").unwrap();
        let e = Key::load(&file).unwrap_err();
        assert!(e.to_string().contains("secrets.key"), "{e}");
    }
}
