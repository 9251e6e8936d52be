//! Browser sessions: a random token in an HttpOnly, SameSite=Strict cookie (Secure when the desk
//! is reached over TLS), of which the store keeps only the SHA-256; a CSRF token per session that
//! every form carries back; and the rule that ends a session after a time without use or after a
//! fixed lifetime.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE: &str = "varsel_desk";

/// Where a session is in signing in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Not signed in: holds only the CSRF token of the sign-in form.
    Anonymous,
    /// The password was right; the code is awaited.
    Password,
    SignedIn,
}

impl Stage {
    pub fn code(self) -> &'static str {
        match self {
            Stage::Anonymous => "anonymous",
            Stage::Password => "password",
            Stage::SignedIn => "signed_in",
        }
    }

    pub fn parse(code: &str) -> Option<Stage> {
        match code {
            "anonymous" => Some(Stage::Anonymous),
            "password" => Some(Stage::Password),
            "signed_in" => Some(Stage::SignedIn),
            _ => None,
        }
    }
}

/// How long sessions last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// A session not used for this long is over.
    pub idle: Duration,
    /// No session lasts longer than this, used or not.
    pub lifetime: Duration,
}

impl Policy {
    /// Whether a session created at `created` and last used at `last_seen` (unix milliseconds)
    /// is still good at `now`.
    pub fn live(&self, created: i64, last_seen: i64, now: i64) -> bool {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        now.saturating_sub(last_seen) < ms(self.idle)
            && now.saturating_sub(created) < ms(self.lifetime)
    }
}

/// A fresh random token (256 bits, base64url): a session's or a CSRF token.
pub fn token() -> String {
    let mut b = [0u8; 32];
    SystemRandom::new()
        .fill(&mut b)
        .expect("the system's random source works");
    URL_SAFE_NO_PAD.encode(b)
}

/// What the store keeps of a session token.
pub fn digest(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// Whether a form's CSRF token is the session's, compared in constant time. A missing or empty
/// token never matches.
pub fn csrf_matches(expected: &str, given: Option<&str>) -> bool {
    match given {
        Some(g) if !g.is_empty() && !expected.is_empty() => {
            bool::from(expected.as_bytes().ct_eq(g.as_bytes()))
        }
        _ => false,
    }
}

/// The `Set-Cookie` value that gives the browser a session token.
pub fn set_cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The value of cookie `name` in a `Cookie` request header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_must_be_present_and_equal() {
        let t = token();
        assert_eq!(t.len(), 43);
        assert_ne!(t, token());
        assert!(csrf_matches(&t, Some(&t)));
        assert!(!csrf_matches(&t, None));
        assert!(!csrf_matches(&t, Some("")));
        assert!(!csrf_matches(&t, Some(&t[1..])));
        assert!(!csrf_matches(&t, Some(&token())));
        assert!(!csrf_matches("", Some("")));
    }

    #[test]
    fn sessions_end_after_the_idle_time_and_the_lifetime() {
        let p = Policy {
            idle: Duration::from_secs(15 * 60),
            lifetime: Duration::from_secs(8 * 3600),
        };
        let t0 = 1_800_000_000_000;
        let min = 60_000;
        assert!(p.live(t0, t0, t0));
        assert!(p.live(t0, t0, t0 + 15 * min - 1));
        assert!(!p.live(t0, t0, t0 + 15 * min));
        // Kept alive by use, until the lifetime is over.
        assert!(p.live(t0, t0 + 470 * min, t0 + 479 * min));
        assert!(!p.live(t0, t0 + 479 * min, t0 + 480 * min));
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        assert_eq!(
            set_cookie("abc", false),
            "varsel_desk=abc; Path=/; HttpOnly; SameSite=Strict"
        );
        assert!(set_cookie("abc", true).ends_with("; Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
        assert_eq!(
            cookie_value("lang=en; varsel_desk=xyz", COOKIE),
            Some("xyz")
        );
        assert_eq!(cookie_value("varsel_desk_x=1", COOKIE), None);
        assert_eq!(digest("abc").len(), 32);
    }
}
