//! Keeps `varsel bench` exercised: a tiny run on the local RabbitMQ (relay and varsel, paced and
//! saturated) must complete, count every alert, delivery and feedback message, and fill in every
//! figure of the report. No timing is asserted: the figures of a debug build on a shared machine
//! mean nothing; only that they are there.

use std::time::Duration;

use varsel::bench::{self, Only, Options, Phase, StoreChoice};
use varsel_protocol::message::Suite;

fn check(p: &Phase, alerts: u64, per_alert: u64, feedback: bool) {
    assert!(p.complete, "the run completed: {p:?}");
    assert_eq!(p.alerts, alerts, "every alert was published");
    assert_eq!(p.delivered, alerts * per_alert, "every message arrived");
    if feedback {
        assert_eq!(
            p.feedback,
            alerts * per_alert,
            "every receipt came back as feedback"
        );
    }
    assert_eq!(p.latency.samples as u64, alerts * per_alert);
    assert!(p.latency.p50_ms > 0.0 && p.latency.p50_ms <= p.latency.p99_ms);
    assert!(p.latency.p99_ms <= p.latency.max_ms);
    assert!(p.seconds > 0.0 && p.alerts_per_s > 0.0 && p.messages_per_s > 0.0);
    if feedback {
        // The broker verifies, re-wraps and signs for every alert: well above the 10 ms tick the
        // kernel counts CPU time in. (The relay's tiny run may stay under one tick.)
        assert!(p.cpu_s > 0.0, "the broker's CPU time was read");
    }
    assert!(p.rss_kib > 0, "the child's memory was read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_bench_counts_everything_and_reports_every_figure() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        alerts: 12,
        paced_alerts: 6,
        rate: 20,
        recipients: 2,
        schools: 2,
        suite: Suite::X25519,
        store: StoreChoice::Sqlite,
        only: Only::Both,
        dir: Some(dir.path().to_path_buf()),
        exe: Some(env!("CARGO_BIN_EXE_varsel").into()),
        sample_every: Duration::from_millis(200),
        ..Options::default()
    };
    let report = bench::run(options).await.expect("the bench runs");

    let relay = report.relay.as_ref().expect("relay measured");
    check(relay.paced.as_ref().unwrap(), 6, 1, false);
    check(relay.saturation.as_ref().unwrap(), 12, 1, false);
    let varsel = report.varsel.as_ref().expect("varsel measured");
    check(varsel.paced.as_ref().unwrap(), 6, 2, true);
    check(varsel.saturation.as_ref().unwrap(), 12, 2, true);
    assert!(relay.peak_rss_kib > 0 && varsel.peak_rss_kib > 0);
    assert!(!varsel.rss.is_empty(), "memory was sampled");

    let r = &report.ratios;
    for (name, v) in [
        ("paced p50", r.paced_p50),
        ("paced p99", r.paced_p99),
        ("paced max", r.paced_max),
        ("saturation p99", r.saturation_p99),
        ("saturation throughput", r.saturation_throughput),
        ("peak memory", r.peak_memory),
    ] {
        assert!(v.is_some_and(|v| v > 0.0), "ratio {name}: {v:?}");
    }
    // The CPU ratio divides by the relay's CPU time, which a run this small may keep under one
    // 10 ms tick: then there is no ratio to give, and the report says so instead of inventing one.
    let relay_cpu = relay.saturation.as_ref().unwrap().cpu_s;
    if relay_cpu > 0.0 {
        assert!(
            r.cpu_per_alert.is_some_and(|v| v > 0.0),
            "ratio cpu per alert: {:?}",
            r.cpu_per_alert
        );
    } else {
        assert_eq!(r.cpu_per_alert, None, "no ratio over a zero relay CPU time");
    }
    assert!(report.targets.paced_p99_within_3x.is_some());
    assert_eq!(report.settings.recipients, 2);
    assert!(report.settings.alert_bytes > 1000, "a real sealed alert");

    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "machine", "settings", "relay", "varsel", "ratios", "targets",
    ] {
        assert!(json.get(key).is_some(), "JSON has {key}");
    }
    let table = bench::table(&report);
    for row in [
        "paced: latency p99 (ms)",
        "saturation: alerts/s",
        "saturation: CPU per alert (ms)",
        "peak memory (MiB)",
        "targets:",
    ] {
        assert!(table.contains(row), "table has {row}:\n{table}");
    }
    assert!(!table.contains("did not complete"), "{table}");
}
