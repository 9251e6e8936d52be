//! Alerts: an alert as a whole, its state, and finding alerts.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use varsel_protocol::message::{code_enum, Category, Kommunkod, ParticipantId, Status, Urgency};

use super::connection::Store;
use super::error::Error;
use super::rows::{code, convert_all, json, json_text, ms, opt_time, opt_uuid, time, uuid};
use super::tx::Tx;
use varsel_sql::{placeholders, Q};

const ALERT_COLS: &str = "a.id, a.sender, a.municipality, a.category, a.urgency, \
     a.status, a.planned_departure, a.table_version, a.policy, a.state, a.created_at, \
     a.updated_at, a.last_message_id";

code_enum!(
    /// Where an alert stands as a whole.
    AlertState {
        /// Deliveries are under way.
        Open = "open",
        /// Every required recipient has acknowledged.
        Acknowledged = "acknowledged",
        /// The school withdrew it.
        Cancelled = "cancelled",
        /// Handed to a human in ops.
        Escalated = "escalated",
        /// The school closed the case with its outcome (sealed in its closing note).
        Closed = "closed",
    }
);

impl AsRef<str> for AlertState {
    fn as_ref(&self) -> &str {
        self.code()
    }
}

/// A new alert; it starts `open`.
#[derive(Debug, Clone)]
pub struct NewAlert {
    /// The alert message's id.
    pub id: Uuid,
    pub sender: ParticipantId,
    pub municipality: Kommunkod,
    pub category: Category,
    pub urgency: Urgency,
    pub status: Status,
    pub planned_departure: Option<DateTime<Utc>>,
    /// The routing table version that chose the recipients.
    pub table_version: String,
    /// The escalation policy frozen at intake.
    pub policy: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub id: Uuid,
    pub sender: ParticipantId,
    pub municipality: Kommunkod,
    pub category: Category,
    pub urgency: Urgency,
    pub status: Status,
    pub planned_departure: Option<DateTime<Utc>>,
    pub table_version: String,
    pub policy: Option<serde_json::Value>,
    pub state: AlertState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The latest update or cancel message.
    pub last_message_id: Option<Uuid>,
}

/// Which alerts [`Store::alerts`] returns, newest first.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub state: Option<AlertState>,
    pub category: Option<Category>,
    pub status: Option<Status>,
    /// Only alerts created at or after this time.
    pub since: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
}

varsel_sql::row! {
    struct RawAlert {
        id: String,
        sender: String,
        municipality: String,
        category: String,
        urgency: String,
        status: String,
        planned_departure: Option<i64>,
        table_version: String,
        policy: Option<String>,
        state: String,
        created_at: i64,
        updated_at: i64,
        last_message_id: Option<String>,
    }
}

impl RawAlert {
    fn into_row(self) -> Result<AlertRow, Error> {
        const T: &str = "alerts";
        Ok(AlertRow {
            id: uuid(T, "id", &self.id)?,
            sender: code(T, "sender", &self.sender)?,
            municipality: code(T, "municipality", &self.municipality)?,
            category: code(T, "category", &self.category)?,
            urgency: code(T, "urgency", &self.urgency)?,
            status: code(T, "status", &self.status)?,
            planned_departure: opt_time(T, "planned_departure", self.planned_departure)?,
            table_version: self.table_version,
            policy: self
                .policy
                .as_deref()
                .map(|p| json(T, "policy", p))
                .transpose()?,
            state: code(T, "state", &self.state)?,
            created_at: time(T, "created_at", self.created_at)?,
            updated_at: time(T, "updated_at", self.updated_at)?,
            last_message_id: opt_uuid(T, "last_message_id", self.last_message_id.as_deref())?,
        })
    }
}

impl Store {
    pub async fn alert(&self, id: Uuid) -> Result<Option<AlertRow>, Error> {
        let mut c = self.acquire().await?;
        let q = Q::new(format!("SELECT {ALERT_COLS} FROM alerts a WHERE a.id = $1"))
            .text(id.to_string());
        let row: Option<RawAlert> = c.conn().fetch_optional(q).await?;
        row.map(RawAlert::into_row).transpose()
    }

    /// Alerts matching `filter`, newest first.
    pub async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRow>, Error> {
        let mut q = Q::new(format!("SELECT {ALERT_COLS} FROM alerts a WHERE 1 = 1"));
        if let Some(s) = filter.state {
            q.push_sql(&format!(" AND a.state = ${}", q.next_param()));
            q = q.text(s.code());
        }
        if let Some(c) = filter.category {
            q.push_sql(&format!(" AND a.category = ${}", q.next_param()));
            q = q.text(c.code());
        }
        if let Some(s) = filter.status {
            q.push_sql(&format!(" AND a.status = ${}", q.next_param()));
            q = q.text(s.code());
        }
        if let Some(t) = filter.since {
            q.push_sql(&format!(" AND a.created_at >= ${}", q.next_param()));
            q = q.i64(ms(t));
        }
        q.push_sql(" ORDER BY a.created_at DESC, a.id DESC");
        if let Some(n) = filter.limit {
            q.push_sql(&format!(" LIMIT ${}", q.next_param()));
            q = q.i64(i64::from(n));
        }
        let mut c = self.acquire().await?;
        let rows: Vec<RawAlert> = c.conn().fetch_all(q).await?;
        convert_all(rows, RawAlert::into_row)
    }
}

impl Tx {
    /// Stores a new alert in state `open`.
    pub async fn insert_alert(&mut self, a: &NewAlert) -> Result<(), Error> {
        let policy = a.policy.as_ref().map(json_text).transpose()?;
        let q = Q::new(
            "INSERT INTO alerts (id, sender, municipality, category, urgency, status, \
             planned_departure, table_version, policy, state, created_at, updated_at, \
             last_message_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10, $10, NULL)",
        )
        .text(a.id.to_string())
        .text(a.sender.as_str())
        .text(a.municipality.as_str())
        .text(a.category.code())
        .text(a.urgency.code())
        .text(a.status.code())
        .opt_i64(a.planned_departure.map(ms))
        .text(a.table_version.clone())
        .opt_text(policy)
        .i64(ms(a.created_at));
        self.conn().execute(q).await?;
        Ok(())
    }

    /// Moves an alert to `to` if it is in one of the `from` states (codes of [`AlertState`]);
    /// true if it moved.
    pub async fn set_alert_state<S: AsRef<str>>(
        &mut self,
        id: Uuid,
        from: &[S],
        to: impl AsRef<str>,
        at: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let to = alert_state(to.as_ref())?;
        if from.is_empty() {
            return Ok(false);
        }
        let mut q = Q::new(format!(
            "UPDATE alerts SET state = $1, updated_at = $2 WHERE id = $3 AND state IN ({})",
            placeholders(4, from.len())
        ))
        .text(to.code())
        .i64(ms(at))
        .text(id.to_string());
        for f in from {
            q = q.text(alert_state(f.as_ref())?.code());
        }
        Ok(self.conn().execute(q).await? == 1)
    }

    /// Records an update or cancel on an alert. A `planned_departure` of `None` keeps the
    /// known one (an update that does not mention it does not erase it).
    pub async fn touch_alert(
        &mut self,
        id: Uuid,
        last_message_id: Uuid,
        planned_departure: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        let q = Q::new(
            "UPDATE alerts SET last_message_id = $1, \
             planned_departure = COALESCE($2, planned_departure), updated_at = $3 WHERE id = $4",
        )
        .text(last_message_id.to_string())
        .opt_i64(planned_departure.map(ms))
        .i64(ms(at))
        .text(id.to_string());
        self.conn().execute(q).await?;
        Ok(())
    }

    /// Replaces the escalation policies frozen on an alert: a note to its case that must be
    /// acknowledged adds the policy it escalates by, so the scheduler finds it there.
    pub async fn freeze_policies(
        &mut self,
        id: Uuid,
        policies: &serde_json::Value,
    ) -> Result<(), Error> {
        let q = Q::new("UPDATE alerts SET policy = $1 WHERE id = $2")
            .text(json_text(policies)?)
            .text(id.to_string());
        self.conn().execute(q).await?;
        Ok(())
    }

    /// The alert as this transaction sees it, locked on PostgreSQL.
    pub async fn alert_for_update(&mut self, id: Uuid) -> Result<Option<AlertRow>, Error> {
        let lock = if self.is_pg() { " FOR UPDATE" } else { "" };
        let q = Q::new(format!(
            "SELECT {ALERT_COLS} FROM alerts a WHERE a.id = $1{lock}"
        ))
        .text(id.to_string());
        let row: Option<RawAlert> = self.conn().fetch_optional(q).await?;
        row.map(RawAlert::into_row).transpose()
    }
}

fn alert_state(code: &str) -> Result<AlertState, Error> {
    code.parse().map_err(|_| Error::Code {
        what: "alert state",
        code: code.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_states_parse_from_codes_only() {
        assert_eq!(alert_state("open").ok(), Some(AlertState::Open));
        assert!(matches!(alert_state("archived"), Err(Error::Code { .. })));
    }
}
