//! Rows as the database returns them (integers, text, bytes) and their checked conversion into
//! the store's typed rows. A value that does not convert is reported as a corrupt store, never
//! passed on half-read.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{AlertRow, AuditRow, DeliveryRow, Error, MessageRow, OutboxRow, TimerRow};
use varsel_protocol::message::{InvalidValue, SectionLabel};

pub(crate) const MESSAGE_COLS: &str = "id, kind, sender, digest, received_at, raw";

pub(crate) const ALERT_COLS: &str = "a.id, a.sender, a.municipality, a.category, a.urgency, \
     a.status, a.planned_departure, a.table_version, a.policy, a.state, a.created_at, \
     a.updated_at, a.last_message_id";

pub(crate) const DELIVERY_COLS: &str =
    "d.id, d.alert_id, d.message_id, d.kind, d.policy, d.recipient, d.role, d.sections, \
     d.state, d.created_at, d.updated_at, d.sent_at, d.received_at, d.acked_at, d.officer, \
     d.outcome, d.receipt_due, d.ack_due, d.attempts";

pub(crate) const OUTBOX_COLS: &str = "id, channel, destination, payload, delivery_id, alert_id, \
     state, attempts, next_attempt_at, claimed_by, claimed_until, last_error, created_at, sent_at, \
     urgent";

pub(crate) const TIMER_COLS: &str = "id, alert_id, delivery_id, action, due_at, state, \
     claimed_by, claimed_until, fired_at, created_at";

pub(crate) const AUDIT_COLS: &str =
    "seq, at, actor, action, alert_id, delivery_id, detail, prev_hash, hash";

/// Unix milliseconds: the store's only representation of time.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn corrupt(table: &'static str, column: &'static str, why: impl Into<String>) -> Error {
    Error::Corrupt {
        table,
        column,
        why: why.into(),
    }
}

pub(crate) fn time(
    table: &'static str,
    column: &'static str,
    v: i64,
) -> Result<DateTime<Utc>, Error> {
    DateTime::from_timestamp_millis(v).ok_or_else(|| corrupt(table, column, "time out of range"))
}

fn opt_time(
    table: &'static str,
    column: &'static str,
    v: Option<i64>,
) -> Result<Option<DateTime<Utc>>, Error> {
    v.map(|v| time(table, column, v)).transpose()
}

fn uuid(table: &'static str, column: &'static str, v: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(v).map_err(|_| corrupt(table, column, "not a UUID"))
}

fn opt_uuid(
    table: &'static str,
    column: &'static str,
    v: Option<&str>,
) -> Result<Option<Uuid>, Error> {
    v.map(|v| uuid(table, column, v)).transpose()
}

fn code<T: FromStr<Err = InvalidValue>>(
    table: &'static str,
    column: &'static str,
    v: &str,
) -> Result<T, Error> {
    v.parse()
        .map_err(|e: InvalidValue| corrupt(table, column, e.why))
}

fn json(table: &'static str, column: &'static str, v: &str) -> Result<serde_json::Value, Error> {
    serde_json::from_str(v).map_err(|e| corrupt(table, column, format!("not JSON: {e}")))
}

fn count(table: &'static str, column: &'static str, v: i64) -> Result<u32, Error> {
    u32::try_from(v).map_err(|_| corrupt(table, column, "negative or too large"))
}

#[derive(sqlx::FromRow)]
pub(crate) struct RawMessage {
    id: String,
    kind: String,
    sender: String,
    digest: Vec<u8>,
    received_at: i64,
    raw: Vec<u8>,
}

impl RawMessage {
    pub(crate) fn into_row(self) -> Result<MessageRow, Error> {
        const T: &str = "messages";
        Ok(MessageRow {
            id: uuid(T, "id", &self.id)?,
            kind: code(T, "kind", &self.kind)?,
            sender: code(T, "sender", &self.sender)?,
            digest: self.digest,
            received_at: time(T, "received_at", self.received_at)?,
            raw: self.raw,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RawAlert {
    id: String,
    sender: String,
    municipality: String,
    category: String,
    urgency: String,
    status: String,
    planned_departure: Option<i64>,
    table_version: String,
    policy: Option<String>,
    state: String,
    created_at: i64,
    updated_at: i64,
    last_message_id: Option<String>,
}

impl RawAlert {
    pub(crate) fn into_row(self) -> Result<AlertRow, Error> {
        const T: &str = "alerts";
        Ok(AlertRow {
            id: uuid(T, "id", &self.id)?,
            sender: code(T, "sender", &self.sender)?,
            municipality: code(T, "municipality", &self.municipality)?,
            category: code(T, "category", &self.category)?,
            urgency: code(T, "urgency", &self.urgency)?,
            status: code(T, "status", &self.status)?,
            planned_departure: opt_time(T, "planned_departure", self.planned_departure)?,
            table_version: self.table_version,
            policy: self
                .policy
                .as_deref()
                .map(|p| json(T, "policy", p))
                .transpose()?,
            state: code(T, "state", &self.state)?,
            created_at: time(T, "created_at", self.created_at)?,
            updated_at: time(T, "updated_at", self.updated_at)?,
            last_message_id: opt_uuid(T, "last_message_id", self.last_message_id.as_deref())?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RawDelivery {
    id: String,
    alert_id: String,
    message_id: String,
    kind: String,
    policy: Option<String>,
    recipient: String,
    role: String,
    sections: String,
    state: String,
    created_at: i64,
    updated_at: i64,
    sent_at: Option<i64>,
    received_at: Option<i64>,
    acked_at: Option<i64>,
    officer: Option<String>,
    outcome: Option<String>,
    receipt_due: Option<i64>,
    ack_due: Option<i64>,
    attempts: i64,
}

impl RawDelivery {
    pub(crate) fn into_row(self) -> Result<DeliveryRow, Error> {
        const T: &str = "deliveries";
        let sections: Vec<SectionLabel> = serde_json::from_str(&self.sections)
            .map_err(|e| corrupt(T, "sections", format!("not a list of section labels: {e}")))?;
        Ok(DeliveryRow {
            id: uuid(T, "id", &self.id)?,
            alert: uuid(T, "alert_id", &self.alert_id)?,
            message: uuid(T, "message_id", &self.message_id)?,
            kind: code(T, "kind", &self.kind)?,
            policy: self.policy,
            recipient: code(T, "recipient", &self.recipient)?,
            role: code(T, "role", &self.role)?,
            sections,
            state: code(T, "state", &self.state)?,
            created_at: time(T, "created_at", self.created_at)?,
            updated_at: time(T, "updated_at", self.updated_at)?,
            sent_at: opt_time(T, "sent_at", self.sent_at)?,
            received_at: opt_time(T, "received_at", self.received_at)?,
            acked_at: opt_time(T, "acked_at", self.acked_at)?,
            officer: self.officer,
            outcome: self
                .outcome
                .as_deref()
                .map(|o| code(T, "outcome", o))
                .transpose()?,
            receipt_due: opt_time(T, "receipt_due", self.receipt_due)?,
            ack_due: opt_time(T, "ack_due", self.ack_due)?,
            attempts: count(T, "attempts", self.attempts)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RawOutbox {
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
}

impl RawOutbox {
    pub(crate) fn into_row(self) -> Result<OutboxRow, Error> {
        const T: &str = "outbox";
        Ok(OutboxRow {
            id: self.id,
            channel: code(T, "channel", &self.channel)?,
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

#[derive(sqlx::FromRow)]
pub(crate) struct RawTimer {
    id: i64,
    alert_id: String,
    delivery_id: Option<String>,
    action: String,
    due_at: i64,
    state: String,
    claimed_by: Option<String>,
    claimed_until: Option<i64>,
    fired_at: Option<i64>,
    created_at: i64,
}

impl RawTimer {
    pub(crate) fn into_row(self) -> Result<TimerRow, Error> {
        const T: &str = "timers";
        Ok(TimerRow {
            id: self.id,
            alert: uuid(T, "alert_id", &self.alert_id)?,
            delivery: opt_uuid(T, "delivery_id", self.delivery_id.as_deref())?,
            action: json(T, "action", &self.action)?,
            due_at: time(T, "due_at", self.due_at)?,
            state: code(T, "state", &self.state)?,
            claimed_by: self.claimed_by,
            claimed_until: opt_time(T, "claimed_until", self.claimed_until)?,
            fired_at: opt_time(T, "fired_at", self.fired_at)?,
            created_at: time(T, "created_at", self.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RawAudit {
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    alert_id: Option<String>,
    delivery_id: Option<String>,
    detail: String,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

impl RawAudit {
    pub(crate) fn into_row(self) -> Result<AuditRow, Error> {
        const T: &str = "audit";
        Ok(AuditRow {
            seq: self.seq,
            at: time(T, "at", self.at)?,
            actor: self.actor,
            action: self.action,
            alert: opt_uuid(T, "alert_id", self.alert_id.as_deref())?,
            delivery: opt_uuid(T, "delivery_id", self.delivery_id.as_deref())?,
            detail: json(T, "detail", &self.detail)?,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

pub(crate) fn convert_all<R, T>(
    rows: Vec<R>,
    f: impl Fn(R) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    rows.into_iter().map(f).collect()
}
