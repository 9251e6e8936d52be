//! Step 5 for an update or a cancel: checked against the alert it names, then passed on to each
//! of the alert's recipients once; a cancel also stops the alert's ladder and its deliveries.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Intake, World};
use crate::commit::{self, Committed, Ending, Error, HandOver};
use crate::lifecycle;
use crate::store::{self, NewAudit, NewMessage};
use varsel_protocol::message::{Kind, ParticipantId, Payload, RecipientRole, Sealed, SectionLabel};
use varsel_protocol::refusal::{Reason, Refusal};

impl Intake {
    /// Passes an update or a cancel on to the alert's recipients.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn follow_up(
        &self,
        tx: &mut store::Tx,
        world: &World,
        message: &NewMessage,
        compact: &str,
        payload: &Payload,
        sealed: &Sealed,
        now: DateTime<Utc>,
    ) -> Result<Committed, Error> {
        let kind = payload.kind();
        let [alert_id] = payload.references.as_slice() else {
            return Ok(Committed::Refused(Refusal::new(
                Reason::Schema,
                format!("an {kind} must reference exactly one alert"),
            )));
        };
        let Some(alert) = tx.alert_for_update(*alert_id).await? else {
            return Ok(Committed::Refused(Refusal::new(
                Reason::UnknownReference,
                format!("no alert {alert_id} is known"),
            )));
        };
        let original_sender = alert.sender.clone();
        let entitled = original_sender == payload.sender
            || world
                .registry
                .participant(&payload.sender)
                .is_some_and(|p| p.acts_for.contains(&original_sender));
        if !entitled {
            return Ok(Committed::Refused(Refusal::new(
                Reason::NotEntitled,
                format!(
                    "only {original_sender} (or one acting for it) may {kind} alert {alert_id}"
                ),
            )));
        }
        if !lifecycle::alert::accepts_follow_up(alert.state) {
            return Ok(Committed::Refused(Refusal::new(
                Reason::UnknownReference,
                format!("alert {alert_id} is already {}", alert.state),
            )));
        }
        if sealed.header.municipality != alert.municipality || sealed.header.status != alert.status
        {
            return Ok(Committed::Refused(Refusal::new(
                Reason::Schema,
                "an update or cancel may not change the alert's municipality or status",
            )));
        }
        if let Some(r) = super::alert::sealed_for_broker(sealed, self.writer.broker()) {
            return Ok(Committed::Refused(r));
        }

        if let Some(seen) = commit::insert_message(tx, message).await? {
            return Ok(Committed::Seen(seen));
        }
        let existing = tx.deliveries_of(*alert_id).await?;
        // One recipient may have several deliveries (alert, updates): pass on to each recipient once,
        // with the grant and role of its first delivery.
        let mut recipients: BTreeMap<ParticipantId, (RecipientRole, Vec<SectionLabel>)> =
            BTreeMap::new();
        for d in &existing {
            if d.kind == Kind::Alert {
                recipients
                    .entry(d.recipient.clone())
                    .or_insert((d.role, d.sections.clone()));
            }
        }
        tx.touch_alert(*alert_id, payload.id, sealed.header.planned_departure, now)
            .await?;
        let action = if kind == Kind::Cancel {
            "alert_cancelled"
        } else {
            "alert_updated"
        };
        tx.audit(&NewAudit {
            at: now,
            actor: payload.sender.to_string(),
            action: action.into(),
            alert: Some(*alert_id),
            delivery: None,
            detail: json!({ "message": payload.id, "recipients": recipients.len() }),
        })
        .await?;
        if kind == Kind::Cancel {
            self.writer
                .end_case(tx, *alert_id, &existing, Ending::Cancel, now)
                .await?;
        }
        let mut count = 0;
        for (recipient, (role, sections)) in &recipients {
            // An update informs; a cancel must be acknowledged like the alert was.
            let role = if kind == Kind::Cancel {
                *role
            } else {
                RecipientRole::Informed
            };
            self.writer
                .hand_over(
                    tx,
                    &world.registry,
                    HandOver {
                        alert: *alert_id,
                        message: payload.id,
                        compact,
                        digest: &message.digest,
                        sealed,
                        recipient,
                        role,
                        sections,
                        kind,
                        deadlines: None,
                    },
                    now,
                )
                .await?;
            count += 1;
        }
        Ok(Committed::Done {
            alert: *alert_id,
            deliveries: count,
            defaulted: false,
            timing: None,
        })
    }
}
