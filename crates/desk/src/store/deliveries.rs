//! Deliveries taken from an inbox, kept sealed: the routing header in the clear for the inbox
//! list, the broker's signed message as received; and each delivery's acknowledgement, claimed
//! before it is sent so a form submitted twice sends it once.

use uuid::Uuid;
use varsel_sql::Q;

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

varsel_sql::row! {
    struct Row {
        delivery: String,
        participant: String,
        alert: String,
        kind: String,
        school: String,
        municipality: String,
        category: String,
        urgency: String,
        status: String,
        role: String,
        planned_departure: Option<i64>,
        ack_due: Option<i64>,
        received_at: i64,
        ack_state: Option<String>,
        acked_at: Option<i64>,
        outcome: Option<String>,
        acked_by_name: Option<String>,
        raw: Vec<u8>,
    }
}

impl Row {
    fn delivery(self) -> Result<Delivery, Error> {
        let id = super::parse_uuid;
        Ok(Delivery {
            delivery: id("delivery", &self.delivery)?,
            alert: id("alert", &self.alert)?,
            participant: self.participant,
            kind: self.kind,
            school: self.school,
            municipality: self.municipality,
            category: self.category,
            urgency: self.urgency,
            status: self.status,
            role: self.role,
            planned_departure: self.planned_departure,
            ack_due: self.ack_due,
            received_at: self.received_at,
            ack_state: self.ack_state,
            acked_at: self.acked_at,
            acked_by: self.acked_by_name,
            outcome: self.outcome,
            raw: self.raw,
        })
    }
}

/// The columns of a delivery with the account that acknowledged it, then `raw` (`$1`: the
/// sealed message, or an empty stand-in bound where a list does not need it).
const SELECT: &str = "SELECT d.delivery, d.participant, d.alert, d.kind, d.school, \
     d.municipality, d.category, d.urgency, d.status, d.role, d.planned_departure, d.ack_due, \
     d.received_at, d.ack_state, d.acked_at, d.outcome, a.display_name AS acked_by_name";

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
        let kept = self
            .execute(
                Q::new(
                    "INSERT INTO deliveries (delivery, participant, alert, kind, school, \
                     municipality, category, urgency, status, role, planned_departure, \
                     receipt_due, ack_due, received_at, raw) VALUES ($1, $2, $3, $4, $5, $6, $7, \
                     $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (delivery) DO NOTHING",
                )
                .text(d.delivery.to_string())
                .text(participant.as_str())
                .text(d.alert.to_string())
                // A note is kept under its note kind (travel_ban_decided, case_closed, …), so
                // pages name it and see a closed case without opening anything.
                .text(d.note.as_ref().map_or(d.kind.code(), |n| n.kind.code()))
                .text(d.school.as_str())
                .text(d.header.municipality.to_string())
                .text(d.header.category.code())
                .text(d.header.urgency.code())
                .text(d.header.status.code())
                .text(d.role.code())
                .opt_i64(ms(d.header.planned_departure))
                .opt_i64(ms(d.receipt_due))
                .opt_i64(ms(d.ack_due))
                .i64(now)
                .bytes(raw.to_vec()),
            )
            .await?;
        Ok(kept == 1)
    }

    /// Whether a kept delivery still needs its receipt sent.
    pub async fn receipt_pending(&self, delivery: Uuid) -> Result<bool, Error> {
        let sent: Option<(Option<i64>,)> = self
            .conn()
            .await?
            .conn()
            .fetch_optional(
                Q::new("SELECT receipt_sent_at FROM deliveries WHERE delivery = $1")
                    .text(delivery.to_string()),
            )
            .await?;
        Ok(matches!(sent, Some((None,))))
    }

    pub async fn receipt_sent(&self, delivery: Uuid, now: i64) -> Result<(), Error> {
        self.execute(
            Q::new("UPDATE deliveries SET receipt_sent_at = $1 WHERE delivery = $2")
                .i64(now)
                .text(delivery.to_string()),
        )
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
        self.execute(
            Q::new(
                "INSERT INTO inbox_other (digest, participant, kind, received_at, raw) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (digest) DO NOTHING",
            )
            .bytes(digest.as_ref().to_vec())
            .text(participant.as_str())
            .text(kind)
            .i64(now)
            .bytes(raw.to_vec()),
        )
        .await?;
        Ok(())
    }

    /// A participant's deliveries, newest first, without their sealed messages (`raw` is empty).
    pub async fn inbox(&self, participant: &ParticipantId) -> Result<Vec<Delivery>, Error> {
        let rows: Vec<Row> = self
            .conn()
            .await?
            .conn()
            .fetch_all(
                Q::new(format!(
                    "{SELECT}, $1 AS raw FROM deliveries d LEFT JOIN accounts a ON a.id = \
                     d.acked_by WHERE d.participant = $2 ORDER BY d.received_at DESC, d.delivery"
                ))
                .bytes(Vec::new())
                .text(participant.as_str()),
            )
            .await?;
        rows.into_iter().map(Row::delivery).collect()
    }

    pub async fn delivery(&self, id: Uuid) -> Result<Option<Delivery>, Error> {
        let row: Option<Row> = self
            .conn()
            .await?
            .conn()
            .fetch_optional(
                Q::new(format!(
                    "{SELECT}, d.raw FROM deliveries d LEFT JOIN accounts a ON a.id = d.acked_by \
                     WHERE d.delivery = $1"
                ))
                .text(id.to_string()),
            )
            .await?;
        row.map(Row::delivery).transpose()
    }

    /// Claims a delivery's acknowledgement for sending; false when it was acknowledged or is
    /// being acknowledged already (a form sent twice, or by two officers at once).
    pub async fn claim_ack(&self, id: Uuid) -> Result<bool, Error> {
        let claimed = self
            .execute(
                Q::new(
                    "UPDATE deliveries SET ack_state = 'sending' \
                     WHERE delivery = $1 AND ack_state IS NULL",
                )
                .text(id.to_string()),
            )
            .await?;
        Ok(claimed == 1)
    }

    /// Gives a claim back after the acknowledgement could not be sent.
    pub async fn release_ack(&self, id: Uuid) -> Result<(), Error> {
        self.execute(
            Q::new(
                "UPDATE deliveries SET ack_state = NULL \
                 WHERE delivery = $1 AND ack_state = 'sending'",
            )
            .text(id.to_string()),
        )
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
        self.execute(
            Q::new(
                "UPDATE deliveries SET ack_state = 'sent', acked_at = $1, acked_by = $2, \
                 outcome = $3, ack_message = $4 WHERE delivery = $5",
            )
            .i64(now)
            .i64(account)
            .text(outcome)
            .text(message.to_string())
            .text(id.to_string()),
        )
        .await?;
        Ok(())
    }
}
