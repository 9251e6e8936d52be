//! Notes an agency posted from the desk to a case: kept sealed as sent, listed on the officer's
//! alert page with who posted them.

use uuid::Uuid;
use varsel_sql::Q;

use super::{parse_uuid, Error, Store};

/// A note the agency posted, as the alert page lists it (its content stays sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentNote {
    pub id: Uuid,
    /// The note kind's code.
    pub kind: String,
    pub sent_at: i64,
    /// The display name of the officer who posted it.
    pub by: String,
}

impl Store {
    /// Keeps a note posted by an account (after RabbitMQ confirmed it).
    pub async fn keep_sent_note(
        &self,
        note: super::follow_ups::NewFollowUp<'_>,
    ) -> Result<(), Error> {
        self.execute(
            Q::new(
                "INSERT INTO sent_notes (id, alert, participant, account, kind, sent_at, raw) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .text(note.id.to_string())
            .text(note.alert.to_string())
            .text(note.participant.as_str())
            .i64(note.account)
            .text(note.kind)
            .i64(note.at)
            .bytes(note.raw.to_vec()),
        )
        .await?;
        Ok(())
    }

    /// The notes a participant posted to the case of `alert`, in the order they were sent.
    pub async fn sent_notes(&self, participant: &str, alert: Uuid) -> Result<Vec<SentNote>, Error> {
        let rows: Vec<(String, String, i64, String)> = self
            .conn()
            .await?
            .conn()
            .fetch_all(
                Q::new(
                    "SELECT n.id, n.kind, n.sent_at, a.display_name FROM sent_notes n \
                     JOIN accounts a ON a.id = n.account \
                     WHERE n.participant = $1 AND n.alert = $2 ORDER BY n.sent_at, n.id",
                )
                .text(participant)
                .text(alert.to_string()),
            )
            .await?;
        rows.into_iter()
            .map(|(id, kind, sent_at, by)| {
                Ok(SentNote {
                    id: parse_uuid("note", &id)?,
                    kind,
                    sent_at,
                    by,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::Role;
    use crate::store::accounts::NewAccount;
    use crate::store::follow_ups::NewFollowUp;
    use crate::store::testing::{on_both, Ctx};
    use crate::totp::Secret;
    use varsel_protocol::message::ParticipantId;

    #[tokio::test]
    async fn posted_notes_are_listed_per_participant_and_case_in_order() {
        on_both(posted).await;
    }

    async fn posted(ctx: Ctx) {
        let s = &ctx.store;
        let social: ParticipantId = "norrkoping-socialtjansten".parse().unwrap();
        let account = s
            .add_account(
                &NewAccount {
                    username: "anna",
                    display_name: "Anna Andersson",
                    participant: &social,
                    role: Role::AgencyOfficer,
                    password_hash: "$argon2id$…",
                    totp: &Secret::generate(),
                },
                1,
            )
            .await
            .unwrap()
            .unwrap();
        let (alert, other) = (Uuid::now_v7(), Uuid::now_v7());
        let (first, second, elsewhere) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        for (id, case, kind, at) in [
            (second, alert, "case_taken", 20),
            (first, alert, "travel_ban_decided", 10),
            (elsewhere, other, "child_located", 5),
        ] {
            s.keep_sent_note(NewFollowUp {
                id,
                alert: case,
                participant: &social,
                account,
                kind,
                raw: b"sealed",
                at,
            })
            .await
            .unwrap();
        }
        let listed = s.sent_notes(social.as_str(), alert).await.unwrap();
        let kinds: Vec<(&str, i64)> = listed
            .iter()
            .map(|n| (n.kind.as_str(), n.sent_at))
            .collect();
        assert_eq!(kinds, [("travel_ban_decided", 10), ("case_taken", 20)]);
        assert_eq!(listed[0].by, "Anna Andersson");
        assert!(s
            .sent_notes("polisen-region-ost", alert)
            .await
            .unwrap()
            .is_empty());
    }
}
