//! The participant side of varsel: what a school's or an agency's system runs.
//!
//! [`client::Client`] sends sealed, signed alerts, updates and cancels; takes the participant's
//! inbox, verifying the broker's and the sender's signatures and opening the sections granted to
//! it; answers every delivery with a signed receipt (deduplicated by delivery id in its local
//! state) and sends a named officer's acknowledgement. [`config::ClientConfig`] is its validated
//! configuration file.
#![forbid(unsafe_code)]

pub mod client;
pub mod config;

pub use client::Client;
pub use config::ClientConfig;
