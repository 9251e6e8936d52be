//! Alerts a school sent from the desk, and the feedback messages kept from its inbox that say how
//! each recipient is getting on.

use uuid::Uuid;
use varsel_sql::Q;

use varsel_protocol::message::{Header, ParticipantId};

use super::{Error, Store};

/// One sent alert as *My alerts* lists it (the content stays sealed in the store).
#[derive(Debug, Clone)]
pub struct Sent {
    pub id: Uuid,
    pub category: String,
    pub urgency: String,
    pub status: String,
    pub sent_at: i64,
}

impl Store {
    /// Keeps an alert sent by `account` (after RabbitMQ confirmed it).
    pub async fn keep_sent(
        &self,
        id: Uuid,
        participant: &ParticipantId,
        account: i64,
        header: &Header,
        raw: &[u8],
        now: i64,
    ) -> Result<(), Error> {
        self.execute(
            Q::new(
                "INSERT INTO sent_alerts (id, participant, account, category, urgency, status, \
                 sent_at, raw) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .text(id.to_string())
            .text(participant.as_str())
            .i64(account)
            .text(header.category.code())
            .text(header.urgency.code())
            .text(header.status.code())
            .i64(now)
            .bytes(raw.to_vec()),
        )
        .await?;
        Ok(())
    }

    /// A participant's sent alerts, newest first.
    pub async fn sent(&self, participant: &ParticipantId) -> Result<Vec<Sent>, Error> {
        let rows: Vec<(String, String, String, String, i64)> = self
            .conn()
            .await?
            .conn()
            .fetch_all(
                Q::new(
                    "SELECT id, category, urgency, status, sent_at FROM sent_alerts \
                     WHERE participant = $1 ORDER BY sent_at DESC, id",
                )
                .text(participant.as_str()),
            )
            .await?;
        rows.into_iter()
            .map(|(id, category, urgency, status, sent_at)| {
                Ok(Sent {
                    id: super::parse_uuid("sent alert id", &id)?,
                    category,
                    urgency,
                    status,
                    sent_at,
                })
            })
            .collect()
    }

    /// The feedback messages kept from a participant's inbox, as received, in arrival order,
    /// with the time each arrived.
    pub async fn feedback(
        &self,
        participant: &ParticipantId,
    ) -> Result<Vec<(i64, Vec<u8>)>, Error> {
        self.kept_of_kind(participant, "feedback").await
    }
}

impl Store {
    /// Claims a New alert form's one-time token before its alert is sent; false when it was used.
    pub async fn claim_form(&self, form: &str, now: i64) -> Result<bool, Error> {
        let claimed = self
            .execute(
                Q::new(
                    "INSERT INTO sent_forms (form, at) VALUES ($1, $2) \
                     ON CONFLICT (form) DO NOTHING",
                )
                .text(form)
                .i64(now),
            )
            .await?;
        Ok(claimed == 1)
    }

    /// Gives a form's token back after its alert could not be sent.
    pub async fn release_form(&self, form: &str) -> Result<(), Error> {
        self.execute(Q::new("DELETE FROM sent_forms WHERE form = $1").text(form))
            .await?;
        Ok(())
    }
}
