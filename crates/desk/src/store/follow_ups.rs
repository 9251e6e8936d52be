//! What a school's alert page needs besides the alert: the updates and cancels the school sent
//! about it (kept sealed as sent), the broker's `error` replies kept from the school's inbox, and
//! on the agency's side the updates and cancels delivered for an alert. Queries use numbered
//! placeholders so they read the same on SQLite and PostgreSQL.

use std::collections::HashSet;

use uuid::Uuid;
use varsel_sql::Q;

use varsel_protocol::message::ParticipantId;

use super::sent::Sent;
use super::{parse_uuid, Error, Store};

/// An update or cancel a school sent, as its alert page lists it (the content stays sealed).
#[derive(Debug, Clone)]
pub struct FollowUp {
    pub id: Uuid,
    pub kind: String,
    pub sent_at: i64,
    /// The signed message as sent, sealed.
    pub raw: Vec<u8>,
}

/// One sent update, cancel or closing to keep: its id, the alert it is about, the sender and
/// when. `kind` is `update`, `cancel`, or `case_closed` for the closing note.
#[derive(Debug, Clone, Copy)]
pub struct NewFollowUp<'a> {
    pub id: Uuid,
    pub alert: Uuid,
    pub participant: &'a ParticipantId,
    pub account: i64,
    pub kind: &'a str,
    pub raw: &'a [u8],
    pub at: i64,
}

impl Store {
    /// One of a participant's sent alerts with its sealed message; None when it is not theirs.
    pub async fn sent_alert(
        &self,
        participant: &ParticipantId,
        id: Uuid,
    ) -> Result<Option<(Sent, Vec<u8>)>, Error> {
        let row: Option<(String, String, String, String, i64, Vec<u8>)> = self
            .conn()
            .await?
            .conn()
            .fetch_optional(
                Q::new(
                    "SELECT id, category, urgency, status, sent_at, raw FROM sent_alerts \
                     WHERE participant = $1 AND id = $2",
                )
                .text(participant.as_str())
                .text(id.to_string()),
            )
            .await?;
        row.map(|(id, category, urgency, status, sent_at, raw)| {
            Ok((
                Sent {
                    id: parse_uuid("id", &id)?,
                    category,
                    urgency,
                    status,
                    sent_at,
                },
                raw,
            ))
        })
        .transpose()
    }

    /// Keeps an update, cancel or closing sent by an account (after RabbitMQ confirmed it).
    pub async fn keep_follow_up(&self, f: NewFollowUp<'_>) -> Result<(), Error> {
        self.execute(
            Q::new(
                "INSERT INTO sent_follow_ups (id, alert, participant, account, kind, sent_at, raw) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .text(f.id.to_string())
            .text(f.alert.to_string())
            .text(f.participant.as_str())
            .i64(f.account)
            .text(f.kind)
            .i64(f.at)
            .bytes(f.raw.to_vec()),
        )
        .await?;
        Ok(())
    }

    /// The updates, cancels and closing sent about an alert, in the order they were sent.
    pub async fn follow_ups(&self, alert: Uuid) -> Result<Vec<FollowUp>, Error> {
        let rows: Vec<(String, String, i64, Vec<u8>)> = self
            .conn()
            .await?
            .conn()
            .fetch_all(
                Q::new(
                    "SELECT id, kind, sent_at, raw FROM sent_follow_ups WHERE alert = $1 \
                     ORDER BY sent_at, id",
                )
                .text(alert.to_string()),
            )
            .await?;
        rows.into_iter()
            .map(|(id, kind, sent_at, raw)| {
                Ok(FollowUp {
                    id: parse_uuid("id", &id)?,
                    kind,
                    sent_at,
                    raw,
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
        Ok(self
            .conn()
            .await?
            .conn()
            .fetch_all(
                Q::new(
                    "SELECT received_at, raw FROM inbox_other WHERE participant = $1 \
                     AND kind = $2 ORDER BY received_at",
                )
                .text(participant.as_str())
                .text(kind),
            )
            .await?)
    }

    /// The updates and cancels a participant was delivered for an alert, in arrival order
    /// (without their sealed messages: each has its own page that opens it).
    pub async fn delivered_follow_ups(
        &self,
        participant: &str,
        alert: Uuid,
    ) -> Result<Vec<(Uuid, String, i64)>, Error> {
        let rows: Vec<(String, String, i64)> = self
            .conn()
            .await?
            .conn()
            .fetch_all(
                Q::new(
                    "SELECT delivery, kind, received_at FROM deliveries \
                     WHERE participant = $1 AND alert = $2 AND kind <> 'alert' \
                     ORDER BY received_at, delivery",
                )
                .text(participant)
                .text(alert.to_string()),
            )
            .await?;
        rows.into_iter()
            .map(|(delivery, kind, at)| Ok((parse_uuid("delivery", &delivery)?, kind, at)))
            .collect()
    }

    /// The alerts a participant was delivered a cancel for.
    pub async fn cancelled_alerts(
        &self,
        participant: &ParticipantId,
    ) -> Result<HashSet<Uuid>, Error> {
        let rows: Vec<(String,)> = self
            .conn()
            .await?
            .conn()
            .fetch_all(
                Q::new(
                    "SELECT DISTINCT alert FROM deliveries \
                     WHERE participant = $1 AND kind = 'cancel'",
                )
                .text(participant.as_str()),
            )
            .await?;
        rows.iter().map(|(a,)| parse_uuid("alert", a)).collect()
    }
}
