//! Taking a participant's inbox for the desk, with the participant client's own code: each
//! message is verified and opened as `varsel inbox` does, a delivery is kept in the store
//! **sealed** (the broker's signed message as received; the opened content is dropped) and its
//! receipt sent, and only then is the message acknowledged to RabbitMQ; a heartbeat from the
//! broker is answered with a receipt and kept nowhere. A message that fails
//! verification is rejected, so the inbox queue dead-letters it. A lost connection is retried
//! until the desk stops. Each delivery kept for the first time is announced (its id and
//! participant, nothing else) to the live inbox pages, after it is committed.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions};
use lapin::types::FieldTable;
use tokio::sync::broadcast;
use uuid::Uuid;

use varsel_participant::client::{Client, Item};
use varsel_protocol::message::ParticipantId;
use varsel_transport::amqp;
use varsel_transport::shutdown::Signals;

use crate::store::Store;

/// How long to wait before connecting again after the inbox was lost.
const RECONNECT: Duration = Duration::from_secs(2);

/// A delivery just kept: whom it is for and its id. No header field and nothing of the content:
/// whoever is told looks the delivery up with its own rights.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub participant: ParticipantId,
    pub delivery: Uuid,
}

/// What stopped one pass over the inbox.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Client(#[from] varsel_participant::client::Error),
    #[error(transparent)]
    Amqp(#[from] amqp::Error),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("RabbitMQ ended the inbox consumer")]
    Ended,
}

fn protocol(what: &str) -> impl FnOnce(lapin::Error) -> Error + '_ {
    move |source| {
        Error::Amqp(amqp::Error::Protocol {
            what: what.to_owned(),
            source,
        })
    }
}

/// Takes `client`'s inbox until `signals` stops the desk, connecting again after a failure.
/// Each delivery kept for the first time is sent on `arrivals` (no one listening is fine).
pub async fn run(
    client: Arc<Client>,
    store: Store,
    signals: Signals,
    arrivals: broadcast::Sender<Arrival>,
) {
    while !signals.is_stopping() {
        match consume(&client, &store, &signals, &arrivals).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(participant = %client.me(), error = %e, "the inbox was lost; connecting again");
                tokio::select! {
                    _ = signals.stopped() => break,
                    _ = tokio::time::sleep(RECONNECT) => {}
                }
            }
        }
    }
}

async fn consume(
    client: &Client,
    store: &Store,
    signals: &Signals,
    arrivals: &broadcast::Sender<Arrival>,
) -> Result<(), Error> {
    let (conn, publisher) = client.connect().await?;
    let channel = conn
        .create_channel()
        .await
        .map_err(protocol("opening a channel"))?;
    channel
        .basic_qos(16, BasicQosOptions::default())
        .await
        .map_err(protocol("setting the prefetch"))?;
    let queue = amqp::inbox(client.me());
    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "varsel-desk".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(protocol("consuming the inbox"))?;
    tracing::info!(participant = %client.me(), "taking the inbox");
    loop {
        tokio::select! {
            _ = signals.stopped() => break,
            next = consumer.next() => match next {
                Some(Ok(d)) => {
                    let r = if handle(client, store, &publisher, &d.data, arrivals).await? {
                        d.acker.ack(BasicAckOptions::default()).await
                    } else {
                        d.acker.reject(BasicRejectOptions { requeue: false }).await
                    };
                    r.map_err(protocol("acknowledging an inbox message"))?;
                }
                Some(Err(e)) => return Err(protocol("consuming the inbox")(e)),
                None => return Err(Error::Ended),
            }
        }
    }
    let _ = conn.close(200, "desk stopping".into()).await;
    Ok(())
}

/// Handles one message; false when it was refused and is to be dead-lettered.
async fn handle(
    client: &Client,
    store: &Store,
    publisher: &amqp::Publisher,
    body: &[u8],
    arrivals: &broadcast::Sender<Arrival>,
) -> Result<bool, Error> {
    let now = client.clock.now();
    let item = match client.open(body, now) {
        Ok(item) => item,
        Err(r) => {
            tracing::warn!(participant = %client.me(), reason = r.reason.code(), "refused an inbox message");
            return Ok(false);
        }
    };
    match &item {
        Item::Heartbeat(h) => {
            // The broker checks the line: answered at once, kept nowhere and shown to no one.
            let (payload, compact) = client.receipt(h.heartbeat, None);
            client.publish(publisher, &payload, &compact).await?;
            tracing::debug!(participant = %client.me(), heartbeat = %h.heartbeat, "heartbeat receipted");
        }
        Item::Delivery(d) => {
            let new = store
                .keep_delivery(d, client.me(), body, now.timestamp_millis())
                .await?;
            if store.receipt_pending(d.delivery).await? {
                let (payload, compact) = client.receipt(d.delivery, Some(d.alert));
                client.publish(publisher, &payload, &compact).await?;
                store
                    .receipt_sent(d.delivery, client.clock.now().timestamp_millis())
                    .await?;
            }
            tracing::info!(participant = %client.me(), delivery = %d.delivery, alert = %d.alert, new, "delivery kept sealed and receipted");
            if new {
                // An error only says no page is listening now.
                let _ = arrivals.send(Arrival {
                    participant: client.me().clone(),
                    delivery: d.delivery,
                });
            }
        }
        other => {
            let kind = serde_json::to_value(other)
                .ok()
                .and_then(|v| v["item"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "other".to_owned());
            store
                .keep_other(client.me(), &kind, body, now.timestamp_millis())
                .await?;
            tracing::info!(participant = %client.me(), kind, "inbox message kept");
        }
    }
    Ok(true)
}
