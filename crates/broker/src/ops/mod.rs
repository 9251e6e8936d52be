//! The ops HTTP server: health, readiness, metrics, JSON API and dashboard.
//!
//! [`http`] assembles the server: [`auth`] guards it with the token (and the dashboard's
//! cookie), [`api`] answers the JSON API and describes it in OpenAPI, [`exposition`] writes the
//! broker's [`crate::metrics`] in the format the scraper asks for. They read the store and the
//! daemon's [`Health`], and nothing else of the daemon.

pub mod api;
pub mod auth;
pub mod exposition;
pub mod http;
pub mod lines;

use std::sync::Arc;

use crate::health::Health;
use crate::metrics::Metrics;
use crate::store::{self, AlertState, Store};
use varsel_transport::clock::Clock;

pub use http::{parts, router, serve};

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

/// Builds the metrics snapshot of the store's counts.
pub fn store_stats(s: &store::Stats) -> crate::metrics::StoreStats {
    crate::metrics::StoreStats {
        alerts: s
            .alerts
            .iter()
            .map(|a| crate::metrics::AlertCount {
                state: a.state.code().to_owned(),
                category: a.category,
                status: a.status,
                count: a.count,
            })
            .collect(),
        deliveries: s
            .deliveries
            .iter()
            .map(|d| crate::metrics::DeliveryCount {
                recipient: d.recipient.clone(),
                state: d.state,
                count: d.count,
            })
            .collect(),
        overdue_deliveries: s.overdue,
        outbox_depth: s.outbox_pending,
        outbox_oldest: s.outbox_oldest_pending.unwrap_or_default(),
        timers_pending: s.timers_pending,
        // Paging ops turns an alert `escalated`; it stays so until acknowledged or cancelled.
        ops_pages: s
            .alerts
            .iter()
            .filter(|a| a.state == AlertState::Escalated)
            .map(|a| a.count)
            .sum(),
    }
}
