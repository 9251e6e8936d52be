//! Retention: the broker keeps an alert's sealed content only while the case is open and for
//! `[retention] erase_after` after it closed (acknowledged by every required recipient,
//! cancelled, or its case closed by the school). Then the worker erases it in batches of `[retention] batch` alerts, one short
//! transaction each, with one audit entry per alert (`alert_content_erased`, counts only), and
//! deletes sent error replies as old. What an erased alert keeps, and how the space is given
//! back, is in `store::retention`. An open or escalated alert is never erased; nor is one under a
//! legal hold ([`set_hold`]).

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::config;
use crate::metrics::{Erased as What, Metrics};
use crate::store::{self, Erased, NewAudit, Store};
use varsel_transport::clock::Clock;
use varsel_transport::shutdown::Signals;

/// What one prune did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub alerts: u64,
    pub erased: Erased,
    pub error_replies: u64,
    /// Bytes the store file shrank by (SQLite).
    pub reclaimed: u64,
}

/// The retention worker.
#[derive(Clone)]
pub struct Retention {
    pub store: Store,
    pub clock: Clock,
    pub metrics: Metrics,
    /// The actor of the audit entries: the broker's participant id.
    pub actor: String,
    pub config: config::Retention,
}

impl Retention {
    /// Prunes every `interval` until the broker stops.
    pub async fn run(self, signals: Signals) {
        loop {
            match self.prune().await {
                Ok(p) if p.alerts > 0 || p.error_replies > 0 => tracing::info!(
                    alerts = p.alerts,
                    messages = p.erased.messages,
                    error_replies = p.error_replies,
                    reclaimed_bytes = p.reclaimed,
                    "retention erased closed content"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention pass failed; trying again later"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.interval) => {}
                _ = signals.stopped() => break,
            }
        }
    }

    /// The retention cutoff at `now`: content of alerts closed at or before it goes.
    pub fn cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - chrono::Duration::from_std(self.config.erase_after).unwrap_or(chrono::Duration::MAX)
    }

    /// One pass: erases every erasable alert and old error reply, batch by batch, then gives
    /// the space back.
    pub async fn prune(&self) -> Result<Pruned, store::Error> {
        let now = self.clock.now();
        let cutoff = self.cutoff(now);
        let mut done = Pruned::default();
        loop {
            let ids = self.store.erasable(cutoff, self.config.batch).await?;
            if ids.is_empty() {
                break;
            }
            let mut tx = self.store.begin().await?;
            let mut batch = Erased::default();
            let mut alerts = 0;
            for id in ids {
                let Some(e) = tx.erase_alert(id, cutoff, now).await? else {
                    continue;
                };
                tx.audit(&NewAudit {
                    at: now,
                    actor: self.actor.clone(),
                    action: "alert_content_erased".into(),
                    alert: Some(id),
                    delivery: None,
                    detail: json!({
                        "messages": e.messages,
                        "message_bytes": e.message_bytes,
                        "outbox_deleted": e.outbox_deleted,
                        "outbox_emptied": e.outbox_emptied,
                        "outbox_bytes": e.outbox_bytes,
                    }),
                })
                .await?;
                batch.add(&e);
                alerts += 1;
            }
            tx.commit().await?;
            self.count(alerts, &batch);
            done.alerts += alerts;
            done.erased.add(&batch);
            if alerts == 0 {
                // Everything found changed under us (a follow-up, a hold): look again next time.
                break;
            }
        }
        loop {
            let mut tx = self.store.begin().await?;
            let (rows, bytes) = tx.prune_error_replies(cutoff, self.config.batch).await?;
            if rows == 0 {
                break;
            }
            tx.audit(&NewAudit {
                at: now,
                actor: self.actor.clone(),
                action: "error_replies_pruned".into(),
                alert: None,
                delivery: None,
                detail: json!({ "rows": rows, "bytes": bytes }),
            })
            .await?;
            tx.commit().await?;
            self.metrics.evidence().erased(What::ErrorReply, rows);
            self.metrics.evidence().erased_bytes(bytes);
            done.error_replies += rows;
        }
        if done.alerts > 0 || done.error_replies > 0 {
            done.reclaimed = self.store.reclaim().await?;
            self.metrics.evidence().reclaimed(done.reclaimed);
        }
        Ok(done)
    }

    fn count(&self, alerts: u64, e: &Erased) {
        let m = self.metrics.evidence();
        m.erased(What::Alert, alerts);
        m.erased(What::Message, e.messages);
        m.erased(What::OutboxRow, e.outbox_deleted + e.outbox_emptied);
        m.erased_bytes(e.message_bytes + e.outbox_bytes);
    }
}

/// Sets (`hold`) or clears a legal hold on an alert, audited with `by` (an ops user) as the
/// actor. `None` if there is no such alert, otherwise whether the hold changed.
pub async fn set_hold(
    store: &Store,
    alert: Uuid,
    hold: bool,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<bool>, store::Error> {
    let valid = !by.is_empty()
        && by.len() <= 64
        && by
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !valid {
        return Err(store::Error::Value(format!(
            "the ops user {:?} is not 1 to 64 letters, digits, '.', '_', '-' or '@'",
            by.chars().take(64).collect::<String>()
        )));
    }
    let mut tx = store.begin().await?;
    let changed = tx.set_legal_hold(alert, hold).await?;
    if changed == Some(true) {
        tx.audit(&NewAudit {
            at: now,
            actor: by.to_owned(),
            action: if hold {
                "legal_hold_set"
            } else {
                "legal_hold_cleared"
            }
            .into(),
            alert: Some(alert),
            delivery: None,
            detail: json!({}),
        })
        .await?;
    }
    tx.commit().await?;
    Ok(changed)
}
