//! Passwords: argon2id hashes (RFC 9106) in the PHC string format, with the `argon2` crate's
//! defaults (19 MiB, 2 passes, 1 lane: OWASP's recommended minimum).

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use ring::rand::{SecureRandom, SystemRandom};

/// The shortest password an account may have.
pub const MIN_LENGTH: usize = 12;

/// Why a password was not accepted for an account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the password must be at least {MIN_LENGTH} characters long")]
    TooShort,
}

/// Checks a new password against the rules.
pub fn acceptable(password: &str) -> Result<(), Refused> {
    if password.chars().count() < MIN_LENGTH {
        return Err(Refused::TooShort);
    }
    Ok(())
}

/// The argon2id hash of a password with a fresh random salt.
pub fn hash(password: &str) -> String {
    // 16 random bytes from the system (ring, as everywhere in varsel), as RFC 9106 recommends.
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source works");
    let salt = SaltString::encode_b64(&bytes).expect("16 bytes make a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2id with default parameters hashes any password")
        .to_string()
}

/// Whether `password` matches the stored hash. A hash that cannot be read matches nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the time one verification takes, for a user name that does not exist, so the answer's
/// timing does not tell which names have accounts.
pub fn verify_nobody(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored = DUMMY.get_or_init(|| hash("no account has this password"));
    let _ = verify(password, stored);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let h = hash("korrekt häst batteri");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("korrekt häst batteri", &h));
        assert!(!verify("korrekt häst batteri ", &h));
        assert!(!verify("Korrekt häst batteri", &h));
        // The salt is fresh each time.
        assert_ne!(h, hash("korrekt häst batteri"));
        assert!(!verify("x", "not a PHC string"));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert_eq!(acceptable("kort"), Err(Refused::TooShort));
        assert_eq!(acceptable("elva tecken"), Err(Refused::TooShort));
        assert_eq!(acceptable("tolv tecken!"), Ok(()));
    }
}
