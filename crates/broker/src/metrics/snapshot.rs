//! The values the message flow and the store hand to [`super::Metrics`]: how an email or a
//! publish ended, and a periodic snapshot of the store's counts, which becomes the store gauges.

use std::time::Duration;

use varsel_protocol::message::{code_enum, Category, DeliveryState, ParticipantId, Status};

use super::Metrics;

code_enum!(
    /// How sending one email notice ended.
    EmailResult {
        Sent = "sent",
        Failed = "failed",
    }
);

code_enum!(
    /// How RabbitMQ answered one publish of a delivery.
    PublishResult {
        /// The broker confirmed it (publisher confirm ack).
        Confirmed = "confirmed",
        /// The broker refused it (publisher confirm nack).
        Nacked = "nacked",
        /// It was mandatory and no queue took it.
        Returned = "returned",
    }
);

/// Alerts in one state, category and status, as counted by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertCount {
    /// The alert state's code (e.g. `open`, `acknowledged`, `escalated`, `cancelled`, `closed`).
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

impl Metrics {
    /// Replaces every store gauge with this snapshot. Label sets missing from it disappear;
    /// repeated label sets are added up.
    pub fn set_store_stats(&self, stats: &StoreStats) {
        // A poisoned lock only means another thread panicked mid-update; the gauges are
        // overwritten here anyway.
        let _guard = self
            .inner
            .snapshot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let inner = &self.inner;
        inner.alerts.clear();
        for a in &stats.alerts {
            inner
                .alerts
                .get_or_create(&[
                    ("state", a.state.clone()),
                    ("category", a.category.code().to_owned()),
                    ("status", a.status.code().to_owned()),
                ])
                .inc_by(saturating_i64(a.count));
        }
        inner.deliveries.clear();
        for d in &stats.deliveries {
            inner
                .deliveries
                .get_or_create(&[
                    ("recipient", d.recipient.as_str().to_owned()),
                    ("state", d.state.code().to_owned()),
                ])
                .inc_by(saturating_i64(d.count));
        }
        inner
            .overdue_deliveries
            .set(saturating_i64(stats.overdue_deliveries));
        inner.outbox_depth.set(saturating_i64(stats.outbox_depth));
        inner.outbox_oldest.set(stats.outbox_oldest.as_secs_f64());
        inner
            .timers_pending
            .set(saturating_i64(stats.timers_pending));
        inner.ops_pages.set(saturating_i64(stats.ops_pages));
    }
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
