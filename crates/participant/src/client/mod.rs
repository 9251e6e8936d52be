//! The participant client: what a school and an agency run (`varsel send`, `varsel inbox`,
//! `varsel ack`).
//!
//! - `send`: reads a school's alert, update or cancel document, validates it (personnummer
//!   checksums included), seals each section to the broker, signs, and publishes on `varsel.in`
//!   with a publisher confirm. Prints the message id.
//! - `inbox`: reads the participant's own inbox, verifies the broker's signature and, inside a
//!   delivery, the school's original signature; opens the sections this participant was granted;
//!   sends a signed `receipt` at once; and remembers each delivery id so a redelivered message is
//!   processed once. A `heartbeat` is answered with a receipt at once and shown to no one.
//! - `ack`: a named officer takes a delivery, with an outcome.

mod inbox;
mod item;
mod open;
mod send;
mod state;

use std::path::PathBuf;

use varsel_protocol::envelope::KeySet;
use varsel_protocol::message::ParticipantId;
use varsel_protocol::refusal::Refusal;
use varsel_protocol::registry::Registry;
use varsel_transport::amqp;
use varsel_transport::clock::Clock;

use crate::config::ClientConfig;

pub use item::{Item, OpenedDelivery, OpenedNote};
pub use state::State;

/// What went wrong in the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Registry(#[from] varsel_protocol::registry::Error),
    #[error("keys: {0}")]
    Keys(String),
    #[error("the document is not valid:\n{0}")]
    Invalid(String),
    #[error("{0}")]
    Refused(Refusal),
    #[error(transparent)]
    Amqp(#[from] amqp::Error),
    #[error("RabbitMQ did not take the message ({0:?}); it was not sent")]
    NotConfirmed(amqp::Published),
    #[error("the client state in {path}: {source}")]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// A participant's client: its configuration, the registry and its private keys.
pub struct Client {
    pub config: ClientConfig,
    pub registry: Registry,
    pub keys: KeySet,
    /// The time messages are dated with (the system clock, except in the demo and tests).
    pub clock: Clock,
}

impl Client {
    pub fn load(config: ClientConfig) -> Result<Client, Error> {
        let registry = Registry::load(&config.registry)?;
        let keys = KeySet::load(&config.keys_dir, &config.participant)
            .map_err(|e| Error::Keys(e.to_string()))?;
        Ok(Client {
            config,
            registry,
            keys,
            clock: Clock::system(),
        })
    }

    pub fn me(&self) -> &ParticipantId {
        &self.config.participant
    }

    /// A client for offline use (`varsel seal`, `varsel open`): no AMQP, no state directory.
    pub fn offline(registry: Registry, participant: ParticipantId, keys: KeySet) -> Client {
        Client {
            config: ClientConfig {
                participant,
                keys_dir: PathBuf::new(),
                registry: PathBuf::new(),
                state_dir: PathBuf::new(),
                suite: varsel_protocol::message::Suite::X25519,
                amqp: varsel_transport::settings::Amqp {
                    urls: vec![String::new()],
                    prefetch: 1,
                    reconnect_max_delay: std::time::Duration::ZERO,
                    tls: None,
                },
            },
            registry,
            keys,
            clock: Clock::system(),
        }
    }
}
