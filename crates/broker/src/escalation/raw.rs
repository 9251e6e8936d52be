//! A policy as written: in the routing table (TOML) and frozen on every alert (JSON), with codes
//! and durations as text, and its validation into a [`Policy`] that reports every problem at
//! once under its key path.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use varsel_protocol::message::{ParticipantId, RecipientRole, SectionLabel};
use varsel_protocol::problems::{self, Problems};

use super::duration::{format_duration, parse_duration};
use super::policy::{Action, Policy, Step, MAX_REPEAT};

/// Why an escalation policy was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// One or more problems, shown as `key: what is wrong`.
    #[error("invalid escalation policy: {}", joined(&.0.problems))]
    Invalid(problems::Error),
}

fn joined(problems: &[problems::Problem]) -> String {
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    shown.join("; ")
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

/// Parse a list of section codes, reporting unknown ones and an empty list; duplicates collapse
/// and the result is in declaration order.
pub(crate) fn parse_sections(
    codes: &[String],
    key: &str,
    problems: &mut Problems,
) -> Vec<SectionLabel> {
    if codes.is_empty() {
        problems.add(key, "grants no section; list at least one");
    }
    let mut out = Vec::new();
    for code in codes {
        match code.parse::<SectionLabel>() {
            Ok(s) => out.push(s),
            Err(e) => problems.add(key, e.why),
        }
    }
    out.sort();
    out.dedup();
    out
}

fn duration_at(text: &str, key: String, problems: &mut Problems) -> Option<Duration> {
    parse_duration(text).map_err(|e| problems.add(&key, e)).ok()
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
            problems.add(&format!("{key}.receipt_deadline"), "must be longer than 0s");
        }
        if ack == Some(Duration::ZERO) {
            problems.add(&format!("{key}.ack_deadline"), "must be longer than 0s");
        }
        if let (Some(r), Some(a)) = (receipt, ack) {
            if a < r {
                problems.add(&format!("{key}.ack_deadline"), format!(
                        "{} is shorter than receipt_deadline {}; an officer cannot acknowledge before the machine receipt",
                        format_duration(a),
                        format_duration(r)
                    ));
            }
        }
        if self.repeat > MAX_REPEAT {
            problems.add(
                &format!("{key}.repeat"),
                format!("{} is more than the limit of {MAX_REPEAT}", self.repeat),
            );
        }
        if self.steps.is_empty() {
            problems.add(&format!("{key}.step"), "a policy needs at least one step; end the ladder with page_ops so a human sees an unacknowledged alert");
        }
        let mut steps = Vec::new();
        let mut previous: Option<Duration> = None;
        for (i, raw) in self.steps.iter().enumerate() {
            let step_key = format!("{key}.step[{i}]");
            // Order is checked on `after` alone so it is reported even if the step has other
            // problems.
            if let Ok(after) = parse_duration(&raw.after) {
                if let Some(prev) = previous.filter(|prev| after < *prev) {
                    problems.add(&format!("{step_key}.after"), format!(
                            "{} is earlier than the step before it ({}); list steps in order of `after`",
                            format_duration(after),
                            format_duration(prev)
                        ));
                }
                previous = Some(after);
            }
            if let Some(step) = raw.validate(&step_key, problems) {
                steps.push(step);
            }
        }
        if self.repeat > 0 && previous == Some(Duration::ZERO) {
            problems.add(
                &format!("{key}.repeat"),
                "the last step's `after` is 0s, so the repeats would all fire at once",
            );
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
                problems.add(
                    &format!("{key}.{field}"),
                    format!("does not apply to action {:?}", self.action),
                );
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
                            problems.add(&format!("{key}.to"), e);
                            None
                        }
                    },
                }
            }
            "add_recipient" => {
                stray("to", self.to.is_some(), problems);
                let participant = match &self.participant {
                    None => {
                        problems.add(
                            &format!("{key}.participant"),
                            "add_recipient needs the participant to add",
                        );
                        None
                    }
                    Some(p) => p
                        .parse::<ParticipantId>()
                        .map_err(|e| problems.add(&format!("{key}.participant"), e.why))
                        .ok(),
                };
                let role = self
                    .role
                    .as_deref()
                    .unwrap_or("required")
                    .parse::<RecipientRole>()
                    .map_err(|e| problems.add(&format!("{key}.role"), e.why))
                    .ok();
                let sections = match &self.sections {
                    None => {
                        problems.add(
                            &format!("{key}.sections"),
                            "add_recipient needs the sections the new recipient may read",
                        );
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
                problems.add(
                    &format!("{key}.action"),
                    format!("{other:?} is not one of redeliver, email, add_recipient, page_ops"),
                );
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
        use serde::de::Error as _;
        let raw = RawPolicy::deserialize(d)?;
        let mut problems = Problems::default();
        let policy = raw.validate("policy", &mut problems);
        problems
            .finish("policy")
            .map_err(|e| D::Error::custom(Error::Invalid(e)))?;
        policy.ok_or_else(|| D::Error::custom("invalid escalation policy"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
