//! Retention and the anchored audit head in the running broker: a cancelled alert's sealed
//! content is erased by the broker's own worker once its clock has passed the retention period,
//! an open alert keeps its content, and the chain still matches the checkpoints the broker
//! filed and sent to the ops inbox.

use std::time::Duration;

use uuid::Uuid;

use varsel_broker::evidence::{self, Keys};
use varsel_broker::store::{AlertState, OutboxState, Store};
use varsel_participant::client::Item;
use varsel_protocol::envelope;
use varsel_protocol::message::Kind;
use varsel_protocol::registry::Registry;
use varsel_transport::clock::Clock;

use varsel_testkit::harness::{drain, office_morning, wait_until, Harness};
use varsel_testkit::http::sample;

const SCHOOL: &str = "norrkoping-ektorpsskolan";

fn varsel(args: &[&str]) -> std::process::Output {
    varsel_testkit::process::output_within(
        std::process::Command::new(env!("CARGO_BIN_EXE_varsel"))
            .args(args)
            .env("RUST_LOG", "warn"),
        Duration::from_secs(120),
    )
    .unwrap()
}

/// Whether every outbox row of `alert` has left the outbox.
async fn all_sent(store: &Store, alert: Uuid) -> bool {
    store
        .outbox_of(alert)
        .await
        .is_ok_and(|rows| !rows.is_empty() && rows.iter().all(|r| r.state != OutboxState::Pending))
}

/// 64 characters from the middle of the alert's JWS payload as the broker stored it: the
/// base64url of the sealed sections, which is what lies in the file.
async fn sealed_bytes(store: &Store, alert: Uuid) -> String {
    let m = store.message(alert).await.unwrap().expect("stored");
    let compact = std::str::from_utf8(&m.raw).unwrap();
    let payload = envelope::payload_of(compact).unwrap();
    assert!(payload
        .content
        .sealed()
        .is_some_and(|s| !s.sections.is_empty()));
    let segment = compact.split('.').nth(1).expect("a JWS payload");
    let middle = segment.len() / 2;
    segment[middle..middle + 64].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_erases_a_closed_alert_after_the_period_and_keeps_an_open_one() {
    let mut h = Harness::start_with("retention", Clock::manual(office_morning()), None).await;
    let checkpoints = h.path().join("checkpoints.jsonl");
    h.config.retention.interval = Duration::from_millis(200);
    h.config.retention.checkpoint_every = 5;
    h.config.retention.checkpoint_file = Some(checkpoints.clone());
    h.stop_broker().await;
    h.start_broker().await;
    let store = h.store();
    let school = h.client(SCHOOL);

    let doc = h.example("alert.json");
    let closed = school.send(&doc).await.unwrap();
    let open = school.send(&doc).await.unwrap();
    let mut cancel = doc.clone();
    cancel.kind = Kind::Cancel;
    cancel.references = vec![closed];
    cancel.body = Default::default();
    school.send(&cancel).await.unwrap();
    wait_until(
        Duration::from_secs(30),
        "the first alert cancelled and everything of both sent",
        || async {
            store.alert(closed).await.unwrap().unwrap().state == AlertState::Cancelled
                && all_sent(&store, closed).await
                && all_sent(&store, open).await
        },
    )
    .await;
    let (closed_text, open_text) = (
        sealed_bytes(&store, closed).await,
        sealed_bytes(&store, open).await,
    );

    // Within the period the worker leaves it; past it, the broker erases it by itself.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!store.message(closed).await.unwrap().unwrap().raw.is_empty());
    h.clock.advance(chrono::Duration::days(31));
    wait_until(
        Duration::from_secs(30),
        "the broker to erase the cancelled alert",
        || async { store.message(closed).await.unwrap().unwrap().raw.is_empty() },
    )
    .await;
    assert!(store.outbox_of(closed).await.unwrap().is_empty());
    assert_eq!(
        store.alert(closed).await.unwrap().unwrap().state,
        AlertState::Cancelled
    );
    assert!(!store.deliveries_of(closed).await.unwrap().is_empty());
    assert!(!store.message(open).await.unwrap().unwrap().raw.is_empty());
    let metrics = h.broker.as_ref().unwrap().shared.metrics.render();
    assert!(
        sample(&metrics, "varsel_erased_total", &[("what", "alert")]) == Some(1.0),
        "{metrics}"
    );

    // The chain matches the checkpoints the broker filed: one is due again once
    // checkpoint_interval (15 min) has passed on the broker's clock.
    let registry = Registry::load(&h.config.registry).unwrap();
    let erased_at = store
        .audit_entries(Some(closed))
        .await
        .unwrap()
        .iter()
        .find(|e| e.action == "alert_content_erased")
        .expect("the erasure is audited")
        .seq;
    h.clock.advance(chrono::Duration::minutes(16));
    wait_until(
        Duration::from_secs(30),
        "a filed checkpoint covering the erasure",
        || async {
            evidence::read_file(&checkpoints, &Keys::Registry(&registry))
                .is_ok_and(|c| c.iter().any(|c| c.seq >= erased_at))
        },
    )
    .await;
    let signed = evidence::read_file(&checkpoints, &Keys::Registry(&registry)).unwrap();
    let entries = store.audit_entries(None).await.unwrap();
    let checked = evidence::verify_chain(&entries, &signed).expect("the chain matches");
    assert!(checked.checkpoints >= 1);

    // The ops inbox received them too, signed by the broker.
    let items = drain(&h.client("varsel-ops")).await;
    assert!(
        items.iter().any(|i| matches!(i, Item::Checkpoint(_))),
        "{items:?}"
    );

    // Once the broker has stopped and the WAL is folded in, the file no longer holds the
    // erased section, and still holds the open alert's.
    let db = h.path().join("varsel.db");
    h.stop_broker().await;
    let again = Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    again.reclaim().await.unwrap();
    again.close().await;
    let bytes = std::fs::read(&db).unwrap();
    let holds = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        !holds(&closed_text),
        "the erased section is still in the file"
    );
    assert!(holds(&open_text), "the open alert's section is kept");

    // The operator's view of the same: the chain against the file, a legal hold, a dry run.
    let config = h.path().join("varsel.toml");
    let config = config.to_str().unwrap();
    let ok = |out: std::process::Output| {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let file = checkpoints.to_str().unwrap();
    let verified = ok(varsel(&[
        "audit",
        "verify",
        "--config",
        config,
        "--checkpoints",
        file,
    ]));
    assert!(verified.contains("matching"), "{verified}");
    let open = open.to_string();
    ok(varsel(&[
        "store", "hold", "--config", config, "--by", "ops.anna", &open,
    ]));
    let plan = ok(varsel(&["store", "prune", "--config", config, "--dry-run"]));
    assert!(plan.contains(", 1 alerts not closed"), "{plan}");
    let bad = varsel(&[
        "store", "hold", "--config", config, "--by", "ops anna", &open,
    ]);
    assert_eq!(bad.status.code(), Some(64), "a bad ops user is refused");
    h.stop().await;
}
