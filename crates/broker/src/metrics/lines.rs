//! The metrics of agency lines (see the heartbeat module): whether each line answers its
//! heartbeats and how long ago it last did, replaced wholesale from the store like the other
//! store gauges, and how many heartbeats and receipts this broker handled. The only label is the
//! agency's participant id.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use varsel_protocol::message::ParticipantId;

use super::Metrics;

type ByLine<G> = Family<[(&'static str, String); 1], G>;

/// One line as the store last showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineStatus {
    pub participant: ParticipantId,
    /// `Some(true)` up, `Some(false)` down, `None` not yet known (no series).
    pub up: Option<bool>,
    /// Time since the last heartbeat receipt; `None` before the first (no series).
    pub last_receipt_age: Option<Duration>,
}

/// Line gauges and heartbeat counters.
#[derive(Debug, Default)]
pub struct Lines {
    up: ByLine<Gauge>,
    last_receipt_age: ByLine<Gauge<f64, AtomicU64>>,
    sent: Counter,
    receipts: Counter,
}

impl Lines {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "varsel_line_up",
            "Whether an agency's line receipted its last heartbeat in time (1) or missed it (0), by participant",
            self.up.clone(),
        );
        registry.register_with_unit(
            "varsel_line_last_receipt_age",
            "Time since an agency's line last receipted a heartbeat, by participant",
            Unit::Seconds,
            self.last_receipt_age.clone(),
        );
        registry.register(
            "varsel_heartbeats_sent",
            "Heartbeats this broker put in the outbox for agency lines",
            self.sent.clone(),
        );
        registry.register(
            "varsel_heartbeat_receipts",
            "Heartbeat receipts this broker applied to agency lines",
            self.receipts.clone(),
        );
    }
}

impl Metrics {
    /// `n` heartbeats were put in the outbox.
    pub fn heartbeats_sent(&self, n: usize) {
        self.inner.lines.sent.inc_by(n as u64);
    }

    /// A heartbeat receipt was applied to its line.
    pub fn heartbeat_receipt(&self) {
        self.inner.lines.receipts.inc();
    }

    /// Replaces the line gauges with this snapshot; lines left out disappear.
    pub fn set_lines(&self, lines: &[LineStatus]) {
        let _guard = self
            .inner
            .snapshot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let l = &self.inner.lines;
        l.up.clear();
        l.last_receipt_age.clear();
        for line in lines {
            let labels = [("participant", line.participant.as_str().to_owned())];
            if let Some(up) = line.up {
                l.up.get_or_create(&labels).set(i64::from(up));
            }
            if let Some(age) = line.last_receipt_age {
                l.last_receipt_age
                    .get_or_create(&labels)
                    .set(age.as_secs_f64());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_gauges_by_participant() {
        let m = Metrics::new();
        m.set_lines(&[
            LineStatus {
                participant: "polisen".parse().unwrap(),
                up: Some(false),
                last_receipt_age: Some(Duration::from_secs(90)),
            },
            LineStatus {
                participant: "ny-myndighet".parse().unwrap(),
                up: None,
                last_receipt_age: None,
            },
        ]);
        m.heartbeats_sent(2);
        let text = m.render();
        assert!(
            text.contains("varsel_line_up{participant=\"polisen\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("varsel_line_last_receipt_age_seconds{participant=\"polisen\"} 90"),
            "{text}"
        );
        assert!(!text.contains("ny-myndighet"), "{text}");
        assert!(text.contains("varsel_heartbeats_sent_total 2"), "{text}");
        m.set_lines(&[]);
        assert!(!m.render().contains("participant=\"polisen\""));
    }
}
