//! varsel-broker: the daemon that takes signed, sealed alerts from schools off RabbitMQ, routes
//! them to the agencies and tracks every delivery until a named person has acknowledged it.
//!
//! The modules follow an input message through the broker, in this order:
//!
//! | step | module | what happens |
//! |---|---|---|
//! | 1 | [`daemon`] | the AMQP session takes a batch off `varsel.intake`; one store transaction per batch |
//! | 2 | [`intake`] | verify signature, registry, rights, freshness and replay; or refuse |
//! | 3 | [`routing`] | the routing table picks recipients, sections and an escalation policy |
//! | 4 | [`commit`] | the message, its deliveries (sections re-wrapped per recipient), outbox rows and timers |
//! | 5 | [`store`], [`chain`] | written in that one transaction, with hash-chained audit entries ([`audit`] exports and verifies the chain) |
//! | 6 | [`outbox`] | persisted sends are published per recipient, marked sent on confirm; email |
//! | 7 | [`acknowledgement`] | receipts and acks move deliveries on; feedback goes to the school |
//! | 8 | [`escalation`] | due timers redeliver, email, add recipients, page ops |
//!
//! After the flow: [`retention`] erases the sealed content of alerts closed longer than the
//! retention period, and [`evidence`] signs checkpoints of the audit chain's head and keeps them
//! outside the database (a file, the ops inbox), so a cut-off or recomputed chain shows.
//! [`heartbeat`] checks every agency's line before an alert needs it: a signed heartbeat through
//! the outbox and the agency's inbox, a receipt back, and a line that misses them is down (metrics,
//! `/api/health`, ops paged).
//!
//! Beside the flow: [`lifecycle`] (the alert's and each delivery's state machine, the only place
//! that says which event may move what), [`config`] (the daemon's file), [`mailer`] (SMTP and the
//! notices it sends), [`metrics`] and [`health`] (what every part reports into), [`ops`] (health,
//! metrics, JSON API and dashboard over HTTP) and [`rabbitmq`] (users, permissions and topology
//! for RabbitMQ, generated from the registry). The wire format lives in `varsel-protocol`, the
//! AMQP connection and shutdown in `varsel-transport`.
#![forbid(unsafe_code)]

pub mod acknowledgement;
pub mod audit;
pub mod chain;
pub mod commit;
pub mod config;
pub mod daemon;
pub mod escalation;
pub mod evidence;
pub mod health;
pub mod heartbeat;
pub mod intake;
pub mod lifecycle;
pub mod mailer;
pub mod metrics;
pub mod ops;
pub mod outbox;
pub mod rabbitmq;
pub mod retention;
pub mod routing;
pub mod store;

// What starting a broker takes; the rest is reached through its module.
pub use config::Config;
pub use daemon::{run, start, Running};
