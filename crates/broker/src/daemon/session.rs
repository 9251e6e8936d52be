//! One AMQP connection kept up: connect with backoff, declare the topology, consume intake and
//! the alternate exchange's catch, and reconnect when RabbitMQ goes away: to the next node of
//! the cluster first when several are configured, since the one just lost may be down.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::Connection;
use serde_json::json;
use tokio::sync::watch;
use uuid::Uuid;

use super::process::{process, BATCH_MAX};
use super::Shared;
use crate::intake::World;
use crate::lifecycle;
use crate::store::NewAudit;
use varsel_protocol::message::ParticipantId;
use varsel_transport::amqp;
use varsel_transport::shutdown::Signals;

/// Keeps one AMQP connection up: connect, declare, consume; on loss, reconnect with backoff.
pub(super) async fn supervise_amqp(
    shared: Arc<Shared>,
    link: Arc<watch::Sender<Option<amqp::Publisher>>>,
    signals: Signals,
) {
    let max_delay = shared.config.amqp.reconnect_max_delay;
    // Started again by the supervisor after a panic: nothing of a session that died is kept.
    let _ = link.send(None);
    shared.health.set_amqp(false);
    let mut first = true;
    // The node to try first: after a lost connection, the one after the node it went to.
    let mut next = 0;
    loop {
        let stop = signals.clone();
        let Some((conn, node)) = amqp::connect_with_backoff(
            &shared.config.amqp,
            "varsel-broker",
            max_delay,
            next,
            async move { stop.stopped().await },
        )
        .await
        else {
            break;
        };
        next = node + 1;
        let url = &shared.config.amqp.urls[node];
        if !first {
            shared.metrics.amqp_reconnected();
        }
        first = false;
        tracing::info!(url = %amqp::redact_url(url), "connected to RabbitMQ");
        let result = session(&shared, &conn, &link, &signals).await;
        let _ = link.send(None);
        shared.health.set_amqp(false);
        shared.metrics.set_amqp_connected(false);
        match result {
            Ok(()) => {
                let _ = conn.close(200, "varsel broker stopping".into()).await;
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, "lost the RabbitMQ connection; reconnecting");
                if signals.is_stopping() {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = signals.stopped() => break,
                }
            }
        }
    }
}

fn participant_ids(world: &World) -> Vec<ParticipantId> {
    world
        .registry
        .participants()
        .iter()
        .map(|p| p.id.clone())
        .collect()
}

/// One connected session: returns Ok on a requested stop, Err when the connection is lost.
async fn session(
    shared: &Arc<Shared>,
    conn: &Connection,
    link: &watch::Sender<Option<amqp::Publisher>>,
    signals: &Signals,
) -> Result<(), amqp::Error> {
    let world = shared.world();
    amqp::declare_topology(conn, &participant_ids(&world)).await?;
    let publisher = amqp::Publisher::open(conn).await?;
    let channel = conn
        .create_channel()
        .await
        .map_err(|source| amqp::Error::Protocol {
            what: "opening the intake channel".into(),
            source,
        })?;
    channel
        .basic_qos(shared.config.amqp.prefetch, BasicQosOptions::default())
        .await
        .map_err(|source| amqp::Error::Protocol {
            what: "setting the prefetch".into(),
            source,
        })?;
    let mut intake = channel
        .basic_consume(
            amqp::INTAKE.into(),
            "varsel-broker-intake".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|source| amqp::Error::Protocol {
            what: format!("consuming {}", amqp::INTAKE),
            source,
        })?;
    let unrouted_channel = conn
        .create_channel()
        .await
        .map_err(|source| amqp::Error::Protocol {
            what: "opening the unrouted channel".into(),
            source,
        })?;
    let mut unrouted = unrouted_channel
        .basic_consume(
            amqp::UNROUTED.into(),
            "varsel-broker-unrouted".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|source| amqp::Error::Protocol {
            what: format!("consuming {}", amqp::UNROUTED),
            source,
        })?;
    let _ = link.send(Some(publisher.clone()));
    shared.health.set_amqp(true);
    shared.metrics.set_amqp_connected(true);
    let mut reloads = signals.reloads();
    let lost = |what: &str| amqp::Error::Protocol {
        what: what.into(),
        source: lapin::Error::from(lapin::ErrorKind::InvalidConnectionState(
            lapin::ConnectionState::Closed,
        )),
    };
    loop {
        tokio::select! {
            biased;
            _ = signals.stopped() => {
                let _ = channel.close(200, "stopping".into()).await;
                let _ = unrouted_channel.close(200, "stopping".into()).await;
                return Ok(());
            }
            next = intake.next() => match next {
                Some(Ok(d)) => {
                    // Take whatever else is already here, without waiting, and commit it together.
                    let mut batch = vec![d];
                    let mut ended = None;
                    while batch.len() < BATCH_MAX {
                        match intake.next().now_or_never() {
                            Some(Some(Ok(d))) => batch.push(d),
                            Some(Some(Err(e))) => {
                                ended = Some(amqp::Error::Protocol { what: "consuming intake".into(), source: e });
                                break;
                            }
                            Some(None) => {
                                ended = Some(lost("the intake consumer ended"));
                                break;
                            }
                            None => break,
                        }
                    }
                    process(shared, &publisher, batch, signals).await?;
                    if let Some(e) = ended {
                        return Err(e);
                    }
                }
                Some(Err(e)) => return Err(amqp::Error::Protocol { what: "consuming intake".into(), source: e }),
                None => return Err(lost("the intake consumer ended")),
            },
            next = unrouted.next() => match next {
                Some(Ok(d)) => unroutable(shared, d).await?,
                Some(Err(e)) => return Err(amqp::Error::Protocol { what: "consuming unrouted".into(), source: e }),
                None => return Err(lost("the unrouted consumer ended")),
            },
            _ = reloads.changed() => {
                // New participants get their inboxes without a restart.
                let world = shared.world();
                amqp::declare_topology(conn, &participant_ids(&world)).await?;
            }
        }
    }
}

/// A message the alternate exchange caught: no inbox queue took it. The delivery is marked
/// unroutable for ops to see; the message itself stays recorded in the outbox.
async fn unroutable(shared: &Arc<Shared>, d: lapin::message::Delivery) -> Result<(), amqp::Error> {
    let now = shared.clock.now();
    let delivery_id =
        amqp::header(&d.properties, amqp::H_DELIVERY).and_then(|s| s.parse::<Uuid>().ok());
    let result = async {
        let mut tx = shared.store().begin().await?;
        let mut alert = None;
        if let Some(id) = delivery_id {
            let (from, to) = lifecycle::delivery::on_unroutable();
            if tx.transition_delivery(id, from, to, now, None, None).await? {
                let registry = shared.world().registry;
                shared
                    .intake
                    .writer
                    .unroutable(&mut tx, &registry, id, now)
                    .await?;
            }
            alert = tx.delivery_for_update(id).await?.map(|d| d.alert);
        }
        tx.audit(&NewAudit {
            at: now,
            actor: shared.intake.broker().to_string(),
            action: "delivery_unroutable".into(),
            alert,
            delivery: delivery_id,
            detail: json!({ "routing_key": d.routing_key.as_str(), "outbox": amqp::header(&d.properties, amqp::H_OUTBOX) }),
        })
        .await?;
        tx.commit().await
    }
    .await;
    match result {
        Ok(()) => {
            shared
                .metrics
                .delivery_published(crate::metrics::PublishResult::Returned);
            tracing::error!(delivery = ?delivery_id, routing_key = d.routing_key.as_str(), "no inbox took a delivery; marked unroutable");
            amqp::ack(&d, "unrouted").await
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not record an unroutable delivery; left for redelivery");
            amqp::requeue(&d).await;
            Ok(())
        }
    }
}
