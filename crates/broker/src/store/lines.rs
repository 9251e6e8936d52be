//! Agency lines: the heartbeat schedule and the up/down state of every agency's line, one row
//! each (see migration 0006 and the heartbeat module).

use chrono::{DateTime, Utc};
use uuid::Uuid;
use varsel_protocol::message::{code_enum, ParticipantId};

use super::connection::Store;
use super::error::Error;
use super::rows::{code, convert_all, corrupt, ms, opt_time, opt_uuid, time};
use super::tx::Tx;
use varsel_sql::{placeholders, Q};

const LINE_COLS: &str = "participant, state, next_at, heartbeat_id, sent_at, receipt_due, \
     last_receipt_at, receipts, misses, paged, down_since, updated_at";

code_enum!(
    /// Whether an agency's line answers its heartbeats.
    LineState {
        /// No heartbeat has been receipted yet (the line is new, or the broker just started
        /// checking it) and none was missed.
        Unknown = "unknown",
        /// The last heartbeat was receipted in time (or late, which ends an outage too).
        Up = "up",
        /// A heartbeat was not receipted within the grace; down until the next receipt.
        Down = "down",
    }
);

/// One agency's line as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRow {
    pub participant: ParticipantId,
    pub state: LineState,
    /// When the next heartbeat goes.
    pub next_at: DateTime<Utc>,
    /// The last heartbeat sent, the one a receipt must name.
    pub heartbeat: Option<Uuid>,
    pub sent_at: Option<DateTime<Utc>>,
    /// Set while the last heartbeat awaits its receipt.
    pub receipt_due: Option<DateTime<Utc>>,
    pub last_receipt_at: Option<DateTime<Utc>>,
    /// Heartbeats receipted since the row was made.
    pub receipts: u64,
    /// Heartbeats missed in a row.
    pub misses: u64,
    /// Whether ops were paged for the outage in progress.
    pub paged: bool,
    pub down_since: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

varsel_sql::row! {
    struct RawLine {
        participant: String,
        state: String,
        next_at: i64,
        heartbeat_id: Option<String>,
        sent_at: Option<i64>,
        receipt_due: Option<i64>,
        last_receipt_at: Option<i64>,
        receipts: i64,
        misses: i64,
        paged: i64,
        down_since: Option<i64>,
        updated_at: i64,
    }
}

impl RawLine {
    fn into_row(self) -> Result<LineRow, Error> {
        const T: &str = "lines";
        let count = |column, v: i64| u64::try_from(v).map_err(|_| corrupt(T, column, "negative"));
        Ok(LineRow {
            participant: self
                .participant
                .parse()
                .map_err(|_| corrupt(T, "participant", "not a participant id"))?,
            state: code(T, "state", &self.state)?,
            next_at: time(T, "next_at", self.next_at)?,
            heartbeat: opt_uuid(T, "heartbeat_id", self.heartbeat_id.as_deref())?,
            sent_at: opt_time(T, "sent_at", self.sent_at)?,
            receipt_due: opt_time(T, "receipt_due", self.receipt_due)?,
            last_receipt_at: opt_time(T, "last_receipt_at", self.last_receipt_at)?,
            receipts: count("receipts", self.receipts)?,
            misses: count("misses", self.misses)?,
            paged: self.paged != 0,
            down_since: opt_time(T, "down_since", self.down_since)?,
            updated_at: time(T, "updated_at", self.updated_at)?,
        })
    }
}

impl Store {
    /// Every line, by participant id.
    pub async fn lines(&self) -> Result<Vec<LineRow>, Error> {
        let q = Q::new(format!(
            "SELECT {LINE_COLS} FROM lines ORDER BY participant"
        ));
        let mut c = self.acquire().await?;
        let rows: Vec<RawLine> = c.conn().fetch_all(q).await?;
        convert_all(rows, RawLine::into_row)
    }

    /// One participant's line, if it has one.
    pub async fn line(&self, participant: &ParticipantId) -> Result<Option<LineRow>, Error> {
        let q = Q::new(format!(
            "SELECT {LINE_COLS} FROM lines WHERE participant = $1"
        ))
        .text(participant.as_str());
        let mut c = self.acquire().await?;
        let row: Option<RawLine> = c.conn().fetch_optional(q).await?;
        row.map(RawLine::into_row).transpose()
    }

    /// Makes a row, first heartbeat due `now`, for each of `participants` that has none, and
    /// removes the rows of participants no longer in the list (gone from the registry).
    pub async fn ensure_lines(
        &self,
        participants: &[ParticipantId],
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        for p in participants {
            let q = Q::new(
                "INSERT INTO lines (participant, state, next_at, updated_at) \
                 VALUES ($1, 'unknown', $2, $2) ON CONFLICT (participant) DO NOTHING",
            )
            .text(p.as_str())
            .i64(ms(now));
            tx.conn().execute(q).await?;
        }
        let mut q = Q::new("DELETE FROM lines");
        if !participants.is_empty() {
            q.push_sql(&format!(
                " WHERE participant NOT IN ({})",
                placeholders(1, participants.len())
            ));
            for p in participants {
                q = q.text(p.as_str());
            }
        }
        tx.conn().execute(q).await?;
        tx.commit().await
    }
}

impl Store {
    /// Brings every line's next heartbeat forward to `now`, except a line whose last heartbeat
    /// still awaits its receipt (a new one would leave that receipt naming a stale heartbeat): a
    /// broker that starts checks its lines at once.
    pub async fn lines_due_now(&self, now: DateTime<Utc>) -> Result<u64, Error> {
        let mut tx = self.begin().await?;
        let q = Q::new("UPDATE lines SET next_at = $1 WHERE next_at > $1 AND receipt_due IS NULL")
            .i64(ms(now));
        let n = tx.conn().execute(q).await?;
        tx.commit().await?;
        Ok(n)
    }
}

impl Tx {
    /// Up to `limit` lines with something due at `now` (a heartbeat to send, or a receipt
    /// overdue), locked for this transaction; on PostgreSQL rows another instance holds are
    /// skipped, so two instances never work on one line at once.
    pub async fn due_lines(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<LineRow>, Error> {
        let lock = if self.is_pg() {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let q = Q::new(format!(
            "SELECT {LINE_COLS} FROM lines WHERE next_at <= $1 OR receipt_due <= $1 \
             ORDER BY participant LIMIT $2{lock}"
        ))
        .i64(ms(now))
        .i64(i64::from(limit));
        let rows: Vec<RawLine> = self.conn().fetch_all(q).await?;
        convert_all(rows, RawLine::into_row)
    }

    /// The participants whose lines are down now, as this transaction sees them.
    pub async fn down_lines(&mut self) -> Result<Vec<ParticipantId>, Error> {
        let q = Q::new("SELECT participant FROM lines WHERE state = 'down' ORDER BY participant");
        let rows: Vec<(String,)> = self.conn().fetch_all(q).await?;
        rows.into_iter()
            .map(|(p,)| {
                p.parse()
                    .map_err(|_| corrupt("lines", "participant", "not a participant id"))
            })
            .collect()
    }

    /// Counts the line's outstanding heartbeat as missed if its receipt is overdue at `now`:
    /// the line is down. Returns the line as it now is, or `None` if nothing was overdue.
    pub async fn miss_line(
        &mut self,
        participant: &ParticipantId,
        now: DateTime<Utc>,
    ) -> Result<Option<LineRow>, Error> {
        let q = Q::new(format!(
            "UPDATE lines SET state = 'down', misses = misses + 1, receipt_due = NULL, \
                 down_since = COALESCE(down_since, $1), updated_at = $1 \
             WHERE participant = $2 AND receipt_due IS NOT NULL AND receipt_due <= $1 \
             RETURNING {LINE_COLS}"
        ))
        .i64(ms(now))
        .text(participant.as_str());
        let row: Option<RawLine> = self.conn().fetch_optional(q).await?;
        row.map(RawLine::into_row).transpose()
    }

    /// Records that heartbeat `heartbeat` went to the line at `now`, its receipt due at `due`,
    /// the next heartbeat at `next`; only if one was due (false otherwise).
    pub async fn line_sent(
        &mut self,
        participant: &ParticipantId,
        heartbeat: Uuid,
        now: DateTime<Utc>,
        due: DateTime<Utc>,
        next: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let q = Q::new(
            "UPDATE lines SET heartbeat_id = $1, sent_at = $2, receipt_due = $3, next_at = $4, \
                 updated_at = $2 \
             WHERE participant = $5 AND next_at <= $2",
        )
        .text(heartbeat.to_string())
        .i64(ms(now))
        .i64(ms(due))
        .i64(ms(next))
        .text(participant.as_str());
        Ok(self.conn().execute(q).await? == 1)
    }

    /// Whether heartbeat `heartbeat` went to `participant` (its outbox row is still kept; see
    /// [`Tx::prune_heartbeats`]): a receipt for an earlier heartbeat than the line's last one,
    /// as a client catching up on its inbox after an outage sends.
    pub async fn heartbeat_sent_to(
        &mut self,
        participant: &ParticipantId,
        heartbeat: Uuid,
    ) -> Result<bool, Error> {
        let q = Q::new(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM outbox \
             WHERE message_kind = 'heartbeat' AND message_id = $1 AND destination = $2",
        )
        .text(heartbeat.to_string())
        .text(format!("inbox.{participant}"));
        let (n,): (i64,) = self.conn().fetch_one(q).await?;
        Ok(n > 0)
    }

    /// Deletes the outbox rows of heartbeats sent before `before`: they hold nothing to keep,
    /// and would otherwise pile up at one per line and interval. Returns how many.
    pub async fn prune_heartbeats(&mut self, before: DateTime<Utc>) -> Result<u64, Error> {
        let q = Q::new(
            "DELETE FROM outbox WHERE message_kind = 'heartbeat' AND state = 'sent' \
             AND created_at < $1",
        )
        .i64(ms(before));
        Ok(self.conn().execute(q).await?)
    }

    /// Marks ops paged for the line's outage; false if they already were.
    pub async fn line_paged(&mut self, participant: &ParticipantId) -> Result<bool, Error> {
        let q = Q::new("UPDATE lines SET paged = 1 WHERE participant = $1 AND paged = 0")
            .text(participant.as_str());
        Ok(self.conn().execute(q).await? == 1)
    }

    /// Applies a receipt from `participant` naming `heartbeat`: if it is the line's last
    /// heartbeat, the line is up and its outage (if any) over. Returns the line as it was before,
    /// or `None` if the line has no such heartbeat.
    pub async fn line_receipt(
        &mut self,
        participant: &ParticipantId,
        heartbeat: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<LineRow>, Error> {
        let lock = if self.is_pg() { " FOR UPDATE" } else { "" };
        let q = Q::new(format!(
            "SELECT {LINE_COLS} FROM lines WHERE participant = $1 AND heartbeat_id = $2{lock}"
        ))
        .text(participant.as_str())
        .text(heartbeat.to_string());
        let before: Option<RawLine> = self.conn().fetch_optional(q).await?;
        let Some(before) = before.map(RawLine::into_row).transpose()? else {
            return Ok(None);
        };
        let q = Q::new(
            "UPDATE lines SET state = 'up', misses = 0, paged = 0, down_since = NULL, \
                 receipt_due = NULL, last_receipt_at = $1, receipts = receipts + 1, \
                 updated_at = $1 \
             WHERE participant = $2 AND heartbeat_id = $3",
        )
        .i64(ms(now))
        .text(participant.as_str())
        .text(heartbeat.to_string());
        self.conn().execute(q).await?;
        Ok(Some(before))
    }
}
