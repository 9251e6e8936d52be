//! Paging ops: handing an alert to a human, when its escalation ladder says so or when a decline
//! leaves nobody required to act on it; and alarming ops about the broker itself, when something
//! it relies on does not read (a refused reload, stored state that does not parse).

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::Writer;
use crate::lifecycle;
use crate::mailer;
use crate::store::{self, AlertState, NewAudit, NewOutbox};
use varsel_protocol::message::Status;
use varsel_protocol::registry::{Registry, Role};

impl Writer {
    /// Hands an alert to a human in ops: the alert becomes `escalated` (and the overdue delivery,
    /// if any), the page is audited (and counted by the caller), and every ops participant with a
    /// functional mailbox gets a notice by email.
    pub async fn page_ops(
        &self,
        tx: &mut store::Tx,
        registry: &Registry,
        alert: &store::AlertRow,
        delivery_id: Option<Uuid>,
        now: DateTime<Utc>,
        detail: serde_json::Value,
    ) -> Result<(), store::Error> {
        let (from, to) = lifecycle::alert::on_paged();
        tx.set_alert_state(alert.id, from, to, now).await?;
        if let Some(d) = delivery_id {
            let (from, to) = lifecycle::delivery::on_escalated();
            tx.transition_delivery(d, from, to, now, None, None).await?;
        }
        tx.audit(&NewAudit {
            at: now,
            actor: self.broker.to_string(),
            action: "ops_paged".into(),
            alert: Some(alert.id),
            delivery: delivery_id,
            detail,
        })
        .await?;
        let school_name = registry
            .participant(&alert.sender)
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let notice = mailer::Notice {
            alert: alert.id,
            category: alert.category,
            urgency: alert.urgency,
            status: alert.status,
            school_name,
            deadline: None,
            reason: mailer::NoticeReason::Escalated,
        };
        email_ops(
            tx,
            registry,
            &notice.into(),
            delivery_id,
            Some(alert.id),
            now,
        )
        .await?;
        Ok(())
    }

    /// Alarms ops about the broker itself: the alarm is audited under its reason's code (with
    /// the alert and delivery it concerns, if any) and emailed to every ops participant with a
    /// functional mailbox.
    pub async fn alarm_ops(
        &self,
        tx: &mut store::Tx,
        registry: &Registry,
        alarm: &mailer::Alarm,
        delivery: Option<Uuid>,
    ) -> Result<(), store::Error> {
        tx.audit(&NewAudit {
            at: alarm.at,
            actor: self.broker.to_string(),
            action: alarm.reason.code().into(),
            alert: alarm.alert,
            delivery,
            detail: json!({ "detail": alarm.detail }),
        })
        .await?;
        let mail = alarm.clone().into();
        email_ops(tx, registry, &mail, delivery, alarm.alert, alarm.at).await?;
        Ok(())
    }

    /// Stored state the broker needs to act on `alert` does not read (`why` names the table,
    /// column and row): nothing is guessed in its place. Ops are alarmed with `why` every time, and
    /// the alert, if its row still reads, is real (not an exercise or test) and not with ops
    /// already, is handed to them like any page.
    pub async fn page_ops_unreadable(
        &self,
        tx: &mut store::Tx,
        registry: &Registry,
        alert: Uuid,
        delivery: Option<Uuid>,
        why: String,
        now: DateTime<Utc>,
    ) -> Result<(), store::Error> {
        let alarm = mailer::Alarm {
            reason: mailer::AlarmReason::StoredStateInvalid,
            alert: Some(alert),
            detail: why.clone(),
            at: now,
        };
        self.alarm_ops(tx, registry, &alarm, delivery).await?;
        match tx.alert_for_update(alert).await {
            Ok(Some(row)) if row.status == Status::Actual && row.state != AlertState::Escalated => {
                let detail = json!({ "why": "stored state unreadable", "error": why });
                self.page_ops(tx, registry, &row, delivery, now, detail)
                    .await
            }
            // The alarm names the alert; its own row not reading is one more thing it shows.
            Ok(_) | Err(store::Error::Corrupt { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Queues `mail` to every ops participant with a functional mailbox.
async fn email_ops(
    tx: &mut store::Tx,
    registry: &Registry,
    mail: &mailer::Mail,
    delivery: Option<Uuid>,
    alert: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(), store::Error> {
    let body = serde_json::to_vec(mail)
        .map_err(|e| store::Error::Value(format!("cannot encode an email to ops: {e}")))?;
    let ops = registry
        .participants()
        .iter()
        .filter(|p| p.role == Role::Ops);
    for mailbox in ops.filter_map(|p| p.mailbox.as_ref()) {
        tx.enqueue(&NewOutbox::email(
            mailbox.clone(),
            body.clone(),
            delivery,
            alert,
            now,
        ))
        .await?;
    }
    Ok(())
}
