//! What an escalation timer row holds, and the deadlines and timers a policy gives one new
//! delivery. Routing a new alert, re-routing a decline and the scheduler's added recipients all
//! turn a frozen [`Policy`] into store rows here, so they agree on what a row means.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Policy;
use crate::commit::Deadlines;
use varsel_protocol::message::RecipientRole;

/// What a timer row says: which step of which frozen policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    pub policy: String,
    pub step: usize,
    pub round: u32,
}

impl Timer {
    /// The timer as its row's action.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
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
