//! Publishing a message from the desk with the access log written first: an intent entry before
//! RabbitMQ sees it, and a failure entry when RabbitMQ did not confirm it, so every message that
//! left the desk has an entry even if the store fails right after the confirm. The caller writes
//! the outcome entry with what it keeps of the message, and renders the answer.

use serde_json::Value;
use uuid::Uuid;

use varsel_participant::client::Client;
use varsel_protocol::message::Payload;

use super::Desk;
use crate::access_log::Action;
use crate::store::accounts::Account;

/// Why a message was not sent; in either case nothing left the desk.
pub(crate) enum NotSent {
    /// The intent entry could not be written, so the message was not published.
    Unlogged(crate::store::Error),
    /// RabbitMQ did not confirm it (the failure entry is written, or its failure traced).
    Unconfirmed(varsel_participant::client::Error),
}

/// The access-log entries of one kind of message: written before, and written when it failed.
#[derive(Clone, Copy)]
pub(crate) struct Entries {
    pub intent: Action,
    pub failed: Action,
}

/// The entries of a school's alert, update or cancel.
pub(crate) const SENDING: Entries = Entries {
    intent: Action::Sending,
    failed: Action::SendFailed,
};

/// What the log says of a message: its actor, delivery and detail.
pub(crate) struct Logged<'a> {
    pub account: &'a Account,
    pub delivery: Option<Uuid>,
    pub detail: &'a Value,
    pub at: i64,
}

/// Writes the intent entry, then publishes `compact` and waits for RabbitMQ's confirm.
pub(crate) async fn publish(
    desk: &Desk,
    client: &Client,
    entries: Entries,
    log: Logged<'_>,
    payload: &Payload,
    compact: &str,
) -> Result<(), NotSent> {
    let entry = |action| {
        desk.store.log_access(
            &log.account.username,
            action,
            log.delivery,
            log.detail.clone(),
            log.at,
        )
    };
    entry(entries.intent).await.map_err(NotSent::Unlogged)?;
    let sent = async {
        let (conn, publisher) = client.connect().await?;
        let r = client.publish(&publisher, payload, compact).await;
        let _ = conn.close(200, "sent".into()).await;
        r
    };
    if let Err(e) = sent.await {
        tracing::warn!(account = log.account.id, message = %payload.id, error = %e, "a message could not be sent");
        if let Err(e) = entry(entries.failed).await {
            tracing::error!(error = %e, action = entries.failed.code(), "the access log could not record that a message was not sent");
        }
        return Err(NotSent::Unconfirmed(e));
    }
    Ok(())
}
