//! The broker's Prometheus metrics: counters and histograms the message flow reports into as it
//! goes, and gauges replaced wholesale from periodic store statistics.
//!
//! Built on `prometheus-client`, the official Rust client, which renders the OpenMetrics 1.0 text
//! format; serve it with [`CONTENT_TYPE`] so Prometheus parses counters and units correctly.
//!
//! Labels are low-cardinality codes only: categories, statuses, kinds, reason codes, escalation
//! actions, delivery states and agency participant ids. Never an alert id, a delivery id or
//! anything personal: the label types below take enums and participant ids, not free text,
//! except the escalation action and the alert state, which callers must fill with their codes.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::health::Worker;
use varsel_protocol::message::{Category, Kind, ParticipantId, Status};
use varsel_protocol::refusal::Reason;

mod evidence;
mod lines;
mod snapshot;

pub use evidence::Erased;
pub use lines::LineStatus;
pub use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model as model;
pub use snapshot::{AlertCount, DeliveryCount, EmailResult, PublishResult, StoreStats};

/// The `Content-Type` to serve [`Metrics::render`] output with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A histogram of times people take.
fn human_histogram() -> Histogram {
    Histogram::new(HUMAN_BUCKETS)
}

/// Buckets for times people take (receipt, acknowledgement): one second up to a day.
const HUMAN_BUCKETS: [f64; 14] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0,
    86400.0,
];

/// Buckets for a store commit: half a millisecond up to a few seconds.
const COMMIT_BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

type Labels<const N: usize> = [(&'static str, String); N];

struct Inner {
    registry: Registry,
    // A scrape takes this for reading and a store snapshot for writing, so a scrape sees the
    // whole previous snapshot or the whole new one, never a half-cleared family.
    snapshot: RwLock<()>,

    alerts_received: Family<Labels<2>, Counter>,
    messages_received: Family<Labels<1>, Counter>,
    refused: Family<Labels<1>, Counter>,
    escalation_steps: Family<Labels<2>, Counter>,
    emails: Family<Labels<1>, Counter>,
    amqp_reconnects: Counter,
    worker_restarts: Family<Labels<1>, Counter>,
    error_replies_withheld: Family<Labels<1>, Counter>,
    unrouted_alerts: Counter,
    deliveries_published: Family<Labels<1>, Counter>,
    evidence: evidence::Evidence,
    lines: lines::Lines,

    time_to_receipt: Family<Labels<1>, Histogram>,
    time_to_ack: Family<Labels<1>, Histogram>,
    store_commit: Histogram,

    alerts: Family<Labels<3>, Gauge>,
    deliveries: Family<Labels<2>, Gauge>,
    overdue_deliveries: Gauge,
    outbox_depth: Gauge,
    outbox_oldest: Gauge<f64, AtomicU64>,
    timers_pending: Gauge,
    amqp_connected: Gauge,
    ops_pages: Gauge,
    ready: Gauge,
    store_up: Gauge,
}

/// The broker's metrics. Cheap to clone; every clone reports into the same registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every varsel metric family registered. Counters whose label values are
    /// known in advance start at zero, so `rate()` works from the first scrape.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let inner = Inner {
            registry: Registry::default(),
            snapshot: RwLock::new(()),
            alerts_received: Family::default(),
            messages_received: Family::default(),
            refused: Family::default(),
            escalation_steps: Family::default(),
            emails: Family::default(),
            amqp_reconnects: Counter::default(),
            worker_restarts: Family::default(),
            error_replies_withheld: Family::default(),
            unrouted_alerts: Counter::default(),
            deliveries_published: Family::default(),
            evidence: evidence::Evidence::default(),
            lines: lines::Lines::default(),
            time_to_receipt: Family::new_with_constructor(human_histogram),
            time_to_ack: Family::new_with_constructor(human_histogram),
            store_commit: Histogram::new(COMMIT_BUCKETS),
            alerts: Family::default(),
            deliveries: Family::default(),
            overdue_deliveries: Gauge::default(),
            outbox_depth: Gauge::default(),
            outbox_oldest: Gauge::default(),
            timers_pending: Gauge::default(),
            amqp_connected: Gauge::default(),
            ops_pages: Gauge::default(),
            ready: Gauge::default(),
            store_up: Gauge::default(),
        };

        // Counter names are given without `_total`: the encoder appends it to the samples.
        registry.register(
            "varsel_alerts_received",
            "Alerts accepted from schools, by category and status",
            inner.alerts_received.clone(),
        );
        registry.register(
            "varsel_messages_received",
            "Messages accepted from participants, by kind",
            inner.messages_received.clone(),
        );
        registry.register(
            "varsel_refused",
            "Input messages refused, by reason code",
            inner.refused.clone(),
        );
        registry.register(
            "varsel_escalation_steps",
            "Escalation steps carried out, by action and alert status",
            inner.escalation_steps.clone(),
        );
        registry.register(
            "varsel_emails",
            "Email notices attempted, by result",
            inner.emails.clone(),
        );
        registry.register(
            "varsel_amqp_reconnects",
            "Times the broker reconnected to RabbitMQ",
            inner.amqp_reconnects.clone(),
        );
        registry.register(
            "varsel_worker_restarts",
            "Times a worker died and was restarted, by worker",
            inner.worker_restarts.clone(),
        );
        registry.register(
            "varsel_error_replies_withheld",
            "Refusals not answered with an error reply: a repeat of bytes already answered, or over the signer's budget",
            inner.error_replies_withheld.clone(),
        );
        registry.register(
            "varsel_unrouted_alerts",
            "Alerts that matched no routing rule but the default recipient",
            inner.unrouted_alerts.clone(),
        );
        registry.register(
            "varsel_deliveries_published",
            "Delivery publishes to RabbitMQ, by outcome",
            inner.deliveries_published.clone(),
        );
        registry.register_with_unit(
            "varsel_time_to_receipt",
            "Time from an alert's acceptance to a recipient's machine receipt, by recipient",
            Unit::Seconds,
            inner.time_to_receipt.clone(),
        );
        registry.register_with_unit(
            "varsel_time_to_ack",
            "Time from an alert's acceptance to an officer's acknowledgement, by recipient",
            Unit::Seconds,
            inner.time_to_ack.clone(),
        );
        registry.register_with_unit(
            "varsel_store_commit",
            "Duration of store transactions",
            Unit::Seconds,
            inner.store_commit.clone(),
        );
        registry.register(
            "varsel_alerts",
            "Alerts in the store, by state, category and status",
            inner.alerts.clone(),
        );
        registry.register(
            "varsel_deliveries",
            "Deliveries in the store, by recipient and state",
            inner.deliveries.clone(),
        );
        registry.register(
            "varsel_overdue_deliveries",
            "Deliveries past their receipt or acknowledgement deadline",
            inner.overdue_deliveries.clone(),
        );
        registry.register(
            "varsel_outbox_depth",
            "Outbox entries not yet sent",
            inner.outbox_depth.clone(),
        );
        registry.register_with_unit(
            "varsel_outbox_oldest",
            "Age of the oldest unsent outbox entry",
            Unit::Seconds,
            inner.outbox_oldest.clone(),
        );
        registry.register(
            "varsel_timers_pending",
            "Escalation timers waiting to fire",
            inner.timers_pending.clone(),
        );
        registry.register(
            "varsel_amqp_connected",
            "Whether the broker is connected to RabbitMQ (1) or not (0)",
            inner.amqp_connected.clone(),
        );
        registry.register(
            "varsel_ops_pages",
            "Open pages to ops staff",
            inner.ops_pages.clone(),
        );
        registry.register(
            "varsel_ready",
            "Whether the broker is ready (1) as /readyz tells, without its store ping, or not (0)",
            inner.ready.clone(),
        );
        registry.register(
            "varsel_store_up",
            "Whether the store answered the broker's last request (1) or not (0)",
            inner.store_up.clone(),
        );

        for category in Category::ALL {
            for status in Status::ALL {
                let _ = inner.alerts_received.get_or_create(&[
                    ("category", category.code().to_owned()),
                    ("status", status.code().to_owned()),
                ]);
            }
        }
        for kind in Kind::ALL {
            let _ = inner
                .messages_received
                .get_or_create(&[("kind", kind.code().to_owned())]);
        }
        for reason in Reason::ALL {
            let _ = inner
                .refused
                .get_or_create(&[("reason", reason.code().to_owned())]);
        }
        for worker in Worker::ALL {
            let _ = inner
                .worker_restarts
                .get_or_create(&[("worker", worker.code().to_owned())]);
        }
        for why in ["repeat", "over_budget"] {
            let _ = inner
                .error_replies_withheld
                .get_or_create(&[("why", why.to_owned())]);
        }
        for result in EmailResult::ALL {
            let _ = inner
                .emails
                .get_or_create(&[("result", result.code().to_owned())]);
        }
        for result in PublishResult::ALL {
            let _ = inner
                .deliveries_published
                .get_or_create(&[("result", result.code().to_owned())]);
        }

        inner.evidence.register(&mut registry);
        inner.lines.register(&mut registry);

        // Families with no series yet (escalation steps, the store gauges before the first
        // snapshot) are left out of the exposition by the encoder until they have one.
        Metrics {
            inner: Arc::new(Inner { registry, ..inner }),
        }
    }

    /// An alert was accepted and committed.
    pub fn alert_received(&self, category: Category, status: Status) {
        self.inner
            .alerts_received
            .get_or_create(&[
                ("category", category.code().to_owned()),
                ("status", status.code().to_owned()),
            ])
            .inc();
    }

    /// A message of any kind was accepted and committed.
    pub fn message_received(&self, kind: Kind) {
        self.inner
            .messages_received
            .get_or_create(&[("kind", kind.code().to_owned())])
            .inc();
    }

    /// An input message was refused.
    pub fn refused(&self, reason: Reason) {
        self.inner
            .refused
            .get_or_create(&[("reason", reason.code().to_owned())])
            .inc();
    }

    /// An escalation step was carried out. `action` is the step's code (`redeliver`, `email`,
    /// `add_recipient`, `page_ops`); never put an id or a name in it.
    pub fn escalation_step(&self, action: &str, status: Status) {
        self.inner
            .escalation_steps
            .get_or_create(&[
                ("action", action.to_owned()),
                ("status", status.code().to_owned()),
            ])
            .inc();
    }

    /// An email notice was sent or finally failed.
    pub fn email(&self, result: EmailResult) {
        self.inner
            .emails
            .get_or_create(&[("result", result.code().to_owned())])
            .inc();
    }

    /// The AMQP connection was re-established after a loss.
    pub fn amqp_reconnected(&self) {
        self.inner.amqp_reconnects.inc();
    }

    /// `worker` died and is being restarted.
    pub fn worker_restarted(&self, worker: Worker) {
        self.inner
            .worker_restarts
            .get_or_create(&[("worker", worker.code().to_owned())])
            .inc();
    }

    /// A refusal was not answered: `why` is `repeat` or `over_budget`.
    pub fn error_reply_withheld(&self, why: &'static str) {
        self.inner
            .error_replies_withheld
            .get_or_create(&[("why", why.to_owned())])
            .inc();
    }

    /// An alert matched only the routing table's default recipient.
    pub fn unrouted_alert(&self) {
        self.inner.unrouted_alerts.inc();
    }

    /// What retention and the audit checkpoints report (see [`evidence::Evidence`]).
    pub fn evidence(&self) -> &evidence::Evidence {
        &self.inner.evidence
    }

    /// RabbitMQ answered a delivery publish.
    pub fn delivery_published(&self, result: PublishResult) {
        self.inner
            .deliveries_published
            .get_or_create(&[("result", result.code().to_owned())])
            .inc();
    }

    /// Time from an alert's acceptance to `recipient`'s receipt.
    pub fn observe_time_to_receipt(&self, recipient: &ParticipantId, elapsed: Duration) {
        let labels = [("recipient", recipient.as_str().to_owned())];
        let h = self.inner.time_to_receipt.get_or_create(&labels);
        h.observe(elapsed.as_secs_f64());
    }

    /// Time from an alert's acceptance to an acknowledgement by an officer of `recipient`.
    pub fn observe_time_to_ack(&self, recipient: &ParticipantId, elapsed: Duration) {
        let labels = [("recipient", recipient.as_str().to_owned())];
        self.inner
            .time_to_ack
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// How long a store transaction took.
    pub fn observe_store_commit(&self, elapsed: Duration) {
        self.inner.store_commit.observe(elapsed.as_secs_f64());
    }

    /// Whether the broker is ready and its store reachable, as the ops server last saw them.
    pub fn set_readiness(&self, ready: bool, store_up: bool) {
        self.inner.ready.set(i64::from(ready));
        self.inner.store_up.set(i64::from(store_up));
    }

    /// Whether the AMQP connection is up.
    pub fn set_amqp_connected(&self, connected: bool) {
        self.inner.amqp_connected.set(i64::from(connected));
    }

    /// The metric families as structures (Prometheus's data model), for other text formats.
    pub fn families(&self) -> Vec<model::MetricFamily> {
        let _guard = self
            .inner
            .snapshot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        prometheus_client::encoding::prometheus_protobuf::encode(&self.inner.registry)
            .unwrap_or_else(|e| {
                // Encoding into structures cannot fail; an error here is a metric encoder's bug.
                tracing::error!(error = %e, "encoding metrics failed");
                Vec::new()
            })
    }

    /// The metrics in the OpenMetrics text format (serve with [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let _guard = self
            .inner
            .snapshot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.inner.registry) {
            // Writing to a String cannot fail; an error here is a bug in a metric's encoder.
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use varsel_protocol::message::DeliveryState;

    /// One sample line parsed back: name, labels and value.
    #[derive(Debug, Clone, PartialEq)]
    struct Sample {
        name: String,
        labels: BTreeMap<String, String>,
        value: f64,
    }

    /// A strict parser for the sample lines of the text format, including escaped label values.
    fn parse(text: &str) -> Vec<Sample> {
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let name_end = line
                .find(['{', ' '])
                .unwrap_or_else(|| panic!("no value in {line:?}"));
            let name = line[..name_end].to_owned();
            let mut labels = BTreeMap::new();
            let mut rest = &line[name_end..];
            if let Some(inner) = rest.strip_prefix('{') {
                let mut chars = inner.char_indices();
                let mut key = String::new();
                let mut value = String::new();
                let mut in_value = false;
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    if in_value {
                        match c {
                            '\\' => match chars.next() {
                                Some((_, 'n')) => value.push('\n'),
                                Some((_, '\\')) => value.push('\\'),
                                Some((_, '"')) => value.push('"'),
                                other => panic!("bad escape {other:?} in {line:?}"),
                            },
                            '"' => {
                                labels.insert(std::mem::take(&mut key), std::mem::take(&mut value));
                                in_value = false;
                            }
                            c => value.push(c),
                        }
                    } else {
                        match c {
                            '=' => {
                                assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line:?}");
                                in_value = true;
                            }
                            ',' => {}
                            '}' => {
                                end = Some(i);
                                break;
                            }
                            c => key.push(c),
                        }
                    }
                }
                let end = end.unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
                rest = &inner[end + 1..];
            }
            let value_text = rest.trim();
            let value = match value_text {
                "+Inf" => f64::INFINITY,
                v => v
                    .parse::<f64>()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            samples.push(Sample {
                name,
                labels,
                value,
            });
        }
        samples
    }

    fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let found: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.name == name && s.labels == want)
            .collect();
        assert!(found.len() <= 1, "duplicate series {name} {labels:?}");
        found.first().map(|s| s.value)
    }

    fn count_series(samples: &[Sample], name: &str) -> usize {
        samples.iter().filter(|s| s.name == name).count()
    }

    #[test]
    fn every_family_has_help_and_type() {
        let m = Metrics::new();
        // Families without any series are left out of the exposition, so give each one.
        m.escalation_step("page_ops", Status::Actual);
        m.set_store_stats(&stats());
        let polisen: ParticipantId = "polisen".parse().unwrap();
        m.observe_time_to_receipt(&polisen, Duration::from_secs(1));
        m.observe_time_to_ack(&polisen, Duration::from_secs(1));
        let text = m.render();
        for (family, kind) in [
            ("varsel_alerts_received", "counter"),
            ("varsel_messages_received", "counter"),
            ("varsel_refused", "counter"),
            ("varsel_escalation_steps", "counter"),
            ("varsel_emails", "counter"),
            ("varsel_amqp_reconnects", "counter"),
            ("varsel_unrouted_alerts", "counter"),
            ("varsel_deliveries_published", "counter"),
            ("varsel_time_to_receipt_seconds", "histogram"),
            ("varsel_time_to_ack_seconds", "histogram"),
            ("varsel_store_commit_seconds", "histogram"),
            ("varsel_alerts", "gauge"),
            ("varsel_deliveries", "gauge"),
            ("varsel_overdue_deliveries", "gauge"),
            ("varsel_outbox_depth", "gauge"),
            ("varsel_outbox_oldest_seconds", "gauge"),
            ("varsel_timers_pending", "gauge"),
            ("varsel_amqp_connected", "gauge"),
            ("varsel_ops_pages", "gauge"),
            ("varsel_ready", "gauge"),
            ("varsel_store_up", "gauge"),
        ] {
            assert!(
                text.contains(&format!("\n# HELP {family} "))
                    || text.starts_with(&format!("# HELP {family} ")),
                "HELP for {family} missing"
            );
            assert!(
                text.contains(&format!("# TYPE {family} {kind}\n")),
                "TYPE {kind} for {family} missing"
            );
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn known_counters_start_at_zero() {
        let samples = parse(&Metrics::new().render());
        assert_eq!(
            count_series(&samples, "varsel_refused_total"),
            Reason::ALL.len()
        );
        assert_eq!(
            value(
                &samples,
                "varsel_refused_total",
                &[("reason", "bad_signature")]
            ),
            Some(0.0)
        );
        assert_eq!(
            count_series(&samples, "varsel_alerts_received_total"),
            Category::ALL.len() * Status::ALL.len()
        );
        assert_eq!(
            value(&samples, "varsel_amqp_reconnects_total", &[]),
            Some(0.0)
        );
    }

    #[test]
    fn counters_increment_by_label() {
        let m = Metrics::new();
        let clone = m.clone();
        m.alert_received(Category::DepartureImminent, Status::Actual);
        clone.alert_received(Category::DepartureImminent, Status::Actual);
        m.alert_received(Category::SuspectedAbroad, Status::Exercise);
        m.message_received(Kind::Alert);
        m.message_received(Kind::Receipt);
        m.message_received(Kind::Receipt);
        m.refused(Reason::Stale);
        m.escalation_step("page_ops", Status::Actual);
        m.email(EmailResult::Sent);
        m.email(EmailResult::Failed);
        m.email(EmailResult::Sent);
        m.amqp_reconnected();
        m.unrouted_alert();
        m.unrouted_alert();
        m.delivery_published(PublishResult::Returned);

        let s = parse(&m.render());
        let received = "varsel_alerts_received_total";
        assert_eq!(
            value(
                &s,
                received,
                &[("category", "departure_imminent"), ("status", "actual")]
            ),
            Some(2.0)
        );
        assert_eq!(
            value(
                &s,
                received,
                &[("category", "suspected_abroad"), ("status", "exercise")]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &s,
                received,
                &[("category", "suspected_abroad"), ("status", "actual")]
            ),
            Some(0.0)
        );
        assert_eq!(
            value(&s, "varsel_messages_received_total", &[("kind", "receipt")]),
            Some(2.0)
        );
        assert_eq!(
            value(&s, "varsel_messages_received_total", &[("kind", "alert")]),
            Some(1.0)
        );
        assert_eq!(
            value(&s, "varsel_refused_total", &[("reason", "stale")]),
            Some(1.0)
        );
        assert_eq!(
            value(
                &s,
                "varsel_escalation_steps_total",
                &[("action", "page_ops"), ("status", "actual")]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(&s, "varsel_emails_total", &[("result", "sent")]),
            Some(2.0)
        );
        assert_eq!(
            value(&s, "varsel_emails_total", &[("result", "failed")]),
            Some(1.0)
        );
        assert_eq!(value(&s, "varsel_amqp_reconnects_total", &[]), Some(1.0));
        assert_eq!(value(&s, "varsel_unrouted_alerts_total", &[]), Some(2.0));
        assert_eq!(
            value(
                &s,
                "varsel_deliveries_published_total",
                &[("result", "returned")]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &s,
                "varsel_deliveries_published_total",
                &[("result", "confirmed")]
            ),
            Some(0.0)
        );
    }

    #[test]
    fn histograms_count_into_cumulative_buckets() {
        let m = Metrics::new();
        let polisen: ParticipantId = "polisen".parse().unwrap();
        let social: ParticipantId = "norrkoping-socialtjansten".parse().unwrap();
        m.observe_time_to_receipt(&polisen, Duration::from_secs(3));
        m.observe_time_to_receipt(&polisen, Duration::from_secs(45));
        m.observe_time_to_receipt(&polisen, Duration::from_secs(4000));
        m.observe_time_to_receipt(&social, Duration::from_secs(4));
        m.observe_time_to_ack(&polisen, Duration::from_secs(200_000));
        m.observe_store_commit(Duration::from_micros(1500));

        let s = parse(&m.render());
        let bucket = "varsel_time_to_receipt_seconds_bucket";
        let le = |le| [("recipient", "polisen"), ("le", le)];
        assert_eq!(value(&s, bucket, &le("1.0")), Some(0.0));
        assert_eq!(value(&s, bucket, &le("5.0")), Some(1.0));
        assert_eq!(value(&s, bucket, &le("60.0")), Some(2.0));
        assert_eq!(value(&s, bucket, &le("3600.0")), Some(2.0));
        assert_eq!(value(&s, bucket, &le("7200.0")), Some(3.0));
        assert_eq!(value(&s, bucket, &le("+Inf")), Some(3.0));
        let polisen_only = [("recipient", "polisen")];
        let count = "varsel_time_to_receipt_seconds_count";
        assert_eq!(value(&s, count, &polisen_only), Some(3.0));
        let sum = "varsel_time_to_receipt_seconds_sum";
        assert_eq!(value(&s, sum, &polisen_only), Some(4048.0));
        // Each recipient has a histogram of its own.
        let social_only = [("recipient", "norrkoping-socialtjansten")];
        assert_eq!(value(&s, count, &social_only), Some(1.0));
        // Longer than a day still lands in +Inf.
        let ack = "varsel_time_to_ack_seconds_bucket";
        assert_eq!(value(&s, ack, &le("86400.0")), Some(0.0));
        assert_eq!(value(&s, ack, &le("+Inf")), Some(1.0));
        let commit = "varsel_store_commit_seconds_bucket";
        assert_eq!(value(&s, commit, &[("le", "0.001")]), Some(0.0));
        assert_eq!(value(&s, commit, &[("le", "0.0025")]), Some(1.0));
    }

    fn stats() -> StoreStats {
        StoreStats {
            alerts: vec![
                AlertCount {
                    state: "open".to_owned(),
                    category: Category::DepartureImminent,
                    status: Status::Actual,
                    count: 3,
                },
                AlertCount {
                    state: "escalated".to_owned(),
                    category: Category::DepartureImminent,
                    status: Status::Actual,
                    count: 1,
                },
            ],
            deliveries: vec![
                DeliveryCount {
                    recipient: "norrkoping-socialtjansten".parse().unwrap(),
                    state: DeliveryState::Sent,
                    count: 2,
                },
                DeliveryCount {
                    recipient: "polisen".parse().unwrap(),
                    state: DeliveryState::Acknowledged,
                    count: 1,
                },
            ],
            overdue_deliveries: 1,
            outbox_depth: 4,
            outbox_oldest: Duration::from_millis(2500),
            timers_pending: 7,
            ops_pages: 1,
        }
    }

    #[test]
    fn store_stats_set_the_gauges() {
        let m = Metrics::new();
        m.set_store_stats(&stats());
        m.set_amqp_connected(true);

        let s = parse(&m.render());
        let alerts = "varsel_alerts";
        assert_eq!(
            value(
                &s,
                alerts,
                &[
                    ("state", "open"),
                    ("category", "departure_imminent"),
                    ("status", "actual")
                ]
            ),
            Some(3.0)
        );
        assert_eq!(
            value(
                &s,
                "varsel_deliveries",
                &[("recipient", "polisen"), ("state", "acknowledged")]
            ),
            Some(1.0)
        );
        assert_eq!(value(&s, "varsel_overdue_deliveries", &[]), Some(1.0));
        assert_eq!(value(&s, "varsel_outbox_depth", &[]), Some(4.0));
        assert_eq!(value(&s, "varsel_outbox_oldest_seconds", &[]), Some(2.5));
        assert_eq!(value(&s, "varsel_timers_pending", &[]), Some(7.0));
        assert_eq!(value(&s, "varsel_ops_pages", &[]), Some(1.0));
        assert_eq!(value(&s, "varsel_amqp_connected", &[]), Some(1.0));
        m.set_amqp_connected(false);
        assert_eq!(
            value(&parse(&m.render()), "varsel_amqp_connected", &[]),
            Some(0.0)
        );
    }

    #[test]
    fn a_new_snapshot_replaces_the_old_label_sets() {
        let m = Metrics::new();
        m.set_store_stats(&stats());
        let mut next = stats();
        // Every escalated alert was acknowledged, and police have nothing left.
        next.alerts.retain(|a| a.state != "escalated");
        next.alerts[0].count = 5;
        next.deliveries
            .retain(|d| d.recipient.as_str() != "polisen");
        next.outbox_depth = 0;
        next.outbox_oldest = Duration::ZERO;
        m.set_store_stats(&next);

        let s = parse(&m.render());
        assert_eq!(count_series(&s, "varsel_alerts"), 1);
        assert_eq!(
            value(
                &s,
                "varsel_alerts",
                &[
                    ("state", "open"),
                    ("category", "departure_imminent"),
                    ("status", "actual")
                ]
            ),
            Some(5.0)
        );
        assert_eq!(count_series(&s, "varsel_deliveries"), 1);
        assert_eq!(
            value(
                &s,
                "varsel_deliveries",
                &[("recipient", "polisen"), ("state", "acknowledged")]
            ),
            None
        );
        assert_eq!(value(&s, "varsel_outbox_depth", &[]), Some(0.0));
        assert_eq!(value(&s, "varsel_outbox_oldest_seconds", &[]), Some(0.0));
    }

    #[test]
    fn repeated_label_sets_in_a_snapshot_add_up() {
        let m = Metrics::new();
        let mut st = stats();
        st.deliveries.push(st.deliveries[0].clone());
        m.set_store_stats(&st);
        let s = parse(&m.render());
        assert_eq!(
            value(
                &s,
                "varsel_deliveries",
                &[
                    ("recipient", "norrkoping-socialtjansten"),
                    ("state", "sent")
                ]
            ),
            Some(4.0)
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        let awkward = "a \"quoted\" back\\slash\nnewline";
        m.escalation_step(awkward, Status::Test);
        let text = m.render();
        assert!(
            text.contains(r#"action="a \"quoted\" back\\slash\nnewline""#),
            "{text}"
        );
        // Every sample stays on one line and parses back to the original value.
        let s = parse(&text);
        assert_eq!(
            value(
                &s,
                "varsel_escalation_steps_total",
                &[("action", awkward), ("status", "test")]
            ),
            Some(1.0)
        );
    }
}
