//! An escalation policy and its pure planning: deadlines for receipt and acknowledgement, the
//! ladder of steps, and when each step falls due for a given alert. Free of I/O; the time is a
//! parameter.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use varsel_protocol::message::{ParticipantId, RecipientRole, SectionLabel};

/// The most extra rounds a policy may repeat its ladder.
pub const MAX_REPEAT: u32 = 20;

/// An escalation policy: deadlines for the recipient's machine receipt and an officer's
/// acknowledgement, and a ladder of steps taken while the alert stays unacknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// How long after the alert's creation a receipt is due.
    pub receipt_deadline: Duration,
    /// How long after the alert's creation an acknowledgement is due.
    pub ack_deadline: Duration,
    /// The ladder, in order of [`Step::after`].
    pub steps: Vec<Step>,
    /// How many more times the ladder runs after the first round; see [`Policy::plan`].
    pub repeat: u32,
}

/// One rung of the ladder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Delay from the alert's creation.
    pub after: Duration,
    /// If set, the step is due this long before the planned departure when that is earlier than
    /// `after` (whichever comes first).
    pub before_departure: Option<Duration>,
    pub action: Action,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Publish the delivery to the recipient's inbox again.
    Redeliver,
    /// Send a notification email (never the content).
    Email { to: EmailTarget },
    /// Route the alert to one more participant, e.g. socialjouren or the police.
    AddRecipient {
        participant: ParticipantId,
        role: RecipientRole,
        sections: Vec<SectionLabel>,
    },
    /// Tell ops staff a human must look at this alert now.
    PageOps,
}

/// Where an [`Action::Email`] goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailTarget {
    /// The recipient's functional mailbox from the registry.
    Mailbox,
    /// A fixed functional address, e.g. a duty officer's shared mailbox.
    Address(String),
}

/// One step of a policy placed in time for a particular alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    /// Index into [`Policy::steps`].
    pub step: usize,
    /// 0 for the first run of the ladder, 1.. for the repeats.
    pub round: u32,
    pub due: DateTime<Utc>,
    #[serde(serialize_with = "serialize_action")]
    pub action: Action,
}

fn serialize_action<S: serde::Serializer>(a: &Action, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&a.to_string())
}

fn add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn sub(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl Policy {
    /// When the receipt for an alert created at `created` is due.
    pub fn receipt_due(&self, created: DateTime<Utc>) -> DateTime<Utc> {
        add(created, self.receipt_deadline)
    }

    /// When the acknowledgement for an alert created at `created` is due.
    pub fn ack_due(&self, created: DateTime<Utc>) -> DateTime<Utc> {
        add(created, self.ack_deadline)
    }

    /// The length of one round of the ladder: the last step's `after`. Round `r` of a step is
    /// due `r` periods after its first-round time, so a ladder ending in `page_ops` at 1h starts
    /// over at 1h + its first step's delay.
    pub fn period(&self) -> Duration {
        self.steps.last().map_or(Duration::ZERO, |s| s.after)
    }

    /// Whether the ladder ever reaches a human in ops.
    pub fn pages_ops(&self) -> bool {
        self.steps.iter().any(|s| s.action == Action::PageOps)
    }

    /// Every step of every round placed in time for an alert created at `created`, sorted by due
    /// time (ties keep ladder order).
    ///
    /// A step is due at `created + after + round × period`. In the first round a step with
    /// `before_departure` is due at `planned_departure - before_departure` instead when that is
    /// earlier; the repeats run on the clock alone, since the departure deadline has then already
    /// been acted on. Nothing is due before `created`: a departure too close pulls such steps to
    /// `created`, i.e. at once. Repeated `add_recipient` steps are expected to be idempotent for
    /// the scheduler (a participant already routed is not added twice).
    pub fn plan(
        &self,
        created: DateTime<Utc>,
        planned_departure: Option<DateTime<Utc>>,
    ) -> Vec<Planned> {
        let period = TimeDelta::from_std(self.period()).unwrap_or(TimeDelta::MAX);
        let mut plan = Vec::new();
        for round in 0..=self.repeat {
            let offset = period
                .checked_mul(i32::try_from(round).unwrap_or(i32::MAX))
                .unwrap_or(TimeDelta::MAX);
            let round_start = created
                .checked_add_signed(offset)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            for (i, step) in self.steps.iter().enumerate() {
                let mut due = add(round_start, step.after);
                if round == 0 {
                    if let (Some(departure), Some(before)) =
                        (planned_departure, step.before_departure)
                    {
                        due = due.min(sub(departure, before));
                    }
                }
                plan.push(Planned {
                    step: i,
                    round,
                    due: due.max(created),
                    action: step.action.clone(),
                });
            }
        }
        plan.sort_by_key(|p| (p.due, p.round, p.step));
        plan
    }
}

impl Action {
    /// The action's code, as written in the routing table and used in metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            Action::Redeliver => "redeliver",
            Action::Email { .. } => "email",
            Action::AddRecipient { .. } => "add_recipient",
            Action::PageOps => "page_ops",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Redeliver | Action::PageOps => f.write_str(self.code()),
            Action::Email { to } => write!(f, "email {to}"),
            Action::AddRecipient {
                participant,
                role,
                sections,
            } => {
                let sections: Vec<&str> = sections.iter().map(|s| s.code()).collect();
                write!(
                    f,
                    "add_recipient {participant} ({role}; {})",
                    sections.join(", ")
                )
            }
        }
    }
}

impl fmt::Display for EmailTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmailTarget::Mailbox => f.write_str("mailbox"),
            EmailTarget::Address(a) => f.write_str(a),
        }
    }
}

impl FromStr for EmailTarget {
    type Err = String;
    fn from_str(s: &str) -> Result<EmailTarget, String> {
        if s == "mailbox" {
            return Ok(EmailTarget::Mailbox);
        }
        // The mailer's own parser (lettre), so an address taken here is one it can send to.
        match s.parse::<lettre::Address>() {
            Ok(_) => Ok(EmailTarget::Address(s.to_owned())),
            Err(e) => Err(format!(
                "{:?} is neither \"mailbox\" nor an email address ({e})",
                s.chars().take(200).collect::<String>()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn email_targets_are_the_mailbox_or_an_address_lettre_can_send_to() {
        assert_eq!("mailbox".parse(), Ok(EmailTarget::Mailbox));
        assert_eq!(
            "jour@norrkoping.se".parse(),
            Ok(EmailTarget::Address("jour@norrkoping.se".into()))
        );
        // The hand-written check took the last three; the mailer then failed at 3 a.m.
        for bad in [
            "",
            "jour",
            "jour@",
            "@norrkoping.se",
            "jour @norrkoping.se",
            "jour@@norrkoping.se",
            "a..b@norrkoping.se",
            "jour@norr koping.se",
            "jour@norrkoping.se>",
        ] {
            let e = bad.parse::<EmailTarget>().unwrap_err();
            assert!(
                e.contains("neither \"mailbox\" nor an email address"),
                "{bad}: {e}"
            );
        }
    }

    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn mins(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    fn police() -> Action {
        Action::AddRecipient {
            participant: "polisen-region-ost".parse().unwrap(),
            role: RecipientRole::Required,
            sections: vec![SectionLabel::Core, SectionLabel::Travel],
        }
    }

    /// The ladder the example routing table uses for departure_imminent.
    fn departure() -> Policy {
        Policy {
            receipt_deadline: mins(10),
            ack_deadline: mins(60),
            repeat: 0,
            steps: vec![
                Step {
                    after: mins(10),
                    before_departure: None,
                    action: Action::Redeliver,
                },
                Step {
                    after: mins(20),
                    before_departure: None,
                    action: Action::Email {
                        to: EmailTarget::Mailbox,
                    },
                },
                Step {
                    after: mins(45),
                    before_departure: Some(mins(180)),
                    action: police(),
                },
                Step {
                    after: mins(60),
                    before_departure: Some(mins(120)),
                    action: Action::PageOps,
                },
            ],
        }
    }

    #[test]
    fn ladder_climbs_in_order_without_departure() {
        let created = utc("2026-03-13T16:30:00Z");
        let p = departure();
        let plan = p.plan(created, None);
        let got: Vec<(usize, DateTime<Utc>, &str)> = plan
            .iter()
            .map(|s| (s.step, s.due, s.action.code()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, utc("2026-03-13T16:40:00Z"), "redeliver"),
                (1, utc("2026-03-13T16:50:00Z"), "email"),
                (2, utc("2026-03-13T17:15:00Z"), "add_recipient"),
                (3, utc("2026-03-13T17:30:00Z"), "page_ops"),
            ]
        );
        assert_eq!(plan[2].action, police());
        assert_eq!(p.receipt_due(created), utc("2026-03-13T16:40:00Z"));
        assert_eq!(p.ack_due(created), utc("2026-03-13T17:30:00Z"));
    }

    #[test]
    fn a_close_departure_pulls_steps_forward() {
        let created = utc("2026-03-13T16:30:00Z");
        let departure_at = utc("2026-03-13T18:00:00Z"); // in 90 minutes
        let plan = departure().plan(created, Some(departure_at));
        let got: Vec<(usize, DateTime<Utc>)> = plan.iter().map(|s| (s.step, s.due)).collect();
        // 3h and 2h before departure are both in the past: police and ops at once, ahead of the
        // clock-only steps.
        assert_eq!(
            got,
            vec![
                (2, created),
                (3, created),
                (0, utc("2026-03-13T16:40:00Z")),
                (1, utc("2026-03-13T16:50:00Z")),
            ]
        );
    }

    #[test]
    fn a_departure_between_pulls_only_what_it_must() {
        let created = utc("2026-03-13T16:30:00Z");
        // Departure in 3h30m: the police step (3h before) moves from +45m to +30m; page_ops (2h
        // before, i.e. +1h30m) stays at +1h.
        let plan = departure().plan(created, Some(utc("2026-03-13T20:00:00Z")));
        let police_step = plan.iter().find(|s| s.step == 2).unwrap();
        assert_eq!(police_step.due, utc("2026-03-13T17:00:00Z"));
        let ops = plan.iter().find(|s| s.step == 3).unwrap();
        assert_eq!(ops.due, utc("2026-03-13T17:30:00Z"));
    }

    #[test]
    fn repeat_runs_more_rounds_one_period_apart() {
        let created = utc("2026-03-13T16:30:00Z");
        let mut p = departure();
        p.repeat = 2;
        let plan = p.plan(created, Some(utc("2026-03-13T18:00:00Z")));
        assert_eq!(plan.len(), 12);
        for round in 0..=2 {
            assert_eq!(plan.iter().filter(|s| s.round == round).count(), 4);
        }
        // Round 1 runs on the clock only: redeliver at 1h + 10m, page_ops at 2h.
        let r1: Vec<(usize, DateTime<Utc>)> = plan
            .iter()
            .filter(|s| s.round == 1)
            .map(|s| (s.step, s.due))
            .collect();
        assert_eq!(
            r1,
            vec![
                (0, utc("2026-03-13T17:40:00Z")),
                (1, utc("2026-03-13T17:50:00Z")),
                (2, utc("2026-03-13T18:15:00Z")),
                (3, utc("2026-03-13T18:30:00Z")),
            ]
        );
        let last = plan.last().unwrap();
        assert_eq!(
            (last.round, last.step, last.due),
            (2, 3, utc("2026-03-13T19:30:00Z"))
        );
        assert!(plan.windows(2).all(|w| w[0].due <= w[1].due));
    }

    #[test]
    fn policy_round_trips_as_json() {
        let mut p = departure();
        p.repeat = 1;
        p.steps[1].action = Action::Email {
            to: EmailTarget::Address("jour@norrkoping.se".into()),
        };
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["receipt_deadline"], "10m");
        assert_eq!(json["step"][2]["action"], "add_recipient");
        assert_eq!(json["step"][2]["before_departure"], "3h");
        assert_eq!(json["step"][1]["to"], "jour@norrkoping.se");
        let back: Policy = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
    }
}
