//! Step 5 for a new alert: route it by the table in force, freeze the escalation policies it
//! gets, and commit it with a delivery (and its deadlines and ladder) per recipient.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Intake, World};
use crate::commit::{self, Committed, Error, HandOver};
use crate::escalation;
use crate::store::{self, NewAlert, NewAudit, NewMessage};
use varsel_protocol::message::{Kind, ParticipantId, Payload, Sealed};
use varsel_protocol::refusal::{Reason, Refusal};

impl Intake {
    /// Routes a new alert and commits it with its deliveries, outbox rows, timers and audit.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn alert(
        &self,
        tx: &mut store::Tx,
        world: &World,
        message: &NewMessage,
        compact: &str,
        payload: &Payload,
        sealed: &Sealed,
        now: DateTime<Utc>,
    ) -> Result<Committed, Error> {
        if !payload.references.is_empty() {
            return Ok(Committed::Refused(Refusal::new(
                Reason::Schema,
                "a new alert must not reference other messages (use an update)",
            )));
        }
        if let Some(r) = sealed_for_broker(sealed, self.writer.broker()) {
            return Ok(Committed::Refused(r));
        }
        let registry = &world.registry;
        let mut decision = world
            .table
            .route(&sealed.header, now, &|id: &ParticipantId| {
                registry
                    .participant(id)
                    .and_then(|p| p.office_hours.clone())
            });
        // A recipient whose line is down (it missed its heartbeats) gets the alert anyway, and
        // the table's `[line_down]` fallback gets it too.
        let substitutes = if world.table.has_line_down_fallbacks() {
            let down = tx.down_lines().await?;
            decision.with_fallbacks(&|p| down.contains(p), &|p| {
                world.table.line_down_fallback(p).cloned()
            })
        } else {
            Vec::new()
        };

        // Freeze the policies in force on the alert.
        let mut policies: BTreeMap<String, escalation::Policy> = BTreeMap::new();
        for r in &decision.recipients {
            if let Some(name) = &r.policy {
                if let Some(p) = world.table.policy(name) {
                    policies.insert(name.clone(), p.clone());
                }
            }
        }

        // Frozen as JSON on the alert; a policy that would not encode is an error, never an
        // alert stored without its ladder.
        let frozen = serde_json::to_value(&policies).map_err(|e| {
            store::Error::Value(format!("cannot freeze the escalation policies: {e}"))
        })?;

        if let Some(seen) = commit::insert_message(tx, message).await? {
            return Ok(Committed::Seen(seen));
        }
        tx.insert_alert(&NewAlert {
            id: payload.id,
            sender: payload.sender.clone(),
            municipality: sealed.header.municipality.clone(),
            category: sealed.header.category,
            urgency: sealed.header.urgency,
            status: sealed.header.status,
            planned_departure: sealed.header.planned_departure,
            table_version: decision.version.clone(),
            policy: Some(frozen),
            created_at: now,
        })
        .await?;
        tx.audit(&NewAudit {
            at: now,
            actor: payload.sender.to_string(),
            action: "alert_received".into(),
            alert: Some(payload.id),
            delivery: None,
            detail: json!({
                "message": payload.id,
                "category": sealed.header.category,
                "urgency": sealed.header.urgency,
                "status": sealed.header.status,
                "municipality": sealed.header.municipality,
            }),
        })
        .await?;
        tx.audit(&NewAudit {
            at: now,
            actor: self.writer.broker().to_string(),
            action: "alert_routed".into(),
            alert: Some(payload.id),
            delivery: None,
            detail: json!({
                "table_version": decision.version,
                "rules": decision.fired.iter().map(|f| f.rule.clone()).collect::<Vec<_>>(),
                "recipients": decision.recipients.iter().map(|r| json!({
                    "participant": r.participant, "role": r.role, "policy": r.policy,
                })).collect::<Vec<_>>(),
                "defaulted": decision.defaulted,
            }),
        })
        .await?;

        for s in &substitutes {
            tx.audit(&NewAudit {
                at: now,
                actor: self.writer.broker().to_string(),
                action: "line_down_fallback".into(),
                alert: Some(payload.id),
                delivery: None,
                detail: json!({ "line": s.line, "fallback": s.fallback }),
            })
            .await?;
        }

        let mut count = 0;
        for r in &decision.recipients {
            let deadlines = r.policy.as_ref().and_then(|name| {
                let p = policies.get(name)?;
                Some(p.deadlines(name, r.role, now, sealed.header.planned_departure, true))
            });
            self.writer
                .hand_over(
                    tx,
                    &world.registry,
                    HandOver {
                        alert: payload.id,
                        message: payload.id,
                        compact,
                        digest: &message.digest,
                        sealed,
                        recipient: &r.participant,
                        role: r.role,
                        sections: &r.sections,
                        kind: Kind::Alert,
                        deadlines,
                    },
                    now,
                )
                .await?;
            count += 1;
        }
        Ok(Committed::Done {
            alert: payload.id,
            deliveries: count,
            defaulted: decision.defaulted,
            timing: None,
        })
    }
}

/// Every section's key must be sealed to the broker, or it cannot be passed on to anyone.
pub(super) fn sealed_for_broker(sealed: &Sealed, broker: &ParticipantId) -> Option<Refusal> {
    let keys = sealed.key_view();
    for s in &sealed.sections {
        if !keys.has(s.label, broker) {
            return Some(Refusal::new(
                Reason::NotSealedForBroker,
                format!("section {} is not wrapped to {}", s.label, broker),
            ));
        }
    }
    None
}
