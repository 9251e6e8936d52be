//! The ops HTTP server: health, readiness, metrics, JSON API and dashboard.
