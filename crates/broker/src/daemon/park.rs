//! Setting aside an input message the broker cannot process for a reason of its own that
//! retrying does not cure, so it holds up no one else: it is dead-lettered with reason
//! `internal` (the bytes stay on `varsel.dead`, nothing is lost), audited as refused, its signer
//! gets an `error` reply so the school knows to raise the alert another way, and ops are paged.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::refuse::{dead_letter, Refused};
use super::Shared;
use crate::intake::World;
use crate::mailer::{Alarm, AlarmReason};
use varsel_protocol::envelope;
use varsel_protocol::refusal::{bounded, Reason, Refusal};
use varsel_transport::amqp;

/// What the dead letter and the sender are told; the store's own words stay with ops.
const DETAIL: &str = "the broker could not store this message because of a fault of its own that \
                      retrying does not cure; it was set aside and ops were paged";

/// Parks `d` after it failed with `error` (not transient) on its own: records it, then
/// dead-letters and acknowledges it. If the record cannot be written either, the message is
/// still dead-lettered (its bytes are safe there) and the failure is logged.
pub(super) async fn park(
    shared: &Arc<Shared>,
    world: &World,
    publisher: &amqp::Publisher,
    d: &lapin::message::Delivery,
    error: &crate::commit::Error,
) -> Result<(), amqp::Error> {
    let now = shared.clock.now();
    let refusal = Refusal::new(Reason::Internal, DETAIL.to_owned());
    // Who sent it, if the signature holds: only then is there someone to reply to.
    let signed = envelope::verify(
        &d.data,
        &world.registry,
        now,
        shared.config.intake.max_message_bytes,
    )
    .ok()
    .filter(|v| d.routing_key.as_str() == amqp::routing_key(v.payload.kind(), &v.signer));
    let id = signed.as_ref().map(|v| v.payload.id);
    let kind = signed.as_ref().map(|v| v.payload.kind());
    let signer = signed.as_ref().map(|v| v.signer.clone());
    let cause = bounded(&error.to_string());
    tracing::error!(message_id = ?id, kind = ?kind, signer = ?signer, error = %cause, "intake: a message keeps failing for a reason retrying does not cure; parked on the dead-letter queue, ops paged");
    shared.metrics.refused(Reason::Internal);
    let record = Record {
        refused: Refused {
            refusal: &refusal,
            id,
            kind,
            signer: signer.as_ref(),
            routing_key: d.routing_key.as_str(),
            body: &d.data,
            cause: Some(&cause),
        },
        now,
    };
    if let Err(e) = record.write(shared, world).await {
        tracing::error!(message_id = ?id, error = %e, "could not record a parked message; it is on the dead-letter queue");
    } else {
        shared.outbox_wake.notify_one();
    }
    if dead_letter(publisher, d, &refusal).await? {
        amqp::ack(d, "a parked input").await?;
    }
    Ok(())
}

/// What is written about a parked message, in one transaction of its own: the refusal (audit,
/// error reply within the signer's budget) and the alarm to ops.
struct Record<'a> {
    refused: Refused<'a>,
    now: DateTime<Utc>,
}

impl Record<'_> {
    async fn write(&self, shared: &Arc<Shared>, world: &World) -> Result<(), crate::commit::Error> {
        let r = &self.refused;
        let mut tx = shared.store().begin().await?;
        r.write(&mut tx, shared, self.now).await?;
        let alarm = Alarm {
            reason: AlarmReason::MessageParked,
            alert: None,
            detail: format!(
                "message {} ({}) from {} could not be stored: {}",
                r.id.map_or("(unreadable id)".to_owned(), |i| i.to_string()),
                r.kind.map_or("unknown kind", |k| k.code()),
                r.signer.map_or("an unverified sender", |s| s.as_str()),
                r.cause.unwrap_or("unknown")
            ),
            at: self.now,
        };
        shared
            .intake
            .writer
            .alarm_ops(&mut tx, &world.registry, &alarm, None)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
