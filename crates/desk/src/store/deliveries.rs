//! Deliveries taken from an inbox, kept sealed: the routing header in the clear for the inbox
//! list, the broker's signed message as received; and each delivery's acknowledgement, claimed
//! before it is sent so a form submitted twice sends it once.

use sqlx::Row;
use uuid::Uuid;

use varsel_participant::client::OpenedDelivery;
use varsel_protocol::message::ParticipantId;

use super::{Error, Store};

/// One delivery as the inbox and the alert page show it (no content: that stays sealed in `raw`).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub delivery: Uuid,
    pub participant: String,
    pub alert: Uuid,
    pub kind: String,
    pub school: String,
    pub municipality: String,
    pub category: String,
    pub urgency: String,
    pub status: String,
    pub role: String,
    pub planned_departure: Option<i64>,
    pub ack_due: Option<i64>,
    pub received_at: i64,
    pub ack_state: Option<String>,
    pub acked_at: Option<i64>,
    pub acked_by: Option<String>,
    pub outcome: Option<String>,
    /// The broker's signed delivery, exactly as received.
    pub raw: Vec<u8>,
}

fn ms(t: Option<chrono::DateTime<chrono::Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_millis())
}

fn delivery(row: &sqlx::sqlite::SqliteRow) -> Result<Delivery, Error> {
    let id = |name: &str| -> Result<Uuid, Error> {
        let s: String = row.try_get(name)?;
        s.parse()
            .map_err(|e| Error::Corrupt(format!("{name} {s:?}: {e}")))
    };
    Ok(Delivery {
        delivery: id("delivery")?,
        participant: row.try_get("participant")?,
        alert: id("alert")?,
        kind: row.try_get("kind")?,
        school: row.try_get("school")?,
        municipality: row.try_get("municipality")?,
        category: row.try_get("category")?,
        urgency: row.try_get("urgency")?,
        status: row.try_get("status")?,
        role: row.try_get("role")?,
        planned_departure: row.try_get("planned_departure")?,
        ack_due: row.try_get("ack_due")?,
        received_at: row.try_get("received_at")?,
        ack_state: row.try_get("ack_state")?,
        acked_at: row.try_get("acked_at")?,
        acked_by: row.try_get("acked_by_name")?,
        outcome: row.try_get("outcome")?,
        raw: row.try_get("raw")?,
    })
}

/// The columns of a delivery with the account that acknowledged it, then `raw` (the sealed
/// message, or an empty stand-in where a list does not need it).
macro_rules! select {
    ($raw:literal) => {
        concat!(
            "SELECT d.delivery, d.participant, d.alert, d.kind, d.school, d.municipality, \
             d.category, d.urgency, d.status, d.role, d.planned_departure, d.ack_due, \
             d.received_at, d.ack_state, d.acked_at, d.outcome, \
             a.display_name AS acked_by_name, ",
            $raw,
            " AS raw FROM deliveries d LEFT JOIN accounts a ON a.id = d.acked_by"
        )
    };
}

impl Store {
    /// Keeps a delivery that was verified and opened at `now` (the content is not kept: `raw`
    /// is). False when it was kept before (a redelivery).
    pub async fn keep_delivery(
        &self,
        d: &OpenedDelivery,
        participant: &ParticipantId,
        raw: &[u8],
        now: i64,
    ) -> Result<bool, Error> {
        let r = sqlx::query(
            "INSERT INTO deliveries (delivery, participant, alert, kind, school, municipality, \
             category, urgency, status, role, planned_departure, receipt_due, ack_due, received_at, raw) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (delivery) DO NOTHING",
        )
        .bind(d.delivery.to_string())
        .bind(participant.as_str())
        .bind(d.alert.to_string())
        .bind(d.kind.code())
        .bind(d.school.as_str())
        .bind(d.header.municipality.to_string())
        .bind(d.header.category.code())
        .bind(d.header.urgency.code())
        .bind(d.header.status.code())
        .bind(d.role.code())
        .bind(ms(d.header.planned_departure))
        .bind(ms(d.receipt_due))
        .bind(ms(d.ack_due))
        .bind(now)
        .bind(raw)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Whether a kept delivery still needs its receipt sent.
    pub async fn receipt_pending(&self, delivery: Uuid) -> Result<bool, Error> {
        let sent: Option<Option<i64>> =
            sqlx::query_scalar("SELECT receipt_sent_at FROM deliveries WHERE delivery = ?")
                .bind(delivery.to_string())
                .fetch_optional(self.pool())
                .await?;
        Ok(matches!(sent, Some(None)))
    }

    pub async fn receipt_sent(&self, delivery: Uuid, now: i64) -> Result<(), Error> {
        sqlx::query("UPDATE deliveries SET receipt_sent_at = ? WHERE delivery = ?")
            .bind(now)
            .bind(delivery.to_string())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Keeps another inbox message (feedback, an error reply, a checkpoint) as received, once.
    pub async fn keep_other(
        &self,
        participant: &ParticipantId,
        kind: &str,
        raw: &[u8],
        now: i64,
    ) -> Result<(), Error> {
        let digest = ring::digest::digest(&ring::digest::SHA256, raw);
        sqlx::query(
            "INSERT INTO inbox_other (digest, participant, kind, received_at, raw) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(digest.as_ref())
        .bind(participant.as_str())
        .bind(kind)
        .bind(now)
        .bind(raw)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A participant's deliveries, newest first, without their sealed messages (`raw` is empty).
    pub async fn inbox(&self, participant: &ParticipantId) -> Result<Vec<Delivery>, Error> {
        let rows = sqlx::query(concat!(
            select!("x''"),
            " WHERE d.participant = ? ORDER BY d.received_at DESC, d.delivery"
        ))
        .bind(participant.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(delivery).collect()
    }

    pub async fn delivery(&self, id: Uuid) -> Result<Option<Delivery>, Error> {
        let row = sqlx::query(concat!(select!("d.raw"), " WHERE d.delivery = ?"))
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(delivery).transpose()
    }

    /// Claims a delivery's acknowledgement for sending; false when it was acknowledged or is
    /// being acknowledged already (a form sent twice, or by two officers at once).
    pub async fn claim_ack(&self, id: Uuid) -> Result<bool, Error> {
        let r = sqlx::query(
            "UPDATE deliveries SET ack_state = 'sending' WHERE delivery = ? AND ack_state IS NULL",
        )
        .bind(id.to_string())
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Gives a claim back after the acknowledgement could not be sent.
    pub async fn release_ack(&self, id: Uuid) -> Result<(), Error> {
        sqlx::query(
            "UPDATE deliveries SET ack_state = NULL WHERE delivery = ? AND ack_state = 'sending'",
        )
        .bind(id.to_string())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records the acknowledgement sent (RabbitMQ confirmed it).
    pub async fn ack_sent(
        &self,
        id: Uuid,
        account: i64,
        outcome: &str,
        message: Uuid,
        now: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "UPDATE deliveries SET ack_state = 'sent', acked_at = ?, acked_by = ?, outcome = ?, \
             ack_message = ? WHERE delivery = ?",
        )
        .bind(now)
        .bind(account)
        .bind(outcome)
        .bind(message.to_string())
        .bind(id.to_string())
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
