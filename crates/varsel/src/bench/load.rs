//! Driving a run: the progress the load generators and end consumers share, pacing, waiting for
//! the run to settle, and turning what was counted into a [`Phase`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::report::{Latency, Phase};
use super::Options;

#[derive(Default)]
pub(super) struct Progress {
    pub(super) published: AtomicU64,
    pub(super) delivered: AtomicU64,
    pub(super) feedback: AtomicU64,
    /// varsel: nanoseconds of CPU the agencies spent verifying deliveries and signing receipts.
    pub(super) agency_cpu_ns: AtomicU64,
    pub(super) latencies: Mutex<Vec<f64>>,
    /// varsel: publish instant per alert id and how many deliveries of it are still to come.
    pub(super) sent: Mutex<HashMap<Uuid, (Instant, usize)>>,
    pub(super) last: Mutex<Option<Instant>>,
}

impl Progress {
    pub(super) fn reset(&self) {
        self.published.store(0, Ordering::SeqCst);
        self.delivered.store(0, Ordering::SeqCst);
        self.feedback.store(0, Ordering::SeqCst);
        self.agency_cpu_ns.store(0, Ordering::SeqCst);
        lock(&self.latencies).clear();
        lock(&self.sent).clear();
        *lock(&self.last) = None;
    }

    pub(super) fn arrived(&self, latency_ms: Option<f64>) {
        if let Some(l) = latency_ms {
            lock(&self.latencies).push(l);
        }
        self.delivered.fetch_add(1, Ordering::SeqCst);
        *lock(&self.last) = Some(Instant::now());
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits until `done` holds or nothing has moved for `stall`.
pub(super) async fn settle(
    done: impl Fn() -> bool,
    moved: impl Fn() -> u64,
    stall: Duration,
) -> bool {
    let mut last = moved();
    let mut since = Instant::now();
    loop {
        if done() {
            return true;
        }
        let now = moved();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() > stall {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How a run is driven: paced at a rate, or as fast as the publishers go.
#[derive(Clone, Copy)]
pub(super) enum Pace {
    Rate(u32),
    Saturate,
}

/// Publishes `count` items with `publish(i)`: paced from a ticker, or from `workers` loops.
pub(super) async fn drive<F, Fut>(count: u64, pace: Pace, workers: usize, publish: F)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let publish = Arc::new(publish);
    match pace {
        Pace::Rate(rate) => {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..count {
                tick.tick().await;
                tasks.spawn(publish(i));
                while tasks.try_join_next().is_some() {}
            }
            while tasks.join_next().await.is_some() {}
        }
        Pace::Saturate => {
            let next = Arc::new(AtomicU64::new(0));
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..workers {
                let next = next.clone();
                let publish = publish.clone();
                tasks.spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= count {
                            break;
                        }
                        publish(i).await;
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn finish(
    progress: &Progress,
    count: u64,
    t0: Instant,
    cpu_s: f64,
    load_cpu_s: f64,
    rss_kib: u64,
    complete: bool,
    per_alert: u64,
) -> Phase {
    let end = lock(&progress.last).unwrap_or_else(Instant::now);
    let seconds = end.saturating_duration_since(t0).as_secs_f64().max(1e-9);
    let delivered = progress.delivered.load(Ordering::SeqCst);
    let feedback = progress.feedback.load(Ordering::SeqCst);
    let alerts_done = (delivered / per_alert).min(count);
    Phase {
        alerts: progress.published.load(Ordering::SeqCst),
        delivered,
        feedback,
        seconds,
        alerts_per_s: alerts_done as f64 / seconds,
        messages_per_s: delivered as f64 / seconds,
        latency: Latency::of(std::mem::take(&mut *lock(&progress.latencies))),
        cpu_s,
        cpu_ms_per_alert: if count > 0 {
            cpu_s * 1000.0 / count as f64
        } else {
            0.0
        },
        load_cpu_s,
        agency_cpu_s: 0.0,
        preseal_s: 0.0,
        presealed_age_s: 0.0,
        rss_kib,
        complete,
    }
}

/// Alerts sent (and not measured) before the runs, so connections and caches are warm.
pub(super) fn warm_up(o: &Options) -> u64 {
    (o.alerts.max(o.paced_alerts) / 20).clamp(1, 100)
}

pub(super) fn note(o: &Options, what: &str) {
    if o.verbose {
        eprintln!("[bench] {what}");
    }
}

pub(super) fn phase_line(p: &Phase) -> String {
    format!(
        "{} alerts, {} delivered, {} feedback in {:.1}s: {:.0} alerts/s, {:.0} msg/s, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, cpu {:.2} ms/alert{}",
        p.alerts,
        p.delivered,
        p.feedback,
        p.seconds,
        p.alerts_per_s,
        p.messages_per_s,
        p.latency.p50_ms,
        p.latency.p99_ms,
        p.latency.max_ms,
        p.cpu_ms_per_alert,
        if p.complete { "" } else { " (INCOMPLETE)" }
    )
}
