//! Escalation: what happens, and when, if a recipient does not confirm receipt or acknowledge an
//! alert in time.
//!
//! A policy is named in the routing table and frozen as JSON on every alert when it is routed, so
//! a later change of the table does not change the ladder of an alert already under way.
//! [`policy`] holds the policy and its pure planning, [`raw`] the written form and its validation,
//! [`duration`] the way durations are read and written; the store-backed [`scheduler`] turns
//! [`Policy::plan`] into timers. Everything but the scheduler is free of I/O and takes the time
//! as a parameter.

mod duration;
mod policy;
mod raw;
pub mod scheduler;
mod timer;

pub use duration::{format_duration, parse_duration, MAX_DURATION};
pub use policy::{Action, EmailTarget, Planned, Policy, Step, MAX_REPEAT};
pub use raw::Error;
pub(crate) use raw::{parse_sections, RawPolicy};
pub use scheduler::{Registries, Scheduler};
pub use timer::{frozen, Timer, Unreadable};
