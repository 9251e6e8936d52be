//! The ops HTTP server: health, readiness, metrics, JSON API and dashboard.
//!
//! [`metrics`] holds the Prometheus registry that every part of the broker reports into.

pub mod metrics;

pub use metrics::Metrics;
