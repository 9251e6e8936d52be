//! The participant client's commands: `send` (a document, or a note to a case), `inbox` and
//! `ack`.

use std::path::PathBuf;

use uuid::Uuid;

use anyhow::Context;
use varsel_protocol::message::{NoteKind, Outcome};
use varsel_protocol::note;
use varsel_transport::shutdown::Signals;

use super::exit::{fail, Failure, EX_CONFIG, EX_DATAERR, EX_SOFTWARE, EX_UNAVAILABLE, EX_USAGE};
use super::load::{client, read_document};
use super::out;

/// `varsel send`: publishes a document and prints its id.
pub(super) async fn send(config: PathBuf, document: PathBuf) -> Result<(), Failure> {
    let c = client(&config)?;
    let doc = read_document(&document)?;
    let id = c.send(&doc).await.map_err(not_sent)?;
    out::line(id)
}

/// Why a message was not sent, as the exit code says it: the message itself (65), RabbitMQ
/// (69), or the client's configuration and keys (78).
fn not_sent(e: varsel_participant::client::Error) -> Failure {
    match e {
        varsel_participant::client::Error::Invalid(_) => fail(EX_DATAERR)(e.into()),
        varsel_participant::client::Error::Amqp(_)
        | varsel_participant::client::Error::NotConfirmed(_) => fail(EX_UNAVAILABLE)(e.into()),
        _ => fail(EX_CONFIG)(e.into()),
    }
}

/// `varsel send --note <kind> --alert <id> <body>`: posts a note to a case and prints its id.
pub(super) async fn send_note(
    config: PathBuf,
    body: PathBuf,
    kind: String,
    alert: Uuid,
) -> Result<(), Failure> {
    let kind: NoteKind = kind
        .parse()
        .map_err(|e: varsel_protocol::message::InvalidValue| fail(EX_USAGE)(e.into()))?;
    let text = std::fs::read(&body)
        .with_context(|| format!("reading {}", body.display()))
        .map_err(fail(EX_USAGE))?;
    let body: note::Body = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a note body", body.display()))
        .map_err(fail(EX_DATAERR))?;
    let c = client(&config)?;
    let id = c.send_note(kind, alert, &body).await.map_err(not_sent)?;
    out::line(id)
}

/// `varsel inbox`: reads the inbox, printing each item as text or a JSON line.
pub(super) async fn inbox(config: PathBuf, follow: bool, json: bool) -> Result<(), Failure> {
    let c = client(&config)?;
    let signals = Signals::from_os().map_err(|e| fail(EX_SOFTWARE)(e.into()))?;
    // When standard output fails (its reader went away), the inbox stops after the item at
    // hand, as a stop signal would stop it: what was processed was receipted, nothing is lost.
    let mut written = Ok(());
    let n = c
        .inbox(follow, &signals, |item| {
            if written.is_err() {
                return;
            }
            written = if json {
                out::line(serde_json::to_string(item).unwrap_or_default())
            } else {
                out::text_of(item)
            };
            if written.is_err() {
                signals.stop();
            }
        })
        .await
        .map_err(|e| fail(EX_UNAVAILABLE)(e.into()))?;
    written?;
    if !json {
        eprintln!("{n} nya meddelanden behandlade");
    }
    Ok(())
}

/// `varsel ack`: an officer's acknowledgement of a delivery.
pub(super) async fn ack(
    config: PathBuf,
    delivery: Uuid,
    officer: String,
    outcome: String,
) -> Result<(), Failure> {
    let outcome: Outcome = outcome
        .parse()
        .map_err(|e: varsel_protocol::message::InvalidValue| fail(EX_USAGE)(e.into()))?;
    let c = client(&config)?;
    let id = c
        .ack(delivery, &officer, outcome)
        .await
        .map_err(|e| fail(EX_UNAVAILABLE)(e.into()))?;
    out::line(id)
}
