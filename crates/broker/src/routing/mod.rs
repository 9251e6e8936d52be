//! The routing table: ordered rules from header to recipients, sections and escalation policy.
//!
//! The table is a TOML file (see `deploy/routing.example.toml` and
//! `schemas/routing.schema.json`). Rules are tried in order; every rule whose `match` fits the
//! alert's cleartext header adds its recipients, and evaluation stops at the first such rule
//! unless it says `continue = true`. An alert no rule takes is never dropped: it goes to the
//! table's `default_recipient` (ops) with no sections, so a human sees it without reading it.
//!
//! Loading is two-step: the file is read into `Raw…` structs, then validated as a whole so an
//! operator sees every problem at once, each under its key path.
//!
//! In the order a table is used: `load` reads and validates it into a [`Table`] (`table`, its
//! rules and their `matcher`); `evaluate` routes a header to a [`Decision`] (`decision`: who gets
//! it and why); `explain` tells the same story in words for `varsel routes explain`. `notes`
//! holds the `[[note]]` lines: which members of a case get which kind of note.

mod decision;
mod evaluate;
mod explain;
mod load;
mod matcher;
mod notes;
mod table;

use std::fmt::Write as _;
use std::path::PathBuf;

use varsel_protocol::problems::{self, Problem};

pub use decision::{Decision, Fired, Recipient, Substitute, DEFAULT_VIA};
pub use notes::{Member, NoteLine};
pub use table::Table;

/// Why a routing table was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read routing table {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not TOML, or a value of the wrong type or an unknown key: the one problem the parser
    /// stopped at.
    #[error("{}: not a valid routing table: {}", .0.origin, joined(&.0.problems))]
    Syntax(problems::Error),
    /// The table parsed, but did not validate: every problem found.
    #[error("{}: {} problem(s) in the routing table:{}", .0.origin, .0.problems.len(), bullets(&.0.problems))]
    Invalid(problems::Error),
}

impl Error {
    /// The problems found, for a table that parsed but did not validate.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Error::Invalid(e) => &e.problems,
            _ => &[],
        }
    }
}

fn joined(problems: &[Problem]) -> String {
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    shown.join("; ")
}

fn bullets(problems: &[Problem]) -> String {
    problems.iter().fold(String::new(), |mut out, p| {
        let _ = write!(out, "\n  - {p}");
        out
    })
}

#[cfg(test)]
mod tests {
    //! What the tests of every part of the routing table share: the example table, a header, a
    //! registry's office hours.

    use std::path::Path;

    use chrono::{DateTime, Utc};
    use varsel_protocol::calendar::OfficeHours;
    use varsel_protocol::message::{
        Category, Header, ParticipantId, RecipientRole, Status, Urgency,
    };

    use super::{Decision, Table};

    pub(super) const EXAMPLE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/routing.example.toml"
    );

    pub(super) fn example() -> Table {
        match Table::load(Path::new(EXAMPLE)) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    pub(super) fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    pub(super) fn header(category: Category, status: Status) -> Header {
        Header {
            municipality: "0581".parse().unwrap(),
            category,
            urgency: Urgency::Immediate,
            status,
            planned_departure: None,
            correlation: Vec::new(),
        }
    }

    pub(super) fn pid(s: &str) -> ParticipantId {
        s.parse().unwrap()
    }

    /// Socialtjänsten keeps office hours; socialjouren and the police are always open.
    pub(super) fn hours(p: &ParticipantId) -> Option<OfficeHours> {
        match p.as_str() {
            "norrkoping-socialtjansten" => Some("mon-fri 08:00-17:00".parse().unwrap()),
            "norrkoping-socialjouren" | "polisen-region-ost" | "varsel-ops" => {
                Some(OfficeHours::always())
            }
            _ => None,
        }
    }

    pub(super) fn who(d: &Decision) -> Vec<(&str, RecipientRole)> {
        d.recipients
            .iter()
            .map(|r| (r.participant.as_str(), r.role))
            .collect()
    }

    /// Tuesday 2026-03-10 10:00 in Stockholm.
    pub(super) const TUESDAY_10: &str = "2026-03-10T09:00:00Z";
}
