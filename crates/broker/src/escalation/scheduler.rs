//! The escalation scheduler: fires the timers that routing put in the store.
//!
//! Every step of an alert's ladder is a row in the store's `timers` table with the instant it is
//! due. The scheduler claims due rows with a lease (so several broker instances can share one
//! store, and a row claimed by an instance that died is taken over when its lease ends), and fires
//! the claimed batch in one transaction, each timer under a savepoint of its own: it first marks
//! the timer fired *if still claimed by this instance* (so no step fires twice), then acts through
//! the outbox (redeliver, email) or the store (add a recipient, page ops), records the step in the
//! audit log and tells the school. A step whose delivery was acknowledged, declined or cancelled
//! in the meantime is skipped. One commit per batch keeps up with thousands of due timers.
//!
//! Exercise and test alerts climb the same ladder, but `add_recipient` and `page_ops` are only
//! recorded, never carried out, so an exercise never calls the police or wakes ops.
//!
//! A step that cannot be taken because what it needs from the store is missing or does not read
//! (its timer's action, the policies frozen on its alert, the alert row) is never retried in
//! silence nor skipped as if the alert had no ladder: the timer is closed, ops are alarmed with the
//! table, column and row, and the alert is handed to them.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::Notify;

use super::{frozen, Action, EmailTarget, Timer, Unreadable};
use crate::commit::{self, HandOver, Writer};
use crate::config;
use crate::lifecycle;
use crate::mailer;
use crate::metrics::Metrics;
use crate::store::{self, NewAudit, NewOutbox, Store, TimerRow};
use varsel_protocol::message::{Feedback, Kind, Payload, Status};
use varsel_protocol::registry::Registry;
use varsel_transport::clock::Clock;
use varsel_transport::shutdown::Signals;

/// Reads the registry in force; a reload (SIGHUP) may replace it between two timers.
pub type Registries = Arc<dyn Fn() -> Arc<Registry> + Send + Sync>;

/// Fires due escalation timers: what one broker instance's scheduler works with.
pub struct Scheduler {
    pub(crate) store: Store,
    pub(crate) clock: Clock,
    pub(crate) metrics: Metrics,
    /// Writes added recipients, feedback and pages as the broker.
    pub(crate) writer: Writer,
    pub(crate) registry: Registries,
    /// Names this instance in claims.
    pub(crate) owner: String,
    pub(crate) config: config::Escalation,
    /// Woken after a batch, so what the steps put in the outbox goes out without waiting.
    pub(crate) outbox_wake: Arc<Notify>,
}

/// Why a timer could not be fired. A store or commit failure leaves it claimed until its lease
/// ends, when it is retried; stored state that does not read ([`Error::is_unreadable`]) closes it
/// and alarms ops, since trying again would read the same.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Commit(#[from] commit::Error),
    /// What the step needs is missing from the store, or does not fit the step.
    #[error("timer {0}: {1}")]
    Bad(i64, String),
    #[error("timer {0}: {1}")]
    Unreadable(i64, Unreadable),
}

impl Error {
    /// Whether the step failed on what the store holds (missing, inconsistent or not readable)
    /// rather than on reaching the store: the same attempt would fail the same way.
    pub fn is_unreadable(&self) -> bool {
        matches!(
            self,
            Error::Bad(..)
                | Error::Unreadable(..)
                | Error::Store(store::Error::Corrupt { .. })
                | Error::Commit(commit::Error::Store(store::Error::Corrupt { .. }))
        )
    }
}

impl Scheduler {
    /// Runs until asked to stop, polling for due timers.
    pub async fn run(self, signals: Signals) {
        let poll = self.config.poll;
        let lease = self.config.lease;
        loop {
            if signals.is_stopping() {
                break;
            }
            let now = self.clock.now();
            let due = match self.store.claim_timers(&self.owner, now, lease, 64).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler: store unavailable");
                    Vec::new()
                }
            };
            if !due.is_empty() {
                match self.fire_batch(&due).await {
                    Ok(results) => {
                        for (t, r) in due.iter().zip(results) {
                            match r {
                                Ok(Some(action)) => {
                                    tracing::info!(alert = %t.alert, delivery = ?t.delivery, timer = t.id, action, late_ms = (self.clock.now() - t.due_at).num_milliseconds(), "escalation step fired");
                                }
                                Ok(None) => {}
                                Err(e) if e.is_unreadable() => {
                                    tracing::error!(alert = %t.alert, timer = t.id, error = %e, "escalation step cannot be taken: stored state does not read; ops alarmed")
                                }
                                Err(e) => {
                                    tracing::warn!(alert = %t.alert, timer = t.id, error = %e, "escalation step failed; retried when its lease ends")
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(timers = due.len(), error = %e, "escalation steps not fired; retried when their lease ends")
                    }
                }
                self.outbox_wake.notify_one();
                continue;
            }
            tokio::select! {
                _ = signals.stopped() => break,
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// Fires claimed timers in one store transaction, each under a savepoint of its own: a step
    /// that cannot be fired undoes only its own writes and stays claimed until its lease ends,
    /// when it is tried again, unless what it needs from the store does not read: then it is
    /// closed and ops are alarmed (see [`Scheduler::give_up`]). Returns each timer's outcome, in
    /// order: the action's code, or None when the step was skipped or another instance fired it
    /// first. `Err` means nothing was committed.
    pub async fn fire_batch(
        &self,
        due: &[TimerRow],
    ) -> Result<Vec<Result<Option<&'static str>, Error>>, Error> {
        let mut tx = self.store.begin().await?;
        let mut results = Vec::with_capacity(due.len());
        let mut fired = Vec::new();
        for t in due {
            tx.savepoint().await?;
            match self.fire_in(&mut tx, t).await {
                Ok(outcome) => {
                    if let Some((action, status)) = outcome {
                        fired.push((action, status));
                    }
                    results.push(Ok(outcome.map(|(action, _)| action)));
                }
                Err(e) if e.is_unreadable() => {
                    tx.rollback_to().await?;
                    self.give_up(&mut tx, t, &e).await?;
                    results.push(Err(e));
                }
                Err(Error::Store(e)) => return Err(Error::Store(e)),
                Err(e) => {
                    tx.rollback_to().await?;
                    results.push(Err(e));
                }
            }
            tx.release().await?;
        }
        tx.commit().await?;
        for (action, status) in fired {
            self.metrics.escalation_step(action, status);
        }
        Ok(results)
    }

    /// Fires one claimed timer inside `tx`. Returns the action's code and the alert's status, or
    /// None when the step was skipped or another instance fired it first.
    async fn fire_in(
        &self,
        tx: &mut store::Tx,
        t: &TimerRow,
    ) -> Result<Option<(&'static str, Status)>, Error> {
        let now = self.clock.now();
        let spec = Timer::of_row(t).map_err(|e| Error::Unreadable(t.id, e))?;
        if !tx.finish_timer(t.id, &self.owner, now).await? {
            return Ok(None);
        }
        let Some(alert) = tx.alert_for_update(t.alert).await? else {
            return Err(Error::Bad(
                t.id,
                format!("alert {} is not in the store", t.alert),
            ));
        };
        let policies = frozen(&alert).map_err(|e| Error::Unreadable(t.id, e))?;
        let Some(step) = policies
            .get(&spec.policy)
            .and_then(|p| p.steps.get(spec.step))
        else {
            return Err(Error::Bad(
                t.id,
                format!(
                    "policy {} step {} is not frozen on the alert",
                    spec.policy, spec.step
                ),
            ));
        };
        let action = step.action.clone();
        let recipient = match t.delivery {
            Some(d) => tx.delivery_for_update(d).await?,
            None => None,
        };
        let alert_open = lifecycle::alert::is_open(alert.state);
        let delivery_open = recipient
            .as_ref()
            .is_none_or(|d| lifecycle::delivery::is_open(d.state));
        let audit = |action: &str, detail: serde_json::Value| NewAudit {
            at: now,
            actor: self.writer.broker().to_string(),
            action: action.into(),
            alert: Some(t.alert),
            delivery: t.delivery,
            detail,
        };
        if !alert_open || !delivery_open {
            tx.audit(&audit("escalation_skipped", json!({ "step": spec.step, "round": spec.round, "action": action.code(), "why": "no longer open" }))).await?;
            return Ok(None);
        }
        let exercise = alert.status != Status::Actual;
        let registry = (self.registry)();
        let school_name = registry
            .participant(&alert.sender)
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let detail = json!({ "policy": spec.policy, "step": spec.step, "round": spec.round, "due": t.due_at, "action": action.code(), "exercise": exercise });
        match &action {
            Action::Redeliver => {
                let Some(d) = &recipient else {
                    return Err(Error::Bad(t.id, "redeliver needs a delivery".into()));
                };
                let last = tx.last_publication(d.id).await?;
                match last {
                    Some(o) => {
                        tx.enqueue(&NewOutbox::again(&o, now)).await?;
                        tx.audit(&audit("escalation_redeliver", detail)).await?;
                    }
                    None => {
                        tx.audit(&audit(
                            "escalation_skipped",
                            json!({ "action": "redeliver", "why": "nothing was published yet" }),
                        ))
                        .await?
                    }
                }
            }
            Action::Email { to } => {
                let who = recipient.as_ref().map(|d| d.recipient.clone());
                let address = match to {
                    EmailTarget::Address(a) => Some(a.clone()),
                    EmailTarget::Mailbox => who
                        .as_ref()
                        .and_then(|r| registry.participant(r))
                        .and_then(|p| p.mailbox.clone()),
                };
                match address {
                    Some(address) => {
                        let notice = mailer::Notice {
                            alert: t.alert,
                            category: alert.category,
                            urgency: alert.urgency,
                            status: alert.status,
                            school_name: school_name.clone(),
                            deadline: recipient.as_ref().and_then(|d| d.ack_due),
                            reason: mailer::NoticeReason::Overdue,
                        };
                        let body = serde_json::to_vec(&notice).map_err(|e| Error::Bad(t.id, e.to_string()))?;
                        tx.enqueue(&NewOutbox::email(address, body, t.delivery, Some(t.alert), now)).await?;
                        tx.audit(&audit("escalation_email", detail)).await?;
                    }
                    None => tx.audit(&audit("escalation_skipped", json!({ "action": "email", "why": "no functional mailbox in the registry" }))).await?,
                }
            }
            Action::AddRecipient {
                participant,
                role,
                sections,
            } => {
                let existing = tx.deliveries_of(t.alert).await?;
                if exercise {
                    tx.audit(&audit("escalation_skipped", json!({ "action": "add_recipient", "participant": participant, "why": "exercise or test alert" }))).await?;
                } else if existing
                    .iter()
                    .any(|d| &d.recipient == participant && d.kind == Kind::Alert)
                {
                    tx.audit(&audit("escalation_skipped", json!({ "action": "add_recipient", "participant": participant, "why": "already a recipient" }))).await?;
                } else {
                    let Some(original) = self.store.message(t.alert).await? else {
                        return Err(Error::Bad(
                            t.id,
                            "the alert's message is not in the store".into(),
                        ));
                    };
                    let compact = String::from_utf8(original.raw)
                        .map_err(|e| Error::Bad(t.id, e.to_string()))?;
                    let payload: Payload = varsel_protocol::envelope::payload_of(&compact)
                        .map_err(|e| Error::Bad(t.id, e.to_string()))?;
                    let Some(sealed) = payload.content.sealed() else {
                        return Err(Error::Bad(t.id, "the alert's message is not sealed".into()));
                    };
                    // The added recipient gets the policy's deadlines, but no second ladder.
                    let deadlines = policies.get(&spec.policy).map(|p| {
                        p.deadlines(&spec.policy, *role, now, alert.planned_departure, false)
                    });
                    self.writer
                        .hand_over(
                            tx,
                            &registry,
                            HandOver {
                                alert: t.alert,
                                message: t.alert,
                                compact: &compact,
                                digest: &varsel_protocol::envelope::sha256(compact.as_bytes()),
                                sealed,
                                recipient: participant,
                                role: *role,
                                sections,
                                kind: Kind::Alert,
                                deadlines,
                            },
                            now,
                        )
                        .await?;
                    tx.audit(&audit("escalation_add_recipient", json!({ "participant": participant, "role": role, "sections": sections, "step": spec.step }))).await?;
                }
            }
            Action::PageOps => {
                if exercise {
                    tx.audit(&audit(
                        "escalation_skipped",
                        json!({ "action": "page_ops", "why": "exercise or test alert" }),
                    ))
                    .await?;
                } else {
                    self.writer
                        .page_ops(tx, &registry, &alert, t.delivery, now, detail)
                        .await?;
                }
            }
        }
        if let Some(d) = &recipient {
            let fb = Feedback {
                alert: t.alert,
                delivery: d.id,
                recipient: d.recipient.clone(),
                state: d.state,
                at: now,
                officer: None,
                outcome: None,
                escalation: Some(action.code().to_owned()),
                receipt_due: d.receipt_due,
                ack_due: d.ack_due,
            };
            self.writer.feedback(tx, &alert.sender, fb, now).await?;
        }
        Ok(Some((action.code(), alert.status)))
    }

    /// Closes a timer whose step cannot be taken because what it needs from the store is missing
    /// or does not read, and tells ops why (see `commit::Writer::page_ops_unreadable`), inside
    /// `tx` after the step's own writes were undone. Nothing happens if another instance took the
    /// timer over or it was cancelled meanwhile.
    async fn give_up(&self, tx: &mut store::Tx, t: &TimerRow, why: &Error) -> Result<(), Error> {
        let now = self.clock.now();
        if !tx.finish_timer(t.id, &self.owner, now).await? {
            return Ok(());
        }
        let registry = (self.registry)();
        self.writer
            .page_ops_unreadable(tx, &registry, t.alert, t.delivery, why.to_string(), now)
            .await?;
        Ok(())
    }
}
