//! `varsel demo --stay`: after the story the broker that stays runs on real time, so a real
//! `varsel send` made afterwards is accepted instead of refused as stale (the story's clock runs
//! many times faster than real time, and it used to keep running so).
//!
//! It runs on a virtual host of its own on the plain local RabbitMQ, and runs the demo binary as
//! a child process, bounded and killed at the end.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use varsel_broker::store::Store;
use varsel_testkit::harness::{wait_until, Vhost};
use varsel_testkit::process::{output_within, wait_within, KillOnDrop};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_story_the_demo_broker_runs_on_real_time() {
    let dir = varsel_testkit::temp_dir();
    let logs = varsel_testkit::temp_dir();
    let log = logs.path().join("demo.log");
    let vhost = Vhost::create("demostay");
    let mut demo = KillOnDrop::spawn_logged(
        Command::new(env!("CARGO_BIN_EXE_varsel"))
            .current_dir(repo())
            .env("RUST_LOG", "warn")
            .args([
                "demo",
                "--amqp",
                &vhost.url(),
                "--stay",
                "--time-scale",
                "240",
            ])
            .arg("--dir")
            .arg(dir.path()),
        &log,
    )
    .expect("start varsel demo");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let exited = std::sync::Mutex::new(None);
    wait_until(
        Duration::from_secs(300),
        "the demo to finish its story and stay on real time",
        || {
            let done = demo.child.try_wait().ok().flatten();
            let found = read_log().contains("now on real time");
            *exited.lock().unwrap() = done;
            async move { found || done.is_some() }
        },
    )
    .await;
    if let Some(status) = *exited.lock().unwrap() {
        panic!(
            "the demo ended ({status}) instead of staying:\n{}",
            read_log()
        );
    }

    let out = output_within(
        Command::new(env!("CARGO_BIN_EXE_varsel"))
            .current_dir(dir.path())
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
    let store = Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("varsel.db").display()
    ))
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
    assert_eq!(refused_stale, 0, "{}", read_log());
    store.close().await;

    // Ctrl-C stops it cleanly.
    let interrupt = Command::new("kill")
        .args(["-INT", &demo.child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupt.success());
    let status = wait_within(&mut demo.child, Duration::from_secs(60))
        .unwrap()
        .unwrap_or_else(|| panic!("the demo did not stop on SIGINT:\n{}", read_log()));
    assert!(status.success(), "{}", read_log());
}
