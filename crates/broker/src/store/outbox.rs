//! The outbox: sends persisted with the state change that caused them, claimed and sent
//! later, and how each send ended.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use varsel_protocol::message::{code_enum, Kind, Payload};

use super::connection::Store;
use super::error::Error;
use super::leases::until;
use super::rows::{code, convert_all, corrupt, count, ms, opt_time, opt_uuid, time};
use super::tx::Tx;
use varsel_sql::Q;

const OUTBOX_COLS: &str = "id, channel, destination, payload, delivery_id, alert_id, \
     state, attempts, next_attempt_at, claimed_by, claimed_until, last_error, created_at, sent_at, \
     urgent, message_kind, message_id";

code_enum!(
    /// How an outbox row is sent.
    Channel {
        /// Published to `varsel.out` with the destination as routing key.
        Amqp = "amqp",
        /// Mailed to the destination address.
        Email = "email",
    }
);

code_enum!(
    /// Where an outbox row stands.
    OutboxState {
        Pending = "pending",
        Sent = "sent",
        Failed = "failed",
        Unroutable = "unroutable",
    }
);

/// The broker-signed message an AMQP outbox row publishes, as the publish's AMQP properties name
/// it: `type` is its kind, `message_id` its id. Recorded with the row, so the outbox never reads
/// them out of the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageLabel {
    pub kind: Kind,
    /// The id inside the signed payload; `None` for a row written before the store recorded it
    /// (migration 0003), which is published without a `message_id`.
    pub id: Option<Uuid>,
}

impl MessageLabel {
    /// The label of `payload`, the message about to be signed into an outbox row.
    pub fn of(payload: &Payload) -> MessageLabel {
        MessageLabel {
            kind: payload.kind(),
            id: Some(payload.id),
        }
    }
}

/// A send to persist in the outbox.
#[derive(Clone)]
pub struct NewOutbox {
    pub channel: Channel,
    /// What an AMQP row publishes; `None` for email.
    pub message: Option<MessageLabel>,
    /// `inbox.<participant>` for AMQP, an address for email.
    pub destination: String,
    /// The bytes to publish, or the email body.
    pub payload: Vec<u8>,
    pub delivery: Option<Uuid>,
    pub alert: Option<Uuid>,
    /// Not sent before this time (usually now).
    pub not_before: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Claimed before every non-urgent row that is due (the deliveries of an `immediate`
    /// alert), so that in a flood an urgent alert does not wait behind routine traffic.
    pub urgent: bool,
}

impl NewOutbox {
    /// A message (`payload`, the signed form of the message `message` labels) to publish on
    /// `varsel.out` with `destination` (`inbox.<id>`) as routing key, due now.
    pub fn amqp(
        destination: String,
        message: MessageLabel,
        payload: Vec<u8>,
        delivery: Option<Uuid>,
        alert: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> NewOutbox {
        NewOutbox {
            channel: Channel::Amqp,
            message: Some(message),
            ..NewOutbox::email(destination, payload, delivery, alert, now)
        }
    }

    /// A stored row's send once more, due now, urgent as it was: what a redelivery step
    /// publishes again.
    pub fn again(row: &OutboxRow, now: DateTime<Utc>) -> NewOutbox {
        NewOutbox {
            channel: row.channel,
            message: row.message,
            urgent: row.urgent,
            ..NewOutbox::email(
                row.destination.clone(),
                row.payload.clone(),
                row.delivery,
                row.alert,
                now,
            )
        }
    }

    /// The same send, marked urgent or not (see [`NewOutbox::urgent`]).
    pub fn with_urgent(self, urgent: bool) -> NewOutbox {
        NewOutbox { urgent, ..self }
    }

    /// An email (the payload is the JSON of a `mailer::Mail`: a notice or an alarm) to `address`,
    /// due now.
    pub fn email(
        address: String,
        payload: Vec<u8>,
        delivery: Option<Uuid>,
        alert: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> NewOutbox {
        NewOutbox {
            channel: Channel::Email,
            message: None,
            destination: address,
            payload,
            delivery,
            alert,
            not_before: now,
            created_at: now,
            urgent: false,
        }
    }
}

impl fmt::Debug for NewOutbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewOutbox")
            .field("channel", &self.channel)
            .field("message", &self.message)
            .field("destination", &self.destination)
            .field("payload_len", &self.payload.len())
            .field("delivery", &self.delivery)
            .field("alert", &self.alert)
            .field("not_before", &self.not_before)
            .finish()
    }
}

/// A stored outbox row.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub channel: Channel,
    /// What an AMQP row publishes (always there for AMQP); `None` for email.
    pub message: Option<MessageLabel>,
    pub destination: String,
    pub payload: Vec<u8>,
    pub delivery: Option<Uuid>,
    pub alert: Option<Uuid>,
    pub state: OutboxState,
    /// How many times the row was claimed for sending (a claim that died counts too).
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub urgent: bool,
}

impl fmt::Debug for OutboxRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxRow")
            .field("id", &self.id)
            .field("channel", &self.channel)
            .field("message", &self.message)
            .field("destination", &self.destination)
            .field("payload_len", &self.payload.len())
            .field("delivery", &self.delivery)
            .field("alert", &self.alert)
            .field("state", &self.state)
            .field("attempts", &self.attempts)
            .field("next_attempt_at", &self.next_attempt_at)
            .field("claimed_by", &self.claimed_by)
            .field("claimed_until", &self.claimed_until)
            .field("last_error", &self.last_error)
            .finish()
    }
}

/// How a claimed outbox row's send ended.
#[derive(Debug, Clone)]
pub enum OutboxOutcome {
    /// Confirmed by the broker or accepted by the mail server.
    Sent { at: DateTime<Utc> },
    /// Try again at `at`; the row stays pending.
    Retry { at: DateTime<Utc>, error: String },
    /// RabbitMQ returned it (no queue bound); the escalation policy takes over.
    Unroutable { at: DateTime<Utc>, error: String },
    /// Given up.
    Failed { at: DateTime<Utc>, error: String },
}

varsel_sql::row! {
    struct RawOutbox {
        id: i64,
        channel: String,
        destination: String,
        payload: Vec<u8>,
        delivery_id: Option<String>,
        alert_id: Option<String>,
        state: String,
        attempts: i64,
        next_attempt_at: i64,
        claimed_by: Option<String>,
        claimed_until: Option<i64>,
        last_error: Option<String>,
        created_at: i64,
        sent_at: Option<i64>,
        urgent: i64,
        message_kind: Option<String>,
        message_id: Option<String>,
    }
}

impl RawOutbox {
    fn into_row(self) -> Result<OutboxRow, Error> {
        const T: &str = "outbox";
        let channel = code(T, "channel", &self.channel)?;
        let message = match (channel, self.message_kind.as_deref()) {
            (Channel::Amqp, Some(kind)) => Some(MessageLabel {
                kind: code(T, "message_kind", kind)?,
                id: opt_uuid(T, "message_id", self.message_id.as_deref())?,
            }),
            (Channel::Amqp, None) => {
                return Err(corrupt(T, "message_kind", "missing on an AMQP row"))
            }
            (Channel::Email, _) => None,
        };
        Ok(OutboxRow {
            id: self.id,
            channel,
            message,
            destination: self.destination,
            payload: self.payload,
            delivery: opt_uuid(T, "delivery_id", self.delivery_id.as_deref())?,
            alert: opt_uuid(T, "alert_id", self.alert_id.as_deref())?,
            state: code(T, "state", &self.state)?,
            attempts: count(T, "attempts", self.attempts)?,
            next_attempt_at: time(T, "next_attempt_at", self.next_attempt_at)?,
            claimed_by: self.claimed_by,
            claimed_until: opt_time(T, "claimed_until", self.claimed_until)?,
            last_error: self.last_error,
            created_at: time(T, "created_at", self.created_at)?,
            sent_at: opt_time(T, "sent_at", self.sent_at)?,
            urgent: self.urgent != 0,
        })
    }
}

impl Store {
    /// An alert's outbox rows in the order they were enqueued.
    pub async fn outbox_of(&self, alert: Uuid) -> Result<Vec<OutboxRow>, Error> {
        let q = Q::new(format!(
            "SELECT {OUTBOX_COLS} FROM outbox WHERE alert_id = $1 ORDER BY id"
        ))
        .text(alert.to_string());
        let mut c = self.acquire().await?;
        let rows: Vec<RawOutbox> = c.conn().fetch_all(q).await?;
        convert_all(rows, RawOutbox::into_row)
    }

    /// The outbox rows that belong to no alert (heartbeats, checkpoints, alarms to ops), in the
    /// order they were enqueued.
    pub async fn outbox_without_alert(&self) -> Result<Vec<OutboxRow>, Error> {
        let q = Q::new(format!(
            "SELECT {OUTBOX_COLS} FROM outbox WHERE alert_id IS NULL ORDER BY id"
        ));
        let mut c = self.acquire().await?;
        let rows: Vec<RawOutbox> = c.conn().fetch_all(q).await?;
        convert_all(rows, RawOutbox::into_row)
    }

    /// Claims up to `limit` pending outbox rows of `channel` that are due at `now` and not
    /// claimed by a live lease, for `owner` until `now + lease`. Each claim counts as an attempt.
    /// Urgent rows come first, then the rest; each group in due order.
    pub async fn claim_outbox(
        &self,
        channel: Channel,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, Error> {
        let sql = format!(
            "UPDATE outbox SET claimed_by = $1, claimed_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND channel = $5 \
                 AND next_attempt_at <= $3 AND (claimed_until IS NULL OR claimed_until <= $3) \
                 ORDER BY urgent DESC, next_attempt_at, id LIMIT $4{}) \
             RETURNING {OUTBOX_COLS}",
            self.skip_locked()
        );
        let q = Q::new(sql)
            .text(owner)
            .i64(until(now, lease)?)
            .i64(ms(now))
            .i64(i64::from(limit))
            .text(channel.code());
        let rows: Vec<RawOutbox> = self.claim(q).await?;
        let mut rows = convert_all(rows, RawOutbox::into_row)?;
        rows.sort_by_key(|r| (!r.urgent, r.next_attempt_at, r.id));
        Ok(rows)
    }

    /// Extends `owner`'s claim on outbox row `id` until `now + lease`, while a send takes its
    /// time; false if the row is no longer `owner`'s to send (another instance took it over
    /// after the lease ran out, or its outcome is recorded).
    pub async fn renew_outbox(
        &self,
        id: i64,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<bool, Error> {
        let q = Q::new(
            "UPDATE outbox SET claimed_until = $1 \
             WHERE id = $2 AND claimed_by = $3 AND state = 'pending'",
        )
        .i64(until(now, lease)?)
        .i64(id)
        .text(owner);
        let mut tx = self.begin().await?;
        let renewed = tx.conn().execute(q).await? == 1;
        tx.commit().await?;
        Ok(renewed)
    }
}

impl Tx {
    /// The last message published to a delivery's recipient over AMQP, as this transaction sees
    /// it: what a redelivery step publishes again.
    pub async fn last_publication(&mut self, delivery: Uuid) -> Result<Option<OutboxRow>, Error> {
        let q = Q::new(format!(
            "SELECT {OUTBOX_COLS} FROM outbox WHERE delivery_id = $1 AND channel = $2 \
             ORDER BY id DESC LIMIT 1"
        ))
        .text(delivery.to_string())
        .text(Channel::Amqp.code());
        let row: Option<RawOutbox> = self.conn().fetch_optional(q).await?;
        row.map(RawOutbox::into_row).transpose()
    }

    /// Persists a send; returns the outbox row id.
    pub async fn enqueue(&mut self, o: &NewOutbox) -> Result<i64, Error> {
        let q = Q::new(
            "INSERT INTO outbox (channel, destination, payload, delivery_id, alert_id, state, \
             attempts, next_attempt_at, created_at, urgent, message_kind, message_id) \
             VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $8, $9, $10) RETURNING id",
        )
        .text(o.channel.code())
        .text(o.destination.clone())
        .bytes(o.payload.clone())
        .opt_text(o.delivery.map(|d| d.to_string()))
        .opt_text(o.alert.map(|a| a.to_string()))
        .i64(ms(o.not_before))
        .i64(ms(o.created_at))
        .i64(i64::from(o.urgent))
        .opt_text(o.message.map(|m| m.kind.code().to_owned()))
        .opt_text(o.message.and_then(|m| m.id).map(|id| id.to_string()));
        let (id,): (i64,) = self.conn().fetch_one(q).await?;
        Ok(id)
    }

    /// Records how a claimed send ended, only if `owner` still holds the claim (nobody took it
    /// over after the lease ran out); true if recorded. The claim is released.
    pub async fn finish_outbox(
        &mut self,
        id: i64,
        owner: &str,
        outcome: OutboxOutcome,
    ) -> Result<bool, Error> {
        // $1 state, $2 error, $3 id, $4 owner, then the time column the outcome sets.
        let (state, error, time) = match outcome {
            OutboxOutcome::Sent { at } => (OutboxState::Sent, None, Some(("sent_at", at))),
            OutboxOutcome::Retry { at, error } => (
                OutboxState::Pending,
                Some(error),
                Some(("next_attempt_at", at)),
            ),
            // The failure time is kept in the audit log; the row keeps when it was last due.
            OutboxOutcome::Unroutable { error, .. } => (OutboxState::Unroutable, Some(error), None),
            OutboxOutcome::Failed { error, .. } => (OutboxState::Failed, Some(error), None),
        };
        let set_time = time
            .map(|(col, _)| format!(", {col} = $5"))
            .unwrap_or_default();
        let mut q = Q::new(format!(
            "UPDATE outbox SET state = $1, last_error = COALESCE($2, last_error), \
             claimed_by = NULL, claimed_until = NULL{set_time} \
             WHERE id = $3 AND claimed_by = $4 AND state = 'pending'"
        ))
        .text(state.code())
        .opt_text(error)
        .i64(id)
        .text(owner);
        if let Some((_, at)) = time {
            q = q.i64(ms(at));
        }
        Ok(self.conn().execute(q).await? == 1)
    }
}
