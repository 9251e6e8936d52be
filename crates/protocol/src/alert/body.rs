//! The sealed body of an alert: one struct per section (core, family, travel, school actions)
//! whose personal data is held in [`Redacted`] fields, so a derived `Debug` shows only which are
//! present; and the split into and rebuild from the JSON of each section.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::codes::{Action, CountryCode, Indicator, Relation, Skolenhetskod};
use super::problem::{deserialize_at, redact, Problem};
use crate::message::SectionLabel;
use crate::personnummer::Personnummer;
use crate::redacted::Redacted;

/// The sealed part of a document, one optional field per [`SectionLabel`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core: Option<Core>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub travel: Option<Travel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_actions: Option<SchoolActions>,
}

/// Section `core`: who, where they go to school, and why the school is worried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Core {
    pub pupil: Pupil,
    pub school: School,
    #[serde(default)]
    pub indicators: Vec<Indicator>,
    /// The school's own words about its concern.
    pub concern: Redacted<String>,
}

/// The pupil the alert is about. At least one of `personnummer` and `date_of_birth` is needed
/// (a newly arrived pupil may have neither personnummer nor samordningsnummer yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pupil {
    pub name: Redacted<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personnummer: Option<Personnummer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<Redacted<NaiveDate>>,
}

/// The school raising the alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct School {
    pub name: String,
    pub skolenhetskod: Skolenhetskod,
}

/// Section `family`: guardians and siblings (who may be at risk too).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Family {
    #[serde(default)]
    pub guardians: Vec<Guardian>,
    #[serde(default)]
    pub siblings: Vec<Sibling>,
}

/// A guardian or other adult with care of the pupil.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guardian {
    pub name: Redacted<String>,
    pub relation: Relation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personnummer: Option<Personnummer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Redacted<String>>,
}

/// A sibling, and the school they attend if the school knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sibling {
    pub name: Redacted<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personnummer: Option<Personnummer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school: Option<Redacted<String>>,
}

/// Section `travel`: where and when, as far as the school knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Travel {
    pub destination_country: CountryCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_departure: Option<DateTime<Utc>>,
    /// Airline, bus or ferry company, as the school heard it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    /// Flight number, IATA style (`TK1794`, `SK 1417`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flight: Option<String>,
}

/// Section `school_actions`: what the school has done, whom to call back, and a note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchoolActions {
    #[serde(default)]
    pub actions: Vec<ActionTaken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactPerson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Redacted<String>>,
}

/// One action and when it was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionTaken {
    pub action: Action,
    pub at: DateTime<Utc>,
}

/// The member of staff the agencies can reach at the school (e.g. the school counsellor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactPerson {
    pub name: Redacted<String>,
    /// Their role at the school, e.g. `kurator` or `rektor`.
    pub role: Redacted<String>,
    pub phone: Redacted<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Redacted<String>>,
}

impl Body {
    /// The JSON of each present section, in [`SectionLabel::ALL`] order, ready to be sealed.
    pub fn to_sections(&self) -> Vec<(SectionLabel, Vec<u8>)> {
        // These types hold only strings, numbers, dates and string-keyed structs, for which
        // serde_json's serializer cannot fail.
        fn json<T: Serialize>(t: &T) -> Vec<u8> {
            serde_json::to_vec(t).expect("section types always serialize to JSON")
        }
        let mut out = Vec::new();
        for label in SectionLabel::ALL {
            let bytes = match label {
                SectionLabel::Core => self.core.as_ref().map(json),
                SectionLabel::Family => self.family.as_ref().map(json),
                SectionLabel::Travel => self.travel.as_ref().map(json),
                SectionLabel::SchoolActions => self.school_actions.as_ref().map(json),
            };
            if let Some(bytes) = bytes {
                out.push((*label, bytes));
            }
        }
        out
    }

    /// Rebuilds a body from opened sections; a recipient may hold only some of them, and the
    /// rest stay `None`. Each section is read with the same type checks as a document.
    pub fn from_sections(parts: &[(SectionLabel, Vec<u8>)]) -> Result<Body, Problem> {
        let today = Utc::now().date_naive();
        let mut body = Body::default();
        for (label, bytes) in parts {
            let base = format!("/body/{label}");
            let mut value: Value = serde_json::from_slice(bytes).map_err(|e| {
                Problem::schema(
                    base.clone(),
                    format!("section is not valid JSON: {}", redact(&e.to_string())),
                )
            })?;
            let mut problems = Vec::new();
            check_personnummer_fields(&mut value, base.clone(), today, &mut problems);
            if let Some(p) = problems.into_iter().next() {
                return Err(p);
            }
            let duplicate = match label {
                SectionLabel::Core => body.core.replace(deserialize_at(value, &base)?).is_some(),
                SectionLabel::Family => {
                    body.family.replace(deserialize_at(value, &base)?).is_some()
                }
                SectionLabel::Travel => {
                    body.travel.replace(deserialize_at(value, &base)?).is_some()
                }
                SectionLabel::SchoolActions => body
                    .school_actions
                    .replace(deserialize_at(value, &base)?)
                    .is_some(),
            };
            if duplicate {
                return Err(Problem::schema(base, "section given twice"));
            }
        }
        Ok(body)
    }
}

/// Checks every string under a key named `personnummer`, anywhere in `value`: a valid one is
/// rewritten to its normalised form (so the century of a short form is fixed by `today`, not by
/// whenever the typed read happens), a bad one is reported at its path and replaced by `null`
/// so the rest of the document can still be checked.
pub(super) fn check_personnummer_fields(
    value: &mut Value,
    path: String,
    today: NaiveDate,
    problems: &mut Vec<Problem>,
) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let here = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
                if key == "personnummer" && !v.is_null() {
                    match v.as_str().map(|s| Personnummer::parse_at(s, today)) {
                        Some(Ok(p)) => *v = Value::String(p.expose().to_owned()),
                        Some(Err(e)) => {
                            problems.push(Problem::personnummer(here, e.to_string()));
                            *v = Value::Null;
                        }
                        None => {
                            problems.push(Problem::personnummer(
                                here,
                                "a personnummer must be written as a string",
                            ));
                            *v = Value::Null;
                        }
                    }
                } else {
                    check_personnummer_fields(v, here, today, problems);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                check_personnummer_fields(v, format!("{path}/{i}"), today, problems);
            }
        }
        _ => {}
    }
}
