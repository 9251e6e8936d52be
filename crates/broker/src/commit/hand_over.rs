//! Handing one message over to one recipient: the delivery row, the broker-signed `delivery`
//! message with the granted sections' keys re-sealed to the recipient, its outbox row, and the
//! escalation timers of its ladder.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{Error, Writer};
use crate::lifecycle::delivery;
use crate::store::{self, MessageLabel, NewAudit, NewDelivery, NewOutbox, NewTimer};
use varsel_protocol::envelope;
use varsel_protocol::message::{
    Content, Delivery, DeliveryState, KeyBlock, Kind, ParticipantId, Payload, RecipientRole,
    Sealed, SectionLabel, Urgency,
};
use varsel_protocol::refusal::Refusal;
use varsel_protocol::registry::{Registry, SealingKey};
use varsel_transport::amqp;

/// A delivery to create.
pub struct HandOver<'a> {
    pub alert: Uuid,
    /// The id of the school's message being handed over (the alert itself, an update or a cancel).
    pub message: Uuid,
    pub compact: &'a str,
    /// SHA-256 of `compact` (the key cache's key: one message's keys are opened once).
    pub digest: &'a [u8; 32],
    pub sealed: &'a Sealed,
    pub recipient: &'a ParticipantId,
    pub role: RecipientRole,
    pub sections: &'a [SectionLabel],
    pub kind: Kind,
    /// What the alert's escalation policy asks of this delivery, if it has one.
    pub deadlines: Option<Deadlines>,
}

/// What an escalation policy asks of one new delivery, worked out from the policy frozen on the
/// alert (see `escalation::Policy::deadlines`).
#[derive(Debug, Clone, PartialEq)]
pub struct Deadlines {
    /// The policy's name, recorded on the delivery: a decline is re-routed by it.
    pub policy: String,
    pub receipt_due: Option<DateTime<Utc>>,
    pub ack_due: Option<DateTime<Utc>>,
    /// The ladder's timers, each with the instant it is due and the action its row holds.
    pub timers: Vec<(DateTime<Utc>, serde_json::Value)>,
}

impl Writer {
    /// Creates one delivery: re-wraps the granted sections for the recipient, signs the delivery
    /// message, and puts it in the outbox, with its deadlines and escalation timers.
    pub async fn hand_over(
        &self,
        tx: &mut store::Tx,
        registry: &Registry,
        h: HandOver<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let delivery_id = Uuid::now_v7();
        let preferred = h.sealed.key_view().suite_for(&self.broker);
        let key = registry.sealing_key_for(h.recipient, preferred, now);
        let grant: Vec<SectionLabel> = h
            .sections
            .iter()
            .copied()
            .filter(|l| h.sealed.sections.iter().any(|s| s.label == *l))
            .collect();
        let block = match key {
            Some(key) if !grant.is_empty() => self.rewrap(&h, &grant, key),
            _ => Ok(None),
        };
        let (keys, problem) = match block {
            Ok(b) => (b.into_iter().collect(), None),
            Err(r) => (Vec::new(), Some(r)),
        };
        let (receipt_due, ack_due) = h
            .deadlines
            .as_ref()
            .map_or((None, None), |d| (d.receipt_due, d.ack_due));
        let unreachable = key.is_none() && !grant.is_empty();
        let state = delivery::initial(!unreachable && problem.is_none());
        let kind = h.kind;
        tx.insert_delivery(&NewDelivery {
            id: delivery_id,
            alert: h.alert,
            message: h.message,
            kind,
            policy: h.deadlines.as_ref().map(|d| d.policy.clone()),
            recipient: h.recipient.clone(),
            role: h.role,
            // The route's grant, not only the part this message carries: an update or cancel is
            // handed over by the alert's deliveries' grants, and may carry a section the alert
            // did not (a school's actions written after the alert was sent).
            sections: h.sections.to_vec(),
            state,
            created_at: now,
            receipt_due,
            ack_due,
        })
        .await?;
        tx.audit(&NewAudit {
            at: now,
            actor: self.broker.to_string(),
            action: "delivery_created".into(),
            alert: Some(h.alert),
            delivery: Some(delivery_id),
            detail: json!({
                "recipient": h.recipient,
                "role": h.role,
                "kind": kind,
                "sections": grant,
                "state": state,
                "problem": problem.as_ref().map(|r| r.reason.code()),
                "no_sealing_key": unreachable,
            }),
        })
        .await?;
        if state == DeliveryState::Unroutable {
            let u = super::undeliverable::Undeliverable {
                alert: h.alert,
                message: h.message,
                delivery: delivery_id,
                recipient: h.recipient,
                problem: problem.as_ref(),
            };
            self.undeliverable(tx, registry, &u, now).await?;
            return Ok(());
        }
        let mut payload = Payload::new(
            self.broker.clone(),
            Content::Delivery(Delivery {
                delivery: delivery_id,
                alert: h.alert,
                recipient: h.recipient.clone(),
                role: h.role,
                original: h.compact.to_owned(),
                wraps: Vec::new(),
                keys,
                receipt_due,
                ack_due,
            }),
        );
        payload.sent_at = now;
        payload.references = if h.message == h.alert {
            vec![h.alert]
        } else {
            vec![h.alert, h.message]
        };
        tx.enqueue(
            &NewOutbox::amqp(
                amqp::inbox(h.recipient),
                MessageLabel::of(&payload),
                self.sign(&payload).into_bytes(),
                Some(delivery_id),
                Some(h.alert),
                now,
            )
            .with_urgent(h.sealed.header.urgency == Urgency::Immediate),
        )
        .await?;
        for (due, action) in h.deadlines.into_iter().flat_map(|d| d.timers) {
            tx.schedule(&NewTimer {
                alert: h.alert,
                delivery: Some(delivery_id),
                action,
                due_at: due,
                created_at: now,
            })
            .await?;
        }
        Ok(())
    }

    /// Re-seals the keys of the granted sections of `h`'s message for its recipient in one key
    /// block, opening the broker's keys only when no earlier hand-over of the same message did.
    pub fn rewrap(
        &self,
        h: &HandOver<'_>,
        grant: &[SectionLabel],
        key: &SealingKey,
    ) -> Result<Option<KeyBlock>, Refusal> {
        let mut cache = self.unwrapped.lock().unwrap_or_else(|e| e.into_inner());
        if !matches!(&*cache, Some((d, _)) if d == h.digest) {
            *cache = None;
        }
        let (_, unwrapped) =
            cache.get_or_insert_with(|| (*h.digest, envelope::Unwrapped::new(h.message)));
        unwrapped.rewrap(
            h.sealed.key_view(),
            &self.broker,
            &self.keys.sealing,
            grant,
            h.recipient,
            key,
        )
    }
}
