//! Ending a case: the school's cancel or its closing stops every timer of the alert, ends what its
//! deliveries were still waited for, and moves the alert to its final state, audited as
//! `timers_stopped`.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{Error, Writer};
use crate::lifecycle;
use crate::store::{self, DeliveryRow, NewAudit};
use varsel_protocol::message::Kind;

/// How a case ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The school withdrew the alert: its own deliveries are cancelled, whatever their state.
    Cancel,
    /// The school closed the case with its outcome: what is still waited for ends (a required
    /// delivery not yet acknowledged, an informed one not yet received); the rest stays.
    Close,
}

impl Writer {
    /// Ends the case of `alert`, whose deliveries are `deliveries`, in the caller's transaction.
    pub async fn end_case(
        &self,
        tx: &mut store::Tx,
        alert: Uuid,
        deliveries: &[DeliveryRow],
        ending: Ending,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let stopped = tx.cancel_timers(alert, None).await?;
        for d in deliveries {
            let transition = match ending {
                Ending::Cancel => (d.kind == Kind::Alert).then(lifecycle::delivery::on_cancel),
                Ending::Close => lifecycle::delivery::on_close(d.role, d.state),
            };
            if let Some((from, to)) = transition {
                tx.transition_delivery(d.id, from, to, now, None, None)
                    .await?;
            }
        }
        let (from, to) = match ending {
            Ending::Cancel => lifecycle::alert::on_cancel(),
            Ending::Close => lifecycle::alert::on_close(),
        };
        tx.set_alert_state(alert, from, to, now).await?;
        let detail = match ending {
            Ending::Cancel => json!({ "timers": stopped }),
            Ending::Close => json!({ "timers": stopped, "case_closed": true }),
        };
        tx.audit(&NewAudit {
            at: now,
            actor: self.broker.to_string(),
            action: "timers_stopped".into(),
            alert: Some(alert),
            delivery: None,
            detail,
        })
        .await?;
        Ok(())
    }
}
