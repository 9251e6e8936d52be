//! An alert's content as a person reads it: each section's fields under their Swedish (or
//! English) names from [`super::text::label`], codes (relations, actions, signs of risk) in
//! words, times in Stockholm time. The school's preview and the officer's opened alert use the
//! same rendering, so the school sees what the recipients will see.

use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde_json::{json, Value};

use varsel_participant::client::OpenedDelivery;

use super::text::{code, label, Lang};

/// Fields whose values are protocol codes, shown in words.
const CODED: &[&str] = &["relation", "action", "indicators", "outcome"];
/// Fields whose values are times, shown in Stockholm time.
const TIMES: &[&str] = &["planned_departure", "at", "decided_at"];

/// What an opened delivery shows, by section: an alert's (or update's) opened sections, or a
/// note's body under `note`; None for a note whose body was not sealed to this member.
pub(crate) fn delivered(o: &OpenedDelivery) -> Option<Value> {
    match &o.note {
        Some(note) => note.body.as_ref().map(|b| json!({ "note": b })),
        None => Some(serde_json::to_value(&o.body).unwrap_or_default()),
    }
}

/// The sections of an opened body (section label → JSON), each under its heading.
pub(crate) fn sections(lang: Lang, body: &Value) -> Markup {
    html! {
        @if let Value::Object(sections) = body {
            @for (label, content) in sections {
                section class="sealed" id={ "section-" (label) } {
                    h2 { (code(lang, label)) }
                    (value(lang, None, content))
                }
            }
        }
    }
}

/// A time as the desk shows it: Stockholm time, to the minute.
pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Europe::Stockholm)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// A time the store keeps (milliseconds since the epoch), as [`time`].
pub(crate) fn time_ms(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(time)
        .unwrap_or_default()
}

/// A value under the field `key`, as nested definition lists.
pub(crate) fn value(lang: Lang, key: Option<&str>, v: &Value) -> Markup {
    html! {
        @match v {
            Value::Object(m) => dl { @for (k, x) in m { dt { (label(lang, k)) } dd data-field=(k) { (value(lang, Some(k), x)) } } },
            Value::Array(a) => ul { @for x in a { li { (value(lang, key, x)) } } },
            Value::String(s) => (word(lang, key, s)),
            Value::Null => "–",
            other => (other.to_string()),
        }
    }
}

fn word(lang: Lang, key: Option<&str>, s: &str) -> String {
    match key {
        Some(k) if CODED.contains(&k) => code(lang, s).to_owned(),
        Some(k) if TIMES.contains(&k) => DateTime::parse_from_rfc3339(s)
            .map(|t| time(t.with_timezone(&Utc)))
            .unwrap_or_else(|_| s.to_owned()),
        _ => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    out.push(k.clone());
                    keys(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| keys(x, out)),
            _ => {}
        }
    }

    fn full() -> Value {
        serde_json::json!({
            "core": {
                "pupil": {"name": "Hana", "personnummer": "20110509-2843", "date_of_birth": "2011-05-09"},
                "school": {"name": "Ektorpsskolan", "skolenhetskod": "58163210"},
                "indicators": ["forced_marriage"],
                "concern": "other"
            },
            "family": {
                "guardians": [{"name": "F", "relation": "mother", "personnummer": "x", "phone": "070"}],
                "siblings": [{"name": "S", "personnummer": "x", "school": "Navestadsskolan"}]
            },
            "travel": {"destination_country": "IQ", "planned_departure": "2026-10-24T04:40:00Z",
                       "carrier": "TK", "flight": "TK1794"},
            "school_actions": {"actions": [{"action": "home_visit", "at": "2026-10-20T06:10:00Z"}],
                               "contact": {"name": "K", "role": "kurator", "phone": "011", "email": "e"},
                               "note": "n"}
        })
    }

    #[test]
    fn every_field_of_the_document_has_words_in_both_languages() {
        let mut all = Vec::new();
        keys(&full(), &mut all);
        for k in &all {
            if ["core", "family", "travel", "school_actions"].contains(&k.as_str()) {
                continue;
            }
            assert_ne!(label(Lang::Sv, k), k, "no Swedish words for {k}");
            assert_ne!(label(Lang::En, k), k, "no English words for {k}");
        }
    }

    #[test]
    fn codes_and_times_are_in_words_but_free_text_is_not() {
        let html = sections(Lang::Sv, &full()).into_string();
        for want in [
            "Elev",
            "Vårdnadshavare",
            "Mamma",
            "Tvångsäktenskap",
            "Hembesök",
            "2026-10-24 06:40",
            "Planerad avresa",
            "Kontaktperson",
        ] {
            assert!(html.contains(want), "{want} missing from {html}");
        }
        // The concern is the school's own words, even when it happens to read like a code.
        assert!(html.contains(">other<"), "{html}");
        assert!(!html.contains("relation<"), "{html}");
        let en = sections(Lang::En, &full()).into_string();
        assert!(en.contains("Mother") && en.contains("Relation to the pupil"));
    }
}
