//! The store: alerts, deliveries, outbox, timers and audit in SQLite or PostgreSQL.
