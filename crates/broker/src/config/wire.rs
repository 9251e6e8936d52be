//! The `[wire]` section: until when the broker still accepts wire format v1 from senders while
//! they move to v2. Read and validated with the rest of the configuration (see
//! [`super::Config`]).

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Deserialize;

use varsel_protocol::problems::Problems;

/// The last day v1 is accepted when the configuration does not say: half a year after v2
/// became what varsel sends, time for every school system to be updated.
pub const DEFAULT_ACCEPT_V1_UNTIL: &str = "2027-06-30";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawWire {
    accept_v1_until: String,
}

impl Default for RawWire {
    fn default() -> Self {
        RawWire {
            accept_v1_until: DEFAULT_ACCEPT_V1_UNTIL.into(),
        }
    }
}

/// The instant from which a v1 message is refused as `unsupported_version`: the start (UTC) of
/// the day after `wire.accept_v1_until`, so the named day is the last one v1 is accepted.
pub(super) fn validate(p: &mut Problems, raw: &RawWire) -> DateTime<Utc> {
    let day = NaiveDate::parse_from_str(&raw.accept_v1_until, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.checked_add_days(Days::new(1)));
    match day {
        Some(d) => d.and_time(chrono::NaiveTime::MIN).and_utc(),
        None => {
            p.add(
                "wire.accept_v1_until",
                format!(
                    "a date such as \"{DEFAULT_ACCEPT_V1_UNTIL}\" (the last day v1 is accepted)"
                ),
            );
            DateTime::<Utc>::MIN_UTC
        }
    }
}
