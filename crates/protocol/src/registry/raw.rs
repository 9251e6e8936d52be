//! The registry file as written: serde structs that take each value as it stands (text, mostly,
//! and timestamps in either of TOML's spellings) so that validation can report every bad value,
//! and the readers of single values that do so under their key paths.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use toml::Value;

use crate::problems::Problems;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegistry {
    /// `None` when the file has no `[[participant]]` at all, which is a problem of its own;
    /// an empty list is left to the broker check.
    pub(super) participant: Option<Vec<RawParticipant>>,
}

/// One `[[participant]]`. Required values are optional here so that a missing one is reported
/// beside every other problem rather than stopping the parse.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawParticipant {
    pub(super) id: Option<String>,
    pub(super) name: Option<String>,
    pub(super) role: Option<String>,
    pub(super) agency: Option<String>,
    pub(super) municipality: Option<String>,
    pub(super) amqp_user: Option<String>,
    pub(super) mailbox: Option<String>,
    pub(super) office_hours: Option<String>,
    #[serde(default)]
    pub(super) acts_for: Vec<String>,
    #[serde(default)]
    pub(super) show_officer_name: bool,
    #[serde(default)]
    pub(super) signing_key: Vec<RawSigningKey>,
    #[serde(default)]
    pub(super) sealing_key: Vec<RawSealingKey>,
}

/// One `[[participant.signing_key]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSigningKey {
    pub(super) kid: Option<String>,
    pub(super) public_key: Option<String>,
    pub(super) valid_from: Option<Value>,
    pub(super) valid_until: Option<Value>,
    #[serde(default)]
    pub(super) revoked: bool,
}

/// One `[[participant.sealing_key]]`: a signing key's fields and the suite it is for. Two structs
/// rather than one with an optional suite, so a `suite` on a signing key is an unknown key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSealingKey {
    pub(super) kid: Option<String>,
    pub(super) suite: Option<String>,
    pub(super) public_key: Option<String>,
    pub(super) valid_from: Option<Value>,
    pub(super) valid_until: Option<Value>,
    #[serde(default)]
    pub(super) revoked: bool,
}

/// A text value that must not be blank: `None` with a problem noted when it is blank, or missing
/// and `required`.
pub(super) fn string(
    problems: &mut Problems,
    key: &str,
    value: Option<String>,
    required: bool,
) -> Option<String> {
    match value {
        None => {
            if required {
                problems.add(key, "missing; expected a string");
            }
            None
        }
        Some(s) if s.trim().is_empty() => {
            problems.add(key, "empty; expected a non-empty string");
            None
        }
        Some(s) => Some(s),
    }
}

/// A timestamp, written either as a TOML datetime or as a string (JSON examples turned into TOML
/// have only strings); it must be RFC 3339 with a UTC offset either way.
pub(super) fn time(
    problems: &mut Problems,
    key: &str,
    value: Option<&Value>,
    required: bool,
) -> Option<DateTime<Utc>> {
    let text = match value {
        None => {
            if required {
                problems.add(key, "missing; expected an RFC 3339 timestamp");
            }
            return None;
        }
        Some(Value::String(s)) => s.clone(),
        Some(Value::Datetime(d)) => d.to_string(),
        Some(other) => {
            problems.add(
                key,
                format!("expected an RFC 3339 timestamp, found {}", other.type_str()),
            );
            return None;
        }
    };
    match DateTime::parse_from_rfc3339(&text) {
        Ok(d) => Some(d.with_timezone(&Utc)),
        Err(_) => {
            problems.add(
                key,
                format!("{text:?} is not an RFC 3339 timestamp with a UTC offset, e.g. 2026-01-01T00:00:00Z"),
            );
            None
        }
    }
}

/// The key path of `key` inside the table at `path`.
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}
