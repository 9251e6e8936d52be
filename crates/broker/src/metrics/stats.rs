//! The store snapshot the gauges are made from: what the stats worker counts in the store and
//! hands to [`super::Metrics::set_store_stats`].

use std::time::Duration;

use varsel_protocol::message::{Category, DeliveryState, ParticipantId, Status};

/// Alerts in one state, category and status, as counted by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertCount {
    /// The alert state's code (e.g. `open`, `acknowledged`, `escalated`, `cancelled`).
    pub state: String,
    pub category: Category,
    pub status: Status,
    pub count: u64,
}

/// Deliveries to one recipient in one state, as counted by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCount {
    pub recipient: ParticipantId,
    pub state: DeliveryState,
    pub count: u64,
}

/// A periodic snapshot of the store, turned into gauges by [`Metrics::set_store_stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Counts per label set; a label set left out counts as gone (its series disappears).
    pub alerts: Vec<AlertCount>,
    pub deliveries: Vec<DeliveryCount>,
    /// Deliveries whose receipt or ack deadline has passed.
    pub overdue_deliveries: u64,
    /// Outbox entries not yet sent.
    pub outbox_depth: u64,
    /// Age of the oldest unsent outbox entry; zero when the outbox is empty.
    pub outbox_oldest: Duration,
    /// Escalation timers not yet fired.
    pub timers_pending: u64,
    /// Ops pages not yet closed.
    pub ops_pages: u64,
}
