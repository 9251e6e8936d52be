//! What happens when a delivery cannot be made (the recipient has no usable sealing key, or the
//! school's sections cannot be re-wrapped, e.g. sealed under another message id): the school is
//! told with an `error` reply naming the recipient and the reason, ops are alarmed, and a real
//! alert is handed to ops like any page, so someone reaches the recipient another way.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;
use varsel_protocol::message::{Content, ErrorReply, ParticipantId, Payload, Status};
use varsel_protocol::refusal::{Reason, Refusal};
use varsel_protocol::registry::Registry;
use varsel_transport::amqp;

use super::Writer;
use crate::mailer::{Alarm, AlarmReason};
use crate::store::{self, AlertState, MessageLabel, NewOutbox};

/// A delivery that could not be made, and why.
pub struct Undeliverable<'a> {
    pub alert: Uuid,
    /// The school's message that was to be handed over.
    pub message: Uuid,
    pub delivery: Uuid,
    pub recipient: &'a ParticipantId,
    /// Why: a refusal of the school's sections, or `None` when the recipient has no usable
    /// sealing key.
    pub problem: Option<&'a Refusal>,
}

impl Writer {
    /// The broker-signed `error` reply to `to` about `refused_id`, as the outbox row that sends
    /// it to `to`'s inbox.
    pub fn error_reply(
        &self,
        to: &ParticipantId,
        refused_id: Option<Uuid>,
        refusal: &Refusal,
        now: DateTime<Utc>,
    ) -> NewOutbox {
        let mut p = Payload::new(
            self.broker.clone(),
            Content::Error(ErrorReply {
                refused: refused_id,
                reason: refusal.reason.code().to_owned(),
                detail: refusal.detail.clone(),
            }),
        );
        p.sent_at = now;
        p.references = refused_id.into_iter().collect();
        NewOutbox::amqp(
            amqp::inbox(to),
            MessageLabel::of(&p),
            self.sign(&p).into_bytes(),
            None,
            None,
            now,
        )
    }

    /// Tells the school and ops that `u` cannot be made (see the module documentation).
    pub async fn undeliverable(
        &self,
        tx: &mut store::Tx,
        registry: &Registry,
        u: &Undeliverable<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), store::Error> {
        let (reason, why) = match u.problem {
            Some(r) => (r.reason, r.detail.clone()),
            None => (
                Reason::Internal,
                format!("{} has no usable sealing key in the registry", u.recipient),
            ),
        };
        let Some(alert) = tx.alert_for_update(u.alert).await? else {
            return Err(store::Error::Value(format!(
                "alert {} of an undeliverable delivery is not in the store",
                u.alert
            )));
        };
        let refusal = Refusal::new(
            reason,
            format!(
                "alert {} cannot be delivered to {}: {why}; ops have been alerted, but reach {} \
                 another way now",
                u.alert, u.recipient, u.recipient
            ),
        );
        tx.enqueue(&self.error_reply(&alert.sender, Some(u.message), &refusal, now))
            .await?;
        let alarm = Alarm {
            reason: AlarmReason::DeliveryImpossible,
            alert: Some(u.alert),
            detail: format!(
                "delivery {} to {} cannot be made ({}): {why}; {} was sent an error reply",
                u.delivery,
                u.recipient,
                reason.code(),
                alert.sender
            ),
            at: now,
        };
        self.alarm_ops(tx, registry, &alarm, Some(u.delivery))
            .await?;
        if alert.status == Status::Actual && alert.state == AlertState::Open {
            let detail = json!({ "why": "delivery impossible", "recipient": u.recipient });
            self.page_ops(tx, registry, &alert, None, now, detail)
                .await?;
        }
        Ok(())
    }

    /// A delivery that was published but that no inbox took (RabbitMQ returned it, or the
    /// alternate exchange caught it) has just been marked unroutable: tells the school and ops
    /// as for [`Writer::undeliverable`]. Call it only from the transaction that applied the
    /// transition, so each delivery is reported once.
    pub async fn unroutable(
        &self,
        tx: &mut store::Tx,
        registry: &Registry,
        delivery: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), store::Error> {
        let Some(d) = tx.delivery_for_update(delivery).await? else {
            return Err(store::Error::Value(format!(
                "unroutable delivery {delivery} is not in the store"
            )));
        };
        let problem = Refusal::new(
            Reason::Internal,
            format!("RabbitMQ has no inbox queue for {}", d.recipient),
        );
        let u = Undeliverable {
            alert: d.alert,
            message: d.message,
            delivery,
            recipient: &d.recipient,
            problem: Some(&problem),
        };
        self.undeliverable(tx, registry, &u, now).await
    }
}
