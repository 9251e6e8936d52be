//! The school's *New alert* form: its fields, the alert document built from them, and the
//! protocol's own problems (JSON Pointer paths) put back next to the field they concern, in the
//! page's language. The document is checked by `varsel_protocol::alert::Document::parse`, the same
//! validator `varsel send` uses: personnummer checksums included.

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, TimeZone};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use varsel_protocol::alert::{Document, Indicator};
use varsel_protocol::message::Kommunkod;
use varsel_protocol::refusal::Reason;

use super::text::Lang;

/// What the form posts. Every field is kept as typed, so a refused form comes back filled in.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct AlertForm {
    pub csrf: Option<String>,
    /// The form's one-time token: a form is sent once.
    #[serde(default)]
    pub form: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub urgency: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub departure: String,
    #[serde(default)]
    pub pupil_name: String,
    #[serde(default)]
    pub personnummer: String,
    #[serde(default)]
    pub date_of_birth: String,
    #[serde(default)]
    pub school_name: String,
    #[serde(default)]
    pub skolenhetskod: String,
    #[serde(default)]
    pub indicator_forced_marriage: Option<String>,
    #[serde(default)]
    pub indicator_genital_mutilation: Option<String>,
    #[serde(default)]
    pub indicator_re_education_trip: Option<String>,
    #[serde(default)]
    pub indicator_other: Option<String>,
    #[serde(default)]
    pub concern: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub contact_name: String,
    #[serde(default)]
    pub contact_role: String,
    #[serde(default)]
    pub contact_phone: String,
}

/// A field: its form name, the document path its problems are reported at, and what to say.
pub(crate) struct Field {
    pub name: &'static str,
    pub path: &'static str,
    pub sv: &'static str,
    pub en: &'static str,
}

/// The fields whose problems are shown beside them, most specific path first.
pub(crate) const FIELDS: &[Field] = &[
    Field { name: "category", path: "/header/category", sv: "Välj en kategori.", en: "Choose a category." },
    Field { name: "urgency", path: "/header/urgency", sv: "Välj hur brådskande det är.", en: "Choose the urgency." },
    Field { name: "status", path: "/header/status", sv: "Välj skarpt varsel eller övning.", en: "Choose real or exercise." },
    Field { name: "departure", path: "/header/planned_departure", sv: "Ange datum och tid som ÅÅÅÅ-MM-DD TT:MM.", en: "Give a date and time as YYYY-MM-DD HH:MM." },
    Field { name: "departure", path: "/body/travel/planned_departure", sv: "Ange datum och tid som ÅÅÅÅ-MM-DD TT:MM.", en: "Give a date and time as YYYY-MM-DD HH:MM." },
    Field { name: "pupil_name", path: "/body/core/pupil/name", sv: "Ange elevens namn.", en: "Give the pupil's name." },
    Field { name: "personnummer", path: "/body/core/pupil/personnummer", sv: "Personnumret eller samordningsnumret är inte giltigt: kontrollera datum och kontrollsiffra (ÅÅÅÅMMDD-NNNN).", en: "The personal identity or coordination number is not valid: check the date and the check digit (YYYYMMDD-NNNN)." },
    Field { name: "date_of_birth", path: "/body/core/pupil/date_of_birth", sv: "Ange födelsedatum som ÅÅÅÅ-MM-DD, samma som i personnumret.", en: "Give the date of birth as YYYY-MM-DD, the same as in the personal identity number." },
    // Index 8: none of personnummer and date of birth given.
    Field { name: "personnummer", path: "/body/core/pupil", sv: "Ange personnummer, samordningsnummer eller födelsedatum.", en: "Give a personal identity number, a coordination number or a date of birth." },
    Field { name: "school_name", path: "/body/core/school/name", sv: "Ange skolans namn.", en: "Give the school's name." },
    Field { name: "skolenhetskod", path: "/body/core/school/skolenhetskod", sv: "Skolenhetskoden har åtta siffror.", en: "The school unit code has eight digits." },
    Field { name: "concern", path: "/body/core/concern", sv: "Beskriv oron med egna ord.", en: "Describe the concern in your own words." },
    Field { name: "country", path: "/body/travel/destination_country", sv: "Ange landet som landskod med två bokstäver, t.ex. IQ.", en: "Give the country as a two-letter code, e.g. IQ." },
    Field { name: "contact_name", path: "/body/school_actions/contact", sv: "Ange kontaktpersonens namn, roll och telefon.", en: "Give the contact person's name, role and phone." },
];

/// The problems of a form: by field name, and those that belong to no field.
#[derive(Debug, Default)]
pub(crate) struct Errors {
    pub fields: BTreeMap<&'static str, &'static str>,
    pub general: Vec<String>,
}

impl Errors {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_empty()
    }
}

fn field_of(path: &str) -> Option<&'static Field> {
    FIELDS
        .iter()
        .find(|f| path == f.path || path.starts_with(&format!("{}/", f.path)))
}

fn set(errors: &mut Errors, f: &'static Field, lang: Lang) {
    errors
        .fields
        .entry(f.name)
        .or_insert(if lang == Lang::Sv { f.sv } else { f.en });
}

/// The field of a form name, with its first (most specific) message.
fn named(name: &str) -> &'static Field {
    FIELDS
        .iter()
        .find(|f| f.name == name)
        .expect("a field of the form")
}

/// The departure as typed by a browser's `datetime-local` (Stockholm time), in RFC 3339 UTC.
fn departure(text: &str) -> Option<String> {
    let local = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M"))
        .ok()?;
    let t = chrono_tz::Europe::Stockholm
        .from_local_datetime(&local)
        .earliest()?;
    Some(
        t.with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

fn opt(map: &mut Map<String, Value>, key: &str, text: &str) {
    if !text.trim().is_empty() {
        map.insert(key.to_owned(), json!(text.trim()));
    }
}

/// Builds and validates the alert document; or the problems, each put by its field.
pub(crate) fn document(
    f: &AlertForm,
    municipality: Option<&Kommunkod>,
    lang: Lang,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Document, Errors> {
    let mut errors = Errors::default();
    let departure = match f.departure.trim() {
        "" => None,
        text => match departure(text) {
            Some(t) => Some(t),
            None => {
                set(&mut errors, named("departure"), lang);
                None
            }
        },
    };
    let mut header = Map::new();
    header.insert(
        "municipality".into(),
        json!(municipality.map(|m| m.to_string())),
    );
    header.insert("category".into(), json!(f.category));
    header.insert("urgency".into(), json!(f.urgency));
    header.insert("status".into(), json!(f.status));
    if let Some(d) = &departure {
        header.insert("planned_departure".into(), json!(d));
    }
    let mut pupil = Map::new();
    pupil.insert("name".into(), json!(f.pupil_name.trim()));
    opt(&mut pupil, "personnummer", &f.personnummer);
    opt(&mut pupil, "date_of_birth", &f.date_of_birth);
    let indicators: Vec<&str> = [
        (&f.indicator_forced_marriage, Indicator::ForcedMarriage),
        (
            &f.indicator_genital_mutilation,
            Indicator::GenitalMutilation,
        ),
        (&f.indicator_re_education_trip, Indicator::ReEducationTrip),
        (&f.indicator_other, Indicator::Other),
    ]
    .into_iter()
    .filter(|(on, _)| on.is_some())
    .map(|(_, i)| i.code())
    .collect();
    let mut body = json!({
        "core": {
            "pupil": pupil,
            "school": {"name": f.school_name.trim(), "skolenhetskod": f.skolenhetskod.trim()},
            "indicators": indicators,
            "concern": f.concern.trim(),
        }
    });
    if !f.country.trim().is_empty() {
        let mut travel = Map::new();
        travel.insert(
            "destination_country".into(),
            json!(f.country.trim().to_uppercase()),
        );
        if let Some(d) = &departure {
            travel.insert("planned_departure".into(), json!(d));
        }
        body["travel"] = Value::Object(travel);
    }
    let contact = [&f.contact_name, &f.contact_role, &f.contact_phone];
    if contact.iter().any(|c| !c.trim().is_empty()) {
        body["school_actions"] = json!({"contact": {
            "name": f.contact_name.trim(), "role": f.contact_role.trim(), "phone": f.contact_phone.trim()
        }});
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let doc = json!({"kind": "alert", "header": header, "body": body});
    Document::parse(doc.to_string().as_bytes(), now).map_err(|problems| {
        for p in problems {
            match field_of(&p.path) {
                // Reported at the personnummer, but not about its digits: none was given.
                Some(field)
                    if field.name == "personnummer" && p.reason != Reason::InvalidPersonnummer =>
                {
                    set(&mut errors, &FIELDS[8], lang)
                }
                Some(field) => set(&mut errors, field, lang),
                None if p.reason == Reason::InvalidPersonnummer => {
                    set(&mut errors, named("personnummer"), lang)
                }
                // The protocol's words never repeat a value from the input.
                None => errors.general.push(p.to_string()),
            }
        }
        errors
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> AlertForm {
        AlertForm {
            category: "departure_imminent".into(),
            urgency: "immediate".into(),
            status: "exercise".into(),
            departure: "2026-10-24T06:40".into(),
            pupil_name: "Hana Karimi".into(),
            personnummer: "20110509-2843".into(),
            school_name: "Ektorpsskolan".into(),
            skolenhetskod: "58163210".into(),
            indicator_forced_marriage: Some("on".into()),
            concern: "Hon berättade att familjen reser på lördag.".into(),
            country: "iq".into(),
            contact_name: "Karin Berg".into(),
            contact_role: "kurator".into(),
            contact_phone: "011-15 00 00".into(),
            ..AlertForm::default()
        }
    }

    #[test]
    fn a_filled_form_is_a_valid_alert() {
        let kommun: Kommunkod = "0581".parse().unwrap();
        let now = chrono::Utc::now();
        let doc = document(&good(), Some(&kommun), Lang::Sv, now).unwrap();
        assert_eq!(doc.header.municipality.to_string(), "0581");
        // 06:40 in Stockholm in October (summer time) is 04:40 UTC.
        assert_eq!(
            doc.header.planned_departure.unwrap().to_rfc3339(),
            "2026-10-24T04:40:00+00:00"
        );
        assert_eq!(
            doc.body.travel.unwrap().destination_country.to_string(),
            "IQ"
        );
    }

    #[test]
    fn problems_are_put_by_their_field_in_swedish() {
        let kommun: Kommunkod = "0581".parse().unwrap();
        let now = chrono::Utc::now();
        let mut f = good();
        f.personnummer = "20110509-2844".into();
        f.skolenhetskod = "5816".into();
        f.departure = "lördag".into();
        let e = document(&f, Some(&kommun), Lang::Sv, now).unwrap_err();
        assert_eq!(e.fields.keys().copied().collect::<Vec<_>>(), ["departure"]);
        f.departure = String::new();
        let e = document(&f, Some(&kommun), Lang::Sv, now).unwrap_err();
        assert_eq!(
            e.fields.keys().copied().collect::<Vec<_>>(),
            ["personnummer", "skolenhetskod"],
            "{e:?}"
        );
        assert!(e.fields["personnummer"].starts_with("Personnumret"));
        assert!(e.general.is_empty(), "{:?}", e.general);
        // Neither personnummer nor date of birth (the protocol checks this once the values read).
        f.skolenhetskod = "58163210".into();
        f.personnummer = String::new();
        let e = document(&f, Some(&kommun), Lang::En, now).unwrap_err();
        assert!(
            e.fields
                .get("personnummer")
                .is_some_and(|m| m.contains("date of birth")),
            "{e:?}"
        );
    }
}
