//! The checks of a document that its types alone cannot make: lengths and emptiness of names
//! and texts, phone, flight and email formats, dates not in the future, and one person entered
//! once. Every finding is a [`Problem`] and none repeats the value it is about.

use crate::redacted::Redacted;
use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::body::Body;
use super::problem::Problem;
use super::{MAX_NAME, MAX_SHORT, MAX_TEXT};
use crate::personnummer::Personnummer;

pub(super) struct Checker {
    pub(super) problems: Vec<Problem>,
    pub(super) now: DateTime<Utc>,
}

impl Checker {
    pub(super) fn schema(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::schema(path, message));
    }

    fn text(&mut self, path: &str, s: &str, max: usize, what: &str) {
        if s.trim().is_empty() {
            self.schema(path, format!("{what} is empty"));
        } else if s.chars().count() > max {
            self.schema(path, format!("{what} is longer than {max} characters"));
        }
    }

    fn phone(&mut self, path: &str, s: &str) {
        if !phone_ok(s) {
            self.schema(
                path,
                "not a phone number (digits, spaces, '-', '(' and ')', optionally a leading '+')",
            );
        }
    }

    pub(super) fn body(&mut self, body: &Body, base: &str) {
        // Each personnummer once, so the same person is not entered twice under two roles.
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut same_person = |c: &mut Checker, p: &Option<Personnummer>, path: String| {
            if let Some(p) = p {
                match seen.get(p.expose()) {
                    Some(first) => c.problems.push(Problem::personnummer(
                        path,
                        format!("the same personnummer as {first}"),
                    )),
                    None => {
                        seen.insert(p.expose().to_owned(), path);
                    }
                }
            }
        };
        if let Some(core) = &body.core {
            let b = format!("{base}/core");
            let pupil = &core.pupil;
            self.text(
                &format!("{b}/pupil/name"),
                pupil.name.expose(),
                MAX_NAME,
                "name",
            );
            match (
                &pupil.personnummer,
                pupil.date_of_birth.map(Redacted::into_inner),
            ) {
                (None, None) => self.schema(
                    format!("{b}/pupil/personnummer"),
                    "a pupil needs a personnummer or samordningsnummer, or a date of birth",
                ),
                (Some(p), Some(d)) if p.date_of_birth() != d => {
                    self.problems.push(Problem::personnummer(
                        format!("{b}/pupil/date_of_birth"),
                        "does not match the date of birth in the personnummer",
                    ))
                }
                _ => {}
            }
            if pupil
                .date_of_birth
                .is_some_and(|d| *d.expose() > self.now.date_naive())
            {
                self.schema(format!("{b}/pupil/date_of_birth"), "lies in the future");
            }
            same_person(self, &pupil.personnummer, format!("{b}/pupil/personnummer"));
            self.text(
                &format!("{b}/school/name"),
                &core.school.name,
                MAX_NAME,
                "name",
            );
            for (i, ind) in core.indicators.iter().enumerate() {
                if core.indicators[..i].contains(ind) {
                    self.schema(format!("{b}/indicators/{i}"), "indicator listed twice");
                }
            }
            self.text(
                &format!("{b}/concern"),
                core.concern.expose(),
                MAX_TEXT,
                "concern",
            );
        }
        if let Some(family) = &body.family {
            let b = format!("{base}/family");
            for (i, g) in family.guardians.iter().enumerate() {
                let p = format!("{b}/guardians/{i}");
                self.text(&format!("{p}/name"), g.name.expose(), MAX_NAME, "name");
                if let Some(phone) = &g.phone {
                    self.phone(&format!("{p}/phone"), phone.expose());
                }
                same_person(self, &g.personnummer, format!("{p}/personnummer"));
            }
            for (i, s) in family.siblings.iter().enumerate() {
                let p = format!("{b}/siblings/{i}");
                self.text(&format!("{p}/name"), s.name.expose(), MAX_NAME, "name");
                if let Some(school) = &s.school {
                    self.text(&format!("{p}/school"), school.expose(), MAX_SHORT, "school");
                }
                same_person(self, &s.personnummer, format!("{p}/personnummer"));
            }
        }
        if let Some(travel) = &body.travel {
            let b = format!("{base}/travel");
            if travel.destination_country.as_str() == "SE" {
                self.schema(
                    format!("{b}/destination_country"),
                    "the destination must be outside Sweden",
                );
            }
            if let Some(carrier) = &travel.carrier {
                self.text(&format!("{b}/carrier"), carrier, MAX_SHORT, "carrier");
            }
            if let Some(flight) = &travel.flight {
                if !flight_ok(flight) {
                    self.schema(
                        format!("{b}/flight"),
                        "not a flight number (airline code and 1-4 digits, e.g. TK1794)",
                    );
                }
            }
        }
        if let Some(sa) = &body.school_actions {
            let b = format!("{base}/school_actions");
            for (i, a) in sa.actions.iter().enumerate() {
                if a.at > self.now {
                    self.schema(format!("{b}/actions/{i}/at"), "lies in the future");
                }
            }
            if let Some(contact) = &sa.contact {
                let p = format!("{b}/contact");
                self.text(
                    &format!("{p}/name"),
                    contact.name.expose(),
                    MAX_NAME,
                    "name",
                );
                self.text(
                    &format!("{p}/role"),
                    contact.role.expose(),
                    MAX_SHORT,
                    "role",
                );
                self.phone(&format!("{p}/phone"), contact.phone.expose());
                if let Some(email) = &contact.email {
                    if !email_ok(email.expose()) {
                        self.schema(format!("{p}/email"), "not an email address");
                    }
                }
            }
            if let Some(note) = &sa.note {
                self.text(&format!("{b}/note"), note.expose(), MAX_TEXT, "note");
            }
        }
    }
}

/// `^\+?[0-9][0-9 ()-]{4,19}$`, the same rule as the schema.
fn phone_ok(s: &str) -> bool {
    let rest = s.strip_prefix('+').unwrap_or(s);
    let len = rest.chars().count();
    rest.starts_with(|c: char| c.is_ascii_digit())
        && (5..=20).contains(&len)
        && rest
            .chars()
            .all(|c| c.is_ascii_digit() || " ()-".contains(c))
}

/// `^[A-Z0-9]{2}[A-Z]? ?[0-9]{1,4}[A-Z]?$`, the same rule as the schema.
fn flight_ok(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 3
        || !b[..2]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return false;
    }
    let mut rest = &b[2..];
    if rest.first().is_some_and(u8::is_ascii_uppercase) {
        rest = &rest[1..];
    }
    if rest.first() == Some(&b' ') {
        rest = &rest[1..];
    }
    if rest.last().is_some_and(u8::is_ascii_uppercase) {
        rest = &rest[..rest.len() - 1];
    }
    (1..=4).contains(&rest.len()) && rest.iter().all(u8::is_ascii_digit)
}

/// `^[^@\s]+@[^@\s]+\.[^@\s]+$`, the same rule as the schema.
fn email_ok(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let clean = |t: &str| !t.is_empty() && !t.chars().any(|c| c == '@' || c.is_whitespace());
    clean(local)
        && clean(domain)
        && domain
            .char_indices()
            .any(|(i, c)| c == '.' && i > 0 && i + 1 < domain.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_format_rules() {
        for ok in [
            "+46 70-123 45 67",
            "011-15 00 00",
            "0046 11 15 00 00",
            "0701234567",
        ] {
            assert!(phone_ok(ok), "{ok}");
        }
        for bad in [
            "",
            "+",
            "12 3",
            "call me",
            "+-4670",
            "07012345678901234567890",
        ] {
            assert!(!phone_ok(bad), "{bad}");
        }
        for ok in ["TK1794", "SK 1417", "W61234", "DY4321A", "U2123"] {
            assert!(flight_ok(ok), "{ok}");
        }
        for bad in ["", "TK", "tk1794", "TK12345", "TK 17 94", "TK-1794"] {
            assert!(!flight_ok(bad), "{bad}");
        }
        for ok in ["a@b.se", "karin.kurator@norrkoping.se"] {
            assert!(email_ok(ok), "{ok}");
        }
        for bad in ["", "a@b", "@b.se", "a@.se", "a@b.", "a b@c.se", "a@b@c.se"] {
            assert!(!email_ok(bad), "{bad}");
        }
    }
}
