//! What the school's *New alert* form posts, read from its name–value pairs: the alert's header
//! fields, the pupil, the concern, travel, a variable number of guardian and sibling rows, the
//! checklist of actions already taken and the contact person. Every field is kept as typed (so a
//! refused form comes back filled in, and the preview carries it on in hidden fields); turning it
//! into a document is `form_check`'s work.

use varsel_protocol::alert::{Action, Indicator};

/// Guardian rows an empty form shows.
pub(crate) const GUARDIAN_ROWS: usize = 2;
/// Sibling rows an empty form shows.
pub(crate) const SIBLING_ROWS: usize = 3;
/// Most rows of either kind a form takes: "add more" stops there, and higher row numbers in a
/// post are ignored, so a post cannot make the server build unbounded rows.
pub(crate) const MAX_ROWS: usize = 12;

/// A guardian row as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GuardianRow {
    pub name: String,
    pub relation: String,
    pub personnummer: String,
    pub phone: String,
}

/// A sibling row as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SiblingRow {
    pub name: String,
    pub personnummer: String,
    pub school: String,
}

/// One item of the actions-taken checklist: ticked, and when it was done as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ActionRow {
    pub done: bool,
    pub at: String,
}

/// What the form posts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AlertForm {
    pub csrf: Option<String>,
    /// The form's one-time token: a form is sent once.
    pub form: String,
    /// The button pressed: `preview`, `send`, `edit`, `add_guardian` or `add_sibling`.
    pub step: String,
    pub category: String,
    pub urgency: String,
    pub status: String,
    pub departure: String,
    pub pupil_name: String,
    pub personnummer: String,
    pub date_of_birth: String,
    pub school_name: String,
    pub skolenhetskod: String,
    /// Ticked indicators, in [`Indicator::ALL`] order.
    pub indicators: Vec<Indicator>,
    pub concern: String,
    pub country: String,
    pub carrier: String,
    pub flight: String,
    pub guardians: Vec<GuardianRow>,
    pub siblings: Vec<SiblingRow>,
    /// One row per [`Action::ALL`], in that order.
    pub actions: Vec<ActionRow>,
    pub note: String,
    pub contact_name: String,
    pub contact_role: String,
    pub contact_phone: String,
    pub contact_email: String,
}

/// The form's single-valued text fields, by name.
fn text_field<'a>(f: &'a mut AlertForm, name: &str) -> Option<&'a mut String> {
    Some(match name {
        "form" => &mut f.form,
        "step" => &mut f.step,
        "category" => &mut f.category,
        "urgency" => &mut f.urgency,
        "status" => &mut f.status,
        "departure" => &mut f.departure,
        "pupil_name" => &mut f.pupil_name,
        "personnummer" => &mut f.personnummer,
        "date_of_birth" => &mut f.date_of_birth,
        "school_name" => &mut f.school_name,
        "skolenhetskod" => &mut f.skolenhetskod,
        "concern" => &mut f.concern,
        "country" => &mut f.country,
        "carrier" => &mut f.carrier,
        "flight" => &mut f.flight,
        "note" => &mut f.note,
        "contact_name" => &mut f.contact_name,
        "contact_role" => &mut f.contact_role,
        "contact_phone" => &mut f.contact_phone,
        "contact_email" => &mut f.contact_email,
        _ => return None,
    })
}

/// The names [`text_field`] knows, for writing the form back out.
const TEXT_FIELDS: &[&str] = &[
    "category",
    "urgency",
    "status",
    "departure",
    "pupil_name",
    "personnummer",
    "date_of_birth",
    "school_name",
    "skolenhetskod",
    "concern",
    "country",
    "carrier",
    "flight",
    "note",
    "contact_name",
    "contact_role",
    "contact_phone",
    "contact_email",
];

/// `prefix{n}_{rest}` with `n` below [`MAX_ROWS`]: the row and the field name.
fn row_field<'a>(name: &'a str, prefix: &str) -> Option<(usize, &'a str)> {
    let (n, rest) = name.strip_prefix(prefix)?.split_once('_')?;
    let n: usize = n.parse().ok()?;
    (n < MAX_ROWS).then_some((n, rest))
}

fn row<T: Default>(rows: &mut Vec<T>, n: usize) -> &mut T {
    if rows.len() <= n {
        rows.resize_with(n + 1, T::default);
    }
    &mut rows[n]
}

impl AlertForm {
    /// An empty form: the fixed number of rows, nothing ticked.
    pub fn empty() -> AlertForm {
        let mut f = AlertForm::default();
        f.fill_rows();
        f
    }

    /// At least the fixed number of guardian and sibling rows, and one row per action.
    fn fill_rows(&mut self) {
        if self.guardians.len() < GUARDIAN_ROWS {
            self.guardians.resize_with(GUARDIAN_ROWS, Default::default);
        }
        if self.siblings.len() < SIBLING_ROWS {
            self.siblings.resize_with(SIBLING_ROWS, Default::default);
        }
        self.actions
            .resize_with(Action::ALL.len(), Default::default);
    }

    /// Reads the posted pairs. Names the form does not have are ignored (a browser sends only
    /// the form's own); row counts (`guardians`, `siblings`) keep empty rows on the page.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> AlertForm {
        let mut f = AlertForm::default();
        let mut indicators = Vec::new();
        for (name, value) in pairs {
            if name == "csrf" {
                f.csrf = Some(value);
            } else if let Some(slot) = text_field(&mut f, &name) {
                *slot = value;
            } else if name == "guardians" || name == "siblings" {
                let n = value.parse::<usize>().unwrap_or(0).min(MAX_ROWS);
                if name == "guardians" && n > 0 {
                    row(&mut f.guardians, n - 1);
                } else if n > 0 {
                    row(&mut f.siblings, n - 1);
                }
            } else if let Some(code) = name.strip_prefix("indicator_") {
                indicators.extend(Indicator::ALL.iter().copied().filter(|i| i.code() == code));
            } else if let Some(code) = name.strip_prefix("action_") {
                let (code, at) = match code.strip_suffix("_at") {
                    Some(c) => (c, true),
                    None => (code, false),
                };
                if let Some(i) = Action::ALL.iter().position(|a| a.code() == code) {
                    let r = row(&mut f.actions, i);
                    if at {
                        r.at = value;
                    } else {
                        r.done = true;
                    }
                }
            } else if let Some((n, field)) = row_field(&name, "guardian") {
                let r = row(&mut f.guardians, n);
                match field {
                    "name" => r.name = value,
                    "relation" => r.relation = value,
                    "personnummer" => r.personnummer = value,
                    "phone" => r.phone = value,
                    _ => {}
                }
            } else if let Some((n, field)) = row_field(&name, "sibling") {
                let r = row(&mut f.siblings, n);
                match field {
                    "name" => r.name = value,
                    "personnummer" => r.personnummer = value,
                    "school" => r.school = value,
                    _ => {}
                }
            }
        }
        f.indicators = Indicator::ALL
            .iter()
            .copied()
            .filter(|i| indicators.contains(i))
            .collect();
        f.fill_rows();
        f
    }

    /// Everything typed, as the pairs [`AlertForm::from_pairs`] reads (without the CSRF token,
    /// the form token and the button): what the preview carries in hidden fields.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut put = |name: String, value: &str| {
            if !value.is_empty() {
                out.push((name, value.to_owned()));
            }
        };
        let mut copy = self.clone();
        for name in TEXT_FIELDS {
            let value = text_field(&mut copy, name).cloned().unwrap_or_default();
            put((*name).to_owned(), &value);
        }
        for i in &self.indicators {
            put(format!("indicator_{}", i.code()), "on");
        }
        for (a, r) in Action::ALL.iter().zip(&self.actions) {
            if r.done {
                put(format!("action_{}", a.code()), "on");
            }
            put(format!("action_{}_at", a.code()), &r.at);
        }
        put("guardians".into(), &self.guardians.len().to_string());
        for (n, g) in self.guardians.iter().enumerate() {
            put(format!("guardian{n}_name"), &g.name);
            put(format!("guardian{n}_relation"), &g.relation);
            put(format!("guardian{n}_personnummer"), &g.personnummer);
            put(format!("guardian{n}_phone"), &g.phone);
        }
        put("siblings".into(), &self.siblings.len().to_string());
        for (n, s) in self.siblings.iter().enumerate() {
            put(format!("sibling{n}_name"), &s.name);
            put(format!("sibling{n}_personnummer"), &s.personnummer);
            put(format!("sibling{n}_school"), &s.school);
        }
        out
    }

    /// One more empty guardian row, up to [`MAX_ROWS`].
    pub fn add_guardian(&mut self) {
        if self.guardians.len() < MAX_ROWS {
            self.guardians.push(GuardianRow::default());
        }
    }

    /// One more empty sibling row, up to [`MAX_ROWS`].
    pub fn add_sibling(&mut self) {
        if self.siblings.len() < MAX_ROWS {
            self.siblings.push(SiblingRow::default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn rows_checklist_and_indicators_are_read_by_name() {
        let f = AlertForm::from_pairs(pairs(&[
            ("csrf", "c"),
            ("form", "t"),
            ("step", "preview"),
            ("pupil_name", "Hana Karimi"),
            ("indicator_other", "on"),
            ("indicator_forced_marriage", "on"),
            ("indicator_no_such_thing", "on"),
            ("guardian1_name", "Reza Karimi"),
            ("guardian1_relation", "father"),
            ("guardian4_phone", "070-123 45 67"),
            ("guardian99_name", "ignored: past the last row"),
            ("guardianx_name", "ignored: no row number"),
            ("sibling0_school", "Navestadsskolan"),
            ("action_home_visit", "on"),
            ("action_home_visit_at", "2026-11-30T15:00"),
            ("action_guardians_contacted_at", "typed, not ticked"),
            ("action_nonsense", "on"),
        ]));
        assert_eq!(f.csrf.as_deref(), Some("c"));
        assert_eq!((f.form.as_str(), f.step.as_str()), ("t", "preview"));
        assert_eq!(f.pupil_name, "Hana Karimi");
        // In the protocol's order, whatever the order posted; unknown codes dropped.
        assert_eq!(
            f.indicators,
            vec![Indicator::ForcedMarriage, Indicator::Other]
        );
        assert_eq!(f.guardians.len(), 5);
        assert_eq!(f.guardians[1].relation, "father");
        assert_eq!(f.guardians[4].phone, "070-123 45 67");
        assert!(f.guardians.iter().all(|g| !g.name.starts_with("ignored")));
        assert_eq!(f.siblings.len(), SIBLING_ROWS);
        assert_eq!(f.siblings[0].school, "Navestadsskolan");
        let home = Action::ALL
            .iter()
            .position(|a| *a == Action::HomeVisit)
            .unwrap();
        let called = Action::ALL
            .iter()
            .position(|a| *a == Action::GuardiansContacted)
            .unwrap();
        assert_eq!(f.actions.len(), Action::ALL.len());
        assert!(f.actions[home].done && f.actions[home].at == "2026-11-30T15:00");
        assert!(!f.actions[called].done);
    }

    #[test]
    fn the_pairs_written_out_read_back_the_same() {
        let mut f = AlertForm::from_pairs(pairs(&[
            ("category", "departure_imminent"),
            ("concern", "Åtta <b>rader</b> & \"citat\""),
            ("indicator_re_education_trip", "on"),
            ("guardian0_name", "Fatima Karimi"),
            ("guardian0_relation", "mother"),
            ("sibling2_personnummer", "20140101-0004"),
            ("action_concern_report_filed", "on"),
            ("action_concern_report_filed_at", "2026-11-30T08:10"),
            ("contact_email", "karin.berg@example.se"),
        ]));
        f.add_sibling();
        f.add_guardian();
        let back = AlertForm::from_pairs(f.to_pairs());
        assert_eq!(back, f);
        assert_eq!(back.siblings.len(), SIBLING_ROWS + 1);
        assert_eq!(back.guardians.len(), GUARDIAN_ROWS + 1);
    }

    #[test]
    fn rows_stop_at_the_most_a_form_takes() {
        let mut f = AlertForm::from_pairs(pairs(&[("siblings", "100000")]));
        assert_eq!(f.siblings.len(), MAX_ROWS);
        f.add_sibling();
        assert_eq!(f.siblings.len(), MAX_ROWS);
        assert_eq!(AlertForm::empty().guardians.len(), GUARDIAN_ROWS);
    }
}
