//! `varsel demo --stay`: after the story the broker that stays runs on real time, so a real
//! `varsel send` made afterwards is accepted instead of refused as stale (the story's clock runs
//! many times faster than real time, and it used to keep running so). The school then closes
//! that alert's case with `varsel send --note case_closed`.
//!
//! It runs on a virtual host of its own on the plain local RabbitMQ, and runs the demo binary as
//! a child process, bounded and killed at the end.

mod common;

use std::process::Command;
use std::time::Duration;

use varsel_broker::store::Store;
use varsel_testkit::harness::wait_until;
use varsel_testkit::process::output_within;

use common::{repo, Demo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_story_the_demo_broker_runs_on_real_time() {
    let mut demo = Demo::staying("demostay", &["--stay"], "now on real time").await;
    let dir = demo.dir().to_owned();

    let out = output_within(
        Command::new(env!("CARGO_BIN_EXE_varsel"))
            .current_dir(&dir)
            .args(["send", "--config", "norrkoping-ektorpsskolan.client.toml"])
            .arg(repo().join("deploy/examples/alert.json")),
        Duration::from_secs(60),
    )
    .unwrap();
    assert!(
        out.status.success(),
        "varsel send: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id: uuid::Uuid = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("varsel send prints the alert id");
    let store = Store::connect(&format!("sqlite://{}", dir.join("varsel.db").display()))
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(60),
        "the alert sent after the story to be accepted",
        || async { store.alert(id).await.is_ok_and(|a| a.is_some()) },
    )
    .await;
    let refused_stale = store
        .audit_entries(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "message_refused" && e.detail["reason"] == "stale")
        .count();
    assert_eq!(refused_stale, 0, "{}", demo.output());

    // The school closes that case from the command line: `varsel send --note case_closed`, under
    // the header the client remembered when it sent the alert. Without an outcome the client
    // refuses it and sends nothing.
    let close = |body: &str| {
        let file = dir.join("closing.json");
        std::fs::write(&file, body).unwrap();
        output_within(
            Command::new(env!("CARGO_BIN_EXE_varsel"))
                .current_dir(&dir)
                .args(["send", "--config", "norrkoping-ektorpsskolan.client.toml"])
                .args(["--note", "case_closed", "--alert", &id.to_string()])
                .arg(&file),
            Duration::from_secs(60),
        )
        .unwrap()
    };
    let bare = close(r#"{"text": "Klart."}"#);
    let said = String::from_utf8_lossy(&bare.stderr);
    assert!(
        !bare.status.success() && said.contains("outcome: missing"),
        "{said}"
    );
    let out = close(r#"{"text": "Hana är tillbaka i skolan.", "outcome": "returned"}"#);
    assert!(
        out.status.success(),
        "varsel send --note: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(
        Duration::from_secs(60),
        "the case closed from the command line",
        || async {
            store.alert(id).await.is_ok_and(|a| {
                a.is_some_and(|a| a.state == varsel_broker::store::AlertState::Closed)
            })
        },
    )
    .await;
    store.close().await;

    // Ctrl-C stops it cleanly.
    demo.interrupt();
}
