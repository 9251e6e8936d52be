//! The email half of the outbox: notices go to the mail relay from a task of their own, a few at
//! a time, each under a lease renewed while the relay takes its time.
//!
//! A relay may take far longer than a publish (lettre's timeout applies to each SMTP command, so
//! one notice can take several times `[smtp] timeout`). Sent from the AMQP task, one slow notice
//! held up every urgent delivery behind it; under a lease that ran out mid-send, another instance
//! claimed the row and sent the notice again. Renewing the lease every third of its length while
//! the send is under way keeps the row this instance's until the outcome is recorded.

use std::time::Duration;

use futures_util::future::join_all;

use super::{Attempt, Failed, Retry, Sent, Worker};
use crate::mailer;
use crate::metrics::EmailResult;
use crate::store::{Channel, OutboxRow};
use varsel_transport::shutdown::Signals;

/// How many notices one instance sends at once: enough that one slow notice does not hold up
/// the others, few enough not to flood the relay with connections.
const AT_ONCE: u32 = 4;

impl Worker {
    /// Sends email rows until `signals` asks to stop, polling every `[outbox] poll`.
    pub async fn run_email(self, signals: Signals) {
        loop {
            if signals.is_stopping() {
                break;
            }
            let rows = self.claim(Channel::Email, AT_ONCE).await;
            if !rows.is_empty() {
                join_all(rows.iter().map(|row| self.mail(row))).await;
                continue;
            }
            tokio::select! {
                _ = signals.stopped() => break,
                _ = tokio::time::sleep(self.config.poll) => {}
            }
        }
    }

    /// Sends one claimed notice while holding its lease, and records how it ended. If the lease
    /// is lost all the same (this instance could not renew it in time and another took the row
    /// over), the send is abandoned and nothing is recorded: the other instance sends it.
    async fn mail(&self, row: &OutboxRow) {
        let attempt = tokio::select! {
            attempt = self.send_email(row) => attempt,
            () = self.hold(row.id) => {
                tracing::warn!(outbox = row.id, "outbox: lost the lease on a notice while sending it; another instance sends it");
                return;
            }
        };
        self.finish(row, attempt).await;
    }

    /// Renews this instance's lease on row `id` every third of the lease; returns once the row
    /// is no longer this instance's. A store that cannot be reached is tried again at the next
    /// renewal.
    async fn hold(&self, id: i64) {
        let every = renewal_interval(self.config.lease, self.clock.factor());
        loop {
            tokio::time::sleep(every).await;
            let renewed = self
                .store
                .renew_outbox(id, &self.owner, self.clock.now(), self.config.lease)
                .await;
            match renewed {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(outbox = id, error = %e, "outbox: could not renew the lease on a notice, retrying");
                }
            }
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
}

/// A third of the lease in real time: a lease is measured on the broker's clock, which a demo
/// may run `factor` times faster than real time.
fn renewal_interval(lease: Duration, factor: u32) -> Duration {
    (lease / 3 / factor.max(1)).max(Duration::from_millis(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_renewed_three_times_per_length_of_clock_time() {
        let lease = Duration::from_secs(30);
        assert_eq!(renewal_interval(lease, 1), Duration::from_secs(10));
        assert_eq!(renewal_interval(lease, 10), Duration::from_secs(1));
        assert_eq!(renewal_interval(lease, 0), Duration::from_secs(10));
        assert_eq!(
            renewal_interval(Duration::from_millis(3), 1),
            Duration::from_millis(10)
        );
    }
}
