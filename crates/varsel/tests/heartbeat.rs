//! Heartbeats end to end, on the real RabbitMQ and a real SMTP sink: the broker checks every
//! agency's line on a manual clock the test moves; a running `varsel inbox` keeps its line up and
//! shows nobody anything; a stopped one is down within one interval plus the grace in `/metrics`
//! and `/api/health`, ops are paged once, and told when the client runs again. Heartbeats count
//! as no alert and no message received. Two brokers on one PostgreSQL send one heartbeat per
//! interval between them, and one goes on alone when the other stops.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use varsel::status::fetch;
use varsel_broker::store::{LineRow, LineState, Store};
use varsel_participant::client::Item;
use varsel_protocol::message::Kind;
use varsel_testkit::fleet::{admin_pg, Database};
use varsel_testkit::harness::{
    drain, office_morning, wait_until, Harness, HEARTBEAT_GRACE, HEARTBEAT_INTERVAL,
};
use varsel_testkit::http::sample;
use varsel_testkit::smtp::{Received, SmtpSink};
use varsel_transport::clock::Clock;
use varsel_transport::shutdown::Signals;

const TOKEN: &str = "demo-token-0123456789";
const SOCIAL: &str = "norrkoping-socialtjansten";
const POLICE: &str = "polisen-region-ost";
const JOUR: &str = "norrkoping-socialjouren";
const INTERVAL: Duration = HEARTBEAT_INTERVAL;
const GRACE: Duration = HEARTBEAT_GRACE;
const WAIT: Duration = Duration::from_secs(30);

async fn line(store: &Store, id: &str) -> LineRow {
    let p = id.parse().expect("participant id");
    let line = store.line(&p).await.expect("lines readable");
    line.unwrap_or_else(|| panic!("no line for {id}"))
}

/// Waits until `id`'s line satisfies `check`; returns it.
async fn line_until(
    store: &Store,
    id: &str,
    what: &str,
    check: impl Fn(&LineRow) -> bool,
) -> LineRow {
    let check = &check;
    wait_until(WAIT, &format!("{id}: {what}"), || async move {
        check(&line(store, id).await)
    })
    .await;
    line(store, id).await
}

async fn get(base: &str, path: &str) -> String {
    let (status, body) = fetch(base, path, Some(TOKEN)).await.expect("ops answers");
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// The line state `/api/health` gives for `id`.
async fn health_state(base: &str, id: &str) -> String {
    let health: serde_json::Value = serde_json::from_str(&get(base, "/api/health").await).unwrap();
    let lines = health["lines"].as_array().expect("lines in /api/health");
    lines
        .iter()
        .find(|l| l["participant"] == id)
        .and_then(|l| l["state"].as_str())
        .unwrap_or_else(|| panic!("{id} not in {health}"))
        .to_owned()
}

/// Waits until `/metrics` says `varsel_line_up{participant=id}` is `up`.
async fn metric_until(base: &str, id: &str, up: f64) {
    wait_until(
        WAIT,
        &format!("varsel_line_up {id} = {up}"),
        || async move {
            let text = get(base, "/metrics").await;
            sample(&text, "varsel_line_up", &[("participant", id)]) == Some(up)
        },
    )
    .await;
}

fn pages(sink: &SmtpSink, about: &str, headline: &str) -> Vec<Received> {
    sink.messages()
        .into_iter()
        .filter(|m| m.subject().contains(headline) && m.decoded().contains(about))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_client_is_a_down_line_paged_once_and_up_again_when_it_runs() {
    let sink = SmtpSink::start().await;
    let h = with_heartbeats("heartbeat", Some(sink.port())).await;
    let store = h.store();
    let base = format!("http://{}", h.broker.as_ref().unwrap().ops_addr.unwrap());

    // Socialtjänsten's client runs; nothing it receives is shown.
    let shown: Arc<Mutex<Vec<Item>>> = Arc::default();
    let client_signals = Signals::new();
    let client = {
        let (social, shown, signals) = (h.client(SOCIAL), shown.clone(), client_signals.clone());
        tokio::spawn(async move {
            social
                .inbox(true, &signals, |i| shown.lock().unwrap().push(i.clone()))
                .await
        })
    };
    // The first heartbeats go when the broker starts.
    let social = line_until(&store, SOCIAL, "up", |l| l.state == LineState::Up).await;
    assert_eq!(social.receipts, 1);
    let t0 = social.sent_at.expect("sent");

    // The police run no client: down once the grace has passed.
    h.clock
        .advance(chrono::Duration::from_std(GRACE + Duration::from_secs(1)).unwrap());
    line_until(&store, POLICE, "down", |l| l.state == LineState::Down).await;
    metric_until(&base, POLICE, 0.0).await;
    metric_until(&base, SOCIAL, 1.0).await;
    assert_eq!(health_state(&base, SOCIAL).await, "up");
    assert_eq!(health_state(&base, POLICE).await, "down");

    // The next interval: socialtjänsten answers again.
    h.clock
        .set(t0 + chrono::Duration::from_std(INTERVAL).unwrap());
    line_until(&store, SOCIAL, "second receipt", |l| l.receipts == 2).await;

    // Socialtjänsten's client stops. Within one interval plus the grace its line is down.
    client_signals.stop();
    let ended = tokio::time::timeout(WAIT, client)
        .await
        .expect("client stops");
    ended.expect("client task").expect("client ran cleanly");
    let stopped_at = h.clock.now();
    for k in 2..=4 {
        // Heartbeat k goes out at t0 + k intervals, and is not answered within the grace.
        let sent = t0 + chrono::Duration::from_std(INTERVAL * k).unwrap();
        h.clock.set(sent);
        line_until(&store, SOCIAL, "heartbeat sent", |l| {
            l.sent_at == Some(sent)
        })
        .await;
        h.clock
            .set(sent + chrono::Duration::from_std(GRACE).unwrap());
        let misses = u64::from(k - 1);
        let down = line_until(&store, SOCIAL, "a miss", |l| l.misses == misses).await;
        assert_eq!(down.state, LineState::Down);
        match misses {
            1 => {
                let within = chrono::Duration::from_std(INTERVAL + GRACE).unwrap();
                assert!(down.down_since.unwrap() - stopped_at <= within, "{down:?}");
                metric_until(&base, SOCIAL, 0.0).await;
                assert_eq!(health_state(&base, SOCIAL).await, "down");
                assert!(!down.paged, "paged after one miss: {down:?}");
            }
            // The second miss in a row pages ops.
            2 => {
                wait_until(WAIT, "ops paged about socialtjänsten", || async {
                    !pages(&sink, SOCIAL, "linje svarar inte").is_empty()
                })
                .await;
            }
            // A third does not page again.
            _ => assert!(down.paged),
        }
    }
    let down_audits = store
        .audit_entries(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "line_down" && e.detail.to_string().contains(SOCIAL))
        .count();
    assert_eq!(down_audits, 1);

    // The client runs again: it answers every heartbeat waiting in its inbox, earlier ones too,
    // shows none of them, and the line is up; ops are told.
    let items = drain(&h.client(SOCIAL)).await;
    assert!(items.is_empty(), "shown: {items:?}");
    line_until(&store, SOCIAL, "up again", |l| l.state == LineState::Up).await;
    metric_until(&base, SOCIAL, 1.0).await;
    wait_until(WAIT, "ops told the line is back", || async {
        pages(&sink, SOCIAL, "linje svarar igen").len() == 1
    })
    .await;
    assert_eq!(pages(&sink, SOCIAL, "linje svarar inte").len(), 1);
    // The earlier heartbeats' receipts were taken without a refusal: no error reply comes back.
    let later = drain(&h.client(SOCIAL)).await;
    assert!(later.is_empty(), "{later:?}");
    assert!(
        shown.lock().unwrap().is_empty(),
        "{:?}",
        shown.lock().unwrap()
    );

    // Heartbeats are no alerts: not in the API, not in the alert or message statistics.
    assert_eq!(get(&base, "/api/alerts").await.trim(), "[]");
    let text = get(&base, "/metrics").await;
    let received: f64 = text
        .lines()
        .filter(|l| l.starts_with("varsel_alerts_received_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert_eq!(received, 0.0, "{text}");
    let receipts = sample(
        &text,
        "varsel_messages_received_total",
        &[("kind", "receipt")],
    );
    assert_eq!(receipts, Some(0.0), "{text}");
    let applied = sample(&text, "varsel_heartbeat_receipts_total", &[]).unwrap_or_default();
    assert!(applied >= 3.0, "{text}");
    assert!(
        sample(
            &text,
            "varsel_line_last_receipt_age_seconds",
            &[("participant", SOCIAL)]
        )
        .is_some(),
        "{text}"
    );
    h.stop().await;
}

/// The harness broker with heartbeats on, on a manual clock in office hours.
async fn with_heartbeats(name: &str, smtp_port: Option<u16>) -> Harness {
    let mut h = Harness::start_with(name, Clock::manual(office_morning()), smtp_port).await;
    h.restart_with_heartbeats().await;
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_for_a_down_line_goes_to_its_fallback_too_and_is_audited() {
    let h = with_heartbeats("heartbeat-fallback", None).await;
    let store = h.store();
    // No agency client runs: past the grace every line is down.
    line_until(&store, SOCIAL, "first heartbeat sent", |l| {
        l.sent_at.is_some()
    })
    .await;
    h.clock
        .advance(chrono::Duration::from_std(GRACE + Duration::from_secs(1)).unwrap());
    line_until(&store, SOCIAL, "down", |l| l.state == LineState::Down).await;

    // In office hours socialjouren is no recipient of this alert, but socialtjänsten's line is
    // down and the example routing table names socialjouren as its fallback.
    let alert = h
        .client("norrkoping-ektorpsskolan")
        .send(&h.example("alert.json"))
        .await
        .expect("alert sent");
    wait_until(WAIT, "the alert's deliveries", || {
        let store = store.clone();
        async move { !store.deliveries_of(alert).await.unwrap().is_empty() }
    })
    .await;
    let deliveries = store.deliveries_of(alert).await.unwrap();
    let to = |id: &str| deliveries.iter().find(|d| d.recipient.as_str() == id);
    let social = to(SOCIAL).expect("socialtjänsten keeps its delivery");
    let jour = to(JOUR).expect("socialjouren gets the alert too");
    assert_eq!((jour.role, &jour.sections), (social.role, &social.sections));
    let audit = store.audit_entries(Some(alert)).await.unwrap();
    let fallbacks: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "line_down_fallback")
        .map(|e| e.detail.clone())
        .collect();
    assert_eq!(
        fallbacks,
        [serde_json::json!({ "line": SOCIAL, "fallback": JOUR })],
        "{audit:?}"
    );
    // Socialjouren's client opens it like any delivery (and answers the heartbeats waiting).
    let items = drain(&h.client(JOUR)).await;
    assert!(
        items
            .iter()
            .any(|i| matches!(i, Item::Delivery(d) if d.alert == alert)),
        "{items:?}"
    );
    h.stop().await;
}

/// Heartbeats to socialtjänsten's inbox that were enqueued at `at` (the manual clock stands
/// still between the test's moves, so a round's sends all carry the instant it was set to).
async fn heartbeats_at(store: &Store, at: chrono::DateTime<chrono::Utc>) -> usize {
    store
        .outbox_without_alert()
        .await
        .expect("outbox readable")
        .iter()
        .filter(|r| r.destination == format!("inbox.{SOCIAL}") && r.created_at == at)
        .filter(|r| r.message.is_some_and(|m| m.kind == Kind::Heartbeat))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_brokers_on_postgres_send_one_heartbeat_per_interval_and_one_alone_goes_on() {
    let db = Database::create(&admin_pg()).await;
    let mut h = Harness::start_with("heartbeat-pg", Clock::manual(office_morning()), None).await;
    h.stop_broker().await;
    h.config.store_url = db.url.clone();
    // Broker a, then broker b on the same store, RabbitMQ virtual host and clock.
    h.restart_with_heartbeats().await;
    let b = varsel_broker::daemon::start(h.config.clone(), Signals::new(), h.clock.clone(), None)
        .await
        .expect("broker b starts");
    wait_until(WAIT, "broker b to consume", || async {
        b.shared.amqp_ready()
    })
    .await;
    let store = h.store();

    let client_signals = Signals::new();
    let client = {
        let (social, signals) = (h.client(SOCIAL), client_signals.clone());
        tokio::spawn(async move { social.inbox(true, &signals, |_| {}).await })
    };
    // Each broker checks the lines when it starts; once both have, the line is up.
    let start = h.clock.now();
    let answered = line_until(&store, SOCIAL, "up", |l| {
        l.state == LineState::Up && l.receipt_due.is_none()
    })
    .await;
    assert!((1..=2).contains(&heartbeats_at(&store, start).await));

    // Three intervals with both brokers running: one heartbeat each, answered once.
    for k in 1..=4u64 {
        if k == 4 {
            // Broker a stops; b goes on alone and no heartbeat is lost.
            let a = h.broker.take().expect("broker a");
            a.stop().await;
        }
        let now = h.clock.now() + chrono::Duration::from_std(INTERVAL).unwrap();
        h.clock.set(now);
        let receipts = answered.receipts + k;
        line_until(&store, SOCIAL, "the interval's heartbeat answered", |l| {
            l.receipts == receipts && l.receipt_due.is_none()
        })
        .await;
        assert_eq!(heartbeats_at(&store, now).await, 1, "interval {k}");
    }
    assert_eq!(line(&store, SOCIAL).await.misses, 0);

    client_signals.stop();
    let ended = tokio::time::timeout(WAIT, client)
        .await
        .expect("client stops");
    ended.expect("client task").expect("client ran cleanly");
    b.stop().await;
    h.stop().await;
    drop(db);
}

/// `varsel routes explain` and `varsel routes check`, as a person runs them.
fn varsel(args: &[&str]) -> std::process::Output {
    varsel_testkit::process::output_within(
        std::process::Command::new(env!("CARGO_BIN_EXE_varsel")).args(args),
        WAIT,
    )
    .expect("varsel runs within 30 s")
}

#[test]
fn routes_explain_names_the_fallback_and_check_refuses_an_unknown_one_by_its_key() {
    let dir = varsel_testkit::temp_dir();
    let registry = varsel_testkit::world::write_world(dir.path()).expect("demo world");
    let table = dir.path().join("routing.toml");
    let header = r#"{"municipality":"0581","category":"suspected_abroad","urgency":"expected","status":"actual"}"#;
    let (table_arg, registry_arg) = (table.to_str().unwrap(), registry.to_str().unwrap());
    let out = varsel(&[
        "routes", "explain", "--table", table_arg, "--header", header,
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "while {SOCIAL}'s line is down (missed heartbeats), {JOUR} gets its alerts too"
        )),
        "{said}"
    );

    let text = std::fs::read_to_string(&table).unwrap().replace(
        &format!("{SOCIAL} = \"{JOUR}\""),
        &format!("{SOCIAL} = \"socialjouren-okand\""),
    );
    std::fs::write(&table, text).unwrap();
    let out = varsel(&["routes", "check", table_arg, "--registry", registry_arg]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{said}");
    assert!(
        said.contains(&format!("line_down.{SOCIAL}")) && said.contains("socialjouren-okand"),
        "{said}"
    );
}
