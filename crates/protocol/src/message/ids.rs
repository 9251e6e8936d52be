//! The identifiers and codes a message carries in clear (participant ids, kommunkoder, opaque
//! tokens) and the one error for any of them that is not accepted. Each is checked where it is
//! made, so nothing unchecked reaches a routing key or a store column.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why an identifier or code in a message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {why}")]
pub struct InvalidValue {
    pub what: &'static str,
    pub why: String,
}

#[doc(hidden)]
pub fn invalid(what: &'static str, why: impl Into<String>) -> InvalidValue {
    InvalidValue {
        what,
        why: why.into(),
    }
}

/// A registered participant's id, e.g. `norrkoping-ektorpsskolan`.
///
/// It appears in AMQP routing keys (`alert.<id>`) and queue names (`inbox.<id>`), so it is
/// restricted to lowercase ASCII letters, digits and `-` (2 to 63 characters, starting with a
/// letter or digit): no dots, wildcards or whitespace that could widen a topic permission.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ParticipantId(String);

impl ParticipantId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ParticipantId {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, InvalidValue> {
        let ok_len = (2..=63).contains(&s.len());
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let ok_start = s
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok_len && ok_chars && ok_start {
            Ok(ParticipantId(s))
        } else {
            Err(invalid(
                "participant id",
                format!("{s:?} must be 2-63 characters of a-z, 0-9 and '-', starting with a letter or digit"),
            ))
        }
    }
}

impl FromStr for ParticipantId {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, InvalidValue> {
        ParticipantId::try_from(s.to_owned())
    }
}

impl From<ParticipantId> for String {
    fn from(p: ParticipantId) -> String {
        p.0
    }
}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Swedish municipality code (kommunkod): exactly four digits, e.g. `0581` for Norrköping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Kommunkod(String);

impl Kommunkod {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Kommunkod {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, InvalidValue> {
        if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Kommunkod(s))
        } else {
            Err(invalid(
                "municipality code",
                format!("{s:?} must be four digits"),
            ))
        }
    }
}

impl FromStr for Kommunkod {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, InvalidValue> {
        Kommunkod::try_from(s.to_owned())
    }
}

impl From<Kommunkod> for String {
    fn from(k: Kommunkod) -> String {
        k.0
    }
}

impl fmt::Display for Kommunkod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An opaque correlation token in the routing header (for example a school's own case number
/// hashed by the school): 1-64 characters of `A-Z a-z 0-9 _ -`, so it cannot carry a name or a
/// personal identity number in readable form by accident (no spaces, no digits-only tokens of
/// personnummer length).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Token(String);

impl Token {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Token {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, InvalidValue> {
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let all_digits = s.bytes().all(|b| b.is_ascii_digit() || b == b'-');
        if !(1..=64).contains(&s.len()) || !ok_chars {
            return Err(invalid(
                "correlation token",
                "must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'",
            ));
        }
        if all_digits && s.len() >= 10 {
            return Err(invalid(
                "correlation token",
                "looks like a personal identity number; tokens must be opaque",
            ));
        }
        Ok(Token(s))
    }
}

impl From<Token> for String {
    fn from(t: Token) -> String {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn participant_ids_cannot_widen_routing_keys() {
        for bad in ["", "a", "Skola", "a.b", "a*", "a#", "a b", "-ab", "å-skola"] {
            assert!(bad.parse::<ParticipantId>().is_err(), "{bad:?} accepted");
        }
        assert!("norrkoping-ektorpsskolan".parse::<ParticipantId>().is_ok());
    }

    #[test]
    fn kommunkod_is_four_digits() {
        assert!("0581".parse::<Kommunkod>().is_ok());
        for bad in ["581", "05811", "05a1", ""] {
            assert!(bad.parse::<Kommunkod>().is_err());
        }
    }

    #[test]
    fn tokens_refuse_identity_numbers_and_free_text() {
        assert!(Token::try_from("case-7f3a".to_owned()).is_ok());
        assert!(Token::try_from("20120101-1234".to_owned()).is_err());
        assert!(Token::try_from("201201011234".to_owned()).is_err());
        assert!(Token::try_from("Anna Svensson".to_owned()).is_err());
    }
}
