//! Starts a real broker for a test: a RabbitMQ virtual host of the test's own on the local
//! RabbitMQ (created with rabbitmqctl, deleted afterwards), a temporary directory with the demo's
//! keys, registry and routing table (the files in `deploy/`), an SQLite store, and the broker
//! running in-process on a clock the test controls.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Days, TimeZone, Utc};

use varsel_broker::config::Config;
use varsel_broker::daemon::{self, Running};
use varsel_broker::store::Store;
use varsel_participant::client::{Client, Item};
use varsel_transport::clock::Clock;
use varsel_transport::shutdown::Signals;

// Where they lived first; tests name them from here.
pub use crate::rabbitmq::Vhost;
pub use crate::wait::until as wait_until;

/// The heartbeat interval of [`Harness::restart_with_heartbeats`].
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// The heartbeat grace of [`Harness::restart_with_heartbeats`].
pub const HEARTBEAT_GRACE: Duration = Duration::from_secs(2 * 60);

/// A running broker with its world, for one test.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub vhost: Vhost,
    pub config: Config,
    pub clock: Clock,
    pub broker: Option<Running>,
    pub signals: Signals,
}

impl Harness {
    /// Writes the world and starts the broker on `clock`. `edit` may change the configuration
    /// text before it is read (e.g. to add an SMTP server).
    pub async fn start_with(name: &str, clock: Clock, smtp_port: Option<u16>) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let vhost = Vhost::create(name);
        crate::world::write_world(dir.path()).unwrap();
        let config =
            crate::world::broker_config(dir.path(), &vhost.url(), 1, smtp_port, "127.0.0.1:0")
                .unwrap();
        let mut h = Harness {
            dir,
            vhost,
            config,
            clock,
            broker: None,
            signals: Signals::new(),
        };
        h.start_broker().await;
        h
    }

    pub async fn start(name: &str) -> Harness {
        Harness::start_with(name, Clock::system(), None).await
    }

    /// (Re)starts the in-process broker and waits until it consumes.
    pub async fn start_broker(&mut self) {
        self.signals = Signals::new();
        let running = daemon::start(
            self.config.clone(),
            self.signals.clone(),
            self.clock.clone(),
            None,
        )
        .await
        .expect("broker starts");
        let shared = running.shared.clone();
        wait_until(Duration::from_secs(30), "the broker to consume", || {
            let s = shared.clone();
            async move { s.amqp_ready() }
        })
        .await;
        self.broker = Some(running);
    }

    /// Restarts the broker with heartbeats on: every 15 minutes (and at start), 2 minutes' grace,
    /// ops paged after two misses in a row, looked for every 100 ms.
    pub async fn restart_with_heartbeats(&mut self) {
        self.stop_broker().await;
        self.config.heartbeat = Some(varsel_broker::config::Heartbeat {
            interval: HEARTBEAT_INTERVAL,
            grace: HEARTBEAT_GRACE,
            page_after: 2,
            poll: Duration::from_millis(100),
        });
        self.start_broker().await;
    }

    pub async fn stop_broker(&mut self) {
        if let Some(b) = self.broker.take() {
            b.stop().await;
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn store(&self) -> Store {
        self.broker
            .as_ref()
            .expect("broker running")
            .shared
            .store()
            .clone()
    }

    /// The participant client of one demo participant, on the harness clock.
    pub fn client(&self, id: &str) -> Client {
        let cfg = crate::world::client_config(self.dir.path(), id, &self.vhost.url()).unwrap();
        let mut c = Client::load(cfg).unwrap();
        c.clock = self.clock.clone();
        c
    }

    pub fn example(&self, name: &str) -> varsel_protocol::alert::Document {
        let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .join("deploy/examples")
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// Makes real data: an alert from a school, socialtjänsten's receipt and ack, and a forged
    /// message (refused); returns the alert's id once the store shows them.
    pub async fn traffic(&self) -> uuid::Uuid {
        let school = self.client("norrkoping-ektorpsskolan");
        let alert = school.send(&self.example("alert.json")).await.unwrap();
        let social = self.client("norrkoping-socialtjansten");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let delivery = loop {
            let got = drain(&social)
                .await
                .into_iter()
                .find_map(|item| match item {
                    Item::Delivery(d) => Some(d.delivery),
                    _ => None,
                });
            if let Some(d) = got {
                break d;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "socialtjänsten got no delivery within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        social
            .ack(
                delivery,
                "Handläggare Ett",
                varsel_protocol::message::Outcome::CaseOpened,
            )
            .await
            .unwrap();
        let (payload, compact) = school
            .seal(&self.example("alert.json"), self.clock.now())
            .unwrap();
        // One character of the signature changed.
        let mut forged = compact.into_bytes();
        let i = forged.len() - 10;
        forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        let (conn, publisher) = school.connect().await.unwrap();
        school.publish(&publisher, &payload, &forged).await.unwrap();
        let _ = conn.close(200, "sent".into()).await;
        let store = self.store();
        crate::wait::until(
            Duration::from_secs(60),
            "the ack and the refusal stored",
            || {
                let store = store.clone();
                async move {
                    let acked = store
                        .deliveries_of(alert)
                        .await
                        .unwrap()
                        .iter()
                        .any(|d| d.acked_at.is_some());
                    let refused = store
                        .audit_entries(None)
                        .await
                        .unwrap()
                        .iter()
                        .any(|e| e.action == "message_refused");
                    acked && refused
                }
            },
        )
        .await;
        alert
    }

    pub async fn stop(mut self) {
        self.stop_broker().await;
    }
}

/// Reads everything now in a participant's inbox (receipts go back automatically).
pub async fn drain(c: &Client) -> Vec<Item> {
    let mut items = Vec::new();
    c.inbox(false, &Signals::new(), |i| items.push(i.clone()))
        .await
        .expect("inbox readable");
    items
}

/// A weekday morning (09:00 UTC, 10:00 or 11:00 in Stockholm) when socialtjänsten is open, at
/// least a day from now so the demo keys (valid from a few minutes ago) are valid.
pub fn office_morning() -> DateTime<Utc> {
    let hours: varsel_protocol::calendar::OfficeHours = "mon-fri 07:30-16:30".parse().unwrap();
    let mut day = Utc::now().date_naive() + Days::new(1);
    loop {
        let t = Utc.from_utc_datetime(&day.and_hms_opt(9, 0, 0).unwrap());
        if hours.is_open(t) && hours.is_open(t + chrono::Duration::hours(6)) {
            return t;
        }
        day = day + Days::new(1);
    }
}
