//! Keeps `varsel bench` exercised: a tiny run on the local RabbitMQ (relay and varsel, paced and
//! saturated) must complete, count every alert, delivery and feedback message, and fill in every
//! figure of the report, the crypto floor, the ceiling and the targets consistently. No timing
//! is asserted: the figures of a debug build on a shared machine mean nothing; only that they are
//! there and agree with each other.

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
    // The schools sealed before each run, the agencies only verified and receipted.
    for p in [
        varsel.paced.as_ref().unwrap(),
        varsel.saturation.as_ref().unwrap(),
    ] {
        assert!(p.preseal_s > 0.0, "the alerts were sealed before the run");
        assert!(
            p.presealed_age_s > 0.0 && p.presealed_age_s < 900.0,
            "every alert fresh: {}",
            p.presealed_age_s
        );
        assert!(
            p.agency_cpu_s > 0.0 && p.agency_cpu_s <= p.load_cpu_s + 0.02,
            "the agencies' CPU is a part of the load generator's: {} of {}",
            p.agency_cpu_s,
            p.load_cpu_s
        );
    }

    // The crypto floor, the ceiling and the targets, consistent with the run's own figures.
    let floor = report
        .floor
        .as_ref()
        .expect("the crypto floor was measured");
    assert_eq!(floor.recipients, 2);
    assert!(floor.alerts >= 10);
    let steps = floor.verify_alert_ms
        + floor.rewrap_ms
        + floor.sign_deliveries_ms
        + floor.verify_receipts_ms
        + floor.sign_feedback_ms;
    for step in [
        floor.verify_alert_ms,
        floor.rewrap_ms,
        floor.sign_deliveries_ms,
        floor.verify_receipts_ms,
        floor.sign_feedback_ms,
    ] {
        assert!(step > 0.0, "every step of the floor was timed: {floor:?}");
    }
    assert!(
        steps <= floor.wall_ms_per_alert * 1.001,
        "the steps add up to no more than the whole: {floor:?}"
    );
    assert!(floor.cpu_ms_per_alert > 0.0, "{floor:?}");
    let ceiling = report.ceiling.as_ref().expect("the ceiling was worked out");
    assert_eq!(ceiling.queue_writes_per_alert, 1 + 3 * 2);
    let relay_rate = relay.saturation.as_ref().unwrap().messages_per_s;
    assert!((ceiling.alerts_per_s - relay_rate * 2.0 / 7.0).abs() < 1e-9);
    let t = &report.targets;
    let sat = varsel.saturation.as_ref().unwrap();
    let over_floor = t.cpu_per_alert_over_floor.value.expect("CPU over floor");
    assert!((over_floor - sat.cpu_ms_per_alert / floor.cpu_ms_per_alert).abs() < 1e-9);
    let over_ceiling = t
        .saturation_over_ceiling
        .value
        .expect("alerts/s over ceiling");
    assert!((over_ceiling - sat.alerts_per_s / ceiling.alerts_per_s).abs() < 1e-9);
    assert_eq!(t.paced_p99_over_relay.value, r.paced_p99);
    assert_eq!(
        t.memory_growth.value,
        bench::memory_growth(&varsel.rss),
        "memory growth from the samples"
    );
    for (target, at_most) in [
        (&t.cpu_per_alert_over_floor, true),
        (&t.saturation_over_ceiling, false),
        (&t.paced_p99_over_relay, true),
        (&t.memory_growth, true),
    ] {
        let within = target.value.is_some_and(|v| {
            if at_most {
                v <= target.limit
            } else {
                v >= target.limit
            }
        });
        assert_eq!(
            target.met, within,
            "met agrees with value and limit: {target:?}"
        );
    }
    assert_eq!(
        (
            t.cpu_per_alert_over_floor.limit,
            t.saturation_over_ceiling.limit,
            t.paced_p99_over_relay.limit,
            t.memory_growth.limit
        ),
        (2.0, 0.5, 3.0, 1.1)
    );
    assert_eq!(report.settings.recipients, 2);
    assert!(report.settings.alert_bytes > 1000, "a real sealed alert");

    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "machine", "settings", "relay", "varsel", "ratios", "floor", "ceiling", "targets",
    ] {
        assert!(json.get(key).is_some(), "JSON has {key}");
    }
    for name in [
        "cpu_per_alert_over_floor",
        "saturation_over_ceiling",
        "paced_p99_over_relay",
        "memory_growth",
    ] {
        let target = &json["targets"][name];
        assert!(target["limit"].is_f64(), "{name} has a limit: {target}");
        assert!(target["met"].is_boolean(), "{name} has met: {target}");
        assert!(
            target.get("value").is_some(),
            "{name} has a value: {target}"
        );
    }
    let table = bench::table(&report);
    for row in [
        "paced: latency p99 (ms)",
        "saturation: alerts/s",
        "saturation: CPU per alert (ms)",
        "peak memory (MiB)",
        "crypto floor: CPU per alert (ms)",
        "queue-bound ceiling: alerts/s",
        "targets:",
    ] {
        assert!(table.contains(row), "table has {row}:\n{table}");
    }
    assert!(!table.contains("did not complete"), "{table}");
}
