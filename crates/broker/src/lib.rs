//! varsel: a secure inter-agency alert broker.
//!
//! A school's alert travels through these modules, in this order:
//!
//! | step | module | what happens |
//! |---|---|---|
//! | 1 | [`message`], [`alert`], [`personnummer`] | the school writes the alert; the body is split into sections |
//! | 2 | [`envelope`] | sections are sealed (AEAD + HPKE key wraps) and the payload signed as a JWS |
//! | 3 | [`client`] | the school's client publishes it to `varsel.in` with publisher confirms |
//! | 4 | [`amqp`] | the broker's connection, topology, consumers and confirmed publishing |
//! | 5 | [`intake`] | verify signature, registry, rights, freshness and replay; or refuse ([`refusal`]) |
//! | 6 | [`routing`] | the routing table picks recipients, sections and an escalation policy |
//! | 7 | [`store`], [`audit`] | one transaction: alert, deliveries, outbox, timers, hash-chained audit |
//! | 8 | [`outbox`] | persisted sends are published per recipient (re-wrapped keys), marked sent on confirm |
//! | 9 | [`client`] | the agency opens its sections, sends a receipt, and an officer acks |
//! | 10 | [`acknowledgement`], [`delivery`] | receipts and acks move deliveries on; feedback goes to the school |
//! | 11 | [`escalation`], [`calendar`], [`mailer`] | due timers redeliver, email, add recipients, page ops |
//!
//! Around them: [`registry`] (participants and keys), [`config`], [`broker`] (runs it all),
//! [`shutdown`], [`clock`], [`ops`] (health, metrics, API, dashboard), [`demo`], [`bench`]
//! (end-to-end benchmark against a bare RabbitMQ relay) and [`cli`].
//! Transport: [`tls`] (AMQPS with client certificates, the demo CA) and [`rabbitmq`] (users,
//! permissions and topology for RabbitMQ, generated from the registry).
#![forbid(unsafe_code)]

pub mod acknowledgement;
pub mod audit;
pub mod broker;
pub mod chain;
pub mod config;
pub mod delivery;
pub mod escalation;
pub mod intake;
pub mod mailer;
pub mod ops;
pub mod outbox;
pub mod rabbitmq;
pub mod routing;
pub mod store;
