//! Agency lines as ops see them: in `/api/health` (and so on the dashboard) and in `/metrics`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::metrics::LineStatus;
use crate::store::{LineRow, LineState};

/// One agency's line: whether it answers the broker's heartbeats.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq, ToSchema)]
pub struct LineView {
    /// The agency's participant id.
    pub participant: String,
    /// `up`, `down` (a heartbeat was not receipted within the grace), or `unknown` (none
    /// receipted or missed yet).
    pub state: String,
    pub last_receipt_at: Option<DateTime<Utc>>,
    /// Seconds since the last receipt, on the broker's clock.
    pub last_receipt_age_seconds: Option<f64>,
    /// Heartbeats missed in a row.
    pub misses: u64,
    pub down_since: Option<DateTime<Utc>>,
    /// Whether ops were paged about this outage.
    pub paged: bool,
    pub next_heartbeat_at: DateTime<Utc>,
}

fn age(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<Duration> {
    at.map(|t| (now - t).to_std().unwrap_or_default())
}

/// The lines for `/api/health`.
pub fn views(rows: &[LineRow], now: DateTime<Utc>) -> Vec<LineView> {
    rows.iter()
        .map(|l| LineView {
            participant: l.participant.to_string(),
            state: l.state.code().to_owned(),
            last_receipt_at: l.last_receipt_at,
            last_receipt_age_seconds: age(l.last_receipt_at, now).map(|d| d.as_secs_f64()),
            misses: l.misses,
            down_since: l.down_since,
            paged: l.paged,
            next_heartbeat_at: l.next_at,
        })
        .collect()
}

/// The lines for the `varsel_line_*` gauges.
pub fn statuses(rows: &[LineRow], now: DateTime<Utc>) -> Vec<LineStatus> {
    rows.iter()
        .map(|l| LineStatus {
            participant: l.participant.clone(),
            up: match l.state {
                LineState::Up => Some(true),
                LineState::Down => Some(false),
                LineState::Unknown => None,
            },
            last_receipt_age: age(l.last_receipt_at, now),
        })
        .collect()
}
