//! Messages: the sealed messages received, kept as raw bytes with their digest.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use varsel_protocol::message::{Kind, ParticipantId};

use super::connection::Store;
use super::error::Error;
use super::rows::{code, ms, time, uuid};
use super::tx::Tx;
use varsel_sql::Q;

const MESSAGE_COLS: &str = "id, kind, sender, digest, received_at, raw";

/// SHA-256 of a message's raw bytes, as kept in `messages.digest`.
pub fn digest(raw: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, raw)
        .as_ref()
        .to_vec()
}

/// A received message to keep.
#[derive(Clone)]
pub struct NewMessage {
    pub id: Uuid,
    pub kind: Kind,
    pub sender: ParticipantId,
    pub received_at: DateTime<Utc>,
    /// The JWS exactly as received.
    pub raw: Vec<u8>,
    /// SHA-256 of `raw`: intake has it from verifying the signature, so it is not hashed again.
    pub digest: [u8; 32],
}

impl NewMessage {
    /// A message to keep, its digest computed here (for a caller that has not hashed it).
    pub fn new(
        id: Uuid,
        kind: Kind,
        sender: ParticipantId,
        received_at: DateTime<Utc>,
        raw: Vec<u8>,
    ) -> NewMessage {
        let digest = varsel_protocol::envelope::sha256(&raw);
        NewMessage {
            id,
            kind,
            sender,
            received_at,
            raw,
            digest,
        }
    }
}

impl fmt::Debug for NewMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewMessage")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("sender", &self.sender)
            .field("received_at", &self.received_at)
            .field("raw_len", &self.raw.len())
            .finish()
    }
}

/// A stored message.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageRow {
    pub id: Uuid,
    pub kind: Kind,
    pub sender: ParticipantId,
    pub digest: Vec<u8>,
    pub received_at: DateTime<Utc>,
    pub raw: Vec<u8>,
}

impl fmt::Debug for MessageRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageRow")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("sender", &self.sender)
            .field("received_at", &self.received_at)
            .field("raw_len", &self.raw.len())
            .finish()
    }
}

/// What [`Tx::insert_message`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// The message is new and now stored.
    New,
    /// A message with this id is already stored (a redelivery, or a replay if the digest
    /// differs); nothing was written.
    Exists { digest: Vec<u8> },
}

varsel_sql::row! {
    struct RawMessage {
        id: String,
        kind: String,
        sender: String,
        digest: Vec<u8>,
        received_at: i64,
        raw: Vec<u8>,
    }
}

impl RawMessage {
    fn into_row(self) -> Result<MessageRow, Error> {
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

impl Store {
    /// The digest of the stored message with this id, if any.
    pub async fn message_digest(&self, id: Uuid) -> Result<Option<Vec<u8>>, Error> {
        let mut c = self.acquire().await?;
        let row: Option<(Vec<u8>,)> = c
            .conn()
            .fetch_optional(
                Q::new("SELECT digest FROM messages WHERE id = $1").text(id.to_string()),
            )
            .await?;
        Ok(row.map(|(d,)| d))
    }

    /// The stored message with this id, if any.
    pub async fn message(&self, id: Uuid) -> Result<Option<MessageRow>, Error> {
        let mut c = self.acquire().await?;
        let q = Q::new(format!("SELECT {MESSAGE_COLS} FROM messages WHERE id = $1"))
            .text(id.to_string());
        let row: Option<RawMessage> = c.conn().fetch_optional(q).await?;
        row.map(RawMessage::into_row).transpose()
    }
}

impl Tx {
    /// Stores a message unless its id is already there; then reports the stored digest and
    /// writes nothing (the transaction stays usable).
    pub async fn insert_message(&mut self, m: &NewMessage) -> Result<Inserted, Error> {
        let q = Q::new(
            "INSERT INTO messages (id, kind, sender, digest, received_at, raw) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .text(m.id.to_string())
        .text(m.kind.code())
        .text(m.sender.as_str())
        .bytes(m.digest.to_vec())
        .i64(ms(m.received_at))
        .bytes(m.raw.clone());
        if self.conn().execute(q).await? == 1 {
            return Ok(Inserted::New);
        }
        let (digest,): (Vec<u8>,) = self
            .conn()
            .fetch_one(Q::new("SELECT digest FROM messages WHERE id = $1").text(m.id.to_string()))
            .await?;
        Ok(Inserted::Exists { digest })
    }

    /// The sender of the message with this id as this transaction sees it, if it is stored.
    pub async fn message_sender(&mut self, id: Uuid) -> Result<Option<ParticipantId>, Error> {
        let row: Option<(String,)> = self
            .conn()
            .fetch_optional(
                Q::new("SELECT sender FROM messages WHERE id = $1").text(id.to_string()),
            )
            .await?;
        row.map(|(s,)| code("messages", "sender", &s)).transpose()
    }

    /// The digest of the message with this id as this transaction sees it (its own inserts
    /// included), if any.
    pub async fn message_digest(&mut self, id: Uuid) -> Result<Option<Vec<u8>>, Error> {
        let row: Option<(Vec<u8>,)> = self
            .conn()
            .fetch_optional(
                Q::new("SELECT digest FROM messages WHERE id = $1").text(id.to_string()),
            )
            .await?;
        Ok(row.map(|(d,)| d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256() {
        let d = digest(b"abc");
        assert_eq!(d.len(), 32);
        assert_eq!(d[..4], [0xba, 0x78, 0x16, 0xbf]);
    }
}
