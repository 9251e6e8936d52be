//! `varsel routes`: check a routing table, or explain which rules fire for a header and why.

use anyhow::Context;

use varsel_broker::routing;
use varsel_protocol::message::{Header, ParticipantId};
use varsel_protocol::registry::Registry;

use super::exit::{fail, Failure, EX_CONFIG, EX_DATAERR, EX_USAGE};
use super::out;
use super::RoutesCommand;

pub(super) fn run(command: RoutesCommand) -> Result<(), Failure> {
    match command {
        RoutesCommand::Check { table, registry } => {
            let t = routing::Table::load(&table).map_err(|e| fail(EX_CONFIG)(e.into()))?;
            if let Some(r) = registry {
                let r = Registry::load(&r).map_err(|e| fail(EX_CONFIG)(e.into()))?;
                t.check_against(&|id: &ParticipantId| r.participant(id).is_some())
                    .and_then(|()| {
                        t.check_office_hours(&|id: &ParticipantId| {
                            r.participant(id).is_some_and(|p| p.office_hours.is_some())
                        })
                    })
                    .map_err(|e| fail(EX_CONFIG)(e.into()))?;
            }
            out::line(format_args!(
                "{}: ok (version {})",
                table.display(),
                t.version()
            ))
        }
        RoutesCommand::Explain {
            table,
            header,
            at,
            registry,
        } => {
            let t = routing::Table::load(&table).map_err(|e| fail(EX_CONFIG)(e.into()))?;
            let text = match header.strip_prefix('@') {
                Some(file) => std::fs::read_to_string(file)
                    .with_context(|| format!("reading {file}"))
                    .map_err(fail(EX_USAGE))?,
                None => header,
            };
            let header: Header = serde_json::from_str(&text)
                .context("--header is not a valid routing header")
                .map_err(fail(EX_DATAERR))?;
            let registry = match registry {
                Some(r) => Some(Registry::load(&r).map_err(|e| fail(EX_CONFIG)(e.into()))?),
                None => None,
            };
            let at = at.unwrap_or_else(chrono::Utc::now);
            let hours = |id: &ParticipantId| {
                registry
                    .as_ref()
                    .and_then(|r| r.participant(id))
                    .and_then(|p| p.office_hours.clone())
            };
            out::text_of(t.explain(&header, at, &hours))
        }
    }
}
