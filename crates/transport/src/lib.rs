//! The AMQP transport that varsel's broker and its participants share.
//!
//! [`amqp`] holds the topology's names (exchanges, queues, headers), connecting with a deadline
//! and backoff, and publishing with confirms; [`settings`] is the validated `[amqp]` section of a
//! configuration file; [`tls`] the identity for mutual TLS with EXTERNAL authentication;
//! [`shutdown`] the one source of stop and reload signals; [`clock`] the time source, real or
//! controlled by a test; [`retry`] the waits between tries (exponential, with jitter).
#![forbid(unsafe_code)]

pub mod amqp;
pub mod clock;
pub mod retry;
pub mod settings;
pub mod shutdown;
pub mod tls;
