//! Notes to a case: what a note says once opened, which agencies may post which note kinds, and
//! the one way a note's content is sealed and read back.
//!
//! A note travels as a [`crate::message::Note`]: its kind is cleartext (a code), its [`Body`]
//! is sealed in the section `core` under the case's routing header, exactly as an alert's
//! sections are.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::message::{CaseOutcome, NoteKind, SectionLabel};
use crate::redacted::Redacted;
use crate::registry::{Agency, Participant, Role};

/// The section a note's body is sealed in.
pub const SECTION: SectionLabel = SectionLabel::Core;

/// What a note says, sealed: free text, for a decision its time and reference, and for the case's
/// closing its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// What the sender wants the case's members to know.
    pub text: Redacted<String>,
    /// When the decision was taken (a travel ban decided under 31 d § LVU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    /// The decision's or the court case's reference (diarienummer, målnummer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Redacted<String>>,
    /// How the case ended: in a `case_closed` note only, and there always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<CaseOutcome>,
}

impl Body {
    /// The problems of this body for a note of kind `kind`, each naming its field; empty when
    /// it is complete.
    pub fn problems(&self, kind: NoteKind) -> Vec<String> {
        let mut out = Vec::new();
        // A closing says how the case ended; its text is optional.
        if kind != NoteKind::CaseClosed && self.text.expose().trim().is_empty() {
            out.push("text: missing; a note says something".to_owned());
        }
        let max = crate::alert::MAX_TEXT;
        if self.text.expose().chars().count() > max {
            out.push(format!("text: longer than {max} characters"));
        }
        let short = crate::alert::MAX_SHORT;
        if self
            .reference
            .as_ref()
            .is_some_and(|r| r.expose().chars().count() > short)
        {
            out.push(format!("reference: longer than {short} characters"));
        }
        match (kind, self.outcome) {
            (NoteKind::CaseClosed, None) => out.push(format!(
                "outcome: missing; a closed case has its outcome, one of {}",
                CaseOutcome::ALL
                    .iter()
                    .map(|o| o.code())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            (NoteKind::CaseClosed, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                out.push("outcome: only the case's closing (case_closed) has an outcome".into())
            }
        }
        if kind == NoteKind::TravelBanDecided {
            if self.decided_at.is_none() {
                out.push("decided_at: missing; a decided travel ban has its decision time".into());
            }
            if self
                .reference
                .as_ref()
                .is_none_or(|r| r.expose().trim().is_empty())
            {
                out.push("reference: missing; a decided travel ban has its reference".into());
            }
        }
        out
    }

    /// The body as the one section it is sealed in.
    pub fn to_sections(&self) -> Vec<(SectionLabel, Vec<u8>)> {
        // Strings and a timestamp: serde_json cannot fail on them.
        let bytes = serde_json::to_vec(self).expect("a note body always serializes to JSON");
        vec![(SECTION, bytes)]
    }

    /// The body from the opened section; `None` when it does not read as a note body.
    pub fn from_section(bytes: &[u8]) -> Result<Body, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("the note's section does not read: {e}"))
    }
}

/// Whether an agency of kind `agency` may post a note of kind `kind`. Social services post
/// every kind but the closing; the police report a located child, take a case and exchange
/// information; Försäkringskassan and Skatteverket exchange information and report a located
/// child. Only the case's school closes it.
pub fn permitted(agency: Agency, kind: NoteKind) -> bool {
    use NoteKind::*;
    match agency {
        Agency::SocialServices => kind != CaseClosed,
        Agency::Police => matches!(
            kind,
            ChildLocated | CaseTaken | InformationRequest | InformationReply
        ),
        Agency::Forsakringskassan | Agency::Skatteverket => {
            matches!(kind, ChildLocated | InformationRequest | InformationReply)
        }
    }
}

/// Whether this participant may post a note of kind `kind`: agencies by their registry `agency`
/// kind (an agency whose entry names none posts no notes); schools and preschools only the
/// closing of their own cases (the broker holds a closing to the case's school).
pub fn may_post(p: &Participant, kind: NoteKind) -> bool {
    match p.role {
        Role::Agency => p.agency.is_some_and(|a| permitted(a, kind)),
        Role::School | Role::Preschool => kind == NoteKind::CaseClosed,
        Role::Broker | Role::Ops => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn social_services_post_every_kind_but_the_closing_and_the_police_no_travel_ban() {
        for k in NoteKind::ALL {
            assert_eq!(
                permitted(Agency::SocialServices, *k),
                *k != NoteKind::CaseClosed,
                "{k}"
            );
        }
        for a in Agency::ALL {
            assert!(!permitted(*a, NoteKind::CaseClosed), "{a}");
        }
        assert!(!permitted(Agency::Police, NoteKind::TravelBanDecided));
        assert!(!permitted(Agency::Police, NoteKind::TravelBanRequested));
        assert!(permitted(Agency::Police, NoteKind::ChildLocated));
        assert!(!permitted(Agency::Skatteverket, NoteKind::CaseTaken));
    }

    #[test]
    fn a_decided_travel_ban_needs_its_time_and_reference() {
        let b = Body {
            text: "Tillfälligt utreseförbud".into(),
            ..Body::default()
        };
        assert!(b.problems(NoteKind::ChildLocated).is_empty());
        let p = b.problems(NoteKind::TravelBanDecided);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("decided_at") && p[1].starts_with("reference"));
        let back = Body::from_section(&b.to_sections()[0].1).unwrap();
        assert_eq!(back, b);
        assert!(Body::from_section(br#"{"text":"x","pupil":"Anna"}"#).is_err());
    }

    #[test]
    fn a_closing_has_its_outcome_and_no_other_note_has_one() {
        let closing = Body {
            outcome: Some(CaseOutcome::Returned),
            ..Body::default()
        };
        assert!(closing.problems(NoteKind::CaseClosed).is_empty());
        let p = closing.problems(NoteKind::ChildLocated);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].starts_with("text") && p[1].starts_with("outcome"),
            "{p:?}"
        );
        let p = Body::default().problems(NoteKind::CaseClosed);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("outcome: missing") && p[0].contains("returned"));
        let back = Body::from_section(&closing.to_sections()[0].1).unwrap();
        assert_eq!(back, closing);
        let long = Body {
            text: "å".repeat(crate::alert::MAX_TEXT + 1).into(),
            reference: Some("x".repeat(crate::alert::MAX_SHORT + 1).into()),
            outcome: Some(CaseOutcome::Other),
            ..Body::default()
        };
        let p = long.problems(NoteKind::CaseClosed);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("text: longer") && p[1].starts_with("reference: longer"));
    }
}
