//! The alert document built from a *New alert* form, and the protocol's problems (JSON Pointer
//! paths) put back next to the field they concern, in the page's language. The document is
//! checked by `varsel_protocol::alert::Document::parse`, the same validator `varsel send` uses,
//! which reports every problem in one round; this file only adds what the form itself can get
//! wrong (a date and time it cannot read) and says it in the user's words.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use serde_json::{json, Map, Value};

use varsel_protocol::alert::{Action, Document};
use varsel_protocol::message::Kommunkod;
use varsel_protocol::refusal::Reason;

use super::form::AlertForm;
use super::text::Lang;

/// The problems of a form: a message by field name, and those that belong to no field.
#[derive(Debug, Default)]
pub(crate) struct Errors {
    pub fields: BTreeMap<String, &'static str>,
    pub general: Vec<String>,
}

impl Errors {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&'static str> {
        self.fields.get(name).copied()
    }

    fn set(&mut self, name: String, (sv, en): (&'static str, &'static str), lang: Lang) {
        self.fields
            .entry(name)
            .or_insert(if lang == Lang::Sv { sv } else { en });
    }
}

const PNR: (&str, &str) = (
    "Personnumret eller samordningsnumret är inte giltigt: kontrollera datum och kontrollsiffra (ÅÅÅÅMMDD-NNNN).",
    "The personal identity or coordination number is not valid: check the date and the check digit (YYYYMMDD-NNNN).",
);
const NO_PNR: (&str, &str) = (
    "Ange personnummer, samordningsnummer eller födelsedatum.",
    "Give a personal identity number, a coordination number or a date of birth.",
);
const WHEN: (&str, &str) = (
    "Ange datum och tid som ÅÅÅÅ-MM-DD TT:MM.",
    "Give a date and time as YYYY-MM-DD HH:MM.",
);
const DONE_AT: (&str, &str) = (
    "Ange när det gjordes (ÅÅÅÅ-MM-DD TT:MM), inte senare än nu.",
    "Give when it was done (YYYY-MM-DD HH:MM), not later than now.",
);
const PHONE: (&str, &str) = (
    "Ange ett telefonnummer med siffror, t.ex. 070-123 45 67.",
    "Give a phone number in digits, e.g. 070-123 45 67.",
);

/// Where a problem's path points, the form field it is shown by (`*` is a row number, or an
/// action's code), and what to say. Most specific first: the first pattern that is a prefix of
/// the path wins.
const FIELDS: &[(&str, &str, (&str, &str))] = &[
    (
        "/header/category",
        "category",
        ("Välj en kategori.", "Choose a category."),
    ),
    (
        "/header/urgency",
        "urgency",
        ("Välj hur brådskande det är.", "Choose the urgency."),
    ),
    (
        "/header/status",
        "status",
        (
            "Välj skarpt varsel eller övning.",
            "Choose real or exercise.",
        ),
    ),
    ("/header/planned_departure", "departure", WHEN),
    ("/body/travel/planned_departure", "departure", WHEN),
    (
        "/body/core/pupil/name",
        "pupil_name",
        ("Ange elevens namn.", "Give the pupil's name."),
    ),
    ("/body/core/pupil/personnummer", "personnummer", PNR),
    (
        "/body/core/pupil/date_of_birth",
        "date_of_birth",
        (
            "Ange födelsedatum som ÅÅÅÅ-MM-DD, samma som i personnumret.",
            "Give the date of birth as YYYY-MM-DD, the same as in the personal identity number.",
        ),
    ),
    ("/body/core/pupil", "personnummer", NO_PNR),
    (
        "/body/core/school/name",
        "school_name",
        ("Ange skolans namn.", "Give the school's name."),
    ),
    (
        "/body/core/school/skolenhetskod",
        "skolenhetskod",
        (
            "Skolenhetskoden har åtta siffror.",
            "The school unit code has eight digits.",
        ),
    ),
    (
        "/body/core/indicators",
        "indicators",
        ("Kryssa varje tecken en gång.", "Tick each sign once."),
    ),
    (
        "/body/core/concern",
        "concern",
        (
            "Beskriv oron med egna ord (högst 10 000 tecken).",
            "Describe the concern in your own words (at most 10,000 characters).",
        ),
    ),
    (
        "/body/family/guardians/*/name",
        "guardian*_name",
        ("Ange vårdnadshavarens namn.", "Give the guardian's name."),
    ),
    (
        "/body/family/guardians/*/relation",
        "guardian*_relation",
        (
            "Välj relation till eleven.",
            "Choose the relation to the pupil.",
        ),
    ),
    (
        "/body/family/guardians/*/personnummer",
        "guardian*_personnummer",
        PNR,
    ),
    ("/body/family/guardians/*/phone", "guardian*_phone", PHONE),
    (
        "/body/family/siblings/*/name",
        "sibling*_name",
        ("Ange syskonets namn.", "Give the sibling's name."),
    ),
    (
        "/body/family/siblings/*/personnummer",
        "sibling*_personnummer",
        PNR,
    ),
    (
        "/body/family/siblings/*/school",
        "sibling*_school",
        (
            "Ange skolans namn med högst 200 tecken.",
            "Give the school's name in at most 200 characters.",
        ),
    ),
    (
        "/body/travel/destination_country",
        "country",
        (
            "Ange landet som landskod med två bokstäver, t.ex. IQ (inte SE).",
            "Give the country as a two-letter code, e.g. IQ (not SE).",
        ),
    ),
    (
        "/body/travel/carrier",
        "carrier",
        (
            "Ange bolaget med högst 200 tecken.",
            "Give the company in at most 200 characters.",
        ),
    ),
    (
        "/body/travel/flight",
        "flight",
        (
            "Ange flygnumret som bolagskod och siffror, t.ex. TK1794.",
            "Give the flight number as airline code and digits, e.g. TK1794.",
        ),
    ),
    ("/body/school_actions/actions/*/at", "action_*_at", DONE_AT),
    (
        "/body/school_actions/note",
        "note",
        (
            "Skriv högst 10 000 tecken.",
            "Write at most 10,000 characters.",
        ),
    ),
    (
        "/body/school_actions/contact/name",
        "contact_name",
        (
            "Ange kontaktpersonens namn.",
            "Give the contact person's name.",
        ),
    ),
    (
        "/body/school_actions/contact/role",
        "contact_role",
        (
            "Ange kontaktpersonens roll, t.ex. kurator.",
            "Give the contact person's role, e.g. counsellor.",
        ),
    ),
    ("/body/school_actions/contact/phone", "contact_phone", PHONE),
    (
        "/body/school_actions/contact/email",
        "contact_email",
        (
            "Ange en e-postadress, t.ex. namn@skola.se.",
            "Give an email address, e.g. name@school.se.",
        ),
    ),
    (
        "/body/school_actions/contact",
        "contact_name",
        (
            "Ange kontaktpersonens namn, roll och telefon.",
            "Give the contact person's name, role and phone.",
        ),
    ),
];

/// Which form row or action each array index of the built document came from (empty rows are
/// left out of the document, so the indexes differ).
#[derive(Default)]
struct Origin {
    guardians: Vec<usize>,
    siblings: Vec<usize>,
    actions: Vec<&'static str>,
}

impl Origin {
    /// The form field a problem's path points to, and what to say.
    fn field(&self, path: &str) -> Option<(String, (&'static str, &'static str))> {
        let segs: Vec<&str> = path.split('/').collect();
        FIELDS.iter().find_map(|(pattern, name, say)| {
            let pat: Vec<&str> = pattern.split('/').collect();
            if pat.len() > segs.len() {
                return None;
            }
            let mut star = None;
            for (p, s) in pat.iter().zip(&segs) {
                if *p == "*" {
                    let i: usize = s.parse().ok()?;
                    let of = match pat.get(3) {
                        Some(&"guardians") => self.guardians.get(i).map(usize::to_string),
                        Some(&"siblings") => self.siblings.get(i).map(usize::to_string),
                        _ => self.actions.get(i).map(|c| (*c).to_owned()),
                    };
                    star = Some(of?);
                } else if p != s {
                    return None;
                }
            }
            let name = match star {
                Some(n) => name.replace('*', &n),
                None => (*name).to_owned(),
            };
            Some((name, *say))
        })
    }
}

/// A time typed as for [`local_time`] that has already come, with a minute's grace for a server
/// clock behind the browser's; None when it does not read or is in the future (a home visit
/// made, a travel ban decided).
pub(super) fn local_time_by(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    local_time(text).filter(|t| *t <= now + chrono::Duration::minutes(1))
}

/// A date and time as typed in a browser's `datetime-local` (or by hand, with a space), or a
/// date alone (midnight), in Stockholm time; as UTC.
fn local_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M"))
        .or_else(|_| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| d.and_time(NaiveTime::MIN))
        })
        .ok()?;
    let t = chrono_tz::Europe::Stockholm
        .from_local_datetime(&local)
        .earliest()?;
    Some(t.with_timezone(&Utc))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Puts `text`, trimmed, under `key` if anything was typed.
fn opt(map: &mut Map<String, Value>, key: &str, text: &str) {
    if !text.trim().is_empty() {
        map.insert(key.to_owned(), json!(text.trim()));
    }
}

fn any_typed(fields: &[&String]) -> bool {
    fields.iter().any(|s| !s.trim().is_empty())
}

/// The document the form describes, as JSON, with where its rows came from; a date and time the
/// form cannot read is put in `errors` and left out, so the rest is still checked.
fn build(
    f: &AlertForm,
    municipality: Option<&Kommunkod>,
    lang: Lang,
    errors: &mut Errors,
) -> (Value, Origin) {
    let mut origin = Origin::default();
    let departure = match f.departure.trim() {
        "" => None,
        text => {
            let t = local_time(text).map(rfc3339);
            if t.is_none() {
                errors.set("departure".into(), WHEN, lang);
            }
            t
        }
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
    let indicators: Vec<&str> = f.indicators.iter().map(|i| i.code()).collect();
    let mut body = json!({
        "core": {
            "pupil": pupil,
            "school": {"name": f.school_name.trim(), "skolenhetskod": f.skolenhetskod.trim()},
            "indicators": indicators,
            "concern": f.concern.trim(),
        }
    });
    let mut guardians = Vec::new();
    for (n, g) in f.guardians.iter().enumerate() {
        if any_typed(&[&g.name, &g.relation, &g.personnummer, &g.phone]) {
            let mut m = Map::new();
            m.insert("name".into(), json!(g.name.trim()));
            m.insert("relation".into(), json!(g.relation));
            opt(&mut m, "personnummer", &g.personnummer);
            opt(&mut m, "phone", &g.phone);
            guardians.push(Value::Object(m));
            origin.guardians.push(n);
        }
    }
    let mut siblings = Vec::new();
    for (n, s) in f.siblings.iter().enumerate() {
        if any_typed(&[&s.name, &s.personnummer, &s.school]) {
            let mut m = Map::new();
            m.insert("name".into(), json!(s.name.trim()));
            opt(&mut m, "personnummer", &s.personnummer);
            opt(&mut m, "school", &s.school);
            siblings.push(Value::Object(m));
            origin.siblings.push(n);
        }
    }
    if !guardians.is_empty() || !siblings.is_empty() {
        body["family"] = json!({"guardians": guardians, "siblings": siblings});
    }
    if any_typed(&[&f.country, &f.carrier, &f.flight]) {
        let mut travel = Map::new();
        travel.insert(
            "destination_country".into(),
            json!(f.country.trim().to_uppercase()),
        );
        if let Some(d) = &departure {
            travel.insert("planned_departure".into(), json!(d));
        }
        opt(&mut travel, "carrier", &f.carrier);
        opt(&mut travel, "flight", &f.flight.to_uppercase());
        body["travel"] = Value::Object(travel);
    }
    let mut actions = Vec::new();
    for (a, r) in Action::ALL.iter().zip(&f.actions) {
        if !r.done {
            continue;
        }
        match local_time(&r.at) {
            Some(t) => {
                actions.push(json!({"action": a.code(), "at": rfc3339(t)}));
                origin.actions.push(a.code());
            }
            None => errors.set(format!("action_{}_at", a.code()), DONE_AT, lang),
        }
    }
    let contact = [
        &f.contact_name,
        &f.contact_role,
        &f.contact_phone,
        &f.contact_email,
    ];
    if !actions.is_empty() || any_typed(&contact) || any_typed(&[&f.note]) {
        let mut sa = Map::new();
        sa.insert("actions".into(), Value::Array(actions));
        if any_typed(&contact) {
            let mut c = Map::new();
            c.insert("name".into(), json!(f.contact_name.trim()));
            c.insert("role".into(), json!(f.contact_role.trim()));
            c.insert("phone".into(), json!(f.contact_phone.trim()));
            opt(&mut c, "email", &f.contact_email);
            sa.insert("contact".into(), Value::Object(c));
        }
        opt(&mut sa, "note", &f.note);
        body["school_actions"] = Value::Object(sa);
    }
    (
        json!({"kind": "alert", "header": header, "body": body}),
        origin,
    )
}

/// Builds and validates the alert document; or every problem found, each put by its field.
pub(crate) fn document(
    f: &AlertForm,
    municipality: Option<&Kommunkod>,
    lang: Lang,
    now: DateTime<Utc>,
) -> Result<Document, Errors> {
    let mut errors = Errors::default();
    let (doc, origin) = build(f, municipality, lang, &mut errors);
    let problems = match Document::parse(doc.to_string().as_bytes(), now) {
        Ok(doc) if errors.is_empty() => return Ok(doc),
        Ok(_) => return Err(errors),
        Err(problems) => problems,
    };
    for p in problems {
        match origin.field(&p.path) {
            // Reported at the pupil's personnummer, but not about its digits: none was given.
            Some((name, _))
                if name == "personnummer" && p.reason != Reason::InvalidPersonnummer =>
            {
                errors.set(name, NO_PNR, lang)
            }
            Some((name, say)) => errors.set(name, say, lang),
            // The protocol's words never repeat a value from the input.
            None => errors.general.push(p.to_string()),
        }
    }
    Err(errors)
}

#[cfg(test)]
mod tests;
