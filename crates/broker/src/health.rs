//! What the daemon's workers report about themselves and the readiness probe reads: whether
//! RabbitMQ is connected and intake consumed, whether the store answered last time, whether
//! intake is holding input it cannot commit, and which workers are down (died and not yet
//! restarted).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The daemon's long-running workers, each supervised: restarted when it dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Worker {
    /// The AMQP session: connection, intake consumer, processing.
    Amqp,
    /// The outbox worker: publishes deliveries and replies.
    Outbox,
    /// The outbox's email task: sends notices and pages.
    Email,
    /// The escalation scheduler: fires due timers.
    Scheduler,
    /// Reloads the registry and routing table on SIGHUP.
    Reload,
    /// Refreshes the store's gauges for `/metrics`.
    Stats,
    /// The ops HTTP server.
    Ops,
    /// Erases the content of alerts closed longer than the retention period.
    Retention,
    /// Signs and publishes checkpoints of the audit chain's head.
    Checkpoint,
    /// Sends heartbeats to every agency's line and judges the lines.
    Heartbeat,
}

impl Worker {
    pub const ALL: [Worker; 10] = [
        Worker::Amqp,
        Worker::Outbox,
        Worker::Email,
        Worker::Scheduler,
        Worker::Reload,
        Worker::Stats,
        Worker::Ops,
        Worker::Retention,
        Worker::Checkpoint,
        Worker::Heartbeat,
    ];

    /// The name in logs, metric labels and `/readyz`.
    pub fn code(self) -> &'static str {
        match self {
            Worker::Amqp => "amqp",
            Worker::Outbox => "outbox",
            Worker::Email => "email",
            Worker::Scheduler => "scheduler",
            Worker::Reload => "reload",
            Worker::Stats => "stats",
            Worker::Ops => "ops",
            Worker::Retention => "retention",
            Worker::Checkpoint => "checkpoint",
            Worker::Heartbeat => "heartbeat",
        }
    }
}

/// The broker's health flags, shared by its tasks.
#[derive(Debug)]
pub struct Health {
    /// Connected to RabbitMQ and consuming intake: the session sets both at once.
    amqp_ready: AtomicBool,
    store_ok: AtomicBool,
    /// Set while intake cannot commit (database away, disk full, store read-only) and holds its
    /// input unacknowledged; a read-only ping would still succeed on a full disk.
    intake_held: AtomicBool,
    /// Workers that died and are waiting to be restarted, with why they died.
    down: Mutex<BTreeMap<Worker, String>>,
}

impl Default for Health {
    fn default() -> Health {
        Health {
            amqp_ready: AtomicBool::new(false),
            store_ok: AtomicBool::new(true),
            intake_held: AtomicBool::new(false),
            down: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Health {
    /// Whether the broker is connected to RabbitMQ and consuming its intake.
    pub fn amqp_ready(&self) -> bool {
        self.amqp_ready.load(Ordering::Relaxed)
    }

    /// Records whether the AMQP session is up and consuming.
    pub fn set_amqp(&self, up: bool) {
        self.amqp_ready.store(up, Ordering::Relaxed);
    }

    /// Whether the last store operation succeeded.
    pub fn store_ok(&self) -> bool {
        self.store_ok.load(Ordering::Relaxed)
    }

    pub fn set_store_ok(&self, ok: bool) {
        self.store_ok.store(ok, Ordering::Relaxed);
    }

    /// Whether intake is holding input because the store refuses to commit it.
    pub fn intake_held(&self) -> bool {
        self.intake_held.load(Ordering::Relaxed)
    }

    pub fn set_intake_held(&self, held: bool) {
        self.intake_held.store(held, Ordering::Relaxed);
    }

    /// Records that `worker` died (`reason` says how) and is not running until restarted.
    pub fn set_down(&self, worker: Worker, reason: String) {
        self.down_map().insert(worker, reason);
    }

    /// Records that `worker` runs again.
    pub fn set_up(&self, worker: Worker) {
        self.down_map().remove(&worker);
    }

    /// The workers that are down, with why, in a fixed order.
    pub fn down(&self) -> Vec<(Worker, String)> {
        self.down_map()
            .iter()
            .map(|(w, r)| (*w, r.clone()))
            .collect()
    }

    fn down_map(&self) -> std::sync::MutexGuard<'_, BTreeMap<Worker, String>> {
        // The map stays consistent whatever a panicking holder did: inserts and removes only.
        self.down.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_connected_and_consuming() {
        let h = Health::default();
        assert!(!h.amqp_ready());
        assert!(h.store_ok());
        h.set_amqp(true);
        assert!(h.amqp_ready());
        h.set_amqp(false);
        assert!(!h.amqp_ready());
        h.set_intake_held(true);
        assert!(h.intake_held());
    }

    #[test]
    fn a_worker_is_down_until_it_runs_again() {
        let h = Health::default();
        assert!(h.down().is_empty());
        h.set_down(Worker::Outbox, "panicked: boom".into());
        h.set_down(Worker::Amqp, "returned".into());
        assert_eq!(
            h.down(),
            vec![
                (Worker::Amqp, "returned".to_owned()),
                (Worker::Outbox, "panicked: boom".to_owned())
            ]
        );
        h.set_up(Worker::Outbox);
        h.set_up(Worker::Amqp);
        assert!(h.down().is_empty());
    }
}
