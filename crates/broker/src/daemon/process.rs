//! One batch of input: verified and written in one store transaction, committed once, then
//! acknowledged message by message; a refused message is dead-lettered (confirmed) first.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::refuse::{dead_letter, Refused};
use super::{park, Shared};
use crate::intake::{Input, Outcome, World};
use varsel_protocol::message::Kind;
use varsel_transport::amqp;
use varsel_transport::retry;
use varsel_transport::shutdown::Signals;

/// The most input messages committed in one store transaction.
pub(super) const BATCH_MAX: usize = 64;

/// How often a batch is tried when it fails for a reason that is not transient (a constraint,
/// corrupt stored state) before its failing message is looked for and set aside. More than one:
/// an error classed wrongly as lasting gets a second chance.
const NON_TRANSIENT_TRIES: u32 = 3;

/// Handles the input messages that were waiting together (often just one): each is verified and
/// what it causes written under its own savepoint in **one** store transaction (a refusal undoes
/// only its own message's writes, and its audit entry and error reply join the same transaction);
/// one commit; then each message is acknowledged in order, refused ones after their dead letter is
/// confirmed. If the store fails, nothing was acknowledged: the whole batch is held and retried,
/// and on stop handed back to RabbitMQ. A batch that keeps failing for a reason that is not
/// transient is committed message by message, and a message that still fails alone is parked
/// ([`park`]): dead-lettered with reason `internal`, audited, its sender told, ops paged.
pub(super) async fn process(
    shared: &Arc<Shared>,
    publisher: &amqp::Publisher,
    batch: Vec<lapin::message::Delivery>,
    signals: &Signals,
) -> Result<(), amqp::Error> {
    let world = shared.world();
    // Waits from 200 ms doubling to 10 s, with jitter so instances sharing a store that came
    // back do not retry in step.
    let mut delays = retry::delays(Duration::from_millis(200), Duration::from_secs(10));
    let mut failures = 0;
    let outcomes = loop {
        let started = std::time::Instant::now();
        match commit_batch(shared, &world, &batch).await {
            Ok(o) => {
                shared.metrics.observe_store_commit(started.elapsed());
                break o;
            }
            Err(e) if !e.is_transient() && failures + 1 >= NON_TRANSIENT_TRIES => {
                // The same input fails the same way: find the message that does, and set it aside
                // so the ones behind it go through.
                if batch.len() > 1 {
                    tracing::warn!(error = %e, messages = batch.len(), "intake: a batch keeps failing; committing its messages one by one");
                    for d in batch {
                        Box::pin(process(shared, publisher, vec![d], signals)).await?;
                    }
                    return Ok(());
                }
                let d = batch.into_iter().next().expect("a batch of one");
                return park::park(shared, &world, publisher, &d, &e).await;
            }
            Err(e) => {
                let delay = delays.next().unwrap_or(Duration::from_secs(10));
                if !e.is_transient() {
                    failures += 1;
                }
                shared.health.set_store_ok(false);
                shared.health.set_intake_held(true);
                tracing::warn!(error = %e, transient = e.is_transient(), messages = batch.len(), retry_in_ms = delay.as_millis() as u64, "intake: cannot commit, holding the messages");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = signals.stopped() => {
                        for d in &batch {
                            amqp::requeue(d).await;
                        }
                        return Ok(());
                    }
                }
            }
        }
    };
    shared.health.set_store_ok(true);
    shared.health.set_intake_held(false);
    let mut wake = false;
    for (d, outcome) in batch.iter().zip(outcomes) {
        match outcome {
            Outcome::Accepted {
                id,
                kind,
                alert,
                deliveries,
                defaulted,
                labels,
                ..
            } => {
                note_accepted(shared, id, kind, alert, deliveries, defaulted, labels);
                wake = true;
            }
            Outcome::Heartbeat { id, line } => {
                shared.metrics.heartbeat_receipt();
                tracing::debug!(message_id = %id, %line, "heartbeat receipted");
            }
            Outcome::Duplicate { id } => {
                tracing::info!(message_id = %id, "duplicate of an accepted message, acknowledged without effect");
            }
            Outcome::Refused {
                refusal, id, kind, ..
            } => {
                shared.metrics.refused(refusal.reason);
                tracing::warn!(message_id = ?id, kind = ?kind, reason = refusal.reason.code(), detail = %refusal.detail, "refused");
                wake = true;
                if !dead_letter(publisher, d, &refusal).await? {
                    continue;
                }
            }
        }
        amqp::ack(d, "input").await?;
    }
    if wake {
        shared.outbox_wake.notify_one();
    }
    Ok(())
}

/// Verifies and writes a batch in one transaction and commits it; the outcomes are in the
/// batch's order.
async fn commit_batch(
    shared: &Arc<Shared>,
    world: &World,
    batch: &[lapin::message::Delivery],
) -> Result<Vec<Outcome>, crate::commit::Error> {
    let mut tx = shared.store().begin().await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for d in batch {
        let now = shared.clock.now();
        let routing_key = d.routing_key.as_str();
        let user_id = d.properties.user_id().as_ref().map(|u| u.as_str());
        let input = Input {
            body: &d.data,
            routing_key,
            user_id,
        };
        let outcome = shared.intake.handle_in(&mut tx, world, input, now).await?;
        if let Outcome::Refused {
            refusal,
            id,
            kind,
            reply_to,
        } = &outcome
        {
            let refused = Refused {
                refusal,
                id: *id,
                kind: *kind,
                signer: reply_to.as_ref(),
                routing_key,
                body: &d.data,
                cause: None,
            };
            refused.write(&mut tx, shared, now).await?;
        }
        outcomes.push(outcome);
    }
    tx.commit().await?;
    for o in &outcomes {
        shared.intake.committed(o);
    }
    Ok(outcomes)
}

/// Counts and logs an accepted input message.
fn note_accepted(
    shared: &Shared,
    id: Uuid,
    kind: Kind,
    alert: Uuid,
    deliveries: usize,
    defaulted: bool,
    labels: Option<(
        varsel_protocol::message::Category,
        varsel_protocol::message::Status,
    )>,
) {
    shared.metrics.message_received(kind);
    if kind == Kind::Alert {
        if let Some((category, status)) = labels {
            shared.metrics.alert_received(category, status);
        }
        if defaulted {
            shared.metrics.unrouted_alert();
        }
    }
    tracing::info!(message_id = %id, %kind, %alert, deliveries, "accepted");
}
