//! Checked conversion between the store's typed values and the integers, text and bytes the
//! database holds. A value that does not convert is reported as a corrupt store, never passed
//! on half-read.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use varsel_protocol::message::InvalidValue;

use super::error::Error;

/// Unix milliseconds: the store's only representation of time.
pub(super) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn corrupt(table: &'static str, column: &'static str, why: impl Into<String>) -> Error {
    Error::Corrupt {
        table,
        column,
        why: why.into(),
    }
}

pub(super) fn time(
    table: &'static str,
    column: &'static str,
    v: i64,
) -> Result<DateTime<Utc>, Error> {
    DateTime::from_timestamp_millis(v).ok_or_else(|| corrupt(table, column, "time out of range"))
}

pub(super) fn opt_time(
    table: &'static str,
    column: &'static str,
    v: Option<i64>,
) -> Result<Option<DateTime<Utc>>, Error> {
    v.map(|v| time(table, column, v)).transpose()
}

pub(super) fn uuid(table: &'static str, column: &'static str, v: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(v).map_err(|_| corrupt(table, column, "not a UUID"))
}

pub(super) fn opt_uuid(
    table: &'static str,
    column: &'static str,
    v: Option<&str>,
) -> Result<Option<Uuid>, Error> {
    v.map(|v| uuid(table, column, v)).transpose()
}

pub(super) fn code<T: FromStr<Err = InvalidValue>>(
    table: &'static str,
    column: &'static str,
    v: &str,
) -> Result<T, Error> {
    v.parse()
        .map_err(|e: InvalidValue| corrupt(table, column, e.why))
}

pub(super) fn json(
    table: &'static str,
    column: &'static str,
    v: &str,
) -> Result<serde_json::Value, Error> {
    serde_json::from_str(v).map_err(|e| corrupt(table, column, format!("not JSON: {e}")))
}

pub(super) fn count(table: &'static str, column: &'static str, v: i64) -> Result<u32, Error> {
    u32::try_from(v).map_err(|_| corrupt(table, column, "negative or too large"))
}

pub(super) fn convert_all<R, T>(
    rows: Vec<R>,
    f: impl Fn(R) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    rows.into_iter().map(f).collect()
}

pub(super) fn json_text(v: &serde_json::Value) -> Result<String, Error> {
    serde_json::to_string(v).map_err(|e| Error::Value(format!("cannot encode JSON: {e}")))
}
