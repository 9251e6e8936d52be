//! Heartbeats through every agency's line, so a line that does not work is found before an alert
//! needs it.
//!
//! Every agency in the registry has a line: a row in the store's `lines` table with the time its
//! next heartbeat is due and whether it answers. When a line's heartbeat is due (when the
//! broker starts, then every `[heartbeat] interval`), the worker signs a `heartbeat`
//! message (CAP status `test`, no alert, no personal data) and puts it in the outbox for
//! `inbox.<agency>`, so it goes through the same exchange, queue and client code as a delivery.
//! The agency's client answers at once with a signed receipt naming the heartbeat, and shows no
//! one anything; intake applies that receipt to the line (see [`line_answered`]).
//!
//! A heartbeat not receipted within `grace` is a miss: the line is `down` (audited as
//! `heartbeat_missed`), and after `page_after` misses in a row ops are paged (the alarm
//! `line_down`, audited and emailed to every ops mailbox), once per outage. The next receipt puts
//! the line `up` again; if ops were paged they are told (`line_up`). That receipt is applied to
//! the line and not kept in the store's `messages`: the line's row says when it came. A receipt
//! for an earlier heartbeat of the line (a client catching up on its inbox after an outage
//! answers every heartbeat waiting there) is taken without effect; the outbox rows that tell them
//! apart are deleted two days after they were sent.
//!
//! Rounds run only while this broker is connected to RabbitMQ: heartbeats it could not publish,
//! and misses counted while it could not, would blame every agency for the broker's own outage.
//!
//! With several broker instances on one store, each round is one transaction that takes the due
//! rows (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: its write lock), sends and moves `next_at`
//! on: a heartbeat goes once per interval however many instances run, and one that dies
//! mid-round leaves the rows to the next.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::Notify;

use crate::commit::Writer;
use crate::config;
use crate::escalation::Registries;
use crate::health::Health;
use crate::mailer::{Alarm, AlarmReason};
use crate::metrics::Metrics;
use crate::store::{self, LineRow, LineState, MessageLabel, NewAudit, NewOutbox, Store};
use varsel_protocol::message::{Content, Heartbeat, ParticipantId, Payload, Status};
use varsel_protocol::registry::{Registry, Role};
use varsel_transport::amqp;
use varsel_transport::clock::Clock;
use varsel_transport::shutdown::Signals;

/// Lines handled per round (and transaction).
const BATCH: u32 = 64;

/// Days a sent heartbeat's outbox row is kept, so a late receipt for it is still known.
const KEEP_DAYS: i64 = 2;

/// Sends heartbeats and judges the lines: what one broker instance runs.
#[derive(Clone)]
pub struct Heartbeats {
    pub store: Store,
    pub clock: Clock,
    pub metrics: Metrics,
    pub writer: Arc<Writer>,
    pub registry: Registries,
    pub config: config::Heartbeat,
    /// Woken after a round that put heartbeats in the outbox.
    pub outbox_wake: Arc<Notify>,
    /// Rounds run only while the broker is connected to RabbitMQ (see [`Heartbeats::run`]).
    pub health: Arc<Health>,
}

/// The agencies whose lines are checked: every registry participant that receives deliveries.
pub fn agencies(registry: &Registry) -> Vec<ParticipantId> {
    let mut ids: Vec<ParticipantId> = registry
        .participants()
        .iter()
        .filter(|p| p.role == Role::Agency)
        .map(|p| p.id.clone())
        .collect();
    ids.sort();
    ids
}

impl Heartbeats {
    /// Runs until the broker stops.
    pub async fn run(self, signals: Signals) {
        // The registry whose agencies the store has lines for.
        let mut ensured: Option<Arc<Registry>> = None;
        let mut started = false;
        loop {
            let registry = (self.registry)();
            if !ensured.as_ref().is_some_and(|r| Arc::ptr_eq(r, &registry)) {
                match self
                    .store
                    .ensure_lines(&agencies(&registry), self.clock.now())
                    .await
                {
                    Ok(()) => ensured = Some(registry.clone()),
                    Err(e) => tracing::warn!(error = %e, "heartbeat: cannot list the lines"),
                }
            }
            if !started {
                match self.store.lines_due_now(self.clock.now()).await {
                    Ok(_) => started = true,
                    Err(e) => {
                        tracing::warn!(error = %e, "heartbeat: cannot schedule the first round")
                    }
                }
            }
            // Without RabbitMQ nothing would reach the agencies, and every line would be judged
            // down for the broker's own outage: rounds wait for the connection.
            if ensured.is_some() && self.health.amqp_ready() {
                match self.round(&registry).await {
                    Ok(0) => {}
                    Ok(_) => self.outbox_wake.notify_one(),
                    Err(e) => tracing::warn!(error = %e, "heartbeat round failed; trying again"),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll) => {}
                _ = signals.stopped() => break,
            }
        }
    }

    /// One round at the clock's now: counts overdue receipts as misses (paging ops after
    /// `page_after` in a row) and sends the heartbeats that are due, in one transaction. Returns
    /// how many heartbeats it sent.
    pub async fn round(&self, registry: &Registry) -> Result<usize, store::Error> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let due = tx.due_lines(now, BATCH).await?;
        let mut sent = 0;
        for line in &due {
            if line.receipt_due.is_some_and(|d| d <= now) {
                self.missed(&mut tx, registry, line, now).await?;
            }
            if line.next_at <= now {
                self.send(&mut tx, &line.participant, now).await?;
                sent += 1;
            }
        }
        if sent > 0 {
            tx.prune_heartbeats(now - chrono::Duration::days(KEEP_DAYS))
                .await?;
        }
        tx.commit().await?;
        if sent > 0 {
            self.metrics.heartbeats_sent(sent);
        }
        Ok(sent)
    }

    async fn missed(
        &self,
        tx: &mut store::Tx,
        registry: &Registry,
        line: &LineRow,
        now: DateTime<Utc>,
    ) -> Result<(), store::Error> {
        let Some(after) = tx.miss_line(&line.participant, now).await? else {
            return Ok(());
        };
        tracing::warn!(line = %line.participant, misses = after.misses, "heartbeat not receipted in time; line down");
        tx.audit(&NewAudit {
            at: now,
            actor: self.writer.broker().to_string(),
            action: "heartbeat_missed".into(),
            alert: None,
            delivery: None,
            detail: json!({
                "line": line.participant,
                "heartbeat": line.heartbeat,
                "misses": after.misses,
            }),
        })
        .await?;
        if after.misses >= u64::from(self.config.page_after)
            && tx.line_paged(&line.participant).await?
        {
            let alarm = Alarm {
                reason: AlarmReason::LineDown,
                alert: None,
                detail: format!(
                    "{}: {} hjärtslag i rad utan kvittens (nere sedan {})",
                    line.participant,
                    after.misses,
                    after.down_since.unwrap_or(now).to_rfc3339()
                ),
                at: now,
            };
            self.writer.alarm_ops(tx, registry, &alarm, None).await?;
            tracing::error!(line = %line.participant, misses = after.misses, "agency line down; ops paged");
        }
        Ok(())
    }

    async fn send(
        &self,
        tx: &mut store::Tx,
        line: &ParticipantId,
        now: DateTime<Utc>,
    ) -> Result<(), store::Error> {
        let due = now + duration(self.config.grace);
        let heartbeat = uuid::Uuid::now_v7();
        // The heartbeat's id is its message id, so its outbox row names it.
        let mut payload = Payload::new(
            self.writer.broker().clone(),
            Content::Heartbeat(Heartbeat {
                heartbeat,
                recipient: line.clone(),
                status: Status::Test,
                receipt_due: due,
            }),
        );
        payload.id = heartbeat;
        payload.sent_at = now;
        let jws = self.writer.sign(&payload);
        tx.enqueue(&NewOutbox::amqp(
            amqp::inbox(line),
            MessageLabel::of(&payload),
            jws.into_bytes(),
            None,
            None,
            now,
        ))
        .await?;
        tx.line_sent(
            line,
            heartbeat,
            now,
            due,
            now + duration(self.config.interval),
        )
        .await?;
        Ok(())
    }
}

/// A receipt answered the line's last heartbeat (`before` is the line as it was): the line is up.
/// An outage ends in the audit log; if ops were paged about it, they are told it is over.
pub async fn line_answered(
    writer: &Writer,
    tx: &mut store::Tx,
    registry: &Registry,
    before: &LineRow,
    now: DateTime<Utc>,
) -> Result<(), store::Error> {
    if before.state != LineState::Down {
        return Ok(());
    }
    tx.audit(&NewAudit {
        at: now,
        actor: writer.broker().to_string(),
        action: "line_restored".into(),
        alert: None,
        delivery: None,
        detail: json!({
            "line": before.participant,
            "misses": before.misses,
            "down_since": before.down_since,
        }),
    })
    .await?;
    if before.paged {
        let alarm = Alarm {
            reason: AlarmReason::LineUp,
            alert: None,
            detail: format!(
                "{}: kvitterar igen efter {} missade hjärtslag",
                before.participant, before.misses
            ),
            at: now,
        };
        writer.alarm_ops(tx, registry, &alarm, None).await?;
    }
    Ok(())
}

fn duration(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
