//! The validator's state and its readers of single values (strings, booleans, times, tables):
//! each reports what is wrong at its key path and reading goes on, so one load reports every
//! problem in the file.

use chrono::{DateTime, Utc};
use toml::{Table, Value};

use super::Problem;

/// Reads a registry table, collecting problems instead of stopping at the first.
pub(super) struct Validator {
    pub(super) origin: String,
    pub(super) problems: Vec<Problem>,
}

impl Validator {
    pub(super) fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            origin: self.origin.clone(),
            path: path.into(),
            message: message.into(),
        });
    }

    pub(super) fn unknown_keys(&mut self, table: &Table, path: &str, known: &[&str]) {
        for key in table.keys() {
            if !known.contains(&key.as_str()) {
                self.problem(
                    join(path, key),
                    format!("unknown key; expected one of {}", known.join(", ")),
                );
            }
        }
    }

    pub(super) fn string(
        &mut self,
        t: &Table,
        path: &str,
        key: &str,
        required: bool,
    ) -> Option<String> {
        match t.get(key) {
            None if required => {
                self.problem(join(path, key), "missing; expected a string");
                None
            }
            None => None,
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.problem(join(path, key), "empty; expected a non-empty string");
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.problem(
                    join(path, key),
                    format!("expected a string, found {}", other.type_str()),
                );
                None
            }
        }
    }

    pub(super) fn bool(&mut self, t: &Table, path: &str, key: &str) -> bool {
        match t.get(key) {
            None => false,
            Some(Value::Boolean(b)) => *b,
            Some(other) => {
                self.problem(
                    join(path, key),
                    format!("expected true or false, found {}", other.type_str()),
                );
                false
            }
        }
    }

    pub(super) fn time(
        &mut self,
        t: &Table,
        path: &str,
        key: &str,
        required: bool,
    ) -> Option<DateTime<Utc>> {
        let text = match t.get(key) {
            None => {
                if required {
                    self.problem(join(path, key), "missing; expected an RFC 3339 timestamp");
                }
                return None;
            }
            Some(Value::String(s)) => s.clone(),
            Some(Value::Datetime(d)) => d.to_string(),
            Some(other) => {
                self.problem(
                    join(path, key),
                    format!("expected an RFC 3339 timestamp, found {}", other.type_str()),
                );
                return None;
            }
        };
        match DateTime::parse_from_rfc3339(&text) {
            Ok(d) => Some(d.with_timezone(&Utc)),
            Err(_) => {
                self.problem(
                    join(path, key),
                    format!("{text:?} is not an RFC 3339 timestamp with a UTC offset, e.g. 2026-01-01T00:00:00Z"),
                );
                None
            }
        }
    }

    pub(super) fn tables<'t>(
        &mut self,
        t: &'t Table,
        path: &str,
        key: &str,
    ) -> Vec<(String, &'t Table)> {
        match t.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    let p = format!("{}[{i}]", join(path, key));
                    match item {
                        Value::Table(table) => Some((p, table)),
                        other => {
                            self.problem(
                                p,
                                format!("expected a table, found {}", other.type_str()),
                            );
                            None
                        }
                    }
                })
                .collect(),
            Some(other) => {
                self.problem(
                    join(path, key),
                    format!(
                        "expected an array of tables ([[{key}]]), found {}",
                        other.type_str()
                    ),
                );
                Vec::new()
            }
        }
    }

    pub(super) fn has_problem_under(&self, path: &str, key: &str) -> bool {
        let prefix = join(path, key);
        self.problems.iter().any(|p| p.path.starts_with(&prefix))
    }
}

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}
