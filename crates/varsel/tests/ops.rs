//! The ops surface against a real broker: alerts are sent, some acknowledged, one left to go
//! overdue on a manual clock; the JSON API and /metrics must report exactly that, every request
//! without the token gets 401, no response and no log line carries the pupil's personal data, and
//! `varsel audit verify` (the CLI) finds any changed, deleted or reordered audit row.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;
use varsel::status::fetch;
use varsel_broker::ops::http::{AlertView, DeliveryView, RefusalView};
use varsel_participant::client::Item;
use varsel_protocol::message::{Category, Outcome};
use varsel_testkit::harness::{drain, office_morning, wait_until, Harness};
use varsel_testkit::http::{get, sample};
use varsel_transport::clock::Clock;

/// The token `varsel_testkit::world::broker_config` writes.
const TOKEN: &str = "demo-token-0123456789";
const AUTH: (&str, &str) = ("Authorization", "Bearer demo-token-0123456789");
const SCHOOL: &str = "norrkoping-ektorpsskolan";
const SOCIAL: &str = "norrkoping-socialtjansten";
const INFORMED: [&str; 2] = ["forsakringskassan", "skatteverket"];

// ---- log capture: one global subscriber for this test binary -------------------------------

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once) a global JSON subscriber that records every event of every thread, so the
/// broker's tasks, the clients and the HTTP server all log into the buffer.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buf.clone());
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug,varsel=trace"))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        buf
    })
    .clone()
}

fn captured_lines() -> Vec<Value> {
    let bytes = logs().lock().unwrap().clone();
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line not JSON ({e}): {l}")))
        .collect()
}

// ---- helpers ---------------------------------------------------------------------------------

fn base(h: &Harness) -> String {
    format!(
        "http://{}",
        h.broker.as_ref().unwrap().ops_addr.expect("ops server")
    )
}

/// Every body the test fetched, to search for personal data at the end.
#[derive(Default)]
struct Bodies(Mutex<Vec<String>>);

impl Bodies {
    async fn get(&self, base: &str, path: &str) -> String {
        let (status, body) = fetch(base, path, Some(TOKEN)).await.unwrap();
        assert_eq!(status, 200, "GET {path}: {body}");
        self.0.lock().unwrap().push(body.clone());
        body
    }
    async fn json<T: serde::de::DeserializeOwned>(&self, base: &str, path: &str) -> T {
        let body = self.get(base, path).await;
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }
}

/// The personal data in deploy/examples/alert.json: every name, personnummer and phone number.
fn personal_data() -> Vec<String> {
    let text = std::fs::read_to_string(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("deploy/examples/alert.json"),
    )
    .unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut found = Vec::new();
    fn walk(v: &Value, key: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, v)| walk(v, k, out)),
            Value::Array(a) => a.iter().for_each(|v| walk(v, key, out)),
            Value::String(s) if matches!(key, "personnummer" | "phone") => {
                out.push(s.clone());
                // Also without the separator, as a personnummer is often written.
                out.push(s.replace(['-', ' '], ""));
            }
            Value::String(s) if key == "name" && s.contains(' ') => {
                out.push(s.clone());
                out.extend(s.split(' ').map(str::to_owned));
            }
            _ => {}
        }
    }
    walk(&doc["body"]["core"]["pupil"], "", &mut found);
    walk(&doc["body"]["family"], "", &mut found);
    assert!(found.iter().any(|s| s == "Hana Karimi"), "{found:?}");
    assert!(found.iter().any(|s| s == "20110509-2843"), "{found:?}");
    // The school's name is not personal data; the family name covers the parents too.
    found.retain(|s| s.len() >= 4);
    found.sort();
    found.dedup();
    found
}

fn assert_no_personal_data(what: &str, text: &str, pii: &[String]) {
    for p in pii {
        assert!(
            !text.contains(p.as_str()),
            "{what} contains personal data {p:?}"
        );
    }
}

/// Reads a participant's inbox until it has seen `n` deliveries; returns (alert, delivery).
async fn deliveries_for(h: &Harness, id: &str, n: usize) -> Vec<(Uuid, Uuid)> {
    let c = h.client(id);
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while got.len() < n {
        for item in drain(&c).await {
            if let Item::Delivery(d) = item {
                got.push((d.alert, d.delivery));
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} got {} of {n} deliveries",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    got
}

fn varsel(args: &[&str]) -> std::process::Output {
    varsel_testkit::process::output_within(
        Command::new(env!("CARGO_BIN_EXE_varsel"))
            .args(args)
            .env("RUST_LOG", "warn"),
        Duration::from_secs(120),
    )
    .unwrap()
}

// ---- the tests -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_metrics_audit_and_logs_report_exactly_what_happened() {
    let logs = logs();
    let pii = personal_data();
    let start = office_morning();
    let clock = Clock::manual(start);
    let mut h = Harness::start_with("ops", clock.clone(), None).await;
    let url = base(&h);
    let bodies = Bodies::default();

    let mut doc = h.example("alert.json");
    doc.header.category = Category::NotReturnedAfterBreak;
    doc.header.planned_departure = None;
    if let Some(t) = doc.body.travel.as_mut() {
        t.planned_departure = None;
    }
    let school = h.client(SCHOOL);

    // A and B: socialtjänsten receipts both and acks A.
    let a = school.send(&doc).await.unwrap();
    let delivery_a = deliveries_for(&h, SOCIAL, 1).await[0];
    assert_eq!(delivery_a.0, a);
    let delivery_a = delivery_a.1;
    clock.advance(chrono::Duration::seconds(10));
    let b = school.send(&doc).await.unwrap();
    let delivery_b = deliveries_for(&h, SOCIAL, 1).await[0];
    assert_eq!(delivery_b.0, b);
    let delivery_b = delivery_b.1;
    clock.advance(chrono::Duration::seconds(50));
    h.client(SOCIAL)
        .ack(delivery_a, "Handläggare Ett", Outcome::CaseOpened)
        .await
        .unwrap();
    // C: nobody at socialtjänsten reads it.
    clock.advance(chrono::Duration::seconds(60));
    let c_sent_after = clock.now();
    let c = school.send(&doc).await.unwrap();
    for id in INFORMED {
        deliveries_for(&h, id, 3).await;
    }
    let store = h.store();
    wait_until(
        Duration::from_secs(30),
        "A acknowledged and every informed receipt applied",
        || {
            let store = store.clone();
            async move {
                let acked = store
                    .alert(a)
                    .await
                    .unwrap()
                    .is_some_and(|x| x.state.code() == "acknowledged");
                let mut received = 0;
                for al in [a, b, c] {
                    received += store
                        .deliveries_of(al)
                        .await
                        .unwrap()
                        .iter()
                        .filter(|d| d.received_at.is_some())
                        .count();
                }
                // Socialtjänsten received A and B; both informed agencies received all three.
                acked && received == 2 + 6
            }
        },
    )
    .await;

    // A forged message: the signature does not match. Refused, audited, counted.
    {
        let (payload, compact) = school.seal(&doc, clock.now()).unwrap();
        let mut forged = compact.into_bytes();
        let i = forged.len() - 10;
        forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
        let (conn, publisher) = school.connect().await.unwrap();
        school
            .publish(&publisher, &payload, &String::from_utf8(forged).unwrap())
            .await
            .unwrap();
        let _ = conn.close(200, "sent".into()).await;
    }
    wait_until(Duration::from_secs(30), "the refusal to be audited", || {
        let url = url.clone();
        async move {
            let (_, body) = fetch(&url, "/api/refusals", Some(TOKEN)).await.unwrap();
            body != "[]"
        }
    })
    .await;

    // Past C's receipt deadline (30 min in the standard policy), well before its ack deadline.
    clock.advance(chrono::Duration::minutes(35));
    let now = clock.now();
    wait_until(
        Duration::from_secs(30),
        "every timer due by now to fire",
        || {
            let store = store.clone();
            async move {
                for al in [a, b, c] {
                    let timers = store.timers_of(al).await.unwrap();
                    if timers
                        .iter()
                        .any(|t| t.due_at <= now && t.state.code() == "pending")
                    {
                        return false;
                    }
                }
                true
            }
        },
    )
    .await;

    // The overdue list: exactly socialtjänsten's delivery of C.
    let delivery_c = store
        .deliveries_of(c)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.recipient.as_str() == SOCIAL)
        .unwrap()
        .id;
    let overdue: Vec<DeliveryView> = bodies.json(&url, "/api/deliveries?state=overdue").await;
    assert_eq!(
        overdue.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![delivery_c],
        "{overdue:?}"
    );
    assert_eq!(overdue[0].alert, c);
    assert_eq!(overdue[0].state, "sent");
    assert!(overdue[0].receipt_due.unwrap() <= now);

    // Open alerts: B and C, newest first, each recipient's state and deadlines.
    let open: Vec<AlertView> = bodies.json(&url, "/api/alerts?state=open").await;
    assert_eq!(open.iter().map(|x| x.id).collect::<Vec<_>>(), vec![c, b]);
    for alert in &open {
        assert_eq!(alert.state, "open");
        assert_eq!(alert.category, "not_returned_after_break");
        assert_eq!(alert.sender, SCHOOL);
        let states: BTreeMap<&str, (&str, bool)> = alert
            .deliveries
            .iter()
            .map(|d| (d.recipient.as_str(), (d.state.as_str(), d.overdue)))
            .collect();
        let social_state = if alert.id == c {
            ("sent", true)
        } else {
            ("received", false)
        };
        assert_eq!(
            states,
            BTreeMap::from([
                (SOCIAL, social_state),
                (INFORMED[0], ("received", false)),
                (INFORMED[1], ("received", false)),
            ]),
            "alert {}",
            alert.id
        );
        for d in &alert.deliveries {
            assert!(d.receipt_due.is_some() || d.role == "informed");
            assert!(d.created_at <= now);
        }
        let required = alert
            .deliveries
            .iter()
            .find(|d| d.recipient == SOCIAL)
            .unwrap();
        assert_eq!(required.role, "required");
        assert!(required.ack_due.unwrap() > now, "the ack deadline is 4 h");
    }
    // The escalation step taken for C: socialtjänsten's delivery was redelivered at 30 min.
    let c_view = &open[0];
    assert!(
        c_view
            .escalations
            .iter()
            .any(|e| e.ends_with(" escalation_redeliver")),
        "{:?}",
        c_view.escalations
    );

    // Acknowledged: A, with the officer's outcome and timestamps (never the officer's name).
    let acked: Vec<AlertView> = bodies.json(&url, "/api/alerts?state=acknowledged").await;
    assert_eq!(acked.iter().map(|x| x.id).collect::<Vec<_>>(), vec![a]);
    let da = acked[0]
        .deliveries
        .iter()
        .find(|d| d.id == delivery_a)
        .unwrap();
    assert_eq!(da.state, "acknowledged");
    assert_eq!(da.outcome.as_deref(), Some("case_opened"));
    assert!(da.received_at.is_some() && da.acked_at.is_some() && !da.overdue);

    // Filters.
    let all: Vec<AlertView> = bodies
        .json(&url, "/api/alerts?category=not_returned_after_break")
        .await;
    assert_eq!(all.len(), 3);
    let none: Vec<AlertView> = bodies
        .json(&url, "/api/alerts?category=departure_imminent")
        .await;
    assert!(none.is_empty());
    let since: Vec<AlertView> = bodies
        .json(
            &url,
            &format!(
                "/api/alerts?since={}",
                c_sent_after.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ),
        )
        .await;
    assert_eq!(since.iter().map(|x| x.id).collect::<Vec<_>>(), vec![c]);
    let (status, _) = fetch(&url, "/api/alerts?state=nonsense", Some(TOKEN))
        .await
        .unwrap();
    assert_eq!(status, 400);

    // One alert with its timeline from the audit log.
    let one: Value = bodies.json(&url, &format!("/api/alerts/{b}")).await;
    assert_eq!(one["id"], b.to_string());
    let actions: Vec<&str> = one["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"delivery_received"), "{actions:?}");
    assert!(
        one["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["delivery"] == delivery_b.to_string()),
        "the timeline names the delivery"
    );
    let (status, _) = fetch(
        &url,
        &format!("/api/alerts/{}", Uuid::now_v7()),
        Some(TOKEN),
    )
    .await
    .unwrap();
    assert_eq!(status, 404);

    // /metrics: the gauges refresh every 2 s; wait for the snapshot taken after the advance.
    let latest = Arc::new(Mutex::new(String::new()));
    wait_until(Duration::from_secs(30), "the metrics snapshot", || {
        let url = url.clone();
        let latest = latest.clone();
        async move {
            let (_, body) = fetch(&url, "/metrics", Some(TOKEN)).await.unwrap();
            let done = sample(&body, "varsel_overdue_deliveries", &[]) == Some(1.0)
                && sample(
                    &body,
                    "varsel_alerts",
                    &[
                        ("state", "acknowledged"),
                        ("category", "not_returned_after_break"),
                        ("status", "actual"),
                    ],
                ) == Some(1.0);
            *latest.lock().unwrap() = body;
            done
        }
    })
    .await;
    let text = latest.lock().unwrap().clone();
    bodies.0.lock().unwrap().push(text.clone());
    let m = |name: &str, labels: &[(&str, &str)]| sample(&text, name, labels);
    let cat = ("category", "not_returned_after_break");
    assert_eq!(
        m("varsel_alerts_received_total", &[cat, ("status", "actual")]),
        Some(3.0)
    );
    assert_eq!(
        m(
            "varsel_alerts",
            &[("state", "open"), cat, ("status", "actual")]
        ),
        Some(2.0)
    );
    assert_eq!(
        m(
            "varsel_alerts",
            &[("state", "acknowledged"), cat, ("status", "actual")]
        ),
        Some(1.0)
    );
    for (state, n) in [("acknowledged", 1.0), ("received", 1.0), ("sent", 1.0)] {
        assert_eq!(
            m(
                "varsel_deliveries",
                &[("recipient", SOCIAL), ("state", state)]
            ),
            Some(n),
            "{SOCIAL} {state}"
        );
    }
    for id in INFORMED {
        assert_eq!(
            m(
                "varsel_deliveries",
                &[("recipient", id), ("state", "received")]
            ),
            Some(3.0)
        );
    }
    assert_eq!(m("varsel_overdue_deliveries", &[]), Some(1.0));
    assert_eq!(m("varsel_ops_pages", &[]), Some(0.0));
    assert_eq!(m("varsel_amqp_connected", &[]), Some(1.0));
    assert_eq!(
        m("varsel_messages_received_total", &[("kind", "receipt")]),
        Some(8.0)
    );
    assert_eq!(
        m("varsel_messages_received_total", &[("kind", "ack")]),
        Some(1.0)
    );
    // Eight receipts and one ack were applied, each observed once, by recipient.
    let receipts = "varsel_time_to_receipt_seconds_count";
    assert_eq!(m(receipts, &[("recipient", SOCIAL)]), Some(2.0));
    for id in INFORMED {
        assert_eq!(m(receipts, &[("recipient", id)]), Some(3.0));
    }
    let social = [("recipient", SOCIAL)];
    assert_eq!(m("varsel_time_to_ack_seconds_count", &social), Some(1.0));
    // The ack's time is measured from A's delivery being made, on the broker's clock.
    let da_row = store.delivery(delivery_a).await.unwrap().unwrap();
    let took = (da_row.acked_at.unwrap() - da_row.created_at).num_milliseconds() as f64 / 1000.0;
    assert!(took >= 50.0, "{took}");
    assert_eq!(m("varsel_time_to_ack_seconds_sum", &social), Some(took));
    // Escalation steps by action equal the steps in the audit log.
    let mut steps = 0;
    for al in [a, b, c] {
        steps += store
            .audit_entries(Some(al))
            .await
            .unwrap()
            .iter()
            .filter(|e| e.action == "escalation_redeliver")
            .count();
    }
    assert!(steps >= 1);
    assert_eq!(
        m(
            "varsel_escalation_steps_total",
            &[("action", "redeliver"), ("status", "actual")]
        ),
        Some(steps as f64)
    );

    // Health and refusals (none in this run).
    let health: Value = bodies.json(&url, "/api/health").await;
    assert_eq!(health["ready"], true);
    assert_eq!(health["overdue_deliveries"], 1);
    let refusals: Vec<RefusalView> = bodies.json(&url, "/api/refusals").await;
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0].reason, "bad_signature");
    assert_eq!(
        refusals[0].signer, None,
        "a forged signature names no signer"
    );
    assert_eq!(
        m("varsel_refused_total", &[("reason", "bad_signature")]),
        Some(1.0)
    );
    let page = bodies.get(&url, "/").await;
    assert!(page.contains("<table id=\"alerts\">"));

    // `varsel status` renders the same view from the API.
    let ops = varsel::status::Ops::new(&url, Some(TOKEN), None).unwrap();
    let status = varsel::status::status(&ops, None, true).await.unwrap();
    assert!(status.starts_with("1 overdue deliveries"), "{status}");
    assert!(status.contains(&c.to_string()) && status.contains("OVERDUE"));
    let status = varsel::status::status(&ops, Some(a), false).await.unwrap();
    assert!(status.contains("acknowledged") && status.contains("timeline:"));
    bodies.0.lock().unwrap().push(status);

    // No response carried personal data.
    for body in bodies.0.lock().unwrap().iter() {
        assert_no_personal_data("an ops API response", body, &pii);
    }

    // The audit log, through the CLI.
    h.stop_broker().await;
    audit_cli(h.path(), c).await;

    // Logs: the captured lines of this whole run carry no personal data, and every line about
    // an alert's delivery or timer names the alert.
    drop(logs);
    let lines = captured_lines();
    assert!(!lines.is_empty());
    let all_text: String = lines.iter().map(|l| l.to_string()).collect();
    assert_no_personal_data("the logs", &all_text, &pii);
    let mut accepted = BTreeSet::new();
    for l in &lines {
        let f = &l["fields"];
        let target = l["target"].as_str().unwrap_or("");
        if !target.starts_with("varsel") {
            continue;
        }
        if f.get("delivery").is_some() || f.get("timer").is_some() {
            assert!(
                f.get("alert").is_some(),
                "a log line without its alert id: {l}"
            );
        }
        if f["message"] == "accepted" {
            accepted.insert(f["alert"].as_str().unwrap().to_owned());
        }
    }
    if std::env::var("VARSEL_DUMP_LOGS").is_ok() {
        for l in &lines {
            eprintln!("{l}");
        }
    }
    for al in [a, b, c] {
        assert!(
            accepted.contains(&al.to_string()),
            "no accepted line names {al}"
        );
    }
    h.stop().await;
}

/// `varsel audit verify` passes on the run's store and reports the first broken link after a
/// row is changed, deleted, deleted with the later rows renumbered, or two rows swapped; an
/// export verifies and stops verifying when edited.
async fn audit_cli(dir: &Path, alert: Uuid) {
    let config = dir.join("varsel.toml");
    let out = varsel(&["audit", "verify", "--config", config.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let total: i64 = stdout
        .trim()
        .strip_prefix("audit chain intact: ")
        .and_then(|s| s.strip_suffix(" entries"))
        .unwrap_or_else(|| panic!("{stdout}"))
        .parse()
        .unwrap();
    assert!(total > 10, "{total}");

    let db = dir.join("varsel.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let k = total / 2;
    let cases: [(&str, String, i64); 4] = [
        (
            "changed",
            format!("UPDATE audit SET actor = 'someone-else' WHERE seq = {k}"),
            k,
        ),
        ("deleted", format!("DELETE FROM audit WHERE seq = {k}"), k),
        (
            "deleted-renumbered",
            format!(
                "DELETE FROM audit WHERE seq = {k}; \
                 UPDATE audit SET seq = -(seq - 1) WHERE seq > {k}; \
                 UPDATE audit SET seq = -seq WHERE seq < 0"
            ),
            k,
        ),
        (
            "reordered",
            format!(
                "UPDATE audit SET seq = -1 WHERE seq = {k}; \
                 UPDATE audit SET seq = {k} WHERE seq = {k} + 1; \
                 UPDATE audit SET seq = {k} + 1 WHERE seq = -1"
            ),
            k,
        ),
    ];
    for (name, sql, broken_at) in cases {
        let copy = dir.join(format!("tampered-{name}.db"));
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "VACUUM INTO '{}'",
            copy.display()
        )))
        .execute(&pool)
        .await
        .unwrap();
        let tampered = sqlx::SqlitePool::connect(&format!("sqlite://{}", copy.display()))
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&tampered)
            .await
            .unwrap();
        tampered.close().await;
        let text = std::fs::read_to_string(&config).unwrap().replace(
            "sqlite://varsel.db",
            &format!("sqlite://tampered-{name}.db"),
        );
        let cfg = dir.join(format!("tampered-{name}.toml"));
        std::fs::write(&cfg, text).unwrap();
        let out = varsel(&["audit", "verify", "--config", cfg.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(65), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("audit chain broken at entry {broken_at}:")),
            "{name}: {stderr}"
        );
    }
    pool.close().await;

    // An export of one alert verifies on its own, and not once edited.
    let out = varsel(&[
        "audit",
        "export",
        "--config",
        config.to_str().unwrap(),
        "--alert",
        &alert.to_string(),
    ]);
    assert!(out.status.success());
    let export = dir.join("export.json");
    std::fs::write(&export, &out.stdout).unwrap();
    let out = varsel(&["audit", "verify-export", export.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The broker's checkpoint embedded in it verifies with the registry's broker key.
    let registry = dir.join("registry.toml");
    let out = varsel(&[
        "audit",
        "verify-export",
        export.to_str().unwrap(),
        "--registry",
        registry.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("under a checkpoint of entry") && stdout.contains("varsel-broker"),
        "{stdout}"
    );
    let mut record: Value = serde_json::from_slice(&std::fs::read(&export).unwrap()).unwrap();
    let entries = record["entries"].as_array_mut().unwrap();
    assert!(entries.len() > 3);
    entries[1]["action"] = Value::from("alert_cancelled");
    let edited = dir.join("export-edited.json");
    std::fs::write(&edited, serde_json::to_vec(&record).unwrap()).unwrap();
    let out = varsel(&["audit", "verify-export", edited.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(65));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_healthz_needs_the_token() {
    let _ = logs();
    let h = Harness::start("ops-auth").await;
    let url = base(&h);
    let addr = url.trim_start_matches("http://").to_owned();
    let (status, body) = fetch(&url, "/healthz", None).await.unwrap();
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let id = Uuid::now_v7();
    for path in [
        "/".to_owned(),
        "/readyz".into(),
        "/metrics".into(),
        "/api/alerts".into(),
        "/api/alerts?state=open".into(),
        format!("/api/alerts/{id}"),
        "/api/deliveries?state=overdue".into(),
        "/api/refusals".into(),
        "/api/health".into(),
        "/api/openapi.json".into(),
    ] {
        for token in [
            None,
            Some("wrong-token-0123456789"),
            Some("demo-token-012345678"),
        ] {
            let (status, body) = fetch(&url, &path, token).await.unwrap();
            assert_eq!(status, 401, "GET {path} with {token:?}: {body}");
            assert!(!body.contains("alert"), "{body}");
        }
        // The token never goes in the address of the API, /metrics or /readyz: refused even
        // alongside a valid header. Only the dashboard page exchanges it (below).
        if path != "/" {
            let with_query = if path.contains('?') {
                format!("{path}&token={TOKEN}")
            } else {
                format!("{path}?token={TOKEN}")
            };
            for auth in [vec![], vec![AUTH]] {
                let r = get(&addr, &with_query, &auth).await;
                assert_eq!(r.status, 400, "GET {with_query}: {}", r.body);
                assert!(r.body.starts_with("token_in_query"), "{}", r.body);
            }
        }
        let (status, _) = fetch(&url, &path, Some(TOKEN)).await.unwrap();
        assert_ne!(status, 401, "GET {path} with the token");
    }

    // The dashboard's first load: the token is exchanged for a strict cookie and the browser is
    // sent to the same address without it.
    let first = get(&addr, &format!("/?lang=en&token={TOKEN}"), &[]).await;
    assert_eq!(first.status, 303, "{}", first.body);
    assert_eq!(first.header("location"), Some("/?lang=en"));
    let set = first.header("set-cookie").unwrap().to_owned();
    assert_eq!(
        set,
        format!("varsel_ops={TOKEN}; HttpOnly; SameSite=Strict; Path=/")
    );
    // Behind a TLS proxy the cookie is Secure.
    let tls = get(
        &addr,
        &format!("/?token={TOKEN}"),
        &[("X-Forwarded-Proto", "https")],
    )
    .await;
    assert_eq!(tls.header("location"), Some("/"));
    assert!(tls.header("set-cookie").unwrap().ends_with("; Secure"));
    // A wrong token is not exchanged.
    let wrong = get(&addr, "/?token=wrong-token-0123456789", &[]).await;
    assert_eq!((wrong.status, wrong.header("set-cookie")), (401, None));
    // The cookie works for the page and the dashboard's own API calls, not for /metrics or
    // /readyz, which want the header.
    let cookie = ("Cookie", format!("varsel_ops={TOKEN}"));
    let cookie = [(cookie.0, cookie.1.as_str())];
    for path in [
        "/",
        "/api/health",
        "/api/alerts?state=open",
        "/api/refusals",
    ] {
        let r = get(&addr, path, &cookie).await;
        assert_eq!(r.status, 200, "GET {path} with the cookie: {}", r.body);
    }
    for path in ["/metrics", "/readyz"] {
        let r = get(&addr, path, &cookie).await;
        assert_eq!(r.status, 401, "GET {path} with the cookie only: {}", r.body);
    }
    let stale = [("Cookie", "varsel_ops=wrong-token-0123456789")];
    assert_eq!(get(&addr, "/api/health", &stale).await.status, 401);
    h.stop().await;
}
