//! Figures for metrics: alerts and deliveries counted by state, the outbox backlog, pending
//! timers and overdue deliveries.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use varsel_protocol::message::{Category, DeliveryState, ParticipantId, Status};

use super::alerts::AlertState;
use super::connection::Store;
use super::deliveries::OVERDUE_WHERE;
use super::error::Error;
use super::rows::ms;
use varsel_sql::Q;

/// Alerts counted by state, category and status.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AlertCount {
    pub state: AlertState,
    pub category: Category,
    pub status: Status,
    pub count: u64,
}

/// Deliveries counted by recipient and state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeliveryCount {
    pub recipient: ParticipantId,
    pub state: DeliveryState,
    pub count: u64,
}

/// Figures for metrics, taken at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stats {
    /// Sorted by (state, category, status).
    pub alerts: Vec<AlertCount>,
    /// Sorted by (recipient, state).
    pub deliveries: Vec<DeliveryCount>,
    pub outbox_pending: u64,
    /// Age of the oldest pending outbox row (since it was created), if any.
    pub outbox_oldest_pending: Option<Duration>,
    pub timers_pending: u64,
    /// Deliveries that [`Store::overdue`] would return.
    pub overdue: u64,
}

impl Store {
    /// Figures for metrics at `now`.
    pub async fn stats(&self, now: DateTime<Utc>) -> Result<Stats, Error> {
        let mut c = self.acquire().await?;
        let mut conn = c.conn();
        let alert_rows: Vec<(String, String, String, i64)> = conn
            .fetch_all(Q::new(
                "SELECT state, category, status, COUNT(*) FROM alerts \
                 GROUP BY state, category, status",
            ))
            .await?;
        let mut alerts = Vec::with_capacity(alert_rows.len());
        for (state, category, status, n) in alert_rows {
            alerts.push(AlertCount {
                state: parse_code("alerts", "state", &state)?,
                category: parse_code("alerts", "category", &category)?,
                status: parse_code("alerts", "status", &status)?,
                count: to_count(n)?,
            });
        }
        alerts.sort();
        let delivery_rows: Vec<(String, String, i64)> = conn
            .fetch_all(Q::new(
                "SELECT recipient, state, COUNT(*) FROM deliveries GROUP BY recipient, state",
            ))
            .await?;
        let mut deliveries = Vec::with_capacity(delivery_rows.len());
        for (recipient, state, n) in delivery_rows {
            deliveries.push(DeliveryCount {
                recipient: parse_code("deliveries", "recipient", &recipient)?,
                state: parse_code("deliveries", "state", &state)?,
                count: to_count(n)?,
            });
        }
        deliveries.sort();
        let (outbox_pending, oldest): (i64, Option<i64>) = conn
            .fetch_one(Q::new(
                "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE state = 'pending'",
            ))
            .await?;
        let outbox_oldest_pending = oldest
            .map(|t| Duration::from_millis(u64::try_from(ms(now).saturating_sub(t)).unwrap_or(0)));
        let (timers_pending,): (i64,) = conn
            .fetch_one(Q::new(
                "SELECT COUNT(*) FROM timers WHERE state = 'pending'",
            ))
            .await?;
        let (overdue,): (i64,) = conn
            .fetch_one(
                Q::new(format!(
                    "SELECT COUNT(*) FROM deliveries d JOIN alerts a ON a.id = d.alert_id \
                     WHERE {OVERDUE_WHERE}"
                ))
                .i64(ms(now)),
            )
            .await?;
        Ok(Stats {
            alerts,
            deliveries,
            outbox_pending: to_count(outbox_pending)?,
            outbox_oldest_pending,
            timers_pending: to_count(timers_pending)?,
            overdue: to_count(overdue)?,
        })
    }
}

fn to_count(n: i64) -> Result<u64, Error> {
    u64::try_from(n).map_err(|_| Error::Value("negative count".into()))
}

fn parse_code<T: FromStr<Err = varsel_protocol::message::InvalidValue>>(
    table: &'static str,
    column: &'static str,
    v: &str,
) -> Result<T, Error> {
    v.parse()
        .map_err(|e: varsel_protocol::message::InvalidValue| Error::Corrupt {
            table,
            column,
            why: e.why,
        })
}
