//! [`Redacted`]: a value that is used like any other but never prints. Every secret (a password,
//! a token) and every piece of personal data (a name, a phone number, a free-text note) kept in a
//! struct is held in one, so `{:?}` of the struct, in a log line or a panic message, shows that
//! the field is there and never what it holds; the rest of the struct derives `Debug` as usual.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A value whose `Debug` prints `<redacted>`. It has no `Display`, and reading it takes
/// [`Redacted::expose`], so every place that uses the value itself says so. It serializes as the
/// value (transparently): redaction is for printing, sealing is the envelope's job.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Redacted<T>(T);

impl<T> Redacted<T> {
    pub const fn new(value: T) -> Redacted<T> {
        Redacted(value)
    }

    /// The value itself, for the code that needs it (sealing, sending, checking).
    pub fn expose(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T> From<T> for Redacted<T> {
    fn from(value: T) -> Redacted<T> {
        Redacted(value)
    }
}

impl From<&str> for Redacted<String> {
    fn from(value: &str) -> Redacted<String> {
        Redacted(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    struct Login {
        user: String,
        password: Redacted<String>,
        phone: Option<Redacted<String>>,
    }

    #[test]
    fn debug_never_shows_the_value_and_serde_is_transparent() {
        let l: Login =
            serde_json::from_str(r#"{"user":"u","password":"hemligt-lösen","phone":"070"}"#)
                .unwrap();
        let debug = format!("{l:?} {l:#?}");
        assert!(
            !debug.contains("hemligt") && !debug.contains("070"),
            "{debug}"
        );
        assert!(debug.contains("password: <redacted>") && debug.contains("Some(<redacted>)"));
        assert_eq!(l.password.expose(), "hemligt-lösen");
        assert_eq!(
            serde_json::to_string(&l).unwrap(),
            r#"{"user":"u","password":"hemligt-lösen","phone":"070"}"#
        );
    }
}
