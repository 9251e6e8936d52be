//! What several commands read: the daemon's configuration, a participant client's configuration,
//! a document, a participant's keys, and the accounts of a registry (or of the demo).

use std::path::{Path, PathBuf};

use anyhow::Context;

use varsel_broker::config::Config;
use varsel_participant::client::Client;
use varsel_participant::config::ClientConfig;
use varsel_protocol::alert::Document;
use varsel_protocol::envelope::KeySet;
use varsel_protocol::message::ParticipantId;
use varsel_protocol::registry::Registry;
use varsel_testkit::world;

use super::exit::{fail, Failure, EX_CONFIG, EX_DATAERR, EX_USAGE};

pub(super) fn load_config(path: &Path) -> Result<Config, Failure> {
    Config::load(path).map_err(|e| fail(EX_CONFIG)(e.into()))
}

pub(super) fn client(config: &Path) -> Result<Client, Failure> {
    let c = ClientConfig::load(config).map_err(|e| fail(EX_CONFIG)(e.into()))?;
    Client::load(c).map_err(|e| fail(EX_CONFIG)(e.into()))
}

/// Reads and validates an alert, update or cancel document with the same checks as the
/// broker's intake; every problem is reported with its reason code and JSON Pointer.
pub(super) fn read_document(path: &Path) -> Result<Document, Failure> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("reading {}", path.display()))
        .map_err(fail(EX_USAGE))?;
    Document::parse(&bytes, chrono::Utc::now()).map_err(|problems| {
        let lines: Vec<String> = problems
            .iter()
            .map(|p| {
                let at = if p.path.is_empty() { "/" } else { &p.path };
                format!("  {} at {at}: {}", p.reason.code(), p.message)
            })
            .collect();
        fail(EX_DATAERR)(anyhow::anyhow!(
            "{} is not a valid document ({} problem(s)):\n{}",
            path.display(),
            problems.len(),
            lines.join("\n")
        ))
    })
}

/// Loads a participant's keys from its signing key file and finds its id in the registry.
pub(super) fn keys_from_file(
    registry: &Registry,
    key: &Path,
) -> Result<(ParticipantId, KeySet), Failure> {
    let name = key
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".signing.pem"))
        .ok_or_else(|| {
            fail(EX_USAGE)(anyhow::anyhow!(
                "--key must name a <participant>.signing.pem file"
            ))
        })?;
    let id: ParticipantId = name
        .parse()
        .map_err(|e: varsel_protocol::message::InvalidValue| fail(EX_USAGE)(e.into()))?;
    let dir = key.parent().unwrap_or(Path::new("."));
    let keys = KeySet::load(dir, &id).map_err(|e| fail(EX_CONFIG)(anyhow::anyhow!("{e}")))?;
    if registry.participant(&id).is_none() {
        return Err(fail(EX_CONFIG)(anyhow::anyhow!(
            "{id} is not in the registry"
        )));
    }
    Ok((id, keys))
}

pub(super) fn accounts_of(
    registry: Option<PathBuf>,
) -> Result<Vec<varsel_broker::rabbitmq::Account>, Failure> {
    match registry {
        Some(r) => {
            let r = Registry::load(&r).map_err(|e| fail(EX_CONFIG)(e.into()))?;
            Ok(varsel_broker::rabbitmq::accounts(&r))
        }
        None => Ok(world::accounts()),
    }
}
