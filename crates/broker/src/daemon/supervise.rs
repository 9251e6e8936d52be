//! Keeps the daemon's workers running: each runs in a task of its own, and one that panics (or
//! returns while the broker is not stopping) is logged, counted, marked down in [`Health`] (so
//! `/readyz` answers 503 with the reason) and started again after a backoff that grows while it
//! keeps dying. A worker that ran for a while before it died starts again from the shortest
//! backoff.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::{JoinError, JoinHandle, JoinSet};

use crate::health::{Health, Worker};
use crate::metrics::Metrics;
use varsel_transport::retry;
use varsel_transport::shutdown::Signals;

/// The shortest and longest wait before a dead worker starts again (doubling, with jitter).
const FIRST_RESTART: Duration = Duration::from_secs(1);
const LAST_RESTART: Duration = Duration::from_secs(60);
/// A worker that ran at least this long before it died is restarted after [`FIRST_RESTART`].
const STABLE: Duration = Duration::from_secs(120);
/// How much of a panic message goes into logs and `/readyz`.
const MAX_REASON_CHARS: usize = 200;

/// Starts supervised workers into one task set, which the daemon drains on shutdown.
pub(super) struct Supervisor {
    pub tasks: JoinSet<()>,
    health: Arc<Health>,
    metrics: Metrics,
    signals: Signals,
}

impl Supervisor {
    pub fn new(health: Arc<Health>, metrics: Metrics, signals: Signals) -> Supervisor {
        Supervisor {
            tasks: JoinSet::new(),
            health,
            metrics,
            signals,
        }
    }

    /// Runs `worker` as made by `make`, and makes a new one each time it dies. Each worker
    /// watches the broker's signals itself and returns when asked to stop.
    pub fn spawn<F, Fut>(&mut self, worker: Worker, make: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(keep(
            worker,
            make,
            self.health.clone(),
            self.metrics.clone(),
            self.signals.clone(),
        ));
    }
}

async fn keep<F, Fut>(
    worker: Worker,
    mut make: F,
    health: Arc<Health>,
    metrics: Metrics,
    signals: Signals,
) where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut deaths: u32 = 0;
    loop {
        let started = tokio::time::Instant::now();
        // Aborted with this task: when shutdown's grace runs out the daemon aborts the
        // supervisors, and the workers must not outlive them.
        let run = AbortOnDrop(tokio::spawn(make()));
        let ended = run.wait().await;
        if signals.is_stopping() {
            if let Err(e) = ended {
                tracing::error!(worker = worker.code(), reason = %why(e), "worker died while the broker was stopping");
            }
            break;
        }
        let reason = match ended {
            Ok(()) => "returned while the broker was running".to_owned(),
            Err(e) => why(e),
        };
        if started.elapsed() >= STABLE {
            deaths = 0;
        }
        let delay = retry::after(deaths, FIRST_RESTART, LAST_RESTART);
        deaths = deaths.saturating_add(1);
        tracing::error!(
            worker = worker.code(),
            %reason,
            restart_in_ms = delay.as_millis() as u64,
            "worker died; restarting it"
        );
        health.set_down(worker, reason);
        metrics.worker_restarted(worker);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = signals.stopped() => break,
        }
        health.set_up(worker);
    }
}

/// Why a worker's task ended with an error: its panic message, bounded and escaped.
fn why(e: JoinError) -> String {
    if e.is_cancelled() {
        return "cancelled".to_owned();
    }
    let payload = e.into_panic();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    let bounded: String = message
        .chars()
        .take(MAX_REASON_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("panicked: {}", bounded.escape_debug())
}

/// A task handle that aborts its task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl AbortOnDrop {
    async fn wait(mut self) -> Result<(), JoinError> {
        (&mut self.0).await
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_worker_that_panics_is_marked_down_then_restarted() {
        let health = Arc::new(Health::default());
        let metrics = Metrics::new();
        let signals = Signals::new();
        let runs = Arc::new(AtomicU32::new(0));
        let mut supervisor = Supervisor::new(health.clone(), metrics.clone(), signals.clone());
        let (r, s) = (runs.clone(), signals.clone());
        supervisor.spawn(Worker::Outbox, move || {
            let n = r.fetch_add(1, Ordering::SeqCst);
            let s = s.clone();
            async move {
                if n == 0 {
                    panic!("boom\nsecond line");
                }
                s.stopped().await;
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let down = health.down();
        assert_eq!(down.len(), 1, "{down:?}");
        assert_eq!(down[0].0, Worker::Outbox);
        assert_eq!(down[0].1, "panicked: boom second line");
        assert!(metrics
            .render()
            .contains("varsel_worker_restarts_total{worker=\"outbox\"} 1"));
        // The first restart comes after 1 to 2 s (jitter).
        tokio::time::sleep(FIRST_RESTART * 2).await;
        assert!(health.down().is_empty(), "restarted: {:?}", health.down());
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        signals.stop();
        while supervisor.tasks.join_next().await.is_some() {}
        assert_eq!(runs.load(Ordering::SeqCst), 2, "not restarted on stop");
    }

    #[tokio::test(start_paused = true)]
    async fn restarts_back_off_while_a_worker_keeps_dying() {
        let health = Arc::new(Health::default());
        let signals = Signals::new();
        let runs = Arc::new(AtomicU32::new(0));
        let mut supervisor = Supervisor::new(health.clone(), Metrics::new(), signals.clone());
        let r = runs.clone();
        supervisor.spawn(Worker::Scheduler, move || {
            r.fetch_add(1, Ordering::SeqCst);
            async {}
        });
        // Restart n comes 2^n to 2^(n+1) s after the one before (n = 0, 1, ...): the fourth
        // within 1+2+4+8 = 15 s and 2+4+8+16 = 30 s, the fifth not before 31 s. Five runs at
        // 30.5 s whatever the jitter, not one per poll.
        tokio::time::sleep(Duration::from_millis(14_900)).await;
        assert!(
            runs.load(Ordering::SeqCst) <= 4,
            "four restarts take 15 s at least"
        );
        tokio::time::sleep(Duration::from_millis(15_600)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 5);
        let down = health.down();
        assert_eq!(
            down,
            vec![(
                Worker::Scheduler,
                "returned while the broker was running".to_owned()
            )]
        );
        signals.stop();
        while supervisor.tasks.join_next().await.is_some() {}
    }

    #[tokio::test]
    async fn stopping_aborts_workers_with_their_supervisor() {
        let signals = Signals::new();
        let mut supervisor =
            Supervisor::new(Arc::new(Health::default()), Metrics::new(), signals.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let tx = std::sync::Mutex::new(Some(tx));
        supervisor.spawn(Worker::Stats, move || {
            let held = tx.lock().unwrap().take();
            async move {
                let _held = held;
                std::future::pending::<()>().await
            }
        });
        tokio::task::yield_now().await;
        supervisor.tasks.abort_all();
        while supervisor.tasks.join_next().await.is_some() {}
        // The worker's future was dropped, and with it the sender it held.
        tokio::time::timeout(Duration::from_secs(5), rx)
            .await
            .expect("the worker was dropped within 5 s of its supervisor's abort")
            .expect_err("the worker never sends");
    }
}
