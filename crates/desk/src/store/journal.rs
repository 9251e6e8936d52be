//! The school's journal of a case: checklist items done and free-text entries, each with who
//! wrote it and when. What an entry says is sealed with the desk's secrets key, bound to the
//! entry's id, its alert and its item, so a sealed text copied to another row does not open
//! there; the item's code, the times and the writer are in the clear.

use uuid::Uuid;
use varsel_sql::Q;

use varsel_protocol::message::ParticipantId;

use super::{parse_uuid, Error, Store};

/// The item of a free-text entry (every other item is a checklist action's code).
pub const NOTE: &str = "note";

/// One journal entry as the alert page lists it; its text stays sealed until opened.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: Uuid,
    pub alert: Uuid,
    /// A checklist action's code, or [`NOTE`].
    pub item: String,
    /// When the school did it (as the writer gave it).
    pub done_at: i64,
    pub written_at: i64,
    /// The writer's display name.
    pub by: String,
    /// The update that shared the entry with the case's recipients.
    pub shared: Option<Uuid>,
    sealed: Vec<u8>,
}

/// An entry to keep.
#[derive(Debug, Clone, Copy)]
pub struct NewEntry<'a> {
    pub id: Uuid,
    pub alert: Uuid,
    pub participant: &'a ParticipantId,
    pub account: i64,
    pub item: &'a str,
    pub done_at: i64,
    pub written_at: i64,
    pub text: &'a str,
}

/// What an entry's text is sealed to.
fn context(id: Uuid, alert: Uuid, item: &str) -> String {
    format!("journal {id} {alert} {item}")
}

varsel_sql::row! {
    struct Row {
        id: String,
        alert: String,
        item: String,
        done_at: i64,
        written_at: i64,
        display_name: String,
        shared: Option<String>,
        sealed: Vec<u8>,
    }
}

impl Store {
    /// Keeps a journal entry, its text sealed.
    pub async fn keep_entry(&self, e: NewEntry<'_>) -> Result<(), Error> {
        let sealed = self
            .key()
            .seal(&context(e.id, e.alert, e.item), e.text.as_bytes());
        self.execute(
            Q::new(
                "INSERT INTO journal (id, alert, participant, account, item, done_at, \
                 written_at, sealed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .text(e.id.to_string())
            .text(e.alert.to_string())
            .text(e.participant.as_str())
            .i64(e.account)
            .text(e.item)
            .i64(e.done_at)
            .i64(e.written_at)
            .bytes(sealed),
        )
        .await?;
        Ok(())
    }

    /// The journal of one of a participant's alerts, in the order it was written.
    pub async fn journal(
        &self,
        participant: &ParticipantId,
        alert: Uuid,
    ) -> Result<Vec<Entry>, Error> {
        let rows: Vec<Row> = self
            .conn()
            .await?
            .conn()
            .fetch_all(
                Q::new(
                    "SELECT j.id, j.alert, j.item, j.done_at, j.written_at, a.display_name, \
                     j.shared, j.sealed FROM journal j JOIN accounts a ON a.id = j.account \
                     WHERE j.participant = $1 AND j.alert = $2 ORDER BY j.written_at, j.id",
                )
                .text(participant.as_str())
                .text(alert.to_string()),
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Entry {
                    id: parse_uuid("journal entry", &r.id)?,
                    alert: parse_uuid("journal alert", &r.alert)?,
                    item: r.item,
                    done_at: r.done_at,
                    written_at: r.written_at,
                    by: r.display_name,
                    shared: r
                        .shared
                        .as_deref()
                        .map(|s| parse_uuid("journal shared", s))
                        .transpose()?,
                    sealed: r.sealed,
                })
            })
            .collect()
    }

    /// What an entry says, opened with the secrets key.
    pub fn entry_text(&self, e: &Entry) -> Result<String, Error> {
        let plain = self
            .key()
            .open(&context(e.id, e.alert, &e.item), &e.sealed)
            .ok_or_else(|| {
                Error::Corrupt(format!(
                    "journal entry {} does not open with the key in {}",
                    e.id,
                    self.key().file().display()
                ))
            })?;
        String::from_utf8(plain)
            .map_err(|_| Error::Corrupt(format!("journal entry {} is not UTF-8", e.id)))
    }

    /// Records that `update` shared an entry; false when it was shared already.
    pub async fn mark_shared(&self, entry: Uuid, update: Uuid) -> Result<bool, Error> {
        let n = self
            .execute(
                Q::new("UPDATE journal SET shared = $1 WHERE id = $2 AND shared IS NULL")
                    .text(update.to_string())
                    .text(entry.to_string()),
            )
            .await?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreAt;
    use crate::role::Role;
    use crate::store::accounts::NewAccount;
    use crate::store::testing::{on_both, Ctx};
    use crate::totp::Secret;

    #[tokio::test]
    async fn entries_are_kept_sealed_listed_in_order_and_shared_once() {
        on_both(entries).await;
    }

    async fn entries(ctx: Ctx) {
        let s = &ctx.store;
        let school: ParticipantId = "norrkoping-ektorpsskolan".parse().unwrap();
        let other: ParticipantId = "linkoping-ryttargardsskolan".parse().unwrap();
        let account = s
            .add_account(
                &NewAccount {
                    username: "kurator",
                    display_name: "Karin Berg",
                    participant: &school,
                    role: Role::SchoolStaff,
                    password_hash: "$argon2id$…",
                    totp: &Secret::generate(),
                },
                1,
            )
            .await
            .unwrap()
            .unwrap();
        let alert = Uuid::now_v7();
        let header: varsel_protocol::message::Header = serde_json::from_value(serde_json::json!({
            "municipality": "0581", "category": "departure_imminent",
            "urgency": "immediate", "status": "actual",
        }))
        .unwrap();
        s.keep_sent(alert, &school, account, &header, b"sealed", 1)
            .await
            .unwrap();
        let secret = "Hembesök: ingen öppnade, grannen säger att familjen reste i går";
        let (visit, note) = (Uuid::now_v7(), Uuid::now_v7());
        let new = |id, item, written_at, text| NewEntry {
            id,
            alert,
            participant: &school,
            account,
            item,
            done_at: 5,
            written_at,
            text,
        };
        s.keep_entry(new(note, NOTE, 20, "Ringde mamman, inget svar"))
            .await
            .unwrap();
        s.keep_entry(new(visit, "home_visit", 10, secret))
            .await
            .unwrap();

        let listed = s.journal(&school, alert).await.unwrap();
        let ids: Vec<Uuid> = listed.iter().map(|e| e.id).collect();
        assert_eq!(ids, [visit, note], "in the order written");
        assert_eq!(listed[0].by, "Karin Berg");
        assert_eq!(listed[0].item, "home_visit");
        assert_eq!(s.entry_text(&listed[0]).unwrap(), secret);
        assert!(s.journal(&other, alert).await.unwrap().is_empty());

        // Shared once: a second share of the same entry is refused.
        let update = Uuid::now_v7();
        assert!(s.mark_shared(visit, update).await.unwrap());
        assert!(!s.mark_shared(visit, Uuid::now_v7()).await.unwrap());
        assert_eq!(
            s.journal(&school, alert).await.unwrap()[0].shared,
            Some(update)
        );

        // The text is in no column nor anywhere in the SQLite file and its write-ahead log.
        let contains = |h: &[u8], n: &[u8]| h.windows(n.len()).any(|w| w == n);
        let mut stored: Vec<Vec<u8>> = Vec::new();
        if let StoreAt::Sqlite(file) = &ctx.at {
            stored.push(std::fs::read(file).unwrap());
            stored.push(std::fs::read(file.with_extension("sqlite-wal")).unwrap_or_default());
        }
        let rows: Vec<(Vec<u8>,)> = s
            .conn()
            .await
            .unwrap()
            .conn()
            .fetch_all(Q::new("SELECT sealed FROM journal"))
            .await
            .unwrap();
        stored.extend(rows.into_iter().map(|(b,)| b));
        assert!(stored.len() >= 2);
        for bytes in &stored {
            assert!(!contains(bytes, "grannen säger".as_bytes()));
        }

        // A sealed text moved to another entry's row does not open there.
        s.execute(
            Q::new("UPDATE journal SET sealed = (SELECT sealed FROM journal WHERE id = $1) WHERE id = $2")
                .text(visit.to_string())
                .text(note.to_string()),
        )
        .await
        .unwrap();
        let moved = s.journal(&school, alert).await.unwrap();
        let e = s.entry_text(&moved[1]).unwrap_err();
        assert!(
            matches!(&e, Error::Corrupt(why) if why.contains(&note.to_string())),
            "{e}"
        );
    }
}
