//! The domain model of an alert body (pupil, school, concern, travel, family, actions taken) and
//! its split into sealed sections.
//!
//! A school writes a [`Document`] (the JSON file `varsel send` reads): the message kind, CAP-style
//! references, the cleartext routing [`Header`] and a [`Body`]. The body is split by
//! [`Body::to_sections`] into one JSON blob per [`SectionLabel`], each sealed on its own so a route
//! can grant a recipient only what it needs; a recipient rebuilds what it may read with
//! [`Body::from_sections`].
//!
//! Everything below the header is personal data. Names and free text are held in
//! [`crate::redacted::Redacted`] and personnummer print redacted, so `Debug` shows only which
//! fields are present; and every error
//! message here is built so it never repeats a value from the input.
//!
//! This file holds the document and its validation; the section types are in `body`, the codes
//! they use in `codes`, the checks the types cannot make in `checker`, and [`Problem`] with the
//! redaction of serde's messages in `problem`.

mod body;
mod checker;
mod codes;
mod problem;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::message::{Header, Kind};

pub use body::{
    ActionTaken, Body, ContactPerson, Core, Family, Guardian, Pupil, School, SchoolActions,
    Sibling, Travel,
};
pub use codes::{Action, CountryCode, Indicator, Relation, Skolenhetskod, ASSIGNED_COUNTRY_CODES};
pub use problem::Problem;

use body::check_personnummer_fields;
use checker::Checker;
use problem::{deserialize_all, redact};

/// Longest accepted name of a person or school, in characters.
pub const MAX_NAME: usize = 200;
/// Longest accepted free text (concern, note), in characters.
pub const MAX_TEXT: usize = 10_000;
/// Longest accepted short text (carrier, role, sibling's school), in characters.
pub const MAX_SHORT: usize = 200;

/// What a school writes: an alert, or an update or cancel of one it raised (CAP 1.2 msgType),
/// with the cleartext routing header and the body that will be sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// `alert`, `update` or `cancel`; other kinds are not written by schools.
    pub kind: Kind,
    /// For an update or cancel, the id of the alert it is about (CAP `references`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Uuid>,
    pub header: Header,
    #[serde(default)]
    pub body: Body,
}

impl Document {
    /// Reads a document from JSON and validates it against `now`, reporting every problem at
    /// once: a value that does not read (a code not in its list, a malformed date) is reported
    /// and the read and the checks go on past it. Personnummer are checked where they stand, so a bad one is reported at its own
    /// path as `invalid_personnummer` rather than as a generic parse failure, and short forms
    /// are normalised with `now`'s date.
    pub fn parse(json: &[u8], now: DateTime<Utc>) -> Result<Document, Vec<Problem>> {
        let mut value: Value = serde_json::from_slice(json).map_err(|e| {
            vec![Problem::schema(
                "",
                format!("not valid JSON: {}", redact(&e.to_string())),
            )]
        })?;
        let mut problems = Vec::new();
        check_personnummer_fields(&mut value, String::new(), now.date_naive(), &mut problems);
        let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let (doc, unread) = deserialize_all::<Document>(value, &stamp);
        problems.extend(unread);
        let Some(doc) = doc else {
            return Err(problems);
        };
        if let Err(more) = doc.validate_at(now) {
            // A value refused above was removed or stood in for before the typed read; do not
            // also report what the checks make of the stand-in (e.g. a pupil with no
            // personnummer).
            let flagged: Vec<String> = problems.iter().map(|p| p.path.clone()).collect();
            problems.extend(more.into_iter().filter(|p| !flagged.contains(&p.path)));
        }
        if problems.is_empty() {
            Ok(doc)
        } else {
            Err(problems)
        }
    }

    /// [`Document::validate_at`] against the current time.
    pub fn validate(&self) -> Result<(), Vec<Problem>> {
        self.validate_at(Utc::now())
    }

    /// Checks what the types alone cannot: the kind and its references, that an alert carries
    /// its core, names and texts, date of birth against personnummer, the planned departure in
    /// header and travel section, contact details, and times not after `now`.
    pub fn validate_at(&self, now: DateTime<Utc>) -> Result<(), Vec<Problem>> {
        let mut c = Checker {
            problems: Vec::new(),
            now,
        };
        match self.kind {
            Kind::Alert => {
                if !self.references.is_empty() {
                    c.schema(
                        "/references",
                        "an alert starts a thread and references nothing",
                    );
                }
                if self.body.core.is_none() {
                    c.schema("/body/core", "an alert must carry the core section");
                }
            }
            Kind::Update | Kind::Cancel => {
                if self.references.len() != 1 {
                    c.schema(
                        "/references",
                        format!(
                            "an {} must reference exactly one alert, found {}",
                            self.kind,
                            self.references.len()
                        ),
                    );
                }
            }
            other => c.schema(
                "/kind",
                format!("a school writes alert, update or cancel, not {other}"),
            ),
        }
        for (i, r) in self.references.iter().enumerate() {
            if r.is_nil() {
                c.schema(format!("/references/{i}"), "the nil UUID names no alert");
            }
        }
        c.body(&self.body, "/body");
        if let (Some(h), Some(t)) = (
            self.header.planned_departure,
            self.body.travel.as_ref().and_then(|t| t.planned_departure),
        ) {
            if h != t {
                c.schema(
                    "/body/travel/planned_departure",
                    "differs from header.planned_departure; escalation is timed on the header",
                );
            }
        } else if self.header.planned_departure.is_none()
            && self
                .body
                .travel
                .as_ref()
                .is_some_and(|t| t.planned_departure.is_some())
        {
            c.schema(
                "/header/planned_departure",
                "missing while travel.planned_departure is set; escalation is timed on the header",
            );
        }
        if c.problems.is_empty() {
            Ok(())
        } else {
            Err(c.problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::SectionLabel;
    use crate::refusal::Reason;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 14, 9, 30, 0).unwrap()
    }

    fn alert_json() -> serde_json::Value {
        serde_json::json!({
            "kind": "alert",
            "header": {
                "municipality": "0581",
                "category": "departure_imminent",
                "urgency": "immediate",
                "status": "actual",
                "planned_departure": "2025-03-15T06:40:00Z"
            },
            "body": {
                "core": {
                    "pupil": {
                        "name": "Amina Testsson",
                        "personnummer": "20120315-2382",
                        "date_of_birth": "2012-03-15"
                    },
                    "school": { "name": "Ektorpsskolan", "skolenhetskod": "12345678" },
                    "indicators": ["forced_marriage"],
                    "concern": "Told a friend she will be married off during the trip."
                },
                "family": {
                    "guardians": [{ "name": "Fatima Testsson", "relation": "mother",
                                    "personnummer": "19121212-1212", "phone": "+46 70-123 45 67" }],
                    "siblings": [{ "name": "Sara Testsson", "school": "Navestadsskolan" }]
                },
                "travel": {
                    "destination_country": "IQ",
                    "planned_departure": "2025-03-15T06:40:00Z",
                    "carrier": "Turkish Airlines",
                    "flight": "TK1794"
                },
                "school_actions": {
                    "actions": [{ "action": "concern_report_filed", "at": "2025-03-14T08:10:00Z" }],
                    "contact": { "name": "Karin Kurator", "role": "kurator", "phone": "011-15 00 00",
                                 "email": "karin.kurator@example.se" }
                }
            }
        })
    }

    fn parse(v: &serde_json::Value) -> Result<Document, Vec<Problem>> {
        Document::parse(&serde_json::to_vec(v).unwrap(), now())
    }

    fn paths(problems: &[Problem]) -> Vec<&str> {
        problems.iter().map(|p| p.path.as_str()).collect()
    }

    #[test]
    fn a_complete_alert_is_accepted_and_round_trips() {
        let doc = parse(&alert_json()).unwrap();
        let core = doc.body.core.as_ref().unwrap();
        assert!(core.pupil.personnummer.is_some());
        assert_eq!(core.indicators, vec![Indicator::ForcedMarriage]);
        let back: Document = serde_json::from_value(serde_json::to_value(&doc).unwrap()).unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn sections_split_and_rebuild_partially() {
        let doc = parse(&alert_json()).unwrap();
        let sections = doc.body.to_sections();
        let labels: Vec<_> = sections.iter().map(|(l, _)| *l).collect();
        assert_eq!(labels, SectionLabel::ALL.to_vec());
        let whole = Body::from_sections(&sections).unwrap();
        assert_eq!(whole, doc.body);
        // Försäkringskassan gets only core.
        let only_core = Body::from_sections(&sections[..1]).unwrap();
        assert_eq!(only_core.core, doc.body.core);
        assert!(only_core.family.is_none() && only_core.travel.is_none());
        let twice = vec![sections[0].clone(), sections[0].clone()];
        assert_eq!(Body::from_sections(&twice).unwrap_err().path, "/body/core");
        // A section under the wrong label does not pass.
        let wrong = vec![(SectionLabel::Travel, sections[0].1.clone())];
        assert_eq!(
            Body::from_sections(&wrong).unwrap_err().reason,
            Reason::Schema
        );
    }

    #[test]
    fn a_bad_personnummer_in_a_section_is_an_invalid_personnummer() {
        let bytes =
            br#"{"guardians":[{"name":"X","relation":"father","personnummer":"19121212-1213"}]}"#;
        let p = Body::from_sections(&[(SectionLabel::Family, bytes.to_vec())]).unwrap_err();
        assert_eq!(p.reason, Reason::InvalidPersonnummer);
        assert_eq!(p.path, "/body/family/guardians/0/personnummer");
        assert!(!p.message.contains("1213"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut v = alert_json();
        v["references"] = serde_json::json!([Uuid::nil()]);
        v["body"]["core"]["pupil"]["personnummer"] = "19121212-1213".into();
        v["body"]["core"]["concern"] = "   ".into();
        v["body"]["travel"]["planned_departure"] = "2025-03-16T06:40:00Z".into();
        v["body"]["family"]["guardians"][0]["phone"] = "ring mamma".into();
        v["body"]["school_actions"]["contact"]["email"] = "karin at skolan".into();
        v["body"]["school_actions"]["actions"][0]["at"] = "2025-03-14T10:00:00Z".into();
        let problems = parse(&v).unwrap_err();
        let got = paths(&problems);
        for want in [
            "/body/core/pupil/personnummer",
            "/references",
            "/references/0",
            "/body/core/concern",
            "/body/travel/planned_departure",
            "/body/family/guardians/0/phone",
            "/body/school_actions/contact/email",
            "/body/school_actions/actions/0/at",
        ] {
            assert!(got.contains(&want), "{want} missing from {got:?}");
        }
        // The removed personnummer is not reported a second time as missing.
        assert_eq!(
            got.iter()
                .filter(|p| p.starts_with("/body/core/pupil/personnummer"))
                .count(),
            1
        );
        assert_eq!(
            Problem::refusal(&problems).reason,
            Reason::InvalidPersonnummer
        );
    }

    #[test]
    fn values_that_do_not_read_are_reported_with_the_checks_in_one_round() {
        let mut v = alert_json();
        v["header"]["category"] = "".into();
        v["body"]["core"]["school"]["skolenhetskod"] = "5816".into();
        v["body"]["core"]["pupil"]["date_of_birth"] = "15/3 2012".into();
        v["body"]["core"]["concern"] = " ".into();
        v["body"]["travel"]["destination_country"] = "Irak".into();
        v["body"]["family"]["guardians"][0]["relation"] = "aunt".into();
        v["body"]["school_actions"]["actions"][0]["at"] = "igår".into();
        v["body"]["school_actions"]["contact"]["email"] = "karin at skolan".into();
        let problems = parse(&v).unwrap_err();
        let mut got = paths(&problems);
        got.sort();
        assert_eq!(
            got,
            vec![
                "/body/core/concern",
                "/body/core/pupil/date_of_birth",
                "/body/core/school/skolenhetskod",
                "/body/family/guardians/0/relation",
                "/body/school_actions/actions/0/at",
                "/body/school_actions/contact/email",
                "/body/travel/destination_country",
                "/header/category",
            ]
        );
        assert!(problems.iter().all(|p| !p.message.contains("Irak")));
        // A required value that is not there at all is reported once, at its parent.
        let mut v = alert_json();
        v["body"]["core"]["school"]
            .as_object_mut()
            .unwrap()
            .remove("skolenhetskod");
        assert_eq!(paths(&parse(&v).unwrap_err()), vec!["/body/core/school"]);
    }

    #[test]
    fn alerts_need_core_and_updates_need_one_reference() {
        let mut v = alert_json();
        v["body"].as_object_mut().unwrap().remove("core");
        assert_eq!(paths(&parse(&v).unwrap_err()), vec!["/body/core"]);

        let mut v = alert_json();
        v["kind"] = "update".into();
        assert_eq!(paths(&parse(&v).unwrap_err()), vec!["/references"]);
        v["references"] = serde_json::json!([Uuid::now_v7()]);
        assert!(parse(&v).is_ok());

        let cancel = serde_json::json!({
            "kind": "cancel",
            "references": [Uuid::now_v7()],
            "header": { "municipality": "0581", "category": "departure_imminent",
                        "urgency": "immediate", "status": "actual" }
        });
        let doc = parse(&cancel).unwrap();
        assert!(doc.body.to_sections().is_empty());

        let mut v = alert_json();
        v["kind"] = "receipt".into();
        assert!(paths(&parse(&v).unwrap_err()).contains(&"/kind"));
    }

    #[test]
    fn personnummer_and_date_of_birth_must_agree() {
        let mut v = alert_json();
        v["body"]["core"]["pupil"]["date_of_birth"] = "2012-03-16".into();
        let problems = parse(&v).unwrap_err();
        assert_eq!(paths(&problems), vec!["/body/core/pupil/date_of_birth"]);
        assert_eq!(problems[0].reason, Reason::InvalidPersonnummer);

        let mut v = alert_json();
        let pupil = v["body"]["core"]["pupil"].as_object_mut().unwrap();
        pupil.remove("personnummer");
        pupil.remove("date_of_birth");
        assert_eq!(
            paths(&parse(&v).unwrap_err()),
            vec!["/body/core/pupil/personnummer"]
        );

        // A samordningsnummer's date of birth is the written day minus 60.
        let mut v = alert_json();
        v["body"]["core"]["pupil"]["personnummer"] = "701063-2391".into();
        v["body"]["core"]["pupil"]["date_of_birth"] = "1970-10-03".into();
        let doc = parse(&v).unwrap();
        let p = doc.body.core.unwrap().pupil.personnummer.unwrap();
        assert!(p.is_coordination_number());
        assert_eq!(p.expose(), "19701063-2391");
    }

    #[test]
    fn the_same_person_twice_is_refused() {
        let mut v = alert_json();
        v["body"]["family"]["siblings"][0]["personnummer"] = "20120315-2382".into();
        let problems = parse(&v).unwrap_err();
        assert_eq!(
            paths(&problems),
            vec!["/body/family/siblings/0/personnummer"]
        );
        assert!(problems[0]
            .message
            .contains("/body/core/pupil/personnummer"));
    }

    #[test]
    fn header_departure_must_be_set_when_travel_knows_it() {
        let mut v = alert_json();
        v["header"]
            .as_object_mut()
            .unwrap()
            .remove("planned_departure");
        assert_eq!(
            paths(&parse(&v).unwrap_err()),
            vec!["/header/planned_departure"]
        );
    }

    #[test]
    fn schema_errors_carry_a_path_and_no_values() {
        let mut v = alert_json();
        v["body"]["core"]["pupil"] = "Amina Testsson 20120315-2382".into();
        let problems = parse(&v).unwrap_err();
        assert_eq!(paths(&problems), vec!["/body/core/pupil"]);
        assert!(!problems[0].message.contains("Amina"), "{}", problems[0]);

        let mut v = alert_json();
        v["header"]["pupil_name"] = "Amina".into();
        let problems = parse(&v).unwrap_err();
        assert!(problems[0].message.contains("pupil_name"));
        assert!(!problems[0].message.contains("Amina"));

        let mut v = alert_json();
        v["body"]["travel"]["destination_country"] = "XK".into();
        assert_eq!(
            paths(&parse(&v).unwrap_err()),
            vec!["/body/travel/destination_country"]
        );
        v["body"]["travel"]["destination_country"] = "SE".into();
        assert_eq!(
            paths(&parse(&v).unwrap_err()),
            vec!["/body/travel/destination_country"]
        );
    }

    #[test]
    fn debug_never_shows_personal_data() {
        let doc = parse(&alert_json()).unwrap();
        let dbg = format!("{doc:?}");
        for secret in [
            "Amina", "Fatima", "Sara", "Karin", "2382", "1212", "married", "070", "kurator",
        ] {
            assert!(!dbg.contains(secret), "{secret} in {dbg}");
        }
        assert!(dbg.contains("Ektorpsskolan") && dbg.contains("ForcedMarriage"));
    }
}
