//! What happens to a refused input message: its audit entry and (within the signer's budget) its
//! error reply are written with the batch, and after the commit it is dead-lettered with its
//! reason before it is acknowledged. Used when a batch is processed and when a message is parked.

use std::sync::Arc;

use serde_json::json;
use uuid::Uuid;

use super::Shared;
use crate::store::{NewAudit, Reply, Tx};
use varsel_protocol::message::{Kind, ParticipantId};
use varsel_protocol::refusal::Refusal;
use varsel_transport::amqp;

/// A refused input message, as written to the store.
pub(super) struct Refused<'a> {
    pub refusal: &'a Refusal,
    pub id: Option<Uuid>,
    pub kind: Option<Kind>,
    pub signer: Option<&'a ParticipantId>,
    pub routing_key: &'a str,
    pub body: &'a [u8],
    /// For ops: what failed inside the broker, when that is why the message was refused.
    pub cause: Option<&'a str>,
}

impl Refused<'_> {
    /// Writes the refusal's audit entry and, for a known signer, its error reply into `tx`,
    /// unless the same bytes were answered before or the signer's reply budget is spent (then
    /// the refusal is counted, and the next window's first reply says how many went
    /// unanswered).
    pub(super) async fn write(
        &self,
        tx: &mut Tx,
        shared: &Arc<Shared>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), crate::store::Error> {
        let reply = match self.signer {
            Some(to) => {
                let limits = &shared.config.intake;
                let digest = crate::store::digest(self.body);
                Some(
                    tx.reply_to_refusal(
                        to,
                        &digest,
                        now,
                        limits.error_reply_window,
                        limits.error_replies,
                    )
                    .await?,
                )
            }
            None => None,
        };
        tx.audit(&NewAudit {
            at: now,
            actor: shared.intake.broker().to_string(),
            action: "message_refused".into(),
            alert: None,
            delivery: None,
            detail: json!({
                "message": self.id,
                "kind": self.kind,
                "reason": self.refusal.reason.code(),
                "signer": self.signer,
                "routing_key": self.routing_key,
                "replied": matches!(reply, Some(Reply::Send { .. })),
                "cause": self.cause,
            }),
        })
        .await?;
        let (Some(to), Some(reply)) = (self.signer, reply) else {
            return Ok(());
        };
        match reply {
            Reply::Send { unanswered_before } => {
                let refusal = if unanswered_before == 0 {
                    self.refusal.clone()
                } else {
                    Refusal::new(
                        self.refusal.reason,
                        format!(
                            "{} ({unanswered_before} more of your messages were refused in the \
                             {} s before this one without a reply each)",
                            self.refusal.detail,
                            shared.config.intake.error_reply_window.as_secs()
                        ),
                    )
                };
                tx.enqueue(&shared.intake.writer.error_reply(to, self.id, &refusal, now))
                    .await?;
            }
            Reply::Repeat => shared.metrics.error_reply_withheld("repeat"),
            Reply::OverBudget => shared.metrics.error_reply_withheld("over_budget"),
        }
        Ok(())
    }
}

/// Publishes a refused input to the dead-letter exchange with its reason, detail and routing key
/// (and the publisher's user id moved to a header). Returns whether RabbitMQ confirmed it; if
/// not, the input has been given back for redelivery and must not be acknowledged.
pub(super) async fn dead_letter(
    publisher: &amqp::Publisher,
    d: &lapin::message::Delivery,
    refusal: &Refusal,
) -> Result<bool, amqp::Error> {
    let props = amqp::with_headers(
        amqp::republished(&d.properties),
        &[
            (amqp::H_REASON, refusal.reason.code().to_owned()),
            (amqp::H_DETAIL, refusal.detail.clone()),
            (amqp::H_ROUTING_KEY, d.routing_key.as_str().to_owned()),
        ],
    );
    let key = format!("refused.{}", refusal.reason.code());
    match publisher
        .publish(amqp::DEAD, &key, &d.data, props, false)
        .await?
    {
        amqp::Published::Confirmed => Ok(true),
        other => {
            tracing::warn!(
                ?other,
                "dead-lettering not confirmed; input left for redelivery"
            );
            amqp::requeue(d).await;
            Ok(false)
        }
    }
}
