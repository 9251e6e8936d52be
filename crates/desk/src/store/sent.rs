//! Alerts a school sent from the desk, and the feedback messages kept from its inbox that say how
//! each recipient is getting on.

use sqlx::Row;
use uuid::Uuid;

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
        sqlx::query(
            "INSERT INTO sent_alerts (id, participant, account, category, urgency, status, sent_at, raw) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(participant.as_str())
        .bind(account)
        .bind(header.category.code())
        .bind(header.urgency.code())
        .bind(header.status.code())
        .bind(now)
        .bind(raw)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A participant's sent alerts, newest first.
    pub async fn sent(&self, participant: &ParticipantId) -> Result<Vec<Sent>, Error> {
        let rows = sqlx::query(
            "SELECT id, category, urgency, status, sent_at FROM sent_alerts \
             WHERE participant = ? ORDER BY sent_at DESC, id",
        )
        .bind(participant.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                Ok(Sent {
                    id: id
                        .parse()
                        .map_err(|e| Error::Corrupt(format!("sent alert id: {e}")))?,
                    category: r.try_get("category")?,
                    urgency: r.try_get("urgency")?,
                    status: r.try_get("status")?,
                    sent_at: r.try_get("sent_at")?,
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
        let r = sqlx::query(
            "INSERT INTO sent_forms (form, at) VALUES (?, ?) ON CONFLICT (form) DO NOTHING",
        )
        .bind(form)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Gives a form's token back after its alert could not be sent.
    pub async fn release_form(&self, form: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM sent_forms WHERE form = ?")
            .bind(form)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
