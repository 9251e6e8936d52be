//! What an escalation timer row and an alert's frozen policies hold, and the deadlines and timers a
//! policy gives one new delivery. Routing a new alert, re-routing a decline and the scheduler's
//! added recipients all turn a frozen [`Policy`] into store rows here, and read them back here, so
//! they agree on what a row means. A stored value that does not read is an [`Unreadable`] naming
//! its table, column and row, never a default.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Policy;
use crate::commit::Deadlines;
use crate::store::{AlertRow, TimerRow};
use varsel_protocol::message::RecipientRole;

/// What a timer row says: which step of which frozen policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timer {
    pub policy: String,
    pub step: usize,
    pub round: u32,
}

/// A value the broker stored does not read back as what it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{table}.{column} of {row} does not read: {why}")]
pub struct Unreadable {
    pub table: &'static str,
    pub column: &'static str,
    /// Which row, e.g. `alert 0190…` or `timer 17`.
    pub row: String,
    pub why: String,
}

impl Timer {
    /// The timer as its row's action. Built field by field, so there is no failure to turn into
    /// a default.
    pub fn to_value(&self) -> Value {
        let mut action = serde_json::Map::new();
        action.insert("policy".into(), Value::from(self.policy.clone()));
        action.insert("step".into(), Value::from(self.step));
        action.insert("round".into(), Value::from(self.round));
        Value::Object(action)
    }

    /// The timer a stored row holds.
    pub fn of_row(row: &TimerRow) -> Result<Timer, Unreadable> {
        serde_json::from_value(row.action.clone()).map_err(|e| Unreadable {
            table: "timers",
            column: "action",
            row: format!("timer {}", row.id),
            why: e.to_string(),
        })
    }
}

/// The escalation policies frozen on an alert when it was routed, by name; none when it got none
/// (no column value). A value that does not read as policies is an error, so an alert never
/// silently loses its escalation.
pub fn frozen(alert: &AlertRow) -> Result<BTreeMap<String, Policy>, Unreadable> {
    let Some(value) = &alert.policy else {
        return Ok(BTreeMap::new());
    };
    serde_json::from_value(value.clone()).map_err(|e| Unreadable {
        table: "alerts",
        column: "policy",
        row: format!("alert {}", alert.id),
        why: e.to_string(),
    })
}

impl Policy {
    /// What this policy, named `name`, asks of a delivery to a recipient in `role` created at
    /// `created`: a required recipient gets receipt and ack deadlines and, when `ladder` is set,
    /// the timers of every step of the ladder. A recipient the ladder itself added gets no ladder
    /// of its own (but its deadlines, so ops see it overdue).
    pub fn deadlines(
        &self,
        name: &str,
        role: RecipientRole,
        created: DateTime<Utc>,
        planned_departure: Option<DateTime<Utc>>,
        ladder: bool,
    ) -> Deadlines {
        let required = role == RecipientRole::Required;
        let timers = if required && ladder {
            self.plan(created, planned_departure)
                .into_iter()
                .map(|step| {
                    let timer = Timer {
                        policy: name.to_owned(),
                        step: step.step,
                        round: step.round,
                    };
                    (step.due, timer.to_value())
                })
                .collect()
        } else {
            Vec::new()
        };
        Deadlines {
            policy: name.to_owned(),
            receipt_due: required.then(|| self.receipt_due(created)),
            ack_due: required.then(|| self.ack_due(created)),
            timers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escalation::{Action, Step};
    use std::time::Duration;

    fn policy() -> Policy {
        Policy {
            receipt_deadline: Duration::from_secs(60),
            ack_deadline: Duration::from_secs(600),
            steps: vec![
                Step {
                    after: Duration::from_secs(120),
                    before_departure: None,
                    action: Action::Redeliver,
                },
                Step {
                    after: Duration::from_secs(900),
                    before_departure: None,
                    action: Action::PageOps,
                },
            ],
            repeat: 0,
        }
    }

    fn timer_row(action: Value) -> TimerRow {
        let now = Utc::now();
        TimerRow {
            id: 17,
            alert: uuid::Uuid::nil(),
            delivery: None,
            action,
            due_at: now,
            state: crate::store::TimerState::Pending,
            claimed_by: None,
            claimed_until: None,
            fired_at: None,
            created_at: now,
        }
    }

    #[test]
    fn a_timer_reads_back_from_its_row_or_says_why_not() {
        let t = Timer {
            policy: "standard".into(),
            step: 2,
            round: 1,
        };
        assert_eq!(
            t.to_value(),
            serde_json::json!({ "policy": "standard", "step": 2, "round": 1 })
        );
        assert_eq!(Timer::of_row(&timer_row(t.to_value())), Ok(t));
        // What a failed serialisation used to store, and other values that are not a timer.
        for bad in [
            Value::Null,
            serde_json::json!({ "policy": "standard", "step": -1, "round": 0 }),
            serde_json::json!({ "policy": "standard", "step": 0, "round": 0, "x": 1 }),
        ] {
            let err = Timer::of_row(&timer_row(bad.clone())).unwrap_err();
            assert_eq!(
                (err.table, err.column, err.row.as_str()),
                ("timers", "action", "timer 17"),
                "{bad}"
            );
            assert!(err
                .to_string()
                .starts_with("timers.action of timer 17 does not read: "));
        }
    }

    #[test]
    fn frozen_policies_read_back_or_say_why_not() {
        let mut alert = crate::store::AlertRow {
            id: uuid::Uuid::nil(),
            sender: "skola-a".parse().unwrap(),
            municipality: "0581".parse().unwrap(),
            category: varsel_protocol::message::Category::DepartureImminent,
            urgency: varsel_protocol::message::Urgency::Immediate,
            status: varsel_protocol::message::Status::Actual,
            planned_departure: None,
            table_version: "v".into(),
            policy: None,
            state: crate::store::AlertState::Open,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            last_message_id: None,
        };
        assert!(frozen(&alert).unwrap().is_empty(), "no policy was frozen");
        let policies = BTreeMap::from([("standard".to_owned(), policy())]);
        alert.policy = Some(serde_json::to_value(&policies).unwrap());
        assert_eq!(frozen(&alert).unwrap(), policies);
        // A policy that no longer reads is an error, not "no policy" (no escalation at all).
        for bad in [
            serde_json::json!({ "standard": "corrupted" }),
            serde_json::json!({ "standard": { "receipt_deadline": "soon" } }),
            serde_json::json!("garbage"),
        ] {
            alert.policy = Some(bad.clone());
            let err = frozen(&alert).unwrap_err();
            assert_eq!((err.table, err.column), ("alerts", "policy"), "{bad}");
            assert_eq!(err.row, format!("alert {}", uuid::Uuid::nil()));
        }
    }

    #[test]
    fn a_required_recipient_gets_deadlines_and_the_ladder() {
        let created = Utc::now();
        let d = policy().deadlines("standard", RecipientRole::Required, created, None, true);
        assert_eq!(d.policy, "standard");
        assert_eq!(d.receipt_due, Some(created + chrono::Duration::seconds(60)));
        assert_eq!(d.ack_due, Some(created + chrono::Duration::seconds(600)));
        assert_eq!(d.timers.len(), 2);
        let first: Timer = serde_json::from_value(d.timers[0].1.clone()).unwrap();
        assert_eq!(
            first,
            Timer {
                policy: "standard".into(),
                step: 0,
                round: 0
            }
        );
        assert_eq!(d.timers[1].0, created + chrono::Duration::seconds(900));
    }

    #[test]
    fn an_added_recipient_gets_deadlines_but_no_second_ladder() {
        let created = Utc::now();
        let d = policy().deadlines("standard", RecipientRole::Required, created, None, false);
        assert!(d.ack_due.is_some());
        assert!(d.timers.is_empty());
    }

    #[test]
    fn an_informed_recipient_keeps_only_the_policy_name() {
        let d = policy().deadlines("standard", RecipientRole::Informed, Utc::now(), None, true);
        assert_eq!(d.policy, "standard");
        assert_eq!((d.receipt_due, d.ack_due), (None, None));
        assert!(d.timers.is_empty());
    }
}
