//! Escalation policies and their pure planning: what happens, and when, if a recipient does not
//! confirm receipt or acknowledge an alert in time.
//!
//! A policy is named in the routing table and frozen as JSON on every alert when it is routed, so
//! a later change of the table does not change the ladder of an alert already under way. The
//! store-backed scheduler turns [`Policy::plan`] into timers; everything here is free of I/O and
//! takes the time as a parameter.

pub mod scheduler;
pub use scheduler::Scheduler;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use varsel_protocol::message::{ParticipantId, RecipientRole, SectionLabel};

/// The longest duration accepted anywhere in a policy. Longer ones are almost surely typos, and
/// the bound keeps every date computation far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);

/// The most extra rounds a policy may repeat its ladder.
pub const MAX_REPEAT: u32 = 20;

/// Why an escalation policy was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// One or more problems, each as `key: what is wrong`.
    #[error("invalid escalation policy: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

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
        let ok = s.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        }) && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(EmailTarget::Address(s.to_owned()))
        } else {
            Err(format!("{s:?} is neither \"mailbox\" nor an email address"))
        }
    }
}

/// Parse a duration written as whole numbers with units `s`, `m`, `h`, `d`, e.g. `90s`, `15m`,
/// `2h`, `1d` or `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (write e.g. 90s, 15m, 2h, 1d or 1h30m)");
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let unit = match rest.as_bytes().get(digits) {
            Some(b's') => 1,
            Some(b'm') => 60,
            Some(b'h') => 3_600,
            Some(b'd') => 86_400,
            _ => return Err(bad()),
        };
        total = total.saturating_add(n.saturating_mul(unit));
        rest = &rest[digits + 1..];
    }
    let d = Duration::from_secs(total);
    if d > MAX_DURATION {
        return Err(format!("{s:?} is longer than the limit of 366d"));
    }
    Ok(d)
}

/// Write a duration the way [`parse_duration`] reads it, largest units first (`1h30m`, `0s`).
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, name) in [(86_400, 'd'), (3_600, 'h'), (60, 'm'), (1, 's')] {
        if secs >= unit {
            out.push_str(&(secs / unit).to_string());
            out.push(name);
            secs %= unit;
        }
    }
    out
}

/// A policy as written in the routing table (TOML) and frozen on alerts (JSON): the same shape
/// in both, with codes and durations as text so validation can report every problem at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub receipt_deadline: String,
    pub ack_deadline: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repeat: u32,
    #[serde(default, rename = "step")]
    pub steps: Vec<RawStep>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    pub after: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_departure: Option<String>,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sections: Option<Vec<String>>,
}

impl From<&Policy> for RawPolicy {
    fn from(p: &Policy) -> RawPolicy {
        RawPolicy {
            receipt_deadline: format_duration(p.receipt_deadline),
            ack_deadline: format_duration(p.ack_deadline),
            repeat: p.repeat,
            steps: p.steps.iter().map(RawStep::from).collect(),
        }
    }
}

impl From<&Step> for RawStep {
    fn from(s: &Step) -> RawStep {
        let mut raw = RawStep {
            after: format_duration(s.after),
            before_departure: s.before_departure.map(format_duration),
            action: s.action.code().to_owned(),
            to: None,
            participant: None,
            role: None,
            sections: None,
        };
        match &s.action {
            Action::Redeliver | Action::PageOps => {}
            Action::Email { to } => raw.to = Some(to.to_string()),
            Action::AddRecipient {
                participant,
                role,
                sections,
            } => {
                raw.participant = Some(participant.to_string());
                raw.role = Some(role.code().to_owned());
                raw.sections = Some(sections.iter().map(|s| s.code().to_owned()).collect());
            }
        }
        raw
    }
}

/// Collects `(key, message)` problems while validating.
pub(crate) type Problems = Vec<(String, String)>;

/// Parse a list of section codes, reporting unknown ones and an empty list; duplicates collapse
/// and the result is in declaration order.
pub(crate) fn parse_sections(
    codes: &[String],
    key: &str,
    problems: &mut Problems,
) -> Vec<SectionLabel> {
    if codes.is_empty() {
        problems.push((
            key.to_owned(),
            "grants no section; list at least one".to_owned(),
        ));
    }
    let mut out = Vec::new();
    for code in codes {
        match code.parse::<SectionLabel>() {
            Ok(s) => out.push(s),
            Err(e) => problems.push((key.to_owned(), e.why)),
        }
    }
    out.sort();
    out.dedup();
    out
}

fn duration_at(text: &str, key: String, problems: &mut Problems) -> Option<Duration> {
    parse_duration(text)
        .map_err(|e| problems.push((key, e)))
        .ok()
}

impl RawPolicy {
    /// Validate into a [`Policy`], adding every problem found under `key` (e.g.
    /// `policy.departure`). Returns `None` if there was any.
    pub(crate) fn validate(&self, key: &str, problems: &mut Problems) -> Option<Policy> {
        let before = problems.len();
        let receipt = duration_at(
            &self.receipt_deadline,
            format!("{key}.receipt_deadline"),
            problems,
        );
        let ack = duration_at(&self.ack_deadline, format!("{key}.ack_deadline"), problems);
        if receipt == Some(Duration::ZERO) {
            problems.push((
                format!("{key}.receipt_deadline"),
                "must be longer than 0s".into(),
            ));
        }
        if ack == Some(Duration::ZERO) {
            problems.push((
                format!("{key}.ack_deadline"),
                "must be longer than 0s".into(),
            ));
        }
        if let (Some(r), Some(a)) = (receipt, ack) {
            if a < r {
                problems.push((
                    format!("{key}.ack_deadline"),
                    format!(
                        "{} is shorter than receipt_deadline {}; an officer cannot acknowledge before the machine receipt",
                        format_duration(a),
                        format_duration(r)
                    ),
                ));
            }
        }
        if self.repeat > MAX_REPEAT {
            problems.push((
                format!("{key}.repeat"),
                format!("{} is more than the limit of {MAX_REPEAT}", self.repeat),
            ));
        }
        if self.steps.is_empty() {
            problems.push((
                format!("{key}.step"),
                "a policy needs at least one step; end the ladder with page_ops so a human sees an unacknowledged alert".into(),
            ));
        }
        let mut steps = Vec::new();
        let mut previous: Option<Duration> = None;
        for (i, raw) in self.steps.iter().enumerate() {
            let step_key = format!("{key}.step[{i}]");
            // Order is checked on `after` alone so it is reported even if the step has other
            // problems.
            if let Ok(after) = parse_duration(&raw.after) {
                if let Some(prev) = previous.filter(|prev| after < *prev) {
                    problems.push((
                        format!("{step_key}.after"),
                        format!(
                            "{} is earlier than the step before it ({}); list steps in order of `after`",
                            format_duration(after),
                            format_duration(prev)
                        ),
                    ));
                }
                previous = Some(after);
            }
            if let Some(step) = raw.validate(&step_key, problems) {
                steps.push(step);
            }
        }
        if self.repeat > 0 && previous == Some(Duration::ZERO) {
            problems.push((
                format!("{key}.repeat"),
                "the last step's `after` is 0s, so the repeats would all fire at once".into(),
            ));
        }
        if problems.len() > before {
            return None;
        }
        Some(Policy {
            receipt_deadline: receipt?,
            ack_deadline: ack?,
            steps,
            repeat: self.repeat,
        })
    }
}

impl RawStep {
    fn validate(&self, key: &str, problems: &mut Problems) -> Option<Step> {
        let before = problems.len();
        let after = duration_at(&self.after, format!("{key}.after"), problems);
        let before_departure = self
            .before_departure
            .as_deref()
            .map(|b| duration_at(b, format!("{key}.before_departure"), problems));
        let stray = |field: &str, present: bool, problems: &mut Problems| {
            if present {
                problems.push((
                    format!("{key}.{field}"),
                    format!("does not apply to action {:?}", self.action),
                ));
            }
        };
        let action = match self.action.as_str() {
            "redeliver" | "page_ops" | "email" => {
                stray("participant", self.participant.is_some(), problems);
                stray("role", self.role.is_some(), problems);
                stray("sections", self.sections.is_some(), problems);
                match self.action.as_str() {
                    "redeliver" => {
                        stray("to", self.to.is_some(), problems);
                        Some(Action::Redeliver)
                    }
                    "page_ops" => {
                        stray("to", self.to.is_some(), problems);
                        Some(Action::PageOps)
                    }
                    _ => match self.to.as_deref().unwrap_or("mailbox").parse() {
                        Ok(to) => Some(Action::Email { to }),
                        Err(e) => {
                            problems.push((format!("{key}.to"), e));
                            None
                        }
                    },
                }
            }
            "add_recipient" => {
                stray("to", self.to.is_some(), problems);
                let participant = match &self.participant {
                    None => {
                        problems.push((
                            format!("{key}.participant"),
                            "add_recipient needs the participant to add".into(),
                        ));
                        None
                    }
                    Some(p) => p
                        .parse::<ParticipantId>()
                        .map_err(|e| problems.push((format!("{key}.participant"), e.why)))
                        .ok(),
                };
                let role = self
                    .role
                    .as_deref()
                    .unwrap_or("required")
                    .parse::<RecipientRole>()
                    .map_err(|e| problems.push((format!("{key}.role"), e.why)))
                    .ok();
                let sections = match &self.sections {
                    None => {
                        problems.push((
                            format!("{key}.sections"),
                            "add_recipient needs the sections the new recipient may read".into(),
                        ));
                        Vec::new()
                    }
                    Some(s) => parse_sections(s, &format!("{key}.sections"), problems),
                };
                match (participant, role) {
                    (Some(participant), Some(role)) => Some(Action::AddRecipient {
                        participant,
                        role,
                        sections,
                    }),
                    _ => None,
                }
            }
            other => {
                problems.push((
                    format!("{key}.action"),
                    format!("{other:?} is not one of redeliver, email, add_recipient, page_ops"),
                ));
                None
            }
        };
        if problems.len() > before {
            return None;
        }
        Some(Step {
            after: after?,
            before_departure: before_departure.flatten(),
            action: action?,
        })
    }
}

impl Serialize for Policy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawPolicy::from(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Policy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Policy, D::Error> {
        let raw = RawPolicy::deserialize(d)?;
        let mut problems = Problems::new();
        raw.validate("policy", &mut problems).ok_or_else(|| {
            serde::de::Error::custom(Error::Invalid(
                problems
                    .into_iter()
                    .map(|(k, m)| format!("{k}: {m}"))
                    .collect(),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
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
    fn durations_parse_and_format() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(mins(15)));
        assert_eq!(parse_duration("2h"), Ok(mins(120)));
        assert_eq!(parse_duration("1d"), Ok(mins(1440)));
        assert_eq!(parse_duration("1h30m"), Ok(mins(90)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in [
            "",
            "10",
            "m",
            "10x",
            "1.5h",
            "-5m",
            "10 m",
            "367d",
            "9999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(mins(1440 + 61)), "1d1h1m");
        assert_eq!(format_duration(Duration::ZERO), "0s");
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

    #[test]
    fn invalid_policies_report_every_problem() {
        let json = serde_json::json!({
            "receipt_deadline": "1h",
            "ack_deadline": "10m",
            "repeat": 1,
            "step": [
                {"after": "20m", "action": "redeliver", "to": "mailbox"},
                {"after": "10m", "action": "add_recipient", "sections": ["core", "diary"]},
                {"after": "0s", "action": "email", "to": "not an address"},
                {"after": "1y", "action": "call_mum"}
            ]
        });
        let err = serde_json::from_value::<Policy>(json)
            .unwrap_err()
            .to_string();
        for expect in [
            "policy.ack_deadline: 10m is shorter than receipt_deadline 1h",
            "policy.step[0].to: does not apply",
            "policy.step[1].participant: add_recipient needs the participant",
            "policy.step[1].sections: \"diary\"",
            "policy.step[1].after: 10m is earlier than the step before it",
            "policy.step[2].to: \"not an address\"",
            "policy.step[3].after: \"1y\" is not a duration",
            "policy.step[3].action: \"call_mum\" is not one of",
        ] {
            assert!(err.contains(expect), "missing {expect:?} in {err}");
        }
    }
}
