//! What is wrong with a document or section ([`Problem`]), and how serde's errors become problems
//! without repeating the input: a failed typed read is reported at its JSON Pointer with the
//! quoted values and long digit runs removed, and [`deserialize_all`] goes on past a bad value so
//! every one is reported in one round.

use std::fmt;

use serde_json::Value;

use crate::refusal::{Reason, Refusal};

/// One thing wrong with a document or section: where (a JSON Pointer, RFC 6901), what, and which
/// refusal reason it maps to. The words never repeat a value from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON Pointer to the offending value; empty for the document as a whole.
    pub path: String,
    pub message: String,
    /// [`Reason::InvalidPersonnummer`] for a personnummer that fails its checks, otherwise
    /// [`Reason::Schema`].
    pub reason: Reason,
}

impl Problem {
    pub(super) fn schema(path: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            path: path.into(),
            message: message.into(),
            reason: Reason::Schema,
        }
    }

    pub(super) fn personnummer(path: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            path: path.into(),
            message: message.into(),
            reason: Reason::InvalidPersonnummer,
        }
    }

    /// One refusal for a list of problems: `invalid_personnummer` if any problem is one (it is
    /// the more specific reason), otherwise `schema`; the detail lists every problem.
    pub fn refusal(problems: &[Problem]) -> Refusal {
        let reason = if problems
            .iter()
            .any(|p| p.reason == Reason::InvalidPersonnummer)
        {
            Reason::InvalidPersonnummer
        } else {
            Reason::Schema
        };
        let detail = problems
            .iter()
            .map(Problem::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        Refusal::new(reason, detail)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Typed read that reports where it failed, as a JSON Pointer below `base`.
pub(super) fn deserialize_at<T: serde::de::DeserializeOwned>(
    value: Value,
    base: &str,
) -> Result<T, Problem> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut path = base.to_owned();
        for seg in e.path() {
            match seg {
                serde_path_to_error::Segment::Seq { index } => path.push_str(&format!("/{index}")),
                serde_path_to_error::Segment::Map { key } => {
                    path.push('/');
                    path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                }
                serde_path_to_error::Segment::Enum { .. }
                | serde_path_to_error::Segment::Unknown => {}
            }
        }
        Problem::schema(path, redact(&e.into_inner().to_string()))
    })
}

/// A value that reads as a field of this name, put in place of a bad one so the typed read (and
/// the checks after it) can go on; the document read this way is never handed out. Optional
/// fields whose absence the checks do not mind are removed instead (`None` here).
fn stand_in(key: &str, now: &str) -> Option<Option<Value>> {
    use crate::message::{Category, Status, Urgency};
    let v = |s: &str| Some(Some(Value::String(s.to_owned())));
    match key {
        "category" => v(Category::ALL[0].code()),
        "urgency" => v(Urgency::ALL[0].code()),
        "status" => v(Status::ALL[0].code()),
        "municipality" => v("0180"),
        "skolenhetskod" => v("00000000"),
        "destination_country" => v("AF"),
        "relation" | "action" => v("other"),
        "at" => v(now),
        "date_of_birth" => v("2000-01-01"),
        "planned_departure" | "carrier" | "flight" | "phone" | "email" | "note" => Some(None),
        _ => None,
    }
}

/// Like [`deserialize_at`] from the root, but a value that fails is reported and replaced by a
/// stand-in (see [`stand_in`]) and the read tried again, so one round reports every bad value
/// instead of the first. Stops when a failure has no stand-in, or falls on or above a path
/// already reported (a removed value then missing is the same mistake, not a second one).
/// Returns the document read with stand-ins (only for the checks that follow) and the problems.
pub(super) fn deserialize_all<T: serde::de::DeserializeOwned>(
    mut value: Value,
    now: &str,
) -> (Option<T>, Vec<Problem>) {
    let mut problems: Vec<Problem> = Vec::new();
    // Each round fixes one value, and a document has few; the bound only guards the loop.
    for _ in 0..64 {
        let p = match deserialize_at::<T>(value.clone(), "") {
            Ok(t) => return (Some(t), problems),
            Err(p) => p,
        };
        let repeated = problems
            .iter()
            .any(|q| q.path == p.path || q.path.starts_with(&format!("{}/", p.path)));
        if repeated {
            return (None, problems);
        }
        let fixed = p.path.rsplit_once('/').and_then(|(parent, key)| {
            let with = stand_in(key, now)?;
            let map = value.pointer_mut(parent)?.as_object_mut()?;
            match with {
                Some(v) => map.insert(key.to_owned(), v),
                None => map.remove(key),
            }
        });
        problems.push(p);
        if fixed.is_none() {
            return (None, problems);
        }
    }
    (None, problems)
}

/// Removes values from serde's messages, which quote the offending input
/// (`invalid type: string "…", expected …`, ``integer `…` ``): in a body that could be a name or
/// a number. Field names stay, since they come from the schema; digits runs of six or more go
/// too, since they may be parts of a personnummer.
pub(super) fn redact(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut in_quotes = false;
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 6 {
            out.push('…');
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in msg.chars() {
        if c == '"' {
            flush(&mut digits, &mut out);
            if !in_quotes {
                out.push_str("\"…");
            }
            if in_quotes {
                out.push('"');
            }
            in_quotes = !in_quotes;
        } else if in_quotes {
            continue;
        } else if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_removes_quoted_values_and_long_digit_runs() {
        assert_eq!(
            redact(r#"invalid type: string "Amina", expected struct Pupil at line 3 column 12"#),
            r#"invalid type: string "…", expected struct Pupil at line 3 column 12"#
        );
        assert_eq!(
            redact("invalid type: integer `201203152384`, expected a string"),
            "invalid type: integer `…`, expected a string"
        );
    }
}
