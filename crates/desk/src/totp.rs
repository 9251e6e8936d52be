//! The second factor: time-based one-time passwords (RFC 6238) as authenticator apps make them:
//! HMAC-SHA-1, 6 digits, 30-second steps. A code is accepted one step either side of now (clock
//! drift) and only once: a step at or before the last one used is refused, so a code seen over a
//! shoulder cannot be used again.

use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

/// Seconds per step.
pub const STEP: u64 = 30;
const DIGITS: usize = 6;
/// How many steps either side of now are accepted.
const WINDOW: i64 = 1;

/// A shared TOTP secret (160 bits, as RFC 4226 recommends).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    pub fn generate() -> Secret {
        let mut b = vec![0u8; 20];
        SystemRandom::new()
            .fill(&mut b)
            .expect("the system's random source works");
        Secret(b)
    }

    pub fn from_bytes(b: Vec<u8>) -> Secret {
        Secret(b)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32 without padding, as typed into an authenticator app.
    pub fn base32(&self) -> String {
        base32_encode(&self.0)
    }

    /// The secret [`base32`](Secret::base32) printed (upper or lower case, spaces and padding
    /// ignored); `None` if it is not base32.
    pub fn from_base32(text: &str) -> Option<Secret> {
        let mut out = Vec::new();
        let mut buffer: u32 = 0;
        let mut bits = 0;
        for c in text.bytes().filter(|c| !b" =".contains(c)) {
            let v = match c.to_ascii_uppercase() {
                c @ b'A'..=b'Z' => c - b'A',
                c @ b'2'..=b'7' => c - b'2' + 26,
                _ => return None,
            };
            buffer = (buffer << 5) | u32::from(v);
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push((buffer >> bits) as u8);
            }
        }
        Some(Secret(out))
    }

    /// The `otpauth://` URI an authenticator app reads (usually from a QR code).
    pub fn uri(&self, issuer: &str, account: &str) -> String {
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
            encode(issuer),
            encode(account),
            self.base32(),
            encode(issuer)
        )
    }

    fn totp(&self) -> TOTP {
        TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP, self.0.clone())
    }

    /// The code for the step that contains `unix_seconds`.
    pub fn code_at(&self, unix_seconds: u64) -> String {
        self.totp().generate(unix_seconds)
    }

    /// The step a code belongs to, if it is good now: within the window around `unix_seconds`
    /// and after `last_step` (the step of the last code accepted for the account).
    pub fn check(&self, code: &str, unix_seconds: u64, last_step: Option<i64>) -> Option<i64> {
        let code = code.trim();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = (unix_seconds / STEP) as i64;
        let totp = self.totp();
        let mut found = None;
        // Every step in the window is computed and compared, so the time taken does not say
        // which matched.
        for step in now - WINDOW..=now + WINDOW {
            if step < 0 {
                continue;
            }
            let expected = totp.generate(step as u64 * STEP);
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
                found = Some(step);
            }
        }
        found.filter(|s| last_step.is_none_or(|last| *s > last))
    }
}

fn base32_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1: the secret is the ASCII of "12345678901234567890"; the RFC
    /// gives 8 digits, of which a 6-digit code is the last six.
    #[test]
    fn rfc_6238_vectors() {
        let s = Secret::from_bytes(b"12345678901234567890".to_vec());
        for (t, eight) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
        ] {
            assert_eq!(s.code_at(t), eight[2..], "at {t}");
        }
        assert_eq!(s.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn a_printed_secret_reads_back() {
        for _ in 0..20 {
            let s = Secret::generate();
            let back = Secret::from_base32(&s.base32().to_lowercase()).unwrap();
            assert_eq!(back.bytes(), s.bytes());
        }
        let s = Secret::from_base32("GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ").unwrap();
        assert_eq!(s.bytes(), b"12345678901234567890");
        assert!(Secret::from_base32("GEZD1").is_none());
    }

    #[test]
    fn a_code_is_good_one_step_either_side_and_only_once() {
        let s = Secret::generate();
        let now = 1_800_000_015;
        let step = (now / STEP) as i64;
        let code = s.code_at(now);
        assert_eq!(s.check(&code, now, None), Some(step));
        // Drift: the previous and next step's codes are accepted, two steps away are not.
        assert_eq!(s.check(&s.code_at(now - STEP), now, None), Some(step - 1));
        assert_eq!(s.check(&s.code_at(now + STEP), now, None), Some(step + 1));
        assert_eq!(s.check(&s.code_at(now - 2 * STEP), now, None), None);
        assert_eq!(s.check(&s.code_at(now + 2 * STEP), now, None), None);
        // Used once: the same step, or an earlier one, is refused afterwards.
        assert_eq!(s.check(&code, now, Some(step)), None);
        assert_eq!(s.check(&s.code_at(now - STEP), now, Some(step)), None);
        assert_eq!(
            s.check(&s.code_at(now + STEP), now, Some(step)),
            Some(step + 1)
        );
        // Not a code at all.
        assert_eq!(s.check("12345", now, None), None);
        assert_eq!(s.check("abcdef", now, None), None);
        assert_eq!(s.check("", now, None), None);
        // Another secret's code is not this one's (with odds of 3 in a million).
        let other = Secret::generate();
        let theirs = other.code_at(now);
        if theirs != code && theirs != s.code_at(now - STEP) && theirs != s.code_at(now + STEP) {
            assert_eq!(s.check(&theirs, now, None), None);
        }
    }

    #[test]
    fn the_uri_names_issuer_and_account() {
        let s = Secret::from_bytes(b"12345678901234567890".to_vec());
        assert_eq!(
            s.uri("Norrköping desk", "anna"),
            "otpauth://totp/Norrk%C3%B6ping%20desk:anna?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Norrk%C3%B6ping%20desk&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(format!("{s:?}"), "Secret(…)");
    }
}
