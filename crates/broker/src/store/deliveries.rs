//! Deliveries: an alert handed to one recipient, its state and deadlines, and finding
//! deliveries that are overdue.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use varsel_protocol::message::{
    DeliveryState, Kind, Outcome, ParticipantId, RecipientRole, SectionLabel,
};

use super::connection::Store;
use super::error::Error;
use super::rows::{code, convert_all, corrupt, count, ms, opt_time, time, uuid};
use super::tx::Tx;
use varsel_sql::{placeholders, Conn, Q};

const DELIVERY_COLS: &str =
    "d.id, d.alert_id, d.message_id, d.kind, d.policy, d.recipient, d.role, d.sections, \
     d.state, d.created_at, d.updated_at, d.sent_at, d.received_at, d.acked_at, d.officer, \
     d.outcome, d.receipt_due, d.ack_due, d.attempts";

/// `d` (deliveries) rows that are overdue at `$1` for an open alert `a`.
pub(super) const OVERDUE_WHERE: &str = "a.state = 'open' AND ( \
       (d.receipt_due IS NOT NULL AND d.receipt_due <= $1 \
        AND d.state IN ('pending', 'sent', 'unroutable')) \
    OR (d.ack_due IS NOT NULL AND d.ack_due <= $1 AND d.role = 'required' \
        AND d.state IN ('pending', 'sent', 'received', 'unroutable')))";

/// A new delivery of an alert to one recipient.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: Uuid,
    pub alert: Uuid,
    /// The school's message handed over: the alert itself, an update or a cancel.
    pub message: Uuid,
    /// The kind of that message.
    pub kind: Kind,
    /// The escalation policy (frozen on the alert) that gives this delivery its deadlines.
    pub policy: Option<String>,
    pub recipient: ParticipantId,
    pub role: RecipientRole,
    /// The sections the route grants the recipient (those of them a message carries are
    /// re-wrapped for it).
    pub sections: Vec<SectionLabel>,
    /// Usually [`DeliveryState::Pending`].
    pub state: DeliveryState,
    pub created_at: DateTime<Utc>,
    pub receipt_due: Option<DateTime<Utc>>,
    pub ack_due: Option<DateTime<Utc>>,
}

/// A stored delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub alert: Uuid,
    /// The school's message handed over: the alert itself, an update or a cancel.
    pub message: Uuid,
    /// The kind of that message.
    pub kind: Kind,
    /// The escalation policy (frozen on the alert) that gives this delivery its deadlines.
    pub policy: Option<String>,
    pub recipient: ParticipantId,
    pub role: RecipientRole,
    /// The sections the route grants the recipient (those of them a message carries are
    /// re-wrapped for it).
    pub sections: Vec<SectionLabel>,
    pub state: DeliveryState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub received_at: Option<DateTime<Utc>>,
    pub acked_at: Option<DateTime<Utc>>,
    /// The officer who acknowledged (staff, not pupil data; kept out of logs and metrics).
    pub officer: Option<String>,
    pub outcome: Option<Outcome>,
    pub receipt_due: Option<DateTime<Utc>>,
    pub ack_due: Option<DateTime<Utc>>,
    /// How many times the delivery was published (see [`Tx::note_delivery_attempt`]).
    pub attempts: u32,
}

varsel_sql::row! {
    struct RawDelivery {
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
}

impl RawDelivery {
    fn into_row(self) -> Result<DeliveryRow, Error> {
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

impl Store {
    /// An alert's deliveries in the order they were created.
    pub async fn deliveries_of(&self, alert: Uuid) -> Result<Vec<DeliveryRow>, Error> {
        let mut c = self.acquire().await?;
        deliveries_of(&mut c.conn(), alert, false).await
    }

    pub async fn delivery(&self, id: Uuid) -> Result<Option<DeliveryRow>, Error> {
        let mut c = self.acquire().await?;
        let q = Q::new(format!(
            "SELECT {DELIVERY_COLS} FROM deliveries d WHERE d.id = $1"
        ))
        .text(id.to_string());
        let row: Option<RawDelivery> = c.conn().fetch_optional(q).await?;
        row.map(RawDelivery::into_row).transpose()
    }

    /// Deliveries of open alerts that missed a deadline at `now`: the receipt deadline passed
    /// and nothing was received (pending, sent or unroutable), or the ack deadline passed and a
    /// required recipient has not answered (pending, sent, received or unroutable). A deadline
    /// equal to `now` counts as passed. Ordered by creation.
    pub async fn overdue(&self, now: DateTime<Utc>) -> Result<Vec<DeliveryRow>, Error> {
        let q = Q::new(format!(
            "SELECT {DELIVERY_COLS} FROM deliveries d JOIN alerts a ON a.id = d.alert_id \
             WHERE {OVERDUE_WHERE} ORDER BY d.created_at, d.id"
        ))
        .i64(ms(now));
        let mut c = self.acquire().await?;
        let rows: Vec<RawDelivery> = c.conn().fetch_all(q).await?;
        convert_all(rows, RawDelivery::into_row)
    }
}

async fn deliveries_of(
    conn: &mut Conn<'_>,
    alert: Uuid,
    for_update: bool,
) -> Result<Vec<DeliveryRow>, Error> {
    let lock = if for_update && matches!(conn, Conn::Pg(_)) {
        " FOR UPDATE"
    } else {
        ""
    };
    let q = Q::new(format!(
        "SELECT {DELIVERY_COLS} FROM deliveries d WHERE d.alert_id = $1 \
         ORDER BY d.created_at, d.id{lock}"
    ))
    .text(alert.to_string());
    let rows: Vec<RawDelivery> = conn.fetch_all(q).await?;
    convert_all(rows, RawDelivery::into_row)
}

impl Tx {
    pub async fn insert_delivery(&mut self, d: &NewDelivery) -> Result<(), Error> {
        let sections = serde_json::to_string(&d.sections)
            .map_err(|e| Error::Value(format!("cannot encode sections: {e}")))?;
        let q = Q::new(
            "INSERT INTO deliveries (id, alert_id, message_id, kind, policy, recipient, role, \
             sections, state, created_at, updated_at, receipt_due, ack_due, attempts) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, 0)",
        )
        .text(d.id.to_string())
        .text(d.alert.to_string())
        .text(d.message.to_string())
        .text(d.kind.code())
        .opt_text(d.policy.clone())
        .text(d.recipient.as_str())
        .text(d.role.code())
        .text(sections)
        .text(d.state.code())
        .i64(ms(d.created_at))
        .opt_i64(d.receipt_due.map(ms))
        .opt_i64(d.ack_due.map(ms));
        self.conn().execute(q).await?;
        Ok(())
    }

    /// Moves a delivery to `to` if it is in one of the `from` states; true if it moved.
    /// Conditional, so a duplicate or late message (a receipt after the ack) changes nothing,
    /// and of two racing transitions exactly one applies.
    ///
    /// Sets `sent_at` for `sent`, `received_at` for `received`, and `acked_at` for
    /// `acknowledged` and `declined` (which also fill `received_at` if it was empty: an
    /// answer proves arrival). `officer` and `outcome` are written when given.
    pub async fn transition_delivery(
        &mut self,
        id: Uuid,
        from: &[DeliveryState],
        to: DeliveryState,
        at: DateTime<Utc>,
        officer: Option<&str>,
        outcome: Option<Outcome>,
    ) -> Result<bool, Error> {
        if from.is_empty() {
            return Ok(false);
        }
        let stamp = match to {
            DeliveryState::Sent => ", sent_at = $2",
            DeliveryState::Received => ", received_at = $2",
            DeliveryState::Acknowledged | DeliveryState::Declined => {
                ", acked_at = $2, received_at = COALESCE(received_at, $2)"
            }
            _ => "",
        };
        let mut q = Q::new(format!(
            "UPDATE deliveries SET state = $1, updated_at = $2{stamp}, \
             officer = COALESCE($3, officer), outcome = COALESCE($4, outcome) \
             WHERE id = $5 AND state IN ({})",
            placeholders(6, from.len())
        ))
        .text(to.code())
        .i64(ms(at))
        .opt_text(officer.map(str::to_owned))
        .opt_text(outcome.map(|o| o.code().to_owned()))
        .text(id.to_string());
        for f in from {
            q = q.text(f.code());
        }
        Ok(self.conn().execute(q).await? == 1)
    }

    /// Counts one more publication of a delivery (a first send or a redelivery).
    pub async fn note_delivery_attempt(
        &mut self,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let q =
            Q::new("UPDATE deliveries SET attempts = attempts + 1, updated_at = $1 WHERE id = $2")
                .i64(ms(at))
                .text(id.to_string());
        Ok(self.conn().execute(q).await? == 1)
    }

    /// Sets (or clears) a delivery's receipt and ack deadlines.
    pub async fn set_deadlines(
        &mut self,
        id: Uuid,
        receipt_due: Option<DateTime<Utc>>,
        ack_due: Option<DateTime<Utc>>,
    ) -> Result<(), Error> {
        let q = Q::new("UPDATE deliveries SET receipt_due = $1, ack_due = $2 WHERE id = $3")
            .opt_i64(receipt_due.map(ms))
            .opt_i64(ack_due.map(ms))
            .text(id.to_string());
        self.conn().execute(q).await?;
        Ok(())
    }

    /// Reads a delivery and, on PostgreSQL, locks it until the transaction ends (SQLite's
    /// write transaction already excludes other writers).
    pub async fn delivery_for_update(&mut self, id: Uuid) -> Result<Option<DeliveryRow>, Error> {
        let lock = if self.is_pg() { " FOR UPDATE" } else { "" };
        let q = Q::new(format!(
            "SELECT {DELIVERY_COLS} FROM deliveries d WHERE d.id = $1{lock}"
        ))
        .text(id.to_string());
        let row: Option<RawDelivery> = self.conn().fetch_optional(q).await?;
        row.map(RawDelivery::into_row).transpose()
    }

    /// An alert's deliveries as this transaction sees them, locked on PostgreSQL.
    pub async fn deliveries_of(&mut self, alert: Uuid) -> Result<Vec<DeliveryRow>, Error> {
        deliveries_of(&mut self.conn(), alert, true).await
    }
}
