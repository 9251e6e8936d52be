//! Timers: escalation steps due at a set time, claimed and fired, or cancelled.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use varsel_protocol::message::code_enum;

use super::connection::Store;
use super::error::Error;
use super::leases::until;
use super::rows::{code, convert_all, json, json_text, ms, opt_time, opt_uuid, time, uuid};
use super::tx::Tx;
use varsel_sql::Q;

const TIMER_COLS: &str = "id, alert_id, delivery_id, action, due_at, state, \
     claimed_by, claimed_until, fired_at, created_at";

code_enum!(
    /// Where a timer stands.
    TimerState {
        Pending = "pending",
        Fired = "fired",
        Cancelled = "cancelled",
    }
);

/// A timer to persist.
#[derive(Debug, Clone)]
pub struct NewTimer {
    pub alert: Uuid,
    pub delivery: Option<Uuid>,
    /// What to do when due (the escalation module's JSON).
    pub action: serde_json::Value,
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A stored timer.
#[derive(Debug, Clone, PartialEq)]
pub struct TimerRow {
    pub id: i64,
    pub alert: Uuid,
    pub delivery: Option<Uuid>,
    pub action: serde_json::Value,
    pub due_at: DateTime<Utc>,
    pub state: TimerState,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<DateTime<Utc>>,
    pub fired_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

varsel_sql::row! {
    struct RawTimer {
        id: i64,
        alert_id: String,
        delivery_id: Option<String>,
        action: String,
        due_at: i64,
        state: String,
        claimed_by: Option<String>,
        claimed_until: Option<i64>,
        fired_at: Option<i64>,
        created_at: i64,
    }
}

impl RawTimer {
    fn into_row(self) -> Result<TimerRow, Error> {
        const T: &str = "timers";
        Ok(TimerRow {
            id: self.id,
            alert: uuid(T, "alert_id", &self.alert_id)?,
            delivery: opt_uuid(T, "delivery_id", self.delivery_id.as_deref())?,
            action: json(T, "action", &self.action)?,
            due_at: time(T, "due_at", self.due_at)?,
            state: code(T, "state", &self.state)?,
            claimed_by: self.claimed_by,
            claimed_until: opt_time(T, "claimed_until", self.claimed_until)?,
            fired_at: opt_time(T, "fired_at", self.fired_at)?,
            created_at: time(T, "created_at", self.created_at)?,
        })
    }
}

impl Store {
    /// An alert's timers in the order they were scheduled.
    pub async fn timers_of(&self, alert: Uuid) -> Result<Vec<TimerRow>, Error> {
        let q = Q::new(format!(
            "SELECT {TIMER_COLS} FROM timers WHERE alert_id = $1 ORDER BY id"
        ))
        .text(alert.to_string());
        let mut c = self.acquire().await?;
        let rows: Vec<RawTimer> = c.conn().fetch_all(q).await?;
        convert_all(rows, RawTimer::into_row)
    }

    /// Claims up to `limit` pending timers due at `now` whose lease is free or ran out, for
    /// `owner` until `now + lease`. Timers come back in due order.
    pub async fn claim_timers(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<TimerRow>, Error> {
        let sql = format!(
            "UPDATE timers SET claimed_by = $1, claimed_until = $2 \
             WHERE id IN (SELECT id FROM timers WHERE state = 'pending' AND due_at <= $3 \
                 AND (claimed_until IS NULL OR claimed_until <= $3) \
                 ORDER BY due_at, id LIMIT $4{}) \
             RETURNING {TIMER_COLS}",
            self.skip_locked()
        );
        let q = Q::new(sql)
            .text(owner)
            .i64(until(now, lease)?)
            .i64(ms(now))
            .i64(i64::from(limit));
        let rows: Vec<RawTimer> = self.claim(q).await?;
        let mut rows = convert_all(rows, RawTimer::into_row)?;
        rows.sort_by_key(|r| (r.due_at, r.id));
        Ok(rows)
    }
}

impl Tx {
    /// Persists a timer; returns its id.
    pub async fn schedule(&mut self, t: &NewTimer) -> Result<i64, Error> {
        let q = Q::new(
            "INSERT INTO timers (alert_id, delivery_id, action, due_at, state, created_at) \
             VALUES ($1, $2, $3, $4, 'pending', $5) RETURNING id",
        )
        .text(t.alert.to_string())
        .opt_text(t.delivery.map(|d| d.to_string()))
        .text(json_text(&t.action)?)
        .i64(ms(t.due_at))
        .i64(ms(t.created_at));
        let (id,): (i64,) = self.conn().fetch_one(q).await?;
        Ok(id)
    }

    /// Cancels an alert's pending timers (only those of one delivery if given); returns how
    /// many.
    pub async fn cancel_timers(
        &mut self,
        alert: Uuid,
        delivery: Option<Uuid>,
    ) -> Result<u64, Error> {
        let q = match delivery {
            None => Q::new(
                "UPDATE timers SET state = 'cancelled' WHERE alert_id = $1 AND state = 'pending'",
            )
            .text(alert.to_string()),
            Some(d) => Q::new(
                "UPDATE timers SET state = 'cancelled' \
                 WHERE alert_id = $1 AND delivery_id = $2 AND state = 'pending'",
            )
            .text(alert.to_string())
            .text(d.to_string()),
        };
        Ok(self.conn().execute(q).await?)
    }

    /// Marks a claimed timer fired, only if it is still pending and claimed by `owner`; false
    /// if it was cancelled or someone else took it over.
    pub async fn finish_timer(
        &mut self,
        id: i64,
        owner: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let q = Q::new(
            "UPDATE timers SET state = 'fired', fired_at = $1, claimed_until = NULL \
             WHERE id = $2 AND claimed_by = $3 AND state = 'pending'",
        )
        .i64(ms(at))
        .i64(id)
        .text(owner);
        Ok(self.conn().execute(q).await? == 1)
    }
}
