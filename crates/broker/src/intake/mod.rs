//! Verifying incoming messages and committing what they cause.
//!
//! For every message taken from `varsel.intake`:
//! 1. the envelope is verified (size, JWS, algorithm, key, signature, schema, sender; see
//!    `envelope`);
//! 2. the transport must agree with the signer: the AMQP routing key is `<kind>.<signer>`, and
//!    when the registry names the signer's AMQP user, the `user_id` RabbitMQ validated must be it;
//! 3. the signer's role may send this kind; `sent_at` lies within the freshness window;
//! 4. a message id already accepted is never acted on twice: identical bytes are a duplicate
//!    (acknowledged, nothing else happens), different bytes under a seen id are refused;
//! 5. what the message causes (an alert routed to its recipients, an update or cancel passed on,
//!    a note handed to the case's members, a receipt or ack moving a delivery) is written in **one store transaction** together with
//!    the message itself, the outbox rows and the audit entries. Only after the commit does the
//!    caller acknowledge the input on AMQP.
//!
//! A refusal is a value ([`Outcome::Refused`]); the caller dead-letters it with its reason and, when
//! the signer is known, sends an `error` reply.
//!
//! This file holds steps 1 to 4 and the dispatch of step 5; [`alert`] commits a new alert,
//! [`follow_up`] an update or a cancel, [`note`] a note to a case, `crate::acknowledgement` a receipt or an ack, all writing
//! through [`crate::commit`].

mod alert;
mod follow_up;
mod note;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::acknowledgement;
use crate::commit::{Committed, Seen, Writer};
use crate::config;
use crate::metrics::Metrics;
use crate::routing;
use crate::store::{self, NewMessage};
use varsel_protocol::envelope::{self, KeySet};
use varsel_protocol::message::{Content, Kind, ParticipantId, Payload, VERSION, VERSION_1};
use varsel_protocol::refusal::{Reason, Refusal};
use varsel_protocol::registry::Registry;
use varsel_transport::amqp;

pub use crate::commit::{Error, Timing};

/// The configuration that can be reloaded at run time (SIGHUP): the registry and the routing
/// table. Each message is handled against one consistent snapshot.
#[derive(Clone)]
pub struct World {
    pub registry: Arc<Registry>,
    pub table: Arc<routing::Table>,
}

/// One message as it came off the intake queue.
pub struct Input<'a> {
    pub body: &'a [u8],
    pub routing_key: &'a str,
    /// The `user_id` property, which RabbitMQ validates against the publishing connection.
    pub user_id: Option<&'a str>,
}

/// What became of one input message.
#[derive(Debug)]
pub enum Outcome {
    /// Committed to the store: acknowledge the input.
    Accepted {
        id: Uuid,
        kind: Kind,
        /// The alert the message is about.
        alert: Uuid,
        /// Deliveries created by this message.
        deliveries: usize,
        /// Whether the routing table matched no rule and the default recipient was used.
        defaulted: bool,
        /// The alert's category and status, for metrics labels.
        labels: Option<(
            varsel_protocol::message::Category,
            varsel_protocol::message::Status,
        )>,
        /// A time to report once the commit is durable (see [`Intake::committed`]).
        timing: Option<Timing>,
    },
    /// A receipt for a heartbeat, applied to its line: acknowledge the input. Counted as no
    /// message received, since it is no part of any alert.
    Heartbeat { id: Uuid, line: ParticipantId },
    /// The very same bytes were accepted before: acknowledge the input and do nothing else.
    Duplicate { id: Uuid },
    /// Refused: dead-letter with the reason, reply to `reply_to` when known, then acknowledge.
    Refused {
        refusal: Refusal,
        id: Option<Uuid>,
        kind: Option<Kind>,
        reply_to: Option<ParticipantId>,
    },
}

/// Everything intake needs besides the world snapshot.
pub struct Intake {
    /// Writes what a message causes, as the broker.
    pub writer: Writer,
    pub limits: config::Intake,
    /// Where receipts and acks report their time to receipt and to ack.
    pub metrics: Metrics,
}

/// A refusal before or after the signer is known.
fn refused(r: Refusal, payload: Option<&Payload>, signer: Option<&ParticipantId>) -> Outcome {
    Outcome::Refused {
        refusal: r,
        id: payload.map(|p| p.id),
        kind: payload.map(|p| p.kind()),
        reply_to: signer.cloned(),
    }
}

fn std_to_chrono(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

/// A message id seen before, told to its signer: a duplicate is acknowledged without effect, a
/// reused id is refused.
fn with_signer(seen: Seen, payload: &Payload, signer: &ParticipantId) -> Outcome {
    match seen {
        Seen::Duplicate(id) => Outcome::Duplicate { id },
        Seen::Reused(id) => refused(
            Refusal::new(
                Reason::ReusedId,
                format!("message id {id} was already used for a different message"),
            ),
            Some(payload),
            Some(signer),
        ),
    }
}

impl Intake {
    pub fn new(
        keys: Arc<KeySet>,
        broker: ParticipantId,
        limits: config::Intake,
        metrics: Metrics,
    ) -> Intake {
        Intake {
            writer: Writer::new(broker, keys),
            limits,
            metrics,
        }
    }

    /// The broker's participant id: the actor of its audit entries.
    pub fn broker(&self) -> &ParticipantId {
        self.writer.broker()
    }

    /// Verifies one message and writes what it causes into `tx`, a transaction the caller
    /// commits (several messages may share one). The message's writes sit under a savepoint of
    /// their own: a refusal undoes them (audit entries included) and leaves the rest of `tx`
    /// alone. Later messages in `tx` see this one's writes, so a second copy of the same message
    /// in one transaction is a duplicate. After the commit, pass the outcome to
    /// [`Intake::committed`]. On `Err`, `tx` is unusable and must be dropped.
    pub async fn handle_in(
        &self,
        tx: &mut store::Tx,
        world: &World,
        input: Input<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Error> {
        tx.savepoint().await?;
        let outcome = self.verify_and_write(tx, world, input, now).await?;
        if matches!(outcome, Outcome::Refused { .. }) {
            tx.rollback_to().await?;
        }
        tx.release().await?;
        Ok(outcome)
    }

    /// Reports what can only be reported once an outcome is durable (times to receipt and ack).
    pub fn committed(&self, outcome: &Outcome) {
        if let Outcome::Accepted {
            timing: Some(t), ..
        } = outcome
        {
            if t.ack {
                self.metrics.observe_time_to_ack(&t.recipient, t.elapsed);
            } else {
                self.metrics
                    .observe_time_to_receipt(&t.recipient, t.elapsed);
            }
        }
    }

    async fn verify_and_write(
        &self,
        tx: &mut store::Tx,
        world: &World,
        input: Input<'_>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Error> {
        let verified = match envelope::verify(
            input.body,
            &world.registry,
            now,
            self.limits.max_message_bytes,
        ) {
            Ok(v) => v,
            Err(r) => return Ok(refused(r, None, None)),
        };
        let payload = &verified.payload;
        let signer = &verified.signer;
        let kind = payload.kind();
        let refuse = |reason: Reason, detail: String| {
            Ok(refused(
                Refusal::new(reason, detail),
                Some(payload),
                Some(signer),
            ))
        };

        // The end of the move to wire format v2: after it a v1 message is refused, with the
        // same reason code in the dead-letter header, the metric and the error reply.
        if payload.v == VERSION_1 && now >= self.limits.v1_refused_from {
            return refuse(
                Reason::UnsupportedVersion,
                format!(
                    "wire format v1 is no longer accepted (since {}); send v{VERSION}",
                    self.limits.v1_refused_from.format("%Y-%m-%d")
                ),
            );
        }

        // 2. The transport must agree with the signature.
        let expected_key = amqp::routing_key(kind, signer);
        if input.routing_key != expected_key {
            return refuse(
                Reason::WrongRoutingKey,
                format!(
                    "published with routing key {:?}, expected {expected_key:?}",
                    input.routing_key
                ),
            );
        }
        let Some(participant) = world.registry.participant(signer) else {
            return refuse(Reason::UnknownSender, format!("{signer} is not registered"));
        };
        if let Some(user) = &participant.amqp_user {
            if input.user_id != Some(user.as_str()) {
                return refuse(
                    Reason::IdentityMismatch,
                    format!(
                        "published by AMQP user {:?}, but {signer} is registered as {user:?}",
                        input.user_id.unwrap_or("(none)")
                    ),
                );
            }
        }

        // 3. Rights and freshness.
        if !participant.role.may_send(kind) {
            return refuse(
                Reason::KindNotAllowed,
                format!(
                    "a participant with role {:?} may not send {kind}",
                    participant.role
                ),
            );
        }
        let age = now - payload.sent_at;
        if age > std_to_chrono(self.limits.max_age) {
            return refuse(
                Reason::Stale,
                format!(
                    "sent {}s ago; messages older than {}s are refused",
                    age.num_seconds(),
                    self.limits.max_age.as_secs()
                ),
            );
        }
        if -age > std_to_chrono(self.limits.max_clock_skew) {
            return refuse(
                Reason::FutureDated,
                format!("dated {}s in the future", (-age).num_seconds()),
            );
        }

        // 4. Replay: an id is acted on once (or earlier in this transaction).
        if let Some(stored) = tx.message_digest(payload.id).await? {
            let seen = Seen::classify(payload.id, &stored, &verified.digest);
            return Ok(with_signer(seen, payload, signer));
        }

        // 5. Commit what the message causes.
        let message = NewMessage {
            id: payload.id,
            kind,
            sender: signer.clone(),
            received_at: now,
            raw: input.body.to_vec(),
            digest: verified.digest,
        };
        let result = match &payload.content {
            Content::Alert(sealed) => {
                self.alert(tx, world, &message, &verified.compact, payload, sealed, now)
                    .await?
            }
            Content::Update(sealed) | Content::Cancel(sealed) => {
                self.follow_up(tx, world, &message, &verified.compact, payload, sealed, now)
                    .await?
            }
            Content::Note(note) => {
                self.note(tx, world, &message, &verified.compact, payload, note, now)
                    .await?
            }
            Content::Receipt(_) | Content::Ack(_) => {
                acknowledgement::apply(&self.writer, tx, &world.registry, &message, payload, now)
                    .await?
            }
            Content::Delivery(_)
            | Content::Feedback(_)
            | Content::Error(_)
            | Content::Checkpoint(_)
            | Content::Heartbeat(_) => {
                // Roles already keep these out; a broker-signed message on intake is refused too.
                return refuse(
                    Reason::KindNotAllowed,
                    format!("{kind} messages are sent by the broker, not to it"),
                );
            }
        };
        Ok(match result {
            Committed::Done {
                alert,
                deliveries,
                defaulted,
                timing,
            } => Outcome::Accepted {
                id: payload.id,
                kind,
                alert,
                deliveries,
                defaulted,
                timing,
                labels: match &payload.content {
                    Content::Note(n) => Some((n.header.category, n.header.status)),
                    c => c.sealed().map(|s| (s.header.category, s.header.status)),
                },
            },
            Committed::Heartbeat { line } => Outcome::Heartbeat {
                id: payload.id,
                line,
            },
            Committed::Seen(o) => with_signer(o, payload, signer),
            Committed::Refused(r) => refused(r, Some(payload), Some(signer)),
        })
    }
}
