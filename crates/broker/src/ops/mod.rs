//! The ops HTTP server: health, readiness, metrics, JSON API and dashboard.
//!
//! [`http`] serves the broker's [`crate::metrics`] with the health checks, the JSON API and the
//! dashboard; it reads the store and the daemon's [`Health`], and nothing else of the daemon.

pub mod http;

use std::sync::Arc;

use crate::health::Health;
use crate::metrics::Metrics;
use crate::store::Store;
use varsel_transport::clock::Clock;

pub use http::{router, serve, store_stats};

/// The dashboard page: plain HTML and a little JavaScript reading the JSON API, no build step.
pub const DASHBOARD: &str = include_str!("dashboard.html");

/// What the ops server reads: the store, the clock, the metrics registry and the daemon's health,
/// and the bearer token it asks for (none: it only listens where the configuration put it).
pub struct Context {
    pub store: Store,
    pub clock: Clock,
    pub metrics: Metrics,
    pub health: Arc<Health>,
    pub token: Option<String>,
}

impl Context {
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn amqp_ready(&self) -> bool {
        self.health.amqp_ready()
    }

    pub fn intake_held(&self) -> bool {
        self.health.intake_held()
    }
}
