//! A validated routing table: its rules in order, its escalation policies, and what it says
//! about itself (name, origin, version, the participants it names, its warnings).

use std::collections::{BTreeMap, BTreeSet};

use varsel_protocol::message::{NoteKind, ParticipantId, RecipientRole, SectionLabel};
use varsel_protocol::problems::{Problem, Problems};

use super::matcher::Match;
use super::notes::NoteLine;
use super::Error;
use crate::escalation::Policy;

/// A validated routing table.
#[derive(Debug, Clone)]
pub struct Table {
    pub(super) name: String,
    pub(super) origin: String,
    pub(super) version: String,
    pub(super) default_recipient: ParticipantId,
    pub(super) default_policy: Option<String>,
    pub(super) rules: Vec<Rule>,
    pub(super) policies: BTreeMap<String, Policy>,
    /// `[line_down]`: who gets a recipient's alerts too while its line is down (heartbeats).
    pub(super) line_down: BTreeMap<ParticipantId, ParticipantId>,
    /// `[[note]]`: who of a case's members gets each note kind.
    pub(super) notes: BTreeMap<NoteKind, NoteLine>,
    /// Every participant named, with the key it is named under, for [`Table::check_against`].
    pub(super) named: Vec<(String, ParticipantId)>,
    pub(super) warnings: Vec<Problem>,
}

/// One `[[rule]]`: when it fires, who it adds, and whether evaluation goes on after it.
#[derive(Debug, Clone)]
pub(super) struct Rule {
    pub(super) name: String,
    pub(super) matcher: Match,
    pub(super) recipients: Vec<RuleRecipient>,
    pub(super) continues: bool,
}

/// A recipient a rule adds, with the policy it falls back to already resolved.
#[derive(Debug, Clone)]
pub(super) struct RuleRecipient {
    pub(super) participant: ParticipantId,
    pub(super) role: RecipientRole,
    pub(super) sections: Vec<SectionLabel>,
    pub(super) when_closed: Option<WhenClosed>,
    pub(super) policy: Option<String>,
}

/// Who takes a recipient's alerts while its office is closed.
#[derive(Debug, Clone)]
pub(super) struct WhenClosed {
    pub(super) participant: ParticipantId,
    pub(super) mode: ClosedMode,
    /// Overrides the original recipient's role for the alternative.
    pub(super) role: Option<RecipientRole>,
    /// Overrides the original recipient's policy for the alternative, e.g. a round-the-clock
    /// service needs no ladder that adds itself.
    pub(super) policy: Option<String>,
}

/// What `when_closed` does with the original recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ClosedMode {
    /// Route to the alternative as well as the original.
    Also,
    /// Route to the alternative only.
    Instead,
}

impl Table {
    /// The table's `name`, or its origin if it has none.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the table was loaded from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Hex SHA-256 of the table's bytes, recorded on every alert routed with it.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Where alerts no rule takes are sent.
    pub fn default_recipient(&self) -> &ParticipantId {
        &self.default_recipient
    }

    /// The escalation policy called `name`.
    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.get(name)
    }

    /// Every policy by name.
    pub fn policies(&self) -> &BTreeMap<String, Policy> {
        &self.policies
    }

    /// Who gets `participant`'s alerts too while its line is down (`[line_down]`), if anyone.
    pub fn line_down_fallback(&self, participant: &ParticipantId) -> Option<&ParticipantId> {
        self.line_down.get(participant)
    }

    /// The `[[note]]` line for notes of this kind, if the table has one.
    pub fn note_line(&self, kind: NoteKind) -> Option<&NoteLine> {
        self.notes.get(&kind)
    }

    /// Whether the table names any line-down fallback.
    pub fn has_line_down_fallbacks(&self) -> bool {
        !self.line_down.is_empty()
    }

    /// Every participant the table names (recipients, `when_closed` alternatives, participants
    /// added by escalation steps, the default recipient).
    pub fn participants(&self) -> BTreeSet<ParticipantId> {
        self.named.iter().map(|(_, p)| p.clone()).collect()
    }

    /// Things that are allowed but probably not meant: unused policies, policies that never page
    /// ops, rules that can never fire.
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// Check every participant the table names against the registry: `known` says whether a
    /// participant id is registered. Reports all unknown ones at once.
    pub fn check_against(&self, known: &dyn Fn(&ParticipantId) -> bool) -> Result<(), Error> {
        let mut problems = Problems::default();
        for (key, p) in self.named.iter().filter(|(_, p)| !known(p)) {
            problems.add(key, format!("{p} is not in the registry"));
        }
        problems.finish(&self.origin).map_err(Error::Invalid)
    }

    /// Check that every recipient with a `when_closed` alternative has office hours in the
    /// registry (`has_hours` says whether a participant's entry gives them): without them it
    /// would count as always open, and its alternative would never be used.
    pub fn check_office_hours(
        &self,
        has_hours: &dyn Fn(&ParticipantId) -> bool,
    ) -> Result<(), Error> {
        let mut problems = Problems::default();
        for rule in &self.rules {
            for (j, r) in rule.recipients.iter().enumerate() {
                if let Some(wc) = r
                    .when_closed
                    .as_ref()
                    .filter(|_| !has_hours(&r.participant))
                {
                    problems.add(
                        &format!("rule.{}.recipient[{j}].when_closed", rule.name),
                        format!(
                            "{} has no office_hours in the registry, so it would always count as open and {} would never get its alerts",
                            r.participant, wc.participant
                        ),
                    );
                }
            }
        }
        problems.finish(&self.origin).map_err(Error::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{example, header, hours, pid, utc, who, TUESDAY_10};
    use super::Table;
    use varsel_protocol::message::{Category, RecipientRole, Status};

    #[test]
    fn a_down_line_brings_in_its_fallback_checked_and_explained() {
        let t = example();
        let social = pid("norrkoping-socialtjansten");
        let jour = pid("norrkoping-socialjouren");
        assert_eq!(t.line_down_fallback(&social), Some(&jour));
        let h = header(Category::SuspectedAbroad, Status::Actual);
        let mut d = t.route(&h, utc(TUESDAY_10), &hours);
        assert!(!who(&d).iter().any(|(p, _)| *p == jour.as_str()), "{d:?}");
        // Up: nothing changes.
        let mut up = d.clone();
        assert!(up
            .with_fallbacks(&|_| false, &|p| t.line_down_fallback(p).cloned())
            .is_empty());
        assert_eq!(up, d);
        // Down: socialjouren gets it too, with socialtjänsten's role, sections and policy.
        let used = d.with_fallbacks(&|p| *p == social, &|p| t.line_down_fallback(p).cloned());
        assert_eq!(used.len(), 1);
        assert_eq!((&used[0].line, &used[0].fallback), (&social, &jour));
        let (s, j) = (&d.recipients[0], d.recipients.last().unwrap());
        assert_eq!(j.participant, jour);
        assert_eq!(
            (j.role, &j.sections, &j.policy),
            (RecipientRole::Required, &s.sections, &s.policy)
        );
        assert!(j.via_rule.ends_with("/line_down"), "{}", j.via_rule);
        let text = t.explain(&h, utc(TUESDAY_10), &hours);
        assert!(
            text.contains("while norrkoping-socialtjansten's line is down (missed heartbeats), norrkoping-socialjouren gets its alerts too"),
            "{text}"
        );

        // A fallback that is no participant id, or the line itself, is refused with its key;
        // one that is not in the registry is found by the registry check, with its key.
        let bad = "default_recipient = \"varsel-ops\"\n[line_down]\n\
                   norrkoping-socialtjansten = \"Socialjouren\"\npolisen = \"polisen\"\n";
        let e = Table::from_toml_str(bad, "t.toml").unwrap_err();
        let keys: Vec<&str> = e.problems().iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["line_down.norrkoping-socialtjansten", "line_down.polisen"],
            "{e}"
        );
        let unknown =
            "default_recipient = \"varsel-ops\"\n[line_down]\nokand-myndighet = \"varsel-ops\"\n";
        let t = Table::from_toml_str(unknown, "t.toml").unwrap();
        let e = t
            .check_against(&|p| p.as_str() != "okand-myndighet")
            .unwrap_err();
        let keys: Vec<&str> = e.problems().iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["line_down.okand-myndighet"], "{e}");
    }

    #[test]
    fn a_recipient_with_an_after_hours_alternative_needs_office_hours() {
        let t = example();
        assert!(t.check_office_hours(&|_| true).is_ok());
        let err = t
            .check_office_hours(&|p| *p != pid("norrkoping-socialtjansten"))
            .unwrap_err();
        let keys: Vec<&str> = err.problems().iter().map(|p| p.key.as_str()).collect();
        assert!(!keys.is_empty());
        assert!(
            keys.iter()
                .all(|k| k.starts_with("rule.") && k.ends_with(".when_closed")),
            "{keys:?}"
        );
        assert!(
            err.to_string()
                .contains("norrkoping-socialjouren would never get its alerts"),
            "{err}"
        );
    }
}
