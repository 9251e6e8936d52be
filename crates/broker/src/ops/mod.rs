//! The ops HTTP server: health, readiness, metrics, JSON API and dashboard.
//!
//! [`metrics`] holds the Prometheus registry that every part of the broker reports into;
//! [`http`] serves it with the health checks, the JSON API and the dashboard.

pub mod http;
pub mod metrics;

pub use http::{router, serve, store_stats};
pub use metrics::Metrics;

/// The dashboard page: plain HTML and a little JavaScript reading the JSON API, no build step.
pub const DASHBOARD: &str = include_str!("dashboard.html");
