//! `/readyz` follows RabbitMQ: 200 while the broker is connected and consuming, 503 with the
//! reason while RabbitMQ is stopped, 200 again once it is back and the broker has reconnected.
//!
//! This stops the shared local RabbitMQ (`rabbitmqctl stop_app`), so it lives in a test binary of
//! its own with a single test, and a guard starts RabbitMQ again even when the test fails.

use std::time::Duration;

use varsel::status::fetch;
use varsel_testkit::harness::{wait_until, Harness};
use varsel_testkit::http::sample;
use varsel_testkit::rabbitmq;

const TOKEN: &str = "demo-token-0123456789";

/// Starts the RabbitMQ application again when dropped, whatever happened in between.
struct Restart;

impl Drop for Restart {
    fn drop(&mut self) {
        let out = rabbitmq::rabbitmqctl(&["start_app"]).expect("rabbitmqctl runs");
        if !out.status.success() {
            eprintln!(
                "could not restart RabbitMQ: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let _ = rabbitmq::rabbitmqctl(&["await_startup"]).expect("rabbitmqctl runs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_rabbitmq() {
    let h = Harness::start("readyz").await;
    let url = format!("http://{}", h.broker.as_ref().unwrap().ops_addr.unwrap());
    let ready = |url: String| async move { fetch(&url, "/readyz", Some(TOKEN)).await.unwrap() };
    assert_eq!(ready(url.clone()).await, (200, "ready\n".to_owned()));

    let guard = Restart;
    let out = rabbitmq::rabbitmqctl(&["stop_app"]).expect("rabbitmqctl runs");
    assert!(
        out.status.success(),
        "rabbitmqctl stop_app: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(Duration::from_secs(60), "/readyz to answer 503", || {
        let url = url.clone();
        async move { ready(url).await.0 == 503 }
    })
    .await;
    let (status, body) = ready(url.clone()).await;
    assert_eq!(status, 503);
    assert!(body.contains("RabbitMQ"), "{body}");
    assert!(!body.contains("store"), "the store is fine: {body}");
    let (_, metrics) = fetch(&url, "/metrics", Some(TOKEN)).await.unwrap();
    assert_eq!(
        sample(&metrics, "varsel_amqp_connected", &[]),
        Some(0.0),
        "{metrics}"
    );
    // Liveness does not depend on RabbitMQ.
    assert_eq!(fetch(&url, "/healthz", None).await.unwrap().0, 200);

    drop(guard);
    wait_until(
        Duration::from_secs(120),
        "/readyz to answer 200 again",
        || {
            let url = url.clone();
            async move { ready(url).await.0 == 200 }
        },
    )
    .await;
    let (_, metrics) = fetch(&url, "/metrics", Some(TOKEN)).await.unwrap();
    assert_eq!(
        sample(&metrics, "varsel_amqp_connected", &[]),
        Some(1.0),
        "{metrics}"
    );
    let reconnects = sample(&metrics, "varsel_amqp_reconnects_total", &[]);
    assert!(
        reconnects == Some(1.0) || reconnects == Some(2.0),
        "{metrics}"
    );
    h.stop().await;
}
