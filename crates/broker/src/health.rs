//! What the daemon's workers report about themselves and the readiness probe reads: whether
//! RabbitMQ is connected and intake consumed, whether the store answered last time, and whether
//! intake is holding input it cannot commit.

use std::sync::atomic::{AtomicBool, Ordering};

/// The broker's health flags, shared by its tasks.
#[derive(Debug)]
pub struct Health {
    /// Connected to RabbitMQ and consuming intake: the session sets both at once.
    amqp_ready: AtomicBool,
    store_ok: AtomicBool,
    /// Set while intake cannot commit (database away, disk full, store read-only) and holds its
    /// input unacknowledged; a read-only ping would still succeed on a full disk.
    intake_held: AtomicBool,
}

impl Default for Health {
    fn default() -> Health {
        Health {
            amqp_ready: AtomicBool::new(false),
            store_ok: AtomicBool::new(true),
            intake_held: AtomicBool::new(false),
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
}
