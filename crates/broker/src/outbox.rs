//! The outbox worker: every outbound send (a delivery to an inbox, feedback or an error reply to a
//! school, an email notice) is first committed to the store's outbox in the same transaction as
//! the state change that causes it. This worker claims due rows with a lease, sends them, and
//! marks each sent only after RabbitMQ's publisher confirm (or the SMTP server's acceptance).
//! A nack, a connection failure or a transient SMTP error is retried with exponential backoff; an
//! unroutable publish is recorded as such for ops to see. Nothing is sent that is not recorded,
//! and nothing recorded is forgotten.
//!
//! Rows are claimed with a lease (`claimed_until`), so several broker instances can share one
//! store and a row claimed by an instance that died is taken over when the lease runs out.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tokio::sync::{watch, Notify};

use crate::config;
use crate::lifecycle::delivery;
use crate::mailer;
use crate::metrics::{EmailResult, Metrics, PublishResult};
use crate::store::{Channel, NewAudit, OutboxOutcome, OutboxRow, Store};
use varsel_protocol::message::{DeliveryState, Kind};
use varsel_transport::amqp;
use varsel_transport::clock::Clock;
use varsel_transport::shutdown::Signals;

/// The outbox worker of one broker instance.
pub struct Worker {
    pub store: Store,
    /// Names this instance in claims.
    pub owner: String,
    pub config: config::Outbox,
    pub clock: Clock,
    pub metrics: Metrics,
    /// Woken after a commit that enqueued something, so sends do not wait for the next poll.
    pub wake: Arc<Notify>,
    pub mailer: Option<mailer::Mailer>,
}

/// Exponential backoff for the n-th retry, between `min` and `max`.
pub fn backoff(
    attempts: u32,
    min: std::time::Duration,
    max: std::time::Duration,
) -> std::time::Duration {
    let factor = 1u32.checked_shl(attempts.min(20)).unwrap_or(u32::MAX);
    min.saturating_mul(factor).min(max)
}

impl Worker {
    /// Runs until `signals` asks to stop. Publishes only while `link` holds a connected
    /// publisher; while RabbitMQ is away, AMQP rows wait in the store.
    pub async fn run(self, mut link: watch::Receiver<Option<amqp::Publisher>>, signals: Signals) {
        loop {
            if signals.is_stopping() {
                break;
            }
            let publisher = link.borrow().clone();
            let now = self.clock.now();
            let rows = match self
                .store
                .claim_outbox(&self.owner, now, self.config.lease, self.config.batch)
                .await
            {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox: store unavailable, retrying");
                    Vec::new()
                }
            };
            let busy = !rows.is_empty();
            if busy {
                self.send_batch(rows, publisher.as_ref()).await;
            }
            if busy {
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

    /// Sends one claimed batch: AMQP publishes are pipelined (all sent, then all confirms awaited).
    async fn send_batch(&self, rows: Vec<OutboxRow>, publisher: Option<&amqp::Publisher>) {
        let (amqp_rows, email_rows): (Vec<_>, Vec<_>) =
            rows.into_iter().partition(|r| r.channel == Channel::Amqp);
        if !amqp_rows.is_empty() {
            match publisher {
                Some(p) => {
                    let sends = amqp_rows.iter().map(|row| {
                        let props = amqp::with_headers(
                            amqp::properties(Kind::Delivery, uuid::Uuid::nil(), None)
                                .with_message_id(row.id.to_string().as_str().into()),
                            &[
                                (amqp::H_OUTBOX, row.id.to_string()),
                                (
                                    amqp::H_DELIVERY,
                                    row.delivery.map(|d| d.to_string()).unwrap_or_default(),
                                ),
                            ],
                        );
                        p.publish(amqp::OUT, &row.destination, &row.payload, props, true)
                    });
                    let results = futures_util::future::join_all(sends).await;
                    let done = amqp_rows
                        .iter()
                        .zip(results)
                        .map(|(row, result)| {
                            let outcome = match result {
                                Ok(amqp::Published::Confirmed) => Sent,
                                Ok(amqp::Published::Returned) => {
                                    Unroutable("returned by RabbitMQ: no such inbox".into())
                                }
                                Ok(amqp::Published::Nacked) => Retry("nacked by RabbitMQ".into()),
                                Err(e) => Retry(e.to_string()),
                            };
                            (row, outcome)
                        })
                        .collect();
                    self.finish_all(done).await;
                }
                None => {
                    let done = amqp_rows
                        .iter()
                        .map(|row| (row, Retry("RabbitMQ is not connected".into())))
                        .collect();
                    self.finish_all(done).await;
                }
            }
        }
        for row in &email_rows {
            let outcome = self.send_email(row).await;
            self.finish(row, outcome).await;
        }
    }

    async fn send_email(&self, row: &OutboxRow) -> Attempt {
        let Some(mailer) = &self.mailer else {
            return Failed("no SMTP server is configured".into());
        };
        let notice: mailer::Mail = match serde_json::from_slice(&row.payload) {
            Ok(n) => n,
            Err(e) => return Failed(format!("unreadable notice: {e}")),
        };
        match mailer.send(&row.destination, &notice).await {
            Ok(()) => {
                self.metrics.email(EmailResult::Sent);
                Sent
            }
            Err(e) if e.is_transient() => {
                self.metrics.email(EmailResult::Failed);
                Retry(e.to_string())
            }
            Err(e) => {
                self.metrics.email(EmailResult::Failed);
                Failed(e.to_string())
            }
        }
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
                let wait = backoff(row.attempts, self.config.retry_min, self.config.retry_max);
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

/// The result of one send attempt.
enum Attempt {
    Sent,
    Retry(String),
    Unroutable(String),
    Failed(String),
}
use Attempt::*;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as StdDuration;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let min = StdDuration::from_secs(1);
        let max = StdDuration::from_secs(300);
        assert_eq!(backoff(0, min, max), StdDuration::from_secs(1));
        assert_eq!(backoff(3, min, max), StdDuration::from_secs(8));
        assert_eq!(backoff(9, min, max), max);
        assert_eq!(backoff(u32::MAX, min, max), max);
    }
}
