//! One SQL text on SQLite and PostgreSQL, shared by the broker's store and the desk's store.
//!
//! - [`query`]: [`Q`], a query text with `$n` placeholders (which both backends accept) and its
//!   values, run on a [`Conn`] of either backend, rows decoded through `sqlx::FromRow`
//!   (tuples, or structs declared with [`row!`]);
//! - [`pool`]: [`Db`], opening a database by URL with the settings both stores need (SQLite in
//!   WAL with FULL sync, foreign keys and secure delete; a pool on PostgreSQL), running the
//!   store's embedded migrations, and write transactions ([`Tx`]) that queue in this process on
//!   SQLite;
//! - [`failure`]: noticing a failed SQLite file, so connections opened before it are replaced;
//! - [`migrations`]: the stores' schema migrations embedded in the binary;
//! - [`row`]: [`row!`], a struct decoded from a row of either backend.
//!
//! A crate of its own rather than part of varsel-transport: the participant client builds on the
//! transport, and an integrator using the client should not link two database drivers.
#![forbid(unsafe_code)]

pub mod failure;
pub mod migrations;
pub mod pool;
pub mod query;
pub mod row;

pub use failure::note_failure;
pub use pool::{Backend, BeginError, Db, OpenError, PoolConn, Settings, Tx, SQLITE_BUSY_TIMEOUT};
pub use query::{placeholders, Arg, Conn, Q};
