//! The routing table's note lines: per note kind, which members of a case get a note and whether
//! they must acknowledge it, with the escalation policy for those who must.
//!
//! ```toml
//! [[note]]
//! kind = "travel_ban_decided"
//! required = ["police"]          # members by what they are: school, or an agency kind
//! informed = ["school"]
//! escalation = "departure"       # for the required members (else the table's default_policy)
//! ```
//!
//! A case's members are the alert's school and its recipients; a member is named here as
//! `school` or by its registry `agency` kind (`social_services`, `police`, `forsakringskassan`,
//! `skatteverket`). The sender never gets its own note. A note kind with no line goes to every
//! other member of the case, informed, so an accepted note always reaches someone; `varsel routes
//! check` warns about such kinds. The school's closing of its case (`case_closed`) always goes to
//! every other member, informed, and has no line.

use std::collections::BTreeMap;

use serde::Deserialize;

use varsel_protocol::message::{NoteKind, RecipientRole};
use varsel_protocol::problems::Problems;
use varsel_protocol::registry::Agency;

/// A member of a case as a note line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Member {
    /// The school that raised the alert.
    School,
    /// A recipient of the alert whose registry entry names this agency kind.
    Agency(Agency),
}

impl Member {
    fn parse(text: &str) -> Option<Member> {
        if text == "school" {
            return Some(Member::School);
        }
        text.parse::<Agency>().ok().map(Member::Agency)
    }
}

/// One validated `[[note]]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteLine {
    pub required: Vec<Member>,
    pub informed: Vec<Member>,
    /// The escalation policy of the required members.
    pub policy: Option<String>,
}

impl NoteLine {
    /// The role a member of this kind gets, if the line names it.
    pub fn role_of(&self, member: Member) -> Option<RecipientRole> {
        if self.required.contains(&member) {
            Some(RecipientRole::Required)
        } else if self.informed.contains(&member) {
            Some(RecipientRole::Informed)
        } else {
            None
        }
    }
}

/// One `[[note]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNoteLine {
    kind: Option<String>,
    #[serde(default)]
    required: Vec<String>,
    #[serde(default)]
    informed: Vec<String>,
    escalation: Option<String>,
}

fn members(values: &[String], key: &str, problems: &mut Problems) -> Vec<Member> {
    let mut out = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match Member::parse(v) {
            Some(m) if out.contains(&m) => {
                problems.add(&format!("{key}[{i}]"), format!("{v:?} is listed twice"))
            }
            Some(m) => out.push(m),
            None => {
                let known: Vec<&str> = Agency::ALL.iter().map(|a| a.code()).collect();
                problems.add(
                    &format!("{key}[{i}]"),
                    format!(
                        "{v:?} is not a case member; expected school or one of {}",
                        known.join(", ")
                    ),
                );
            }
        }
    }
    out
}

/// Checks a policy name under a key, reporting an unknown one, and records it as used.
pub(super) type PolicyRef<'a> =
    dyn FnMut(&Option<String>, String, &mut Problems) -> Option<String> + 'a;

/// Validates the note lines. `policy_ref` checks a policy name (reporting an unknown one) and
/// records it as used; `default_policy` is the table's. Every problem goes to `problems` under
/// its key (`note[0].required[1]`), note kinds with no line to `warnings`.
pub(super) fn validate(
    raw: &[RawNoteLine],
    default_policy: Option<&String>,
    policy_ref: &mut PolicyRef<'_>,
    problems: &mut Problems,
    warnings: &mut Problems,
) -> BTreeMap<NoteKind, NoteLine> {
    let mut lines = BTreeMap::new();
    for (i, r) in raw.iter().enumerate() {
        let key = format!("note[{i}]");
        let before = problems.len();
        let kind = match r.kind.as_deref().map(str::parse::<NoteKind>) {
            None => {
                problems.add(&format!("{key}.kind"), "kind is missing (a note kind)");
                None
            }
            Some(Err(e)) => {
                problems.add(&format!("{key}.kind"), e.why);
                None
            }
            Some(Ok(NoteKind::CaseClosed)) => {
                problems.add(
                    &format!("{key}.kind"),
                    "case_closed has no line: a closing goes to every member of its case, informed",
                );
                None
            }
            Some(Ok(k)) if lines.contains_key(&k) => {
                problems.add(
                    &format!("{key}.kind"),
                    format!("another note line is already for {k}"),
                );
                None
            }
            Some(Ok(k)) => Some(k),
        };
        let required = members(&r.required, &format!("{key}.required"), problems);
        let informed = members(&r.informed, &format!("{key}.informed"), problems);
        for (j, m) in informed.iter().enumerate() {
            if required.contains(m) {
                problems.add(
                    &format!("{key}.informed[{j}]"),
                    "is required already; name a member once",
                );
            }
        }
        if required.is_empty() && informed.is_empty() {
            problems.add(
                &key,
                "names no member; list who gets the note in required or informed",
            );
        }
        let own = policy_ref(&r.escalation, format!("{key}.escalation"), problems);
        let policy = own.or_else(|| default_policy.cloned());
        if !required.is_empty() && policy.is_none() {
            problems.add(
                &format!("{key}.escalation"),
                "required members need an escalation policy (set escalation or default_policy)",
            );
        }
        if let (Some(kind), true) = (kind, problems.len() == before) {
            lines.insert(
                kind,
                NoteLine {
                    required,
                    informed,
                    policy,
                },
            );
        }
    }
    if problems.is_empty() {
        let lineless = |k: &&NoteKind| **k != NoteKind::CaseClosed && !lines.contains_key(*k);
        for k in NoteKind::ALL.iter().filter(lineless) {
            warnings.add(
                "note",
                format!(
                    "no line for {k}: such a note goes to every other member of its case, informed"
                ),
            );
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::super::Table;
    use super::*;

    const BASE: &str = r#"
        default_recipient = "varsel-ops"
        [policy.departure]
        receipt_deadline = "5m"
        ack_deadline = "30m"
        [[policy.departure.step]]
        after = "30m"
        action = "page_ops"
        [[rule]]
        name = "all"
        escalation = "departure"
        [[rule.recipient]]
        participant = "polisen"
        role = "required"
        sections = ["core"]
    "#;

    #[test]
    fn a_note_line_names_members_with_their_roles() {
        let text = format!(
            "{BASE}\n[[note]]\nkind = \"travel_ban_decided\"\nrequired = [\"police\"]\n\
             informed = [\"school\"]\nescalation = \"departure\"\n"
        );
        let t = Table::from_toml_str(&text, "routing.toml").unwrap();
        let line = t.note_line(NoteKind::TravelBanDecided).unwrap();
        assert_eq!(
            line.role_of(Member::Agency(Agency::Police)),
            Some(RecipientRole::Required)
        );
        assert_eq!(line.role_of(Member::School), Some(RecipientRole::Informed));
        assert_eq!(line.role_of(Member::Agency(Agency::Skatteverket)), None);
        assert_eq!(line.policy.as_deref(), Some("departure"));
        assert!(t.note_line(NoteKind::ChildLocated).is_none());
        assert!(t
            .warnings()
            .iter()
            .any(|w| w.to_string().contains("no line for child_located")));
        assert!(!t
            .warnings()
            .iter()
            .any(|w| w.to_string().contains("case_closed")));
    }

    #[test]
    fn bad_note_lines_are_reported_with_file_and_key() {
        let text = format!(
            "{BASE}\n[[note]]\nkind = \"travel_ban\"\nrequired = [\"polis\"]\n\
             [[note]]\nkind = \"case_taken\"\nrequired = [\"police\"]\ninformed = [\"police\"]\n\
             escalation = \"nowhere\"\n[[note]]\nkind = \"child_located\"\n\
             [[note]]\nkind = \"case_closed\"\ninformed = [\"police\"]\n"
        );
        let e = Table::from_toml_str(&text, "routing.toml").unwrap_err();
        let shown = e.to_string();
        for want in [
            "routing.toml",
            "note[0].kind",
            "note[0].required[0]",
            "\"polis\" is not a case member",
            "note[1].informed[0]",
            "note[1].escalation",
            "no policy named \"nowhere\"",
            "note[2]: names no member",
            "note[3].kind: case_closed has no line",
        ] {
            assert!(shown.contains(want), "{want:?} missing from {shown}");
        }
    }
}
