//! A worker that dies is noticed: the outbox worker panics (a fail point armed for one pass), the
//! broker logs and counts it, `/readyz` answers 503 naming the worker while it is down, and the
//! worker is started again, so the alert sent meanwhile still reaches its recipients.
//!
//! Fail points are armed for the whole process, so this lives in a test binary of its own.

use std::time::Duration;

use std::sync::{Arc, Mutex};
use varsel::status::fetch;
use varsel_protocol::message::DeliveryState;
use varsel_testkit::harness::{office_morning, wait_until, Harness};
use varsel_testkit::http::sample;
use varsel_transport::clock::Clock;

const TOKEN: &str = "demo-token-0123456789";
const SCHOOL: &str = "norrkoping-ektorpsskolan";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_outbox_worker_is_reported_and_restarted_and_the_alert_still_goes_out() {
    let h = Harness::start_with("supervise", Clock::manual(office_morning()), None).await;
    let url = format!("http://{}", h.broker.as_ref().unwrap().ops_addr.unwrap());
    assert_eq!(
        fetch(&url, "/readyz", Some(TOKEN)).await.unwrap(),
        (200, "ready\n".to_owned())
    );

    fail::cfg("outbox-loop", "1*panic(injected outbox fault)").unwrap();
    // The worker polls its loop at least every second: the fail point fires within that.
    let seen = Arc::new(Mutex::new(String::new()));
    wait_until(
        Duration::from_secs(15),
        "/readyz to report the outbox worker down",
        || {
            let (url, seen) = (url.clone(), seen.clone());
            async move {
                let (status, body) = fetch(&url, "/readyz", Some(TOKEN)).await.unwrap();
                let down = status == 503 && body.contains("worker outbox is down");
                *seen.lock().unwrap() = body;
                down
            }
        },
    )
    .await;
    let body = seen.lock().unwrap().clone();
    assert!(body.contains("panicked: injected outbox fault"), "{body}");
    fail::remove("outbox-loop");

    let store = h.store();
    let alert = h
        .client(SCHOOL)
        .send(&h.example("alert.json"))
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(30),
        "the alert's deliveries to be published by the restarted outbox worker",
        || {
            let store = store.clone();
            async move {
                store
                    .deliveries_of(alert)
                    .await
                    .map(|d| !d.is_empty() && d.iter().all(|d| d.state != DeliveryState::Pending))
                    .unwrap_or(false)
            }
        },
    )
    .await;
    assert_eq!(
        fetch(&url, "/readyz", Some(TOKEN)).await.unwrap(),
        (200, "ready\n".to_owned())
    );
    let (_, metrics) = fetch(&url, "/metrics", Some(TOKEN)).await.unwrap();
    assert_eq!(
        sample(
            &metrics,
            "varsel_worker_restarts_total",
            &[("worker", "outbox")]
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "varsel_worker_restarts_total",
            &[("worker", "scheduler")]
        ),
        Some(0.0),
        "{metrics}"
    );
    h.stop().await;
}
