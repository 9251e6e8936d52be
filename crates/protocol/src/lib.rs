//! varsel's wire format, for anyone who sends or receives varsel messages.
//!
//! A school's alert is a [`message::Payload`] (a cleartext routing header of codes and a body in
//! labelled sections, [`alert::Document`] before sealing), sealed and signed by [`envelope`]: each
//! section encrypted with its own key, the keys sealed with HPKE to the broker in one key block,
//! the payload signed as a compact JWS (Ed25519); wire format v2, v1 still read. The [`registry`] names every participant with its keys and rights;
//! [`note`] is what an agency's note to a case says and who may post which kind;
//! [`refusal`] holds the reason codes every refusal carries; [`personnummer`] checks Swedish
//! identity numbers; [`calendar`] knows Swedish public holidays and office hours.
//! [`problems`] is the one way files are loaded and their problems reported; [`canonical`] the one
//! canonical JSON (RFC 8785); [`redacted`] the wrapper that keeps secrets and personal data out of
//! `Debug`.
//!
//! This crate does no I/O beyond reading and writing key files: no async runtime, no AMQP, no
//! database, so an agency's own integration can depend on it alone.
#![forbid(unsafe_code)]

pub mod alert;
pub mod calendar;
pub mod canonical;
pub mod envelope;
pub mod message;
pub mod note;
pub mod personnummer;
pub mod problems;
pub mod redacted;
pub mod refusal;
pub mod registry;

// The few types every integrator meets; the rest is reached through its module.
pub use envelope::KeySet;
pub use message::{Kind, ParticipantId, Payload};
pub use refusal::{Reason, Refusal};
pub use registry::Registry;
