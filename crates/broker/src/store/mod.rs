//! The store: alerts, deliveries, outbox, timers and audit in SQLite or PostgreSQL.
//!
//! One interface over two backends. SQLite (one file, WAL) is the default; PostgreSQL lets
//! several broker instances work side by side. Both run the same SQL text (numbered `$n`
//! placeholders, `ON CONFLICT`, `RETURNING`), except where PostgreSQL needs row locks
//! (`FOR UPDATE`, `FOR UPDATE SKIP LOCKED`) that SQLite gets from its single write lock.
//!
//! Plain columns hold only ids, codes, times and digests; message bodies are stored as the
//! sealed JWS bytes received. Times are unix milliseconds, so a time read back is the time
//! written truncated to the millisecond.
//!
//! Concurrency rules, the same on both backends:
//! - every [`Tx`] is a write transaction; on SQLite it starts with `BEGIN IMMEDIATE`, so
//!   concurrent writers queue on the busy timeout instead of failing on a lock upgrade;
//! - state changes are conditional (`UPDATE … WHERE state IN (…)`) and report whether they
//!   applied, so a duplicate or late message changes nothing and two racing writers cannot both
//!   win;
//! - outbox rows and timers are claimed with a lease (`claimed_by`, `claimed_until`); a claim
//!   whose lease ran out (its instance died) can be taken again, and only the claimer may finish;
//! - audit entries are appended when the transaction commits, under a chain lock (a PostgreSQL
//!   advisory lock; SQLite's write lock), so concurrent transactions extend one valid chain.

mod alerts;
mod audit;
mod checkpoints;
mod connection;
mod deliveries;
mod error;
mod leases;
mod lines;
mod messages;
mod outbox;
mod replies;
mod retention;
mod rows;
mod stats;
mod timers;
mod tx;

pub use alerts::{AlertFilter, AlertRow, AlertState, NewAlert};
pub use audit::{AuditRow, NewAudit};
pub use checkpoints::CheckpointRow;
pub use connection::{Backend, Store};
pub use deliveries::{DeliveryRow, NewDelivery};
pub use error::Error;
pub use lines::{LineRow, LineState};
pub use messages::{digest, Inserted, MessageRow, NewMessage};
pub use outbox::{Channel, MessageLabel, NewOutbox, OutboxOutcome, OutboxRow, OutboxState};
pub use replies::Reply;
pub use retention::{Erased, Plan, Reclaim};
pub use stats::{AlertCount, DeliveryCount, Stats};
pub use timers::{NewTimer, TimerRow, TimerState};
pub use tx::Tx;
