//! The checkpoints the broker made of the audit chain's head, as this store remembers them: to
//! know when the next one is due, and which one an export of an alert's entries embeds. The
//! evidence itself is kept outside the database (the checkpoint file, the ops inbox).

use chrono::{DateTime, Utc};

use super::connection::Store;
use super::error::Error;
use super::rows::{ms, time};
use super::tx::Tx;
use varsel_sql::Q;

/// A checkpoint as stored: the chain's head it vouches for and the broker's signed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    pub seq: i64,
    pub hash: Vec<u8>,
    pub at: DateTime<Utc>,
    /// The broker-signed `checkpoint` message (JWS compact serialization).
    pub jws: String,
}

varsel_sql::row! {
    struct RawCheckpoint {
        seq: i64,
        hash: Vec<u8>,
        at: i64,
        jws: String,
    }
}

impl RawCheckpoint {
    fn into_row(self) -> Result<CheckpointRow, Error> {
        Ok(CheckpointRow {
            seq: self.seq,
            hash: self.hash,
            at: time("checkpoints", "at", self.at)?,
            jws: self.jws,
        })
    }
}

impl Store {
    /// The latest checkpoint made, if any.
    pub async fn last_checkpoint(&self) -> Result<Option<CheckpointRow>, Error> {
        let mut c = self.acquire().await?;
        let row: Option<RawCheckpoint> = c
            .conn()
            .fetch_optional(Q::new(
                "SELECT seq, hash, at, jws FROM checkpoints ORDER BY seq DESC LIMIT 1",
            ))
            .await?;
        row.map(RawCheckpoint::into_row).transpose()
    }

    /// The checkpoints made after entry `seq`, in seq order.
    pub async fn checkpoints_after(&self, seq: i64) -> Result<Vec<CheckpointRow>, Error> {
        let mut c = self.acquire().await?;
        let rows: Vec<RawCheckpoint> = c
            .conn()
            .fetch_all(
                Q::new("SELECT seq, hash, at, jws FROM checkpoints WHERE seq > $1 ORDER BY seq")
                    .i64(seq),
            )
            .await?;
        rows.into_iter().map(RawCheckpoint::into_row).collect()
    }

    /// The latest checkpoint whose seq is at least `seq` (one that covers entry `seq`).
    pub async fn checkpoint_covering(&self, seq: i64) -> Result<Option<CheckpointRow>, Error> {
        let mut c = self.acquire().await?;
        let row: Option<RawCheckpoint> = c
            .conn()
            .fetch_optional(
                Q::new(
                    "SELECT seq, hash, at, jws FROM checkpoints WHERE seq >= $1 \
                     ORDER BY seq DESC LIMIT 1",
                )
                .i64(seq),
            )
            .await?;
        row.map(RawCheckpoint::into_row).transpose()
    }
}

impl Tx {
    /// Records a checkpoint; false (and nothing written) if one of this seq exists already
    /// (another broker instance made it first).
    pub async fn record_checkpoint(&mut self, c: &CheckpointRow) -> Result<bool, Error> {
        let q = Q::new(
            "INSERT INTO checkpoints (seq, hash, at, jws) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (seq) DO NOTHING",
        )
        .i64(c.seq)
        .bytes(c.hash.clone())
        .i64(ms(c.at))
        .text(c.jws.clone());
        Ok(self.conn().execute(q).await? == 1)
    }
}
