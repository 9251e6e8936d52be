//! The outcome of routing one alert: who gets it, with which role, sections and escalation
//! policy, which rules fired and why, and how recipients named by several rules are merged.

use serde::Serialize;

use varsel_protocol::message::{ParticipantId, RecipientRole, SectionLabel};

/// The `via_rule` of the default recipient. Rule names cannot contain parentheses, so it never
/// collides with one.
pub const DEFAULT_VIA: &str = "(default)";

/// The outcome of routing one alert: who gets it, which rules fired, and the table version used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// One entry per participant, in order of first appearance.
    pub recipients: Vec<Recipient>,
    pub fired: Vec<Fired>,
    /// No rule took the alert; it went to the default recipient (ops should count this).
    pub defaulted: bool,
    /// The table's [`Table::version`](super::Table::version).
    pub version: String,
}

/// One recipient of an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    pub participant: ParticipantId,
    pub role: RecipientRole,
    /// The sections whose keys are re-wrapped for this recipient, in declaration order. Empty for
    /// the default recipient.
    pub sections: Vec<SectionLabel>,
    /// The escalation policy's name in the table, if any.
    pub policy: Option<String>,
    /// The rule that decided the role and policy, or [`DEFAULT_VIA`].
    pub via_rule: String,
}

/// A rule that fired, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fired {
    pub rule: String,
    /// The header fields that matched, e.g. `municipality 0581, category departure_imminent`.
    pub why: String,
}

/// A recipient whose line was down, and who got its alerts too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Substitute {
    pub line: ParticipantId,
    pub fallback: ParticipantId,
}

impl Decision {
    /// Adds each down recipient's fallback (`fallback_of`, from the table's `[line_down]`) with
    /// the recipient's role, sections and policy, via `<rule>/line_down`; the down recipient
    /// keeps its delivery, which waits in its inbox. Returns who stood in for whom.
    pub fn with_fallbacks(
        &mut self,
        is_down: &dyn Fn(&ParticipantId) -> bool,
        fallback_of: &dyn Fn(&ParticipantId) -> Option<ParticipantId>,
    ) -> Vec<Substitute> {
        let mut substitutes = Vec::new();
        for r in self.recipients.clone() {
            let Some(fallback) = fallback_of(&r.participant).filter(|_| is_down(&r.participant))
            else {
                continue;
            };
            merge(
                &mut self.recipients,
                Recipient {
                    participant: fallback.clone(),
                    via_rule: format!("{}/line_down", r.via_rule),
                    ..r.clone()
                },
            );
            substitutes.push(Substitute {
                line: r.participant,
                fallback,
            });
        }
        substitutes
    }
}

fn role_strength(role: RecipientRole) -> u8 {
    match role {
        RecipientRole::Required => 2,
        RecipientRole::Informed => 1,
    }
}

/// Add a recipient, or merge it into an earlier entry for the same participant: the stronger role
/// wins and brings its policy and rule; sections are the union.
pub(super) fn merge(recipients: &mut Vec<Recipient>, new: Recipient) {
    let Some(old) = recipients
        .iter_mut()
        .find(|r| r.participant == new.participant)
    else {
        recipients.push(new);
        return;
    };
    old.sections.extend(new.sections.iter().copied());
    old.sections.sort();
    old.sections.dedup();
    if role_strength(new.role) > role_strength(old.role) {
        old.role = new.role;
        old.policy = new.policy.or(old.policy.take());
        old.via_rule = new.via_rule;
    } else if old.policy.is_none() && new.role == old.role {
        old.policy = new.policy;
    }
}
