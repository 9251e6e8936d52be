//! The outbox workers: every outbound send (a delivery to an inbox, feedback or an error reply to
//! a school, an email notice) is first committed to the store's outbox in the same transaction as
//! the state change that causes it. The workers claim due rows with a lease, send them, and mark
//! each sent only after RabbitMQ's publisher confirm (or the SMTP server's acceptance). A nack, a
//! connection failure or a transient SMTP error is retried with exponential backoff and jitter
//! (`varsel_transport::retry`); an
//! unroutable publish is recorded as such for ops to see. Nothing is sent that is not recorded,
//! and nothing recorded is forgotten.
//!
//! Rows are claimed with a lease (`claimed_until`), so several broker instances can share one
//! store and a row claimed by an instance that died is taken over when the lease runs out.
//!
//! AMQP rows and email rows are claimed and sent by two tasks of their own ([`Worker::run`] and
//! [`Worker::run_email`]): a mail relay that takes its time never holds up a delivery, and an
//! email's lease is renewed while the relay is at it, so no other instance sends it again.

mod email;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tokio::sync::{watch, Notify};

use crate::commit::Writer;
use crate::config;
use crate::lifecycle::delivery;
use crate::mailer;
use crate::metrics::{Metrics, PublishResult};
use crate::store::{Channel, NewAudit, OutboxOutcome, OutboxRow, Store};
use varsel_protocol::message::DeliveryState;
use varsel_protocol::registry::Registry;
use varsel_transport::amqp;
use varsel_transport::clock::Clock;
use varsel_transport::retry;
use varsel_transport::shutdown::Signals;

/// The outbox worker of one broker instance (cloned for its AMQP and its email task).
#[derive(Clone)]
pub struct Worker {
    pub store: Store,
    /// Names this instance in claims.
    pub owner: String,
    pub config: config::Outbox,
    pub clock: Clock,
    pub metrics: Metrics,
    /// Woken after a commit that enqueued something, so publishes do not wait for the next poll
    /// (email is picked up at the next poll).
    pub wake: Arc<Notify>,
    pub mailer: Option<mailer::Mailer>,
    /// Signs the error reply to a school whose delivery no inbox took.
    pub writer: Arc<Writer>,
    /// The registry in force, for paging ops.
    pub registry: Arc<dyn Fn() -> Arc<Registry> + Send + Sync>,
}

impl Worker {
    /// Publishes AMQP rows until `signals` asks to stop. Publishes only while `link` holds a
    /// connected publisher; while RabbitMQ is away, AMQP rows wait in the store.
    pub async fn run(self, mut link: watch::Receiver<Option<amqp::Publisher>>, signals: Signals) {
        loop {
            if signals.is_stopping() {
                break;
            }
            fail::fail_point!("outbox-loop");
            let publisher = link.borrow().clone();
            let rows = self.claim(Channel::Amqp, self.config.batch).await;
            if !rows.is_empty() {
                self.publish_batch(&rows, publisher.as_ref()).await;
                continue;
            }
            tokio::select! {
                _ = signals.stopped() => break,
                _ = self.wake.notified() => {}
                _ = link.changed() => {}
                _ = tokio::time::sleep(self.config.poll) => {}
            }
        }
    }

    /// Claims up to `limit` due rows of `channel` for this instance; none while the store cannot
    /// be reached (the caller polls again).
    async fn claim(&self, channel: Channel, limit: u32) -> Vec<OutboxRow> {
        let now = self.clock.now();
        let claimed = self
            .store
            .claim_outbox(channel, &self.owner, now, self.config.lease, limit)
            .await;
        claimed.unwrap_or_else(|e| {
            tracing::warn!(error = %e, channel = channel.code(), "outbox: store unavailable, retrying");
            Vec::new()
        })
    }

    /// Publishes one claimed batch of AMQP rows, pipelined (all sent, then all confirms awaited).
    async fn publish_batch(&self, rows: &[OutboxRow], publisher: Option<&amqp::Publisher>) {
        let done = match publisher {
            Some(p) => {
                let results = futures_util::future::join_all(rows.iter().map(|r| publish(p, r)));
                rows.iter().zip(results.await).collect()
            }
            None => rows
                .iter()
                .map(|row| (row, Retry("RabbitMQ is not connected".into())))
                .collect(),
        };
        self.finish_all(done).await;
    }

    /// Records the outcome of one send, with the delivery's state change and an audit entry, in one
    /// transaction.
    async fn finish(&self, row: &OutboxRow, attempt: Attempt) {
        self.finish_all(vec![(row, attempt)]).await;
    }

    /// Records the outcomes of a batch of sends, each with its delivery's state change and audit
    /// entry, in one transaction: one commit for the batch instead of one per row. If the commit
    /// fails, every row of the batch is sent again when its lease runs out (a duplicate the
    /// recipient deduplicates by delivery id, never a loss), as with a single row.
    async fn finish_all(&self, done: Vec<(&OutboxRow, Attempt)>) {
        if done.is_empty() {
            return;
        }
        let now = self.clock.now();
        let result = async {
            let mut tx = self.store.begin().await?;
            for (row, attempt) in &done {
                self.record(&mut tx, row, attempt, now).await?;
            }
            tx.commit().await
        }
        .await;
        for (row, attempt) in &done {
            self.report(row, attempt, &result);
        }
    }

    fn report(&self, row: &OutboxRow, attempt: &Attempt, result: &Result<(), crate::store::Error>) {
        match (attempt, result) {
            (_, Err(e)) => {
                // The lease runs out and the row is sent again: a duplicate the recipient
                // deduplicates by delivery id, never a loss.
                tracing::warn!(outbox = row.id, error = %e, "outbox: could not record a send");
            }
            (Sent, _) => {
                if row.channel == Channel::Amqp {
                    self.metrics.delivery_published(PublishResult::Confirmed);
                }
            }
            (Retry(why), _) => {
                if row.channel == Channel::Amqp {
                    self.metrics.delivery_published(PublishResult::Nacked);
                }
                tracing::warn!(outbox = row.id, attempts = row.attempts + 1, reason = %why, "outbox: send failed, will retry");
            }
            (Unroutable(why), _) => {
                self.metrics.delivery_published(PublishResult::Returned);
                tracing::error!(outbox = row.id, delivery = ?row.delivery, reason = %why, "outbox: unroutable");
            }
            (Failed(why), _) => {
                tracing::error!(outbox = row.id, reason = %why, "outbox: send failed permanently");
            }
        }
    }

    /// Writes the outcome of one send into `tx`.
    async fn record(
        &self,
        tx: &mut crate::store::Tx,
        row: &OutboxRow,
        attempt: &Attempt,
        now: DateTime<Utc>,
    ) -> Result<(), crate::store::Error> {
        let outcome = match attempt {
            Sent => OutboxOutcome::Sent { at: now },
            Retry(e) => {
                let wait = retry::after(row.attempts, self.config.retry_min, self.config.retry_max);
                OutboxOutcome::Retry {
                    at: now + Duration::from_std(wait).unwrap_or(Duration::seconds(60)),
                    error: e.clone(),
                }
            }
            Unroutable(e) => OutboxOutcome::Unroutable {
                at: now,
                error: e.clone(),
            },
            Failed(e) => OutboxOutcome::Failed {
                at: now,
                error: e.clone(),
            },
        };
        if !tx.finish_outbox(row.id, &self.owner, outcome).await? {
            // Our lease ran out and another worker took the row: it records the outcome.
            return Ok(());
        }
        if let Some(d) = row.delivery {
            let change = match attempt {
                Sent => Some((delivery::on_published(), "delivery_sent")),
                Unroutable(_) => Some((delivery::on_unroutable(), "delivery_unroutable")),
                _ => None,
            };
            if let Some(((from, to), action)) = change {
                let applied = tx.transition_delivery(d, from, to, now, None, None).await?;
                if applied && to == DeliveryState::Unroutable {
                    let registry = (self.registry)();
                    self.writer.unroutable(tx, &registry, d, now).await?;
                }
                if applied || to == DeliveryState::Unroutable {
                    tx.audit(&NewAudit {
                        at: now,
                        actor: self.owner.clone(),
                        action: action.into(),
                        alert: row.alert,
                        delivery: Some(d),
                        detail: json!({ "outbox": row.id, "destination": row.destination, "attempts": row.attempts + 1 }),
                    })
                    .await?;
                }
            }
        } else if row.channel == Channel::Email && matches!(attempt, Sent) {
            tx.audit(&NewAudit {
                at: now,
                actor: self.owner.clone(),
                action: "email_sent".into(),
                alert: row.alert,
                delivery: None,
                detail: json!({ "outbox": row.id }),
            })
            .await?;
        }
        Ok(())
    }
}

/// Publishes one AMQP row (the caller awaits many at once, so their confirms are pipelined).
/// Its properties say what it holds: `type` the kind of the message, `message_id` that message's
/// id, `x-varsel-outbox` the row, and `x-varsel-delivery` the delivery, only when the row belongs
/// to one.
async fn publish(p: &amqp::Publisher, row: &OutboxRow) -> Attempt {
    // Reading an AMQP row without its message's kind fails, so this is not expected to happen.
    let Some(label) = row.message else {
        return Failed("the row does not record which message it holds".into());
    };
    let mut headers = vec![(amqp::H_OUTBOX, row.id.to_string())];
    if let Some(d) = row.delivery {
        headers.push((amqp::H_DELIVERY, d.to_string()));
    }
    let props = amqp::with_headers(amqp::labelled(label.kind, label.id), &headers);
    match p
        .publish(amqp::OUT, &row.destination, &row.payload, props, true)
        .await
    {
        Ok(amqp::Published::Confirmed) => Sent,
        Ok(amqp::Published::Returned) => Unroutable("returned by RabbitMQ: no such inbox".into()),
        Ok(amqp::Published::Nacked) => Retry("nacked by RabbitMQ".into()),
        Err(e) => Retry(e.to_string()),
    }
}

/// The result of one send attempt.
enum Attempt {
    Sent,
    Retry(String),
    Unroutable(String),
    Failed(String),
}
use Attempt::*;
