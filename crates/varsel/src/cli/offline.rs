//! The offline tools, which need no broker: `keygen`, `seal` and `open`.

use std::path::PathBuf;

use anyhow::Context;

use varsel_participant::client::Client;
use varsel_protocol::envelope;
use varsel_protocol::message::ParticipantId;
use varsel_protocol::registry::Registry;

use super::exit::{fail, Failure, EX_CANTCREAT, EX_CONFIG, EX_DATAERR, EX_USAGE};
use super::load::{keys_from_file, read_document};

/// `varsel keygen`: a participant's keys, and its registry entry on standard output.
pub(super) fn keygen(id: String, out: PathBuf) -> Result<(), Failure> {
    let id: ParticipantId = id
        .parse()
        .map_err(|e: varsel_protocol::message::InvalidValue| fail(EX_USAGE)(e.into()))?;
    let made = envelope::keygen(&id, &out, chrono::Utc::now())
        .map_err(|e| fail(EX_CANTCREAT)(anyhow::anyhow!("{e}")))?;
    eprintln!(
        "wrote the private keys of {id} to {} (mode 0600)",
        out.display()
    );
    println!("{}", made.registry_entry);
    Ok(())
}

/// `varsel seal`: the signed, sealed message on standard output.
pub(super) fn seal(
    registry: PathBuf,
    key: PathBuf,
    to: String,
    document: PathBuf,
) -> Result<(), Failure> {
    let registry = Registry::load(&registry).map_err(|e| fail(EX_CONFIG)(e.into()))?;
    let (me, keys) = keys_from_file(&registry, &key)?;
    let to: ParticipantId = to
        .parse()
        .map_err(|e: varsel_protocol::message::InvalidValue| fail(EX_USAGE)(e.into()))?;
    let doc = read_document(&document)?;
    let c = Client::offline(registry, me, keys);
    let (_, compact) = c
        .seal_to(&doc, &to, chrono::Utc::now())
        .map_err(|e| match e {
            varsel_participant::client::Error::Invalid(_) => fail(EX_DATAERR)(e.into()),
            _ => fail(EX_CONFIG)(e.into()),
        })?;
    println!("{compact}");
    Ok(())
}

/// `varsel open`: the verified message with the sections the key may read, as JSON.
pub(super) fn open(registry: PathBuf, key: PathBuf, message: PathBuf) -> Result<(), Failure> {
    let registry = Registry::load(&registry).map_err(|e| fail(EX_CONFIG)(e.into()))?;
    let (me, keys) = keys_from_file(&registry, &key)?;
    let bytes = std::fs::read(&message)
        .with_context(|| format!("reading {}", message.display()))
        .map_err(fail(EX_USAGE))?;
    let trimmed = bytes.trim_ascii();
    let c = Client::offline(registry, me, keys);
    let opened = c
        .open_offline(trimmed, chrono::Utc::now())
        .map_err(|r| fail(EX_DATAERR)(anyhow::anyhow!("{r}")))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&opened).unwrap_or_default()
    );
    Ok(())
}
