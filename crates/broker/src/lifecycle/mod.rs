//! The broker's two state machines: each delivery's ([`delivery`]) and each alert's ([`alert`]).
//!
//! Every state change the broker makes asks one of them for its `(from, to)` and hands that to the
//! store, which applies it as a conditional update (`… WHERE state IN (from)`). So a transition is
//! idempotent and race-safe, and which event may move what is written down once, here, with its
//! tests, instead of as lists of state codes at each call site.

pub mod alert;
pub mod delivery;
