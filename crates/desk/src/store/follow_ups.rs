//! What a school's alert page needs besides the alert: the updates and cancels the school sent
//! about it (kept sealed as sent), the broker's `error` replies kept from the school's inbox, and
//! on the agency's side the updates and cancels delivered for an alert. Queries use numbered
//! placeholders so they read the same on SQLite and PostgreSQL.

use std::collections::HashSet;

use sqlx::Row;
use uuid::Uuid;

use varsel_protocol::message::{Kind, ParticipantId};

use super::sent::Sent;
use super::{Error, Store};

/// An update or cancel a school sent, as its alert page lists it (the content stays sealed).
#[derive(Debug, Clone)]
pub struct FollowUp {
    pub id: Uuid,
    pub kind: String,
    pub sent_at: i64,
    /// The signed message as sent, sealed.
    pub raw: Vec<u8>,
}

/// One sent update or cancel to keep: its id, the alert it is about, the sender and when.
#[derive(Debug, Clone, Copy)]
pub struct NewFollowUp<'a> {
    pub id: Uuid,
    pub alert: Uuid,
    pub participant: &'a ParticipantId,
    pub account: i64,
    pub kind: Kind,
    pub raw: &'a [u8],
    pub at: i64,
}

fn uuid(row: &sqlx::sqlite::SqliteRow, name: &str) -> Result<Uuid, Error> {
    let s: String = row.try_get(name)?;
    s.parse()
        .map_err(|e| Error::Corrupt(format!("{name} {s:?}: {e}")))
}

impl Store {
    /// One of a participant's sent alerts with its sealed message; None when it is not theirs.
    pub async fn sent_alert(
        &self,
        participant: &ParticipantId,
        id: Uuid,
    ) -> Result<Option<(Sent, Vec<u8>)>, Error> {
        let row = sqlx::query(
            "SELECT id, category, urgency, status, sent_at, raw FROM sent_alerts \
             WHERE participant = $1 AND id = $2",
        )
        .bind(participant.as_str())
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok((
                Sent {
                    id: uuid(&r, "id")?,
                    category: r.try_get("category")?,
                    urgency: r.try_get("urgency")?,
                    status: r.try_get("status")?,
                    sent_at: r.try_get("sent_at")?,
                },
                r.try_get("raw")?,
            ))
        })
        .transpose()
    }

    /// Keeps an update or cancel sent by an account (after RabbitMQ confirmed it).
    pub async fn keep_follow_up(&self, f: NewFollowUp<'_>) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO sent_follow_ups (id, alert, participant, account, kind, sent_at, raw) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(f.id.to_string())
        .bind(f.alert.to_string())
        .bind(f.participant.as_str())
        .bind(f.account)
        .bind(f.kind.code())
        .bind(f.at)
        .bind(f.raw)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The updates and cancels sent about an alert, in the order they were sent.
    pub async fn follow_ups(&self, alert: Uuid) -> Result<Vec<FollowUp>, Error> {
        let rows = sqlx::query(
            "SELECT id, kind, sent_at, raw FROM sent_follow_ups WHERE alert = $1 \
             ORDER BY sent_at, id",
        )
        .bind(alert.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(FollowUp {
                    id: uuid(r, "id")?,
                    kind: r.try_get("kind")?,
                    sent_at: r.try_get("sent_at")?,
                    raw: r.try_get("raw")?,
                })
            })
            .collect()
    }

    /// The messages of one kind (`feedback`, `error`) kept from a participant's inbox, as
    /// received, in arrival order, with the time each arrived.
    pub async fn kept_of_kind(
        &self,
        participant: &ParticipantId,
        kind: &str,
    ) -> Result<Vec<(i64, Vec<u8>)>, Error> {
        let rows = sqlx::query(
            "SELECT received_at, raw FROM inbox_other WHERE participant = $1 AND kind = $2 \
             ORDER BY received_at",
        )
        .bind(participant.as_str())
        .bind(kind)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("received_at")?, r.try_get("raw")?)))
            .collect()
    }

    /// The updates and cancels a participant was delivered for an alert, in arrival order
    /// (without their sealed messages: each has its own page that opens it).
    pub async fn delivered_follow_ups(
        &self,
        participant: &str,
        alert: Uuid,
    ) -> Result<Vec<(Uuid, String, i64)>, Error> {
        let rows = sqlx::query(
            "SELECT delivery, kind, received_at FROM deliveries \
             WHERE participant = $1 AND alert = $2 AND kind <> 'alert' \
             ORDER BY received_at, delivery",
        )
        .bind(participant)
        .bind(alert.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    uuid(r, "delivery")?,
                    r.try_get("kind")?,
                    r.try_get("received_at")?,
                ))
            })
            .collect()
    }

    /// The alerts a participant was delivered a cancel for.
    pub async fn cancelled_alerts(
        &self,
        participant: &ParticipantId,
    ) -> Result<HashSet<Uuid>, Error> {
        let rows = sqlx::query(
            "SELECT DISTINCT alert FROM deliveries WHERE participant = $1 AND kind = 'cancel'",
        )
        .bind(participant.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| uuid(r, "alert")).collect()
    }
}
