//! Paging ops: handing an alert to a human, when its escalation ladder says so or when a decline
//! leaves nobody required to act on it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Writer;
use crate::lifecycle;
use crate::mailer;
use crate::store::{self, NewAudit, NewOutbox};
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
        for ops in registry
            .participants()
            .iter()
            .filter(|p| p.role == Role::Ops)
        {
            if let Some(mailbox) = &ops.mailbox {
                let notice = mailer::Notice {
                    alert: alert.id,
                    category: alert.category,
                    urgency: alert.urgency,
                    status: alert.status,
                    school_name: school_name.clone(),
                    deadline: None,
                    reason: mailer::NoticeReason::Escalated,
                };
                if let Ok(body) = serde_json::to_vec(&notice) {
                    tx.enqueue(&NewOutbox::email(
                        mailbox.clone(),
                        body,
                        delivery_id,
                        Some(alert.id),
                        now,
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }
}
