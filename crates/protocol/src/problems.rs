//! The one way varsel loads and validates a file: read it, deserialize it with serde into a
//! `Raw…` struct, then validate into the real type, collecting every problem at once with the
//! file, the key path and what was expected. Used by the configuration files, the registry and the
//! routing table alike.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::message::ParticipantId;

/// One problem found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub expected: String,
}

/// Every problem found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub origin: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.expected)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} has {} problem(s):", self.origin, self.problems.len())?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Collects problems while validating.
#[derive(Debug, Default)]
pub struct Problems(Vec<Problem>);

impl Problems {
    /// Notes that `key` should have been `expected`.
    pub fn add(&mut self, key: &str, expected: impl Into<String>) {
        self.0.push(Problem {
            key: key.to_owned(),
            expected: expected.into(),
        });
    }

    /// Whether nothing was found wrong so far.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems were found so far; a validator compares it before and after a part to
    /// see whether that part was sound.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// A duration in humantime's grammar (`90s`, `15m`, `2h`, `1h 30m`); zero with a problem
    /// noted when it is not one.
    pub fn duration(&mut self, key: &str, text: &str) -> Duration {
        match humantime::parse_duration(text) {
            Ok(d) => d,
            Err(e) => {
                self.add(
                    key,
                    format!("a duration such as \"90s\", \"15m\" or \"2h\" ({e})"),
                );
                Duration::ZERO
            }
        }
    }

    /// A participant id; `None` with a problem noted when it is not one.
    pub fn participant(&mut self, key: &str, text: &str) -> Option<ParticipantId> {
        match text.parse() {
            Ok(p) => Some(p),
            Err(e) => {
                self.add(key, e.to_string());
                None
            }
        }
    }

    /// Every problem noted, in the order found: for what is kept beside a valid result, such as a
    /// routing table's warnings.
    pub fn into_vec(self) -> Vec<Problem> {
        self.0
    }

    /// `Ok` when nothing was found wrong, else every problem with the file's name.
    pub fn finish(self, origin: &str) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error {
                origin: origin.to_owned(),
                problems: self.0,
            })
        }
    }
}

/// Reads a whole text file; an unreadable one is a problem of the file itself.
pub fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error {
        origin: path.display().to_string(),
        problems: vec![Problem {
            key: "(file)".into(),
            expected: format!("a readable TOML file ({e})"),
        }],
    })
}

/// Deserializes TOML into a `Raw…` struct. A value of the wrong type or an unknown key is named
/// by its key path (`rule[0].recipient[1].role`); a syntax error by the byte it was found at.
pub fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, origin: &str) -> Result<T, Error> {
    let one = |key: String, e: toml::de::Error| Error {
        origin: origin.to_owned(),
        problems: vec![Problem {
            key,
            expected: e.message().to_owned(),
        }],
    };
    let at = |e: &toml::de::Error| {
        e.span()
            .map(|s| format!("(at byte {})", s.start))
            .unwrap_or_else(|| "(file)".into())
    };
    let document = toml::Deserializer::parse(text).map_err(|e| one(at(&e), e))?;
    serde_path_to_error::deserialize(document).map_err(|e| {
        let path = e.path().to_string();
        let e = e.into_inner();
        let key = if path == "." { at(&e) } else { path };
        one(key, e)
    })
}

/// A path from a file, taken relative to the file's directory `base` unless absolute.
pub fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}
