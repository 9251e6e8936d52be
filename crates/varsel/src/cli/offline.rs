//! The offline tools, which need no broker: `keygen`, `seal` and `open`.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context;

use varsel_participant::client::Client;
use varsel_protocol::envelope;
use varsel_protocol::message::{ParticipantId, Suite};
use varsel_protocol::registry::Registry;

use super::exit::{fail, Failure, EX_CANTCREAT, EX_CONFIG, EX_DATAERR, EX_USAGE};
use super::load::{keys_from_file, read_document};
use super::out;

/// The largest message `varsel open` reads: what a participant client accepts from its inbox.
const OPEN_LIMIT: usize = envelope::DEFAULT_MAX_MESSAGE * 2;

/// `--suite` of `varsel seal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SuiteArg {
    /// DHKEM(X25519, HKDF-SHA256).
    X25519,
    /// X-Wing (ML-KEM-768 + X25519), post-quantum.
    XWing,
}

impl From<SuiteArg> for Suite {
    fn from(s: SuiteArg) -> Suite {
        match s {
            SuiteArg::X25519 => Suite::X25519,
            SuiteArg::XWing => Suite::XWing,
        }
    }
}

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
    out::line(&made.registry_entry)
}

/// `varsel seal`: the signed, sealed message on standard output.
pub(super) fn seal(
    registry: PathBuf,
    key: PathBuf,
    to: &[String],
    suite: Suite,
    document: PathBuf,
) -> Result<(), Failure> {
    let registry = Registry::load(&registry).map_err(|e| fail(EX_CONFIG)(e.into()))?;
    let (me, keys) = keys_from_file(&registry, &key)?;
    let to = to
        .iter()
        .map(|t| t.trim().parse::<ParticipantId>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(EX_USAGE)(anyhow::Error::new(e).context("--to")))?;
    let doc = read_document(&document)?;
    let c = Client::offline(registry, me, keys);
    let (_, compact) = c
        .seal_to(&doc, &to, suite, chrono::Utc::now())
        .map_err(|e| match e {
            varsel_participant::client::Error::Invalid(_) => fail(EX_DATAERR)(e.into()),
            _ => fail(EX_CONFIG)(e.into()),
        })?;
    out::line(compact)
}

/// `varsel open`: the verified message with the sections the key may read, as JSON.
pub(super) fn open(registry: PathBuf, key: PathBuf, message: PathBuf) -> Result<(), Failure> {
    let registry = Registry::load(&registry).map_err(|e| fail(EX_CONFIG)(e.into()))?;
    let (me, keys) = keys_from_file(&registry, &key)?;
    let bytes = read_message(&message)?;
    let c = Client::offline(registry, me, keys);
    let opened = c
        .open_offline(&bytes, chrono::Utc::now())
        .map_err(|r| fail(EX_DATAERR)(anyhow::anyhow!("{r}")))?;
    out::line(serde_json::to_string_pretty(&opened).unwrap_or_default())
}

/// Reads a message file of at most [`OPEN_LIMIT`] bytes, plus the line end a shell redirect
/// leaves after it, without reading more of a larger file (or endless input such as a pipe).
fn read_message(path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("reading {}", path.display()))
        .map_err(fail(EX_USAGE))?;
    let mut bytes = Vec::new();
    file.take(OPEN_LIMIT as u64 + 3)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))
        .map_err(fail(EX_USAGE))?;
    for end in [&b"\n"[..], b"\r\n"] {
        if let Some(rest) = bytes.strip_suffix(end) {
            bytes.truncate(rest.len());
            break;
        }
    }
    if bytes.len() > OPEN_LIMIT {
        return Err(fail(EX_DATAERR)(anyhow::anyhow!(
            "oversized: {} is larger than {OPEN_LIMIT} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}
