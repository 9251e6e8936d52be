//! Paging ops: handing an alert to a human, when its escalation ladder says so or when a decline
//! leaves nobody required to act on it; and telling them about a fault of the broker's own (a
//! message set aside, stored state that cannot be read, a delivery that cannot be made).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Writer;
use crate::lifecycle;
use crate::mailer::{self, Email, FaultNotice};
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
        let notice = mailer::Notice {
            alert: alert.id,
            category: alert.category,
            urgency: alert.urgency,
            status: alert.status,
            school_name,
            deadline: None,
            reason: mailer::NoticeReason::Escalated,
        };
        let body = serde_json::to_vec(&notice)
            .map_err(|e| store::Error::Value(format!("an escalation notice: {e}")))?;
        for mailbox in ops_mailboxes(registry) {
            tx.enqueue(&NewOutbox::email(
                mailbox.to_owned(),
                body.clone(),
                delivery_id,
                Some(alert.id),
                now,
            ))
            .await?;
        }
        Ok(())
    }
}

impl Writer {
    /// Pages ops about a fault of the broker's own: audited as `ops_paged` with the fault's code
    /// and `detail` (ids and codes only; no alert changes state), and emailed to every ops
    /// participant's functional mailbox.
    pub async fn page_fault(
        &self,
        tx: &mut store::Tx,
        registry: &Registry,
        notice: &FaultNotice,
        mut detail: serde_json::Value,
    ) -> Result<(), store::Error> {
        if let Some(d) = detail.as_object_mut() {
            d.insert("fault".into(), notice.fault.code().into());
        }
        tx.audit(&NewAudit {
            at: notice.at,
            actor: self.broker.to_string(),
            action: "ops_paged".into(),
            alert: notice.alert,
            delivery: None,
            detail,
        })
        .await?;
        let body = serde_json::to_vec(&Email::Fault(notice.clone()))
            .map_err(|e| store::Error::Value(format!("a fault page: {e}")))?;
        for mailbox in ops_mailboxes(registry) {
            tx.enqueue(&NewOutbox::email(
                mailbox.to_owned(),
                body.clone(),
                None,
                notice.alert,
                notice.at,
            ))
            .await?;
        }
        Ok(())
    }
}

/// The functional mailboxes of the registry's ops participants.
fn ops_mailboxes(registry: &Registry) -> impl Iterator<Item = &str> {
    registry
        .participants()
        .iter()
        .filter(|p| p.role == Role::Ops)
        .filter_map(|p| p.mailbox.as_deref())
}
