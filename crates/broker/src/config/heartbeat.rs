//! The `[heartbeat]` section: how often the broker checks every agency's line, how long a
//! receipt may take, and after how many missed heartbeats ops are paged. Without the section the
//! broker sends no heartbeats. Read and validated with the rest of the configuration (see
//! [`super::Config`]).

use std::time::Duration;

use serde::Deserialize;

use super::retention::positive;
use varsel_protocol::problems::Problems;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHeartbeat {
    interval: String,
    grace: String,
    page_after: u32,
    poll: String,
}

impl Default for RawHeartbeat {
    fn default() -> Self {
        RawHeartbeat {
            interval: "15m".into(),
            grace: "2m".into(),
            page_after: 2,
            poll: "1s".into(),
        }
    }
}

/// Heartbeat settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// A heartbeat goes to every agency this often (and when the broker starts).
    pub interval: Duration,
    /// A heartbeat not receipted this long after it was sent is a miss: the line is down.
    pub grace: Duration,
    /// Ops are paged once this many heartbeats in a row were missed, once per outage.
    pub page_after: u32,
    /// How often (real time) the worker looks for heartbeats due to be sent or checked.
    pub poll: Duration,
}

/// Validates the section, noting each problem with its key.
pub(super) fn validate(p: &mut Problems, raw: &RawHeartbeat) -> Heartbeat {
    let noted = p.len();
    let interval = positive(p, "heartbeat.interval", &raw.interval, "15m");
    let grace = positive(p, "heartbeat.grace", &raw.grace, "2m");
    if p.len() == noted && grace >= interval {
        p.add(
            "heartbeat.grace",
            "shorter than heartbeat.interval (a receipt is due before the next heartbeat goes)",
        );
    }
    if raw.page_after == 0 || raw.page_after > 1000 {
        p.add(
            "heartbeat.page_after",
            "a number of missed heartbeats from 1 to 1000",
        );
    }
    let poll = positive(p, "heartbeat.poll", &raw.poll, "1s");
    Heartbeat {
        interval,
        grace,
        page_after: raw.page_after,
        poll,
    }
}
