//! Receipts and acks from agencies: they move a delivery on, stop its escalation timers, close the
//! alert once every required recipient has acknowledged, and send `feedback` to the school that
//! raised it (for a note's delivery, to the note's sender; a note's acks do not settle the alert).
//!
//! Only the delivery's own recipient may receipt or ack it. Transitions are conditional, so a
//! late or repeated receipt after an ack changes nothing and sends no second feedback.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::commit::{self, Committed, Error, Timing, Writer};
use crate::escalation::{self, Action as EscalationAction, Timer};
use crate::lifecycle;
use crate::store::{self, NewAudit, NewMessage, NewTimer};
use varsel_protocol::message::{Content, DeliveryState, Feedback, Kind, ParticipantId, Payload};
use varsel_protocol::refusal::{Reason, Refusal};
use varsel_protocol::registry::Registry;

/// Applies a receipt or an ack in the caller's transaction.
pub async fn apply(
    writer: &Writer,
    tx: &mut store::Tx,
    registry: &Registry,
    message: &NewMessage,
    payload: &Payload,
    now: DateTime<Utc>,
) -> Result<Committed, Error> {
    let (delivery_id, ack) = match &payload.content {
        Content::Receipt(r) => (r.delivery, None),
        Content::Ack(a) => (a.delivery, Some(a)),
        _ => {
            return Ok(Committed::Refused(Refusal::new(
                Reason::Schema,
                "not a receipt or ack",
            )))
        }
    };
    // A receipt for the sender's line's last heartbeat is applied to the line and not kept as a
    // message: one per agency and interval would fill the store with nothing worth keeping. A
    // repeat of it changes nothing the first did not.
    let line = payload.sender.clone();
    if ack.is_none() {
        if let Some(before) = tx.line_receipt(&line, delivery_id, now).await? {
            crate::heartbeat::line_answered(writer, tx, registry, &before, now).await?;
            return Ok(Committed::Heartbeat { line });
        }
    }
    if let Some(seen) = commit::insert_message(tx, message).await? {
        return Ok(Committed::Seen(seen));
    }
    let Some(d) = tx.delivery_for_update(delivery_id).await? else {
        // An earlier heartbeat of the line: its client is catching up; nothing changes.
        if ack.is_none() && tx.heartbeat_sent_to(&line, delivery_id).await? {
            return Ok(Committed::Heartbeat { line });
        }
        return Ok(Committed::Refused(Refusal::new(
            Reason::UnknownReference,
            format!("no delivery {delivery_id} is known"),
        )));
    };
    if d.recipient != payload.sender {
        return Ok(Committed::Refused(Refusal::new(
            Reason::NotEntitled,
            format!(
                "delivery {delivery_id} was made to another participant than {}",
                payload.sender
            ),
        )));
    }
    if let Some(a) = ack {
        if a.officer.trim().is_empty() || a.officer.chars().count() > 200 {
            return Ok(Committed::Refused(Refusal::new(
                Reason::Schema,
                "an ack must name the officer (1-200 characters)",
            )));
        }
    }
    let (from, to) = match ack {
        None => lifecycle::delivery::on_receipt(),
        Some(a) => lifecycle::delivery::on_ack(a.outcome),
    };
    let applied = tx
        .transition_delivery(
            delivery_id,
            from,
            to,
            now,
            ack.map(|a| a.officer.as_str()),
            ack.map(|a| a.outcome),
        )
        .await?;
    let action = match to {
        DeliveryState::Received => "delivery_received",
        DeliveryState::Declined => "delivery_declined",
        _ => "delivery_acknowledged",
    };
    tx.audit(&NewAudit {
        at: now,
        actor: payload.sender.to_string(),
        action: if applied {
            action.into()
        } else {
            format!("{action}_again")
        },
        alert: Some(d.alert),
        delivery: Some(delivery_id),
        detail: json!({
            "message": payload.id,
            "outcome": ack.map(|a| a.outcome),
            "applied": applied,
            "previous_state": d.state,
        }),
    })
    .await?;
    if applied {
        if ack.is_some() {
            let stopped = tx.cancel_timers(d.alert, Some(delivery_id)).await?;
            if stopped > 0 {
                tx.audit(&NewAudit {
                    at: now,
                    actor: writer.broker().to_string(),
                    action: "timers_stopped".into(),
                    alert: Some(d.alert),
                    delivery: Some(delivery_id),
                    detail: json!({ "timers": stopped }),
                })
                .await?;
            }
            let rerouted = if to == DeliveryState::Declined && d.kind == Kind::Alert {
                reroute(tx, writer, registry, &d, now).await?
            } else {
                false
            };
            if d.kind == Kind::Alert && !rerouted {
                settle_alert(tx, writer, d.alert, now).await?;
            }
        }
        // A note's receipts and acks are its sender's to hear about; the alert's, the school's.
        let report_to = if d.kind == Kind::Note {
            tx.message_sender(d.message).await?
        } else {
            tx.alert_for_update(d.alert).await?.map(|a| a.sender)
        };
        if let Some(alert) = report_to {
            let show_officer = registry
                .participant(&d.recipient)
                .is_some_and(|p| p.show_officer_name);
            let fb = Feedback {
                alert: d.alert,
                delivery: delivery_id,
                recipient: d.recipient.clone(),
                state: to,
                at: now,
                officer: ack.filter(|_| show_officer).map(|a| a.officer.clone()),
                outcome: ack.map(|a| a.outcome),
                escalation: None,
                receipt_due: d.receipt_due,
                ack_due: d.ack_due,
            };
            writer.feedback(tx, &alert, fb, now).await?;
        }
    }
    // Measured from the delivery's creation (when the alert was accepted for this recipient),
    // on the broker's clock; reported once the caller's commit is durable.
    let timing = applied.then(|| Timing {
        ack: to != DeliveryState::Received,
        recipient: d.recipient.clone(),
        elapsed: (now - d.created_at).to_std().unwrap_or_default(),
    });
    Ok(Committed::Done {
        alert: d.alert,
        deliveries: 0,
        defaulted: false,
        timing,
    })
}

/// A recipient declined (`not_our_jurisdiction`): the delivery's escalation policy says where the
/// alert goes instead. Its first `add_recipient` step naming someone who is not yet a recipient
/// is scheduled to fire at once (the scheduler adds the recipient, with deadlines of its own).
/// Without such a step, and with no required recipient left open, ops are paged; so they are when
/// the frozen policies do not read. Returns whether a new recipient is on its way.
async fn reroute(
    tx: &mut store::Tx,
    writer: &Writer,
    registry: &Registry,
    declined: &store::DeliveryRow,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let Some(alert) = tx.alert_for_update(declined.alert).await? else {
        return Ok(false);
    };
    // Policies that do not read say nothing about where the alert goes next: ops decide.
    let policies = match escalation::frozen(&alert) {
        Ok(p) => p,
        Err(e) => {
            writer
                .page_ops_unreadable(
                    tx,
                    registry,
                    alert.id,
                    Some(declined.id),
                    e.to_string(),
                    now,
                )
                .await?;
            return Ok(false);
        }
    };
    let deliveries = tx.deliveries_of(declined.alert).await?;
    let is_recipient = |p: &ParticipantId| {
        deliveries
            .iter()
            .any(|d| &d.recipient == p && d.kind == Kind::Alert)
    };
    let next = declined.policy.as_ref().and_then(|name| {
        let policy = policies.get(name)?;
        policy
            .steps
            .iter()
            .enumerate()
            .find_map(|(i, s)| match &s.action {
                EscalationAction::AddRecipient { participant, .. }
                    if !is_recipient(participant) =>
                {
                    Some((name.clone(), i, participant.clone()))
                }
                _ => None,
            })
    });
    if let Some((policy, step, participant)) = next {
        tx.schedule(&NewTimer {
            alert: declined.alert,
            delivery: None,
            action: Timer {
                policy: policy.clone(),
                step,
                round: 0,
            }
            .to_value(),
            due_at: now,
            created_at: now,
        })
        .await?;
        tx.audit(&NewAudit {
            at: now,
            actor: writer.broker().to_string(),
            action: "delivery_rerouted".into(),
            alert: Some(declined.alert),
            delivery: Some(declined.id),
            detail: json!({ "declined_by": declined.recipient, "to": participant, "policy": policy, "step": step }),
        })
        .await?;
        return Ok(true);
    }
    let open = deliveries
        .iter()
        .filter(|d| d.kind == Kind::Alert && d.id != declined.id)
        .any(|d| lifecycle::delivery::holds_alert_open(d.role, d.state));
    let acked = deliveries
        .iter()
        .any(|d| d.kind == Kind::Alert && d.state == DeliveryState::Acknowledged);
    if !open && !acked {
        let detail = json!({ "why": "declined and no required recipient left", "declined_by": declined.recipient });
        if alert.status == varsel_protocol::message::Status::Actual {
            writer
                .page_ops(tx, registry, &alert, None, now, detail)
                .await?;
        } else {
            tx.audit(&NewAudit {
                at: now,
                actor: writer.broker().to_string(),
                action: "escalation_skipped".into(),
                alert: Some(declined.alert),
                delivery: Some(declined.id),
                detail: json!({ "action": "page_ops", "why": "exercise or test alert" }),
            })
            .await?;
        }
    }
    Ok(false)
}

/// Marks the alert acknowledged when no required recipient is still open.
async fn settle_alert(
    tx: &mut store::Tx,
    writer: &Writer,
    alert: Uuid,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let deliveries = tx.deliveries_of(alert).await?;
    let open = deliveries
        .iter()
        .filter(|d| d.kind == Kind::Alert)
        .any(|d| lifecycle::delivery::holds_alert_open(d.role, d.state));
    let acked = deliveries
        .iter()
        .any(|d| d.kind == Kind::Alert && d.state == DeliveryState::Acknowledged);
    let (from, to) = lifecycle::alert::on_settled();
    if !open && acked && tx.set_alert_state(alert, from, to, now).await? {
        tx.audit(&NewAudit {
            at: now,
            actor: writer.broker().to_string(),
            action: "alert_acknowledged".into(),
            alert: Some(alert),
            delivery: None,
            detail: json!({ "deliveries": deliveries.len() }),
        })
        .await?;
    }
    Ok(())
}
