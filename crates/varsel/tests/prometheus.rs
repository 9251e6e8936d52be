//! What Prometheus and Grafana users run against varsel, run here: `promtool check metrics` on a
//! real broker's `/metrics` in the Prometheus text format, a strict OpenMetrics parser on the
//! same endpoint asked for OpenMetrics, `promtool check rules` and `promtool test rules` on
//! deploy/prometheus/, and every metric name the rules and deploy/grafana/varsel.json use looked
//! up in the real scrape, so they cannot drift apart.
//!
//! The tools come from Debian's packages via deploy/dev/metrics-linters.sh (deploy/dev/test.sh
//! runs it). A missing tool fails the test; it is never skipped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use varsel_testkit::harness::{drain, wait_until, Harness};
use varsel_testkit::http::{get, Response};
use varsel_testkit::process::output_within;
use varsel_testkit::process::tools_cache;

const TOKEN: &str = "demo-token-0123456789";
const AUTH: (&str, &str) = ("Authorization", "Bearer demo-token-0123456789");
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn promtool() -> PathBuf {
    if let Some(p) = std::env::var_os("VARSEL_PROMTOOL") {
        return p.into();
    }
    let p = tools_cache().join("prometheus/usr/bin/promtool");
    assert!(
        p.is_file(),
        "no promtool at {}: run deploy/dev/metrics-linters.sh (or set VARSEL_PROMTOOL)",
        p.display()
    );
    p
}

fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    let out = output_within(cmd, Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{shown} failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn the_alerting_rules_pass_promtool_check_and_their_unit_tests() {
    let dir = repo().join("deploy/prometheus");
    let out = run(Command::new(promtool()).current_dir(&dir).args([
        "check",
        "rules",
        "varsel.rules.yml",
    ]));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("SUCCESS: 11 rules found"), "{said}");
    let out = run(Command::new(promtool()).current_dir(&dir).args([
        "test",
        "rules",
        "varsel.rules.test.yml",
    ]));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("SUCCESS"), "{said}");
    // Every alert has a runbook line and a test that makes it fire.
    let rules = std::fs::read_to_string(dir.join("varsel.rules.yml")).unwrap();
    let tests = std::fs::read_to_string(dir.join("varsel.rules.test.yml")).unwrap();
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert_eq!(alerts.len(), 11);
    assert_eq!(rules.matches("\n          runbook: ").count(), alerts.len());
    for alert in alerts {
        let fires = tests
            .split("alertname: ")
            .skip(1)
            .any(|t| t.starts_with(&format!("{alert}\n")) && t.contains("exp_labels"));
        assert!(fires, "no test makes {alert} fire");
    }
}

/// Sample and family names in a scrape (either format).
fn names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| match l.strip_prefix("# ") {
            Some(meta) => meta.split_whitespace().nth(1),
            None => l.split(['{', ' ']).next(),
        })
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Every `varsel_…` metric name mentioned in a file.
fn names_used(file: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("varsel_") {
        let before = rest[..i].chars().last();
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.insert(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    out
}

async fn scrape(addr: &str, accept: Option<&str>) -> Response {
    let mut headers = vec![AUTH];
    if let Some(a) = accept {
        headers.push(("Accept", a));
    }
    let r = get(addr, "/metrics", &headers).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_broker_serves_both_formats_and_every_name_the_rules_and_dashboard_use() {
    let promtool = promtool();
    let mut h = Harness::start("prometheus").await;
    // With heartbeats, so the line gauges are served too (socialtjänsten's client answers them
    // while it takes its delivery).
    h.restart_with_heartbeats().await;
    let addr = h.broker.as_ref().unwrap().ops_addr.unwrap().to_string();
    h.traffic().await;
    // The store gauges come from the broker's periodic statistics; socialtjänsten's client reads
    // its inbox again in case its first heartbeat came after the delivery it waited for.
    let social = h.client("norrkoping-socialtjansten");
    wait_until(Duration::from_secs(30), "the store and line gauges", || {
        let (addr, social) = (addr.clone(), &social);
        async move {
            drain(social).await;
            let body = scrape(&addr, None).await.body;
            body.contains("varsel_deliveries{")
                && body.contains("varsel_line_up{")
                && body.contains("varsel_line_last_receipt_age_seconds{")
        }
    })
    .await;

    let dir = varsel_testkit::temp_dir();
    // Prometheus text: the default, and for text/plain.
    let default = scrape(&addr, None).await;
    assert_eq!(default.header("content-type"), Some(PROMETHEUS));
    let plain = scrape(&addr, Some("text/plain")).await;
    assert_eq!(plain.header("content-type"), Some(PROMETHEUS));
    assert!(!plain.body.contains("# EOF"));
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, &plain.body).unwrap();
    let out = run(Command::new("sh")
        .args(["-c", "exec \"$0\" check metrics < \"$1\""])
        .arg(&promtool)
        .arg(&file));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.trim().is_empty(), "promtool check metrics: {said}");

    // OpenMetrics, as Prometheus itself asks for it; parsed by a strict OpenMetrics parser.
    let om = scrape(
        &addr,
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
    )
    .await;
    assert_eq!(om.header("content-type"), Some(OPENMETRICS));
    assert!(om.body.ends_with("# EOF\n"));
    let file = dir.path().join("metrics.om");
    std::fs::write(&file, &om.body).unwrap();
    let python_path = tools_cache().join("python3-prometheus-client/usr/lib/python3/dist-packages");
    assert!(
        python_path.is_dir(),
        "no OpenMetrics parser at {}: run deploy/dev/metrics-linters.sh",
        python_path.display()
    );
    let parsed = run(Command::new("python3")
        .env("PYTHONPATH", &python_path)
        .args([
            "-c",
            "import sys\n\
             from prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n\
             n = 0\n\
             for f in p(open(sys.argv[1]).read()):\n\
             \x20   n += len(f.samples)\n\
             print(n)",
        ])
        .arg(&file));
    let om_samples: usize = String::from_utf8_lossy(&parsed.stdout)
        .trim()
        .parse()
        .unwrap();
    let text_samples = plain.body.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(
        om_samples, text_samples,
        "both formats carry the same samples"
    );

    // Every varsel metric the rules and the dashboard use is in the scrape.
    let served = names(&plain.body);
    for series in [
        "varsel_time_to_receipt_seconds_count",
        "varsel_time_to_ack_seconds_count",
    ] {
        assert!(
            plain.body.contains(&format!(
                "{series}{{recipient=\"norrkoping-socialtjansten\""
            )),
            "{series} by recipient"
        );
    }
    for file in [
        "deploy/prometheus/varsel.rules.yml",
        "deploy/prometheus/varsel.rules.test.yml",
        "deploy/grafana/varsel.json",
    ] {
        let used = names_used(&repo().join(file));
        assert!(used.len() > 5, "{file}: {used:?}");
        let missing: Vec<&String> = used.difference(&served).collect();
        assert!(
            missing.is_empty(),
            "{file} uses metrics /metrics does not serve: {missing:?}"
        );
    }

    // The query token is refused here (see tests/ops.rs for the rest of the token rules).
    let r = get(&addr, &format!("/metrics?token={TOKEN}"), &[]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    h.stop().await;
}
