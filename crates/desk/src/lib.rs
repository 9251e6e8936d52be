//! The participant desk (`varsel desk`): the web application school staff and agency officers
//! sign in to, run by a participant organisation on its own side with its own keys, so content is
//! still opened only by the recipient.
//!
//! The flow, by module:
//! - [`config`]: the desk's file (`desk.toml`), read in two steps and validated;
//! - [`store`]: the desk's own store (SQLite, or PostgreSQL for several desk processes):
//!   accounts, sessions, deliveries kept sealed, and the hash-chained [`access_log`] of who
//!   opened, sent or acknowledged what; the TOTP secrets sealed with the [`secrets`] key;
//! - [`accounts`]: staff accounts and [`role`]s (`varsel desk user add|list|disable`), with
//!   [`password`] (argon2id) and [`totp`] (RFC 6238) as the two factors, [`lockout`] against
//!   guessing and [`session`] for cookies, CSRF tokens and the idle timeout;
//! - [`inbox`]: takes each participant's inbox with the participant client's code, stores each
//!   delivery sealed and sends the receipt;
//! - [`web`]: the pages, server-rendered, in Swedish by default and English on request: sign-in;
//!   the agency officer's inbox, alert page and acknowledgement; the school's New alert form
//!   (checked by the protocol's validator) and My alerts (each recipient's state from the
//!   broker's feedback).
#![forbid(unsafe_code)]

pub mod access_log;
pub mod accounts;
pub mod config;
pub mod inbox;
pub mod lockout;
pub mod password;
pub mod role;
pub mod secrets;
pub mod session;
pub mod store;
pub mod totp;
pub mod web;

pub use config::Config;
pub use store::Store;
pub use web::{start, Running};
