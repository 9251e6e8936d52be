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
//!    a receipt or ack moving a delivery) is written in **one store transaction** together with
//!    the message itself, the outbox rows and the audit entries. Only after the commit does the
//!    caller acknowledge the input on AMQP.
//!
//! A refusal is a value ([`Outcome::Refused`]); the caller dead-letters it with its reason and, when
//! the signer is known, sends an `error` reply.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::acknowledgement;
use crate::config;
use crate::delivery;
use crate::escalation;
use crate::routing;
use crate::store::{self, NewAlert, NewAudit, NewDelivery, NewMessage, NewOutbox, NewTimer, Store};
use varsel_protocol::envelope::{self, KeySet};
use varsel_protocol::message::{
    Content, DeliveryState, ErrorReply, Kind, ParticipantId, Payload, RecipientRole, Sealed,
    SectionLabel, Urgency,
};
use varsel_protocol::refusal::{Reason, Refusal};
use varsel_protocol::registry::Registry;
use varsel_transport::amqp;

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

/// How long a recipient took to receipt or ack a delivery (from the delivery's creation, on the
/// broker's clock); reported to the metrics only after the commit that recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// An ack (or decline) rather than a receipt.
    pub ack: bool,
    pub elapsed: std::time::Duration,
}

/// Why handling a message failed without a verdict (the input stays unacknowledged and is
/// retried): the store could not be reached, or a broker key is missing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("cannot build the broker's own message: {0}")]
    Envelope(String),
}

/// Everything intake needs besides the world snapshot.
pub struct Intake {
    pub store: Store,
    pub keys: Arc<KeySet>,
    pub broker: ParticipantId,
    pub limits: config::Intake,
    /// Where receipts and acks report their time to receipt and to ack.
    pub metrics: crate::ops::Metrics,
    /// The content keys of the message handed over last, by the digest of its compact form: a
    /// message's recipients are handed over one after the other, so each section is unwrapped
    /// once per message.
    unwrapped: Mutex<Option<([u8; 32], envelope::Unwrapped)>>,
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

impl Intake {
    pub fn new(
        store: Store,
        keys: Arc<KeySet>,
        broker: ParticipantId,
        limits: config::Intake,
        metrics: crate::ops::Metrics,
    ) -> Intake {
        Intake {
            store,
            keys,
            broker,
            limits,
            metrics,
            unwrapped: Mutex::new(None),
        }
    }

    /// Re-wraps the granted sections of `h`'s message for its recipient, unwrapping with the
    /// broker's keys only the sections no earlier hand-over of the same message unwrapped.
    fn rewrap(
        &self,
        h: &HandOver<'_>,
        grant: &[SectionLabel],
        key: &varsel_protocol::registry::SealingKey,
    ) -> Result<Vec<varsel_protocol::message::KeyWrap>, Refusal> {
        let digest = envelope::sha256(h.compact.as_bytes());
        let mut cache = self.unwrapped.lock().unwrap_or_else(|e| e.into_inner());
        if !matches!(&*cache, Some((d, _)) if *d == digest) {
            *cache = None;
        }
        let (_, unwrapped) =
            cache.get_or_insert_with(|| (digest, envelope::Unwrapped::new(h.message)));
        unwrapped.rewrap(
            &h.sealed.header,
            &h.sealed.wraps,
            &self.broker,
            &self.keys.sealing,
            grant,
            h.recipient,
            key,
        )
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
                self.metrics.observe_time_to_ack(t.elapsed);
            } else {
                self.metrics.observe_time_to_receipt(t.elapsed);
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

        // 4. Replay: an id is acted on once.
        if let Some(outcome) = self.seen_before(tx, payload.id, &verified.digest).await? {
            return Ok(outcome.with_signer(payload, signer));
        }

        // 5. Commit what the message causes.
        let message = NewMessage {
            id: payload.id,
            kind,
            sender: signer.clone(),
            received_at: now,
            raw: input.body.to_vec(),
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
            Content::Receipt(_) | Content::Ack(_) => {
                acknowledgement::apply(self, tx, world, &message, payload, now).await?
            }
            Content::Delivery(_) | Content::Feedback(_) | Content::Error(_) => {
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
                labels: payload
                    .content
                    .sealed()
                    .map(|s| (s.header.category, s.header.status)),
            },
            Committed::Seen(o) => o.with_signer(payload, signer),
            Committed::Refused(r) => refused(r, Some(payload), Some(signer)),
        })
    }

    /// Checks whether a message id was accepted before (or earlier in this transaction).
    async fn seen_before(
        &self,
        tx: &mut store::Tx,
        id: Uuid,
        digest: &[u8; 32],
    ) -> Result<Option<Seen>, Error> {
        Ok(tx
            .message_digest(id)
            .await?
            .map(|d| Seen::classify(id, &d, digest)))
    }

    /// Routes a new alert and commits it with its deliveries, outbox rows, timers and audit.
    #[allow(clippy::too_many_arguments)]
    async fn alert(
        &self,
        tx: &mut store::Tx,
        world: &World,
        message: &NewMessage,
        compact: &str,
        payload: &Payload,
        sealed: &Sealed,
        now: DateTime<Utc>,
    ) -> Result<Committed, Error> {
        if !payload.references.is_empty() {
            return Ok(Committed::Refused(Refusal::new(
                Reason::Schema,
                "a new alert must not reference other messages (use an update)",
            )));
        }
        if let Some(r) = self.check_sealed_for_broker(sealed) {
            return Ok(Committed::Refused(r));
        }
        let registry = &world.registry;
        let decision = world
            .table
            .route(&sealed.header, now, &|id: &ParticipantId| {
                registry
                    .participant(id)
                    .and_then(|p| p.office_hours.as_deref())
                    .and_then(|s| s.parse().ok())
            });

        // Freeze the policies in force on the alert.
        let mut policies: BTreeMap<String, escalation::Policy> = BTreeMap::new();
        for r in &decision.recipients {
            if let Some(name) = &r.policy {
                if let Some(p) = world.table.policy(name) {
                    policies.insert(name.clone(), p.clone());
                }
            }
        }

        if let Some(seen) = self.insert_message(tx, message).await? {
            return Ok(Committed::Seen(seen));
        }
        tx.insert_alert(&NewAlert {
            id: payload.id,
            sender: payload.sender.clone(),
            municipality: sealed.header.municipality.clone(),
            category: sealed.header.category,
            urgency: sealed.header.urgency,
            status: sealed.header.status,
            planned_departure: sealed.header.planned_departure,
            table_version: decision.version.clone(),
            policy: serde_json::to_value(&policies).ok(),
            created_at: now,
        })
        .await?;
        tx.audit(&NewAudit {
            at: now,
            actor: payload.sender.to_string(),
            action: "alert_received".into(),
            alert: Some(payload.id),
            delivery: None,
            detail: json!({
                "message": payload.id,
                "category": sealed.header.category,
                "urgency": sealed.header.urgency,
                "status": sealed.header.status,
                "municipality": sealed.header.municipality,
            }),
        })
        .await?;
        tx.audit(&NewAudit {
            at: now,
            actor: self.broker.to_string(),
            action: "alert_routed".into(),
            alert: Some(payload.id),
            delivery: None,
            detail: json!({
                "table_version": decision.version,
                "rules": decision.fired.iter().map(|f| f.rule.clone()).collect::<Vec<_>>(),
                "recipients": decision.recipients.iter().map(|r| json!({
                    "participant": r.participant, "role": r.role, "policy": r.policy,
                })).collect::<Vec<_>>(),
                "defaulted": decision.defaulted,
            }),
        })
        .await?;

        let mut count = 0;
        for r in &decision.recipients {
            let policy = r.policy.as_ref().and_then(|n| policies.get(n));
            self.hand_over(
                tx,
                world,
                HandOver {
                    alert: payload.id,
                    message: payload.id,
                    compact,
                    sealed,
                    recipient: &r.participant,
                    role: r.role,
                    sections: &r.sections,
                    kind: Kind::Alert,
                    plan_steps: true,
                    policy: policy.map(|p| (r.policy.clone().unwrap_or_default(), p)),
                    created: now,
                    planned_departure: sealed.header.planned_departure,
                },
                now,
            )
            .await?;
            count += 1;
        }
        Ok(Committed::Done {
            alert: payload.id,
            deliveries: count,
            defaulted: decision.defaulted,
            timing: None,
        })
    }

    /// Passes an update or a cancel on to the alert's recipients.
    #[allow(clippy::too_many_arguments)]
    async fn follow_up(
        &self,
        tx: &mut store::Tx,
        world: &World,
        message: &NewMessage,
        compact: &str,
        payload: &Payload,
        sealed: &Sealed,
        now: DateTime<Utc>,
    ) -> Result<Committed, Error> {
        let kind = payload.kind();
        let [alert_id] = payload.references.as_slice() else {
            return Ok(Committed::Refused(Refusal::new(
                Reason::Schema,
                format!("an {kind} must reference exactly one alert"),
            )));
        };
        let Some(alert) = tx.alert_for_update(*alert_id).await? else {
            return Ok(Committed::Refused(Refusal::new(
                Reason::UnknownReference,
                format!("no alert {alert_id} is known"),
            )));
        };
        let original_sender = alert.sender.clone();
        let entitled = original_sender == payload.sender
            || world
                .registry
                .participant(&payload.sender)
                .is_some_and(|p| p.acts_for.contains(&original_sender));
        if !entitled {
            return Ok(Committed::Refused(Refusal::new(
                Reason::NotEntitled,
                format!(
                    "only {original_sender} (or one acting for it) may {kind} alert {alert_id}"
                ),
            )));
        }
        if alert.state == store::AlertState::Cancelled {
            return Ok(Committed::Refused(Refusal::new(
                Reason::UnknownReference,
                format!("alert {alert_id} is already cancelled"),
            )));
        }
        if sealed.header.municipality != alert.municipality || sealed.header.status != alert.status
        {
            return Ok(Committed::Refused(Refusal::new(
                Reason::Schema,
                "an update or cancel may not change the alert's municipality or status",
            )));
        }
        if let Some(r) = self.check_sealed_for_broker(sealed) {
            return Ok(Committed::Refused(r));
        }

        if let Some(seen) = self.insert_message(tx, message).await? {
            return Ok(Committed::Seen(seen));
        }
        let existing = tx.deliveries_of(*alert_id).await?;
        // One recipient may have several deliveries (alert, updates): pass on to each recipient once,
        // with the grant and role of its first delivery.
        let mut recipients: BTreeMap<ParticipantId, (RecipientRole, Vec<SectionLabel>)> =
            BTreeMap::new();
        for d in &existing {
            if d.kind == Kind::Alert {
                recipients
                    .entry(d.recipient.clone())
                    .or_insert((d.role, d.sections.clone()));
            }
        }
        tx.touch_alert(*alert_id, payload.id, sealed.header.planned_departure, now)
            .await?;
        let action = if kind == Kind::Cancel {
            "alert_cancelled"
        } else {
            "alert_updated"
        };
        tx.audit(&NewAudit {
            at: now,
            actor: payload.sender.to_string(),
            action: action.into(),
            alert: Some(*alert_id),
            delivery: None,
            detail: json!({ "message": payload.id, "recipients": recipients.len() }),
        })
        .await?;
        if kind == Kind::Cancel {
            let stopped = tx.cancel_timers(*alert_id, None).await?;
            let (from, to) = delivery::on_cancel();
            for d in &existing {
                if d.kind == Kind::Alert {
                    tx.transition_delivery(d.id, from, to, now, None, None)
                        .await?;
                }
            }
            tx.set_alert_state(
                *alert_id,
                &["open", "escalated", "acknowledged"],
                "cancelled",
                now,
            )
            .await?;
            tx.audit(&NewAudit {
                at: now,
                actor: self.broker.to_string(),
                action: "timers_stopped".into(),
                alert: Some(*alert_id),
                delivery: None,
                detail: json!({ "timers": stopped }),
            })
            .await?;
        }
        let mut count = 0;
        for (recipient, (role, sections)) in &recipients {
            // An update informs; a cancel must be acknowledged like the alert was.
            let role = if kind == Kind::Cancel {
                *role
            } else {
                RecipientRole::Informed
            };
            self.hand_over(
                tx,
                world,
                HandOver {
                    alert: *alert_id,
                    message: payload.id,
                    compact,
                    sealed,
                    recipient,
                    role,
                    sections,
                    kind,
                    plan_steps: false,
                    policy: None,
                    created: now,
                    planned_departure: sealed.header.planned_departure,
                },
                now,
            )
            .await?;
            count += 1;
        }
        Ok(Committed::Done {
            alert: *alert_id,
            deliveries: count,
            defaulted: false,
            timing: None,
        })
    }

    /// Records the message in the transaction; reports a duplicate or reused id found there
    /// (another broker instance may have committed it since the first check).
    pub(crate) async fn insert_message(
        &self,
        tx: &mut store::Tx,
        message: &NewMessage,
    ) -> Result<Option<Seen>, Error> {
        match tx.insert_message(message).await? {
            store::Inserted::New => Ok(None),
            store::Inserted::Exists { digest } => {
                let ours: [u8; 32] = store::digest(&message.raw)
                    .as_slice()
                    .try_into()
                    .unwrap_or([0; 32]);
                Ok(Some(Seen::classify(message.id, &digest, &ours)))
            }
        }
    }

    /// Every section must be wrapped to the broker, or it cannot be passed on to anyone.
    fn check_sealed_for_broker(&self, sealed: &Sealed) -> Option<Refusal> {
        for s in &sealed.sections {
            let wrapped = sealed
                .wraps
                .iter()
                .any(|w| w.section == s.label && w.recipient == self.broker);
            if !wrapped {
                return Some(Refusal::new(
                    Reason::NotSealedForBroker,
                    format!("section {} is not wrapped to {}", s.label, self.broker),
                ));
            }
        }
        None
    }

    /// Creates one delivery: re-wraps the granted sections for the recipient, signs the delivery
    /// message, and puts it in the outbox, with its deadlines and escalation timers.
    pub(crate) async fn hand_over(
        &self,
        tx: &mut store::Tx,
        world: &World,
        h: HandOver<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let delivery_id = Uuid::now_v7();
        let preferred = h
            .sealed
            .wraps
            .iter()
            .find(|w| w.recipient == self.broker)
            .map(|w| w.suite);
        let key = world.registry.sealing_key_for(h.recipient, preferred, now);
        let grant: Vec<SectionLabel> = h
            .sections
            .iter()
            .copied()
            .filter(|l| h.sealed.sections.iter().any(|s| s.label == *l))
            .collect();
        let wraps = match key {
            Some(key) if !grant.is_empty() => self.rewrap(&h, &grant, key),
            _ => Ok(Vec::new()),
        };
        let (wraps, problem) = match wraps {
            Ok(w) => (w, None),
            Err(r) => (Vec::new(), Some(r)),
        };
        let (receipt_due, ack_due) = match &h.policy {
            Some((_, p)) if h.role == RecipientRole::Required => {
                (Some(p.receipt_due(h.created)), Some(p.ack_due(h.created)))
            }
            _ => (None, None),
        };
        let unreachable = key.is_none() && !grant.is_empty();
        let state = if unreachable || problem.is_some() {
            DeliveryState::Unroutable
        } else {
            DeliveryState::Pending
        };
        let kind = h.kind;
        tx.insert_delivery(&NewDelivery {
            id: delivery_id,
            alert: h.alert,
            message: h.message,
            kind,
            policy: h.policy.as_ref().map(|(name, _)| name.clone()),
            recipient: h.recipient.clone(),
            role: h.role,
            sections: grant.clone(),
            state,
            created_at: now,
            receipt_due,
            ack_due,
        })
        .await?;
        tx.audit(&NewAudit {
            at: now,
            actor: self.broker.to_string(),
            action: "delivery_created".into(),
            alert: Some(h.alert),
            delivery: Some(delivery_id),
            detail: json!({
                "recipient": h.recipient,
                "role": h.role,
                "kind": kind,
                "sections": grant,
                "state": state,
                "problem": problem.as_ref().map(|r| r.reason.code()),
                "no_sealing_key": unreachable,
            }),
        })
        .await?;
        if state == DeliveryState::Unroutable {
            return Ok(());
        }
        let payload = delivery::payload(delivery::Handover {
            broker: &self.broker,
            delivery: delivery_id,
            alert: h.alert,
            message: h.message,
            recipient: h.recipient,
            role: h.role,
            original: h.compact,
            wraps,
            receipt_due,
            ack_due,
            now,
        });
        let signed = envelope::sign(&payload, &self.keys.signing);
        tx.enqueue(
            &NewOutbox::amqp(
                amqp::inbox(h.recipient),
                signed.into_bytes(),
                Some(delivery_id),
                Some(h.alert),
                now,
            )
            .with_urgent(h.sealed.header.urgency == Urgency::Immediate),
        )
        .await?;
        if let Some((name, policy)) = &h.policy {
            if h.role == RecipientRole::Required && h.plan_steps {
                for step in policy.plan(h.created, h.planned_departure) {
                    tx.schedule(&NewTimer {
                        alert: h.alert,
                        delivery: Some(delivery_id),
                        action: serde_json::to_value(escalation::scheduler::Timer {
                            policy: name.clone(),
                            step: step.step,
                            round: step.round,
                        })
                        .unwrap_or_default(),
                        due_at: step.due,
                        created_at: now,
                    })
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// Builds the broker-signed `error` reply to a refused message's signer.
    pub fn error_reply(
        &self,
        to: &ParticipantId,
        refused_id: Option<Uuid>,
        refusal: &Refusal,
        now: DateTime<Utc>,
    ) -> (String, Vec<u8>) {
        let mut p = Payload::new(
            self.broker.clone(),
            Content::Error(ErrorReply {
                refused: refused_id,
                reason: refusal.reason.code().to_owned(),
                detail: refusal.detail.clone(),
            }),
        );
        p.sent_at = now;
        p.references = refused_id.into_iter().collect();
        (
            amqp::inbox(to),
            envelope::sign(&p, &self.keys.signing).into_bytes(),
        )
    }
}

/// A delivery to create.
pub(crate) struct HandOver<'a> {
    pub alert: Uuid,
    pub message: Uuid,
    pub compact: &'a str,
    pub sealed: &'a Sealed,
    pub recipient: &'a ParticipantId,
    pub role: RecipientRole,
    pub sections: &'a [SectionLabel],
    pub kind: Kind,
    /// The escalation policy (name, policy) giving the deadlines and the ladder.
    pub policy: Option<(String, &'a escalation::Policy)>,
    /// Whether to schedule the policy's ladder (false for a recipient added by the ladder itself:
    /// it gets deadlines, and ops see it overdue, but no second ladder).
    pub plan_steps: bool,
    pub created: DateTime<Utc>,
    pub planned_departure: Option<DateTime<Utc>>,
}

/// The result of a commit attempt.
pub(crate) enum Committed {
    Done {
        alert: Uuid,
        deliveries: usize,
        defaulted: bool,
        timing: Option<Timing>,
    },
    Seen(Seen),
    Refused(Refusal),
}

/// A message id found in the store.
pub(crate) enum Seen {
    Duplicate(Uuid),
    Reused(Uuid),
}

impl Seen {
    fn classify(id: Uuid, stored: &[u8], ours: &[u8; 32]) -> Seen {
        if stored == ours.as_slice() {
            Seen::Duplicate(id)
        } else {
            Seen::Reused(id)
        }
    }

    fn with_signer(self, payload: &Payload, signer: &ParticipantId) -> Outcome {
        match self {
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
}
