//! Whether a refused message gets an `error` reply: a signer hears once about the same refused
//! bytes (a replayed message is not answered again), and at most a budget of times per window;
//! what is left unanswered is counted and told in the first reply of the next window. Both are
//! single statements, so instances sharing the store count together.

use chrono::{DateTime, Utc};
use varsel_protocol::message::ParticipantId;

use super::rows::ms;
use super::{Error, Tx};
use varsel_sql::Q;

/// How long refused bytes are remembered: a replay after that is answered once more.
pub const REMEMBER: chrono::Duration = chrono::Duration::hours(24);

/// Whether to answer one refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Answer it; `unanswered_before` refusals were left unanswered in the window before.
    Send { unanswered_before: u64 },
    /// The same bytes from this signer were refused and answered (or counted) already.
    Repeat,
    /// The signer's budget for this window is spent.
    OverBudget,
}

impl Tx {
    /// Records a refusal of `digest` (the refused bytes' SHA-256) from `signer` and says whether
    /// to answer it, with at most `budget` answers per `window`.
    pub async fn reply_to_refusal(
        &mut self,
        signer: &ParticipantId,
        digest: &[u8],
        now: DateTime<Utc>,
        window: std::time::Duration,
        budget: u32,
    ) -> Result<Reply, Error> {
        let first = self
            .conn()
            .execute(
                Q::new(
                    "INSERT INTO refused_bytes (signer, digest, refused_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (signer, digest) DO NOTHING",
                )
                .text(signer.as_str())
                .bytes(digest.to_vec())
                .i64(ms(now)),
            )
            .await?;
        if first == 0 {
            return Ok(Reply::Repeat);
        }
        let window = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let budget = i64::from(budget);
        // A new window starts when the last one is over; it carries what the last one left
        // unanswered.
        let (refusals, carried): (i64, i64) = self
            .conn()
            .fetch_one(
                Q::new(
                    "INSERT INTO error_reply_windows (signer, window_start, refusals, carried) \
                     VALUES ($1, $2, 1, 0) \
                     ON CONFLICT (signer) DO UPDATE SET \
                       window_start = CASE WHEN $2 - error_reply_windows.window_start >= $3 \
                         THEN $2 ELSE error_reply_windows.window_start END, \
                       refusals = CASE WHEN $2 - error_reply_windows.window_start >= $3 \
                         THEN 1 ELSE error_reply_windows.refusals + 1 END, \
                       carried = CASE WHEN $2 - error_reply_windows.window_start >= $3 \
                         THEN CASE WHEN error_reply_windows.refusals > $4 \
                           THEN error_reply_windows.refusals - $4 ELSE 0 END \
                         ELSE error_reply_windows.carried END \
                     RETURNING refusals, carried",
                )
                .text(signer.as_str())
                .i64(ms(now))
                .i64(window)
                .i64(budget),
            )
            .await?;
        if refusals == 1 {
            self.conn()
                .execute(
                    Q::new("DELETE FROM refused_bytes WHERE signer = $1 AND refused_at < $2")
                        .text(signer.as_str())
                        .i64(ms(now - REMEMBER)),
                )
                .await?;
        }
        Ok(if refusals > budget {
            Reply::OverBudget
        } else if refusals == 1 {
            Reply::Send {
                unanswered_before: u64::try_from(carried).unwrap_or(0),
            }
        } else {
            Reply::Send {
                unanswered_before: 0,
            }
        })
    }
}
