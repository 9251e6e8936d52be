//! The dashboard in a real browser: headless Chromium (Debian's `chromium`, installed by
//! deploy/dev/browser.sh, which deploy/dev/test.sh runs) opens the page served by the broker and
//! must show an overdue alert as overdue, with the token gone from the address bar after the
//! first load (the page reads the API with its cookie), and an agency line that missed its
//! heartbeat in red. Screenshots are kept in target/test-output/.
//!
//! An ignored test measures the dashboard and /metrics with 1,000 open alerts:
//! `cargo test --test dashboard -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use chrono::Utc;
use varsel::status::fetch;
use varsel_broker::ops::http::DeliveryView;
use varsel_broker::store::LineState;
use varsel_protocol::message::Category;
use varsel_testkit::browser::{chromium, output_dir};
use varsel_testkit::harness::{drain, office_morning, wait_until, Harness, HEARTBEAT_GRACE};
use varsel_transport::clock::Clock;

const TOKEN: &str = "demo-token-0123456789";

/// Runs headless Chromium on `url` with `extra` arguments; returns standard output.
async fn headless(url: &str, extra: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--window-size=1400,900",
        // Lets the page's fetches and rendering finish before the DOM or screenshot is taken.
        "--virtual-time-budget=10000",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(url)
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .expect("chromium finished within 3 minutes")
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Opens `url` in headless Chromium with its DevTools HTTP endpoint on, and answers the address
/// the page shows once its script has run (its title set): what the address bar holds. Reads
/// DevTools' `/json/list`, the browser's own account of its open pages.
async fn address_after_load(url: &str, title: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromium runs");
    let port_file = profile.path().join("DevToolsActivePort");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = String::new();
    let address = loop {
        assert!(
            Instant::now() < deadline,
            "the page at {url} did not load within 120 s; DevTools said: {last}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Some(port) = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|t| t.lines().next().map(str::to_owned))
            .filter(|p| !p.is_empty())
        else {
            continue;
        };
        let list = varsel_testkit::http::get(&format!("127.0.0.1:{port}"), "/json/list", &[]).await;
        last = list.body.clone();
        let pages: Vec<serde_json::Value> = serde_json::from_str(&list.body).unwrap_or_default();
        if let Some(page) = pages
            .iter()
            .find(|p| p["type"] == "page" && p["title"] == title)
        {
            break page["url"].as_str().unwrap().to_owned();
        }
    };
    let _ = child.kill().await;
    address
}

fn alert_doc(h: &Harness) -> varsel_protocol::alert::Document {
    let mut doc = h.example("alert.json");
    doc.header.category = Category::NotReturnedAfterBreak;
    doc.header.planned_departure = None;
    if let Some(t) = doc.body.travel.as_mut() {
        t.planned_departure = None;
    }
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_an_overdue_alert_as_overdue() {
    let clock = Clock::manual(office_morning());
    let h = Harness::start_with("dashboard", clock.clone(), None).await;
    let base = format!("http://{}", h.broker.as_ref().unwrap().ops_addr.unwrap());

    // One alert nobody at socialtjänsten reads, one the informed agencies receipt, and an
    // exercise that is not yet late.
    let school = h.client("norrkoping-ektorpsskolan");
    let late = school.send(&alert_doc(&h)).await.unwrap();
    let exercise = school
        .send(&h.example("exercise-alert.json"))
        .await
        .unwrap();
    let informed = h.client("forsakringskassan");
    wait_until(
        Duration::from_secs(60),
        "the informed agency's copy",
        || {
            let c = &informed;
            async move { !drain(c).await.is_empty() }
        },
    )
    .await;
    clock.advance(chrono::Duration::minutes(35));
    wait_until(
        Duration::from_secs(30),
        "the API to report it overdue",
        || {
            let base = base.clone();
            async move {
                let (_, body) = fetch(&base, "/api/deliveries?state=overdue", Some(TOKEN))
                    .await
                    .unwrap();
                let overdue: Vec<DeliveryView> = serde_json::from_str(&body).unwrap();
                overdue.len() == 1 && overdue[0].alert == late
            }
        },
    )
    .await;

    let url = format!("{base}/?token={TOKEN}&lang=en");
    let dom = headless(&url, &["--dump-dom".to_owned()]).await;
    let out = output_dir();
    std::fs::write(out.join("dashboard.html"), &dom).unwrap();
    assert!(
        dom.contains("data-loaded=\"1\""),
        "the page did not finish loading: {dom}"
    );
    // The late alert's socialtjänsten row is marked overdue, and says so in words.
    let row = dom
        .split("<tr")
        .find(|r| {
            r.contains(&format!("data-alert=\"{late}\"")) && r.contains("norrkoping-socialtjansten")
        })
        .unwrap_or_else(|| panic!("no row for {late}: {dom}"));
    assert!(row.contains("class=\"overdue\""), "{row}");
    assert!(row.contains("data-overdue=\"true\""), "{row}");
    assert!(row.contains("OVERDUE"), "{row}");
    // The exercise is listed, not overdue (its receipt deadline is an hour).
    let ex_rows: Vec<&str> = dom
        .split("<tr")
        .filter(|r| r.contains(&format!("data-alert=\"{exercise}\"")))
        .collect();
    assert!(!ex_rows.is_empty(), "the exercise is not listed");
    assert!(ex_rows.iter().all(|r| r.contains("data-overdue=\"false\"")));
    assert!(dom.contains("1 overdue deliveries"), "health line: {dom}");
    assert!(dom.contains("Ready"));

    // The same page in Swedish.
    let sv = headless(
        &format!("{base}/?token={TOKEN}&lang=sv"),
        &["--dump-dom".to_owned()],
    )
    .await;
    assert!(sv.contains("FÖRSENAD") && sv.contains("Öppna varsel"));

    let shot = out.join("dashboard-overdue.png");
    let _ = std::fs::remove_file(&shot);
    headless(&url, &[format!("--screenshot={}", shot.display())]).await;
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    eprintln!("screenshot: {}", shot.display());

    // The token was exchanged for a cookie on the first load and the address bar no longer
    // holds it; the page's data above came with that cookie alone.
    let address = address_after_load(&url, "varsel – operations").await;
    assert_eq!(address, format!("{base}/?lang=en"));

    // Without the token the page's API calls are refused and nothing is listed.
    let refused = headless(&format!("{base}/api/alerts"), &["--dump-dom".to_owned()]).await;
    assert!(!refused.contains(&late.to_string()));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_that_misses_its_heartbeat_is_red() {
    let clock = Clock::manual(office_morning());
    let mut h = Harness::start_with("dashboard-lines", clock.clone(), None).await;
    h.restart_with_heartbeats().await;
    let base = format!("http://{}", h.broker.as_ref().unwrap().ops_addr.unwrap());
    let store = h.store();
    let social = h.client("norrkoping-socialtjansten");
    let line = |id: &'static str| {
        let store = store.clone();
        async move { store.line(&id.parse().unwrap()).await.unwrap() }
    };
    // Socialtjänsten answers its first heartbeat; the police run no client.
    wait_until(Duration::from_secs(30), "socialtjänsten's line up", || {
        let (social, line) = (&social, &line);
        async move {
            drain(social).await;
            line("norrkoping-socialtjansten")
                .await
                .is_some_and(|l| l.state == LineState::Up)
        }
    })
    .await;
    clock.advance(
        chrono::Duration::from_std(HEARTBEAT_GRACE).unwrap() + chrono::Duration::seconds(1),
    );
    wait_until(Duration::from_secs(30), "the police line down", || async {
        line("polisen-region-ost")
            .await
            .is_some_and(|l| l.state == LineState::Down)
    })
    .await;

    let url = format!("{base}/?token={TOKEN}&lang=en");
    let dom = headless(&url, &["--dump-dom".to_owned()]).await;
    let out = output_dir();
    std::fs::write(out.join("dashboard-lines.html"), &dom).unwrap();
    let chip = |id: &str| {
        dom.split("<span")
            .find(|s| s.contains(&format!("data-line=\"{id}\"")))
            .unwrap_or_else(|| panic!("no line {id}: {dom}"))
            .to_owned()
    };
    let police = chip("polisen-region-ost");
    assert!(
        police.contains("class=\"down\"") && police.contains("NOT ANSWERING"),
        "{police}"
    );
    let social = chip("norrkoping-socialtjansten");
    assert!(
        social.contains("class=\"up\"") && social.contains("answers"),
        "{social}"
    );
    // Red: the page's style gives a down line a red background.
    assert!(
        dom.contains("#lines span.down { background: #f8d3d3"),
        "{dom}"
    );
    let sv = headless(
        &format!("{base}/?token={TOKEN}&lang=sv"),
        &["--dump-dom".to_owned()],
    )
    .await;
    assert!(sv.contains("SVARAR INTE"), "{sv}");
    let shot = out.join("dashboard-lines.png");
    let _ = std::fs::remove_file(&shot);
    headless(&url, &[format!("--screenshot={}", shot.display())]).await;
    assert!(std::fs::read(&shot)
        .expect("screenshot")
        .starts_with(b"\x89PNG"));
    eprintln!("screenshot: {}", shot.display());
    h.stop().await;
}

/// Figures for the report, not assertions on speed: the size of /metrics and how long the
/// dashboard takes with 1,000 open alerts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn measure_with_a_thousand_open_alerts() {
    const N: usize = 1000;
    let h = Harness::start("dashboard-1000").await;
    let base = format!("http://{}", h.broker.as_ref().unwrap().ops_addr.unwrap());
    let school = h.client("norrkoping-ektorpsskolan");
    let doc = alert_doc(&h);
    let (conn, publisher) = school.connect().await.unwrap();
    let started = Instant::now();
    for _ in 0..N {
        let (payload, compact) = school.seal(&doc, h.clock.now()).unwrap();
        school
            .publish(&publisher, &payload, &compact)
            .await
            .unwrap();
    }
    let _ = conn.close(200, "sent".into()).await;
    let store = h.store();
    wait_until(Duration::from_secs(900), "every alert committed", || {
        let store = store.clone();
        async move {
            store
                .stats(Utc::now())
                .await
                .map(|s| {
                    s.alerts.iter().map(|a| a.count).sum::<u64>() == N as u64
                        && s.outbox_pending == 0
                })
                .unwrap_or(false)
        }
    })
    .await;
    eprintln!("{N} alerts sent and committed in {:?}", started.elapsed());
    tokio::time::sleep(Duration::from_secs(3)).await;

    let (_, metrics) = fetch(&base, "/metrics", Some(TOKEN)).await.unwrap();
    eprintln!(
        "/metrics: {} bytes, {} lines",
        metrics.len(),
        metrics.lines().count()
    );
    for _ in 0..3 {
        let t = Instant::now();
        let (status, body) = fetch(&base, "/api/alerts?state=open&limit=5000", Some(TOKEN))
            .await
            .unwrap();
        assert_eq!(status, 200);
        eprintln!(
            "/api/alerts?state=open: {} bytes in {:?}",
            body.len(),
            t.elapsed()
        );
    }
    let t = Instant::now();
    let (_, refusals) = fetch(&base, "/api/refusals", Some(TOKEN)).await.unwrap();
    eprintln!(
        "/api/refusals: {} bytes in {:?}",
        refusals.len(),
        t.elapsed()
    );
    let url = format!("{base}/?token={TOKEN}&lang=en");
    for _ in 0..2 {
        let t = Instant::now();
        let dom = headless(&url, &["--dump-dom".to_owned()]).await;
        let rows = dom.matches("<tr class=").count();
        eprintln!(
            "dashboard in headless Chromium (--dump-dom, process start to DOM): {:?}, {} rows, loaded={}",
            t.elapsed(),
            rows,
            dom.contains("data-loaded=\"1\"")
        );
    }
    h.stop().await;
}
