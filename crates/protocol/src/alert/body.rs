//! The sealed body of an alert: one struct per section (core, family, travel, school actions)
//! with `Debug` impls that show only which fields are present, and the split into and rebuild
//! from the JSON of each section.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::codes::{Action, CountryCode, Indicator, Relation, Skolenhetskod};
use super::problem::{deserialize_at, redact, Problem};
use crate::message::SectionLabel;
use crate::personnummer::Personnummer;

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
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Core {
    pub pupil: Pupil,
    pub school: School,
    #[serde(default)]
    pub indicators: Vec<Indicator>,
    /// The school's own words about its concern.
    pub concern: String,
}

/// The pupil the alert is about. At least one of `personnummer` and `date_of_birth` is needed
/// (a newly arrived pupil may have neither personnummer nor samordningsnummer yet).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pupil {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personnummer: Option<Personnummer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<NaiveDate>,
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
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guardian {
    pub name: String,
    pub relation: Relation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personnummer: Option<Personnummer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// A sibling, and the school they attend if the school knows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sibling {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personnummer: Option<Personnummer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school: Option<String>,
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
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchoolActions {
    #[serde(default)]
    pub actions: Vec<ActionTaken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactPerson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One action and when it was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionTaken {
    pub action: Action,
    pub at: DateTime<Utc>,
}

/// The member of staff the agencies can reach at the school (e.g. the school counsellor).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactPerson {
    pub name: String,
    /// Their role at the school, e.g. `kurator` or `rektor`.
    pub role: String,
    pub phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// Prints a field only as present or absent, for `Debug` of types holding personal data.
struct Presence(bool);

impl fmt::Debug for Presence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0 { "<redacted>" } else { "None" })
    }
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("pupil", &self.pupil)
            .field("school", &self.school)
            .field("indicators", &self.indicators)
            .field("concern", &Presence(true))
            .finish()
    }
}

impl fmt::Debug for Pupil {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pupil")
            .field("name", &Presence(true))
            .field("personnummer", &Presence(self.personnummer.is_some()))
            .field("date_of_birth", &Presence(self.date_of_birth.is_some()))
            .finish()
    }
}

impl fmt::Debug for Guardian {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guardian")
            .field("name", &Presence(true))
            .field("relation", &self.relation)
            .field("personnummer", &Presence(self.personnummer.is_some()))
            .field("phone", &Presence(self.phone.is_some()))
            .finish()
    }
}

impl fmt::Debug for Sibling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sibling")
            .field("name", &Presence(true))
            .field("personnummer", &Presence(self.personnummer.is_some()))
            .field("school", &Presence(self.school.is_some()))
            .finish()
    }
}

impl fmt::Debug for SchoolActions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchoolActions")
            .field("actions", &self.actions)
            .field("contact", &self.contact)
            .field("note", &Presence(self.note.is_some()))
            .finish()
    }
}

impl fmt::Debug for ContactPerson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContactPerson")
            .field("name", &Presence(true))
            .field("role", &Presence(true))
            .field("phone", &Presence(true))
            .field("email", &Presence(self.email.is_some()))
            .finish()
    }
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
