//! The form read into a document: every section reaches it, empty ones are left out, and
//! every problem is put by its field in one round.

use super::*;
use varsel_protocol::alert::{Indicator, Relation};

use crate::web::form::{ActionRow, GuardianRow, SiblingRow};

fn good() -> AlertForm {
    let mut f = AlertForm {
        category: "departure_imminent".into(),
        urgency: "immediate".into(),
        status: "exercise".into(),
        departure: "2026-10-24T06:40".into(),
        pupil_name: " Hana Karimi ".into(),
        personnummer: "20110509-2843".into(),
        school_name: "Ektorpsskolan".into(),
        skolenhetskod: "58163210".into(),
        indicators: vec![Indicator::ForcedMarriage],
        concern: "Hon berättade att familjen reser på lördag.".into(),
        country: "iq".into(),
        carrier: "Turkish Airlines".into(),
        flight: "tk1794".into(),
        note: "Syskonen går på Navestadsskolan.".into(),
        contact_name: "Karin Berg".into(),
        contact_role: "kurator".into(),
        contact_phone: "011-15 00 00".into(),
        contact_email: "karin.berg@example.se".into(),
        ..AlertForm::empty()
    };
    // The second row is left empty and the third used: indexes in the document differ.
    f.guardians[0] = GuardianRow {
        name: "Fatima Karimi".into(),
        relation: "mother".into(),
        personnummer: "19800101-2387".into(),
        phone: "070-123 45 67".into(),
    };
    f.guardians.push(GuardianRow {
        name: "Reza Karimi".into(),
        relation: "father".into(),
        ..GuardianRow::default()
    });
    f.siblings[1] = SiblingRow {
        name: "Sara Karimi".into(),
        personnummer: String::new(),
        school: "Navestadsskolan".into(),
    };
    f.actions[0] = ActionRow {
        done: true,
        at: "2026-10-20T08:10".into(),
    };
    f
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 21, 12, 0, 0).unwrap()
}

fn kommun() -> Kommunkod {
    "0581".parse().unwrap()
}

fn names(e: &Errors) -> Vec<&str> {
    e.fields.keys().map(String::as_str).collect()
}

#[test]
fn every_section_of_the_form_reaches_the_document() {
    let doc = document(&good(), Some(&kommun()), Lang::Sv, now()).unwrap();
    assert_eq!(doc.header.municipality.to_string(), "0581");
    // 06:40 in Stockholm in October (summer time) is 04:40 UTC.
    let departure = doc.header.planned_departure.unwrap();
    assert_eq!(departure.to_rfc3339(), "2026-10-24T04:40:00+00:00");
    let core = doc.body.core.unwrap();
    assert_eq!(core.pupil.name.expose(), "Hana Karimi");
    assert_eq!(core.indicators, vec![Indicator::ForcedMarriage]);
    let family = doc.body.family.unwrap();
    assert_eq!(family.guardians.len(), 2);
    assert_eq!(family.guardians[1].relation, Relation::Father);
    assert!(family.guardians[0].personnummer.is_some());
    assert_eq!(family.siblings.len(), 1);
    assert_eq!(
        family.siblings[0].school.as_ref().unwrap().expose(),
        "Navestadsskolan"
    );
    let travel = doc.body.travel.unwrap();
    assert_eq!(travel.destination_country.to_string(), "IQ");
    assert_eq!(travel.planned_departure, Some(departure));
    assert_eq!(travel.flight.as_deref(), Some("TK1794"));
    assert_eq!(travel.carrier.as_deref(), Some("Turkish Airlines"));
    let sa = doc.body.school_actions.unwrap();
    assert_eq!(sa.actions.len(), 1);
    assert_eq!(sa.actions[0].action, Action::ALL[0]);
    assert_eq!(sa.actions[0].at.to_rfc3339(), "2026-10-20T06:10:00+00:00");
    let contact = sa.contact.unwrap();
    assert_eq!(contact.email.unwrap().expose(), "karin.berg@example.se");
    assert!(sa.note.is_some());
}

#[test]
fn empty_sections_are_left_out() {
    let mut f = good();
    f.guardians = vec![GuardianRow::default(); 2];
    f.siblings = vec![SiblingRow::default(); 3];
    f.country.clear();
    f.carrier.clear();
    f.flight.clear();
    f.actions = vec![ActionRow::default(); Action::ALL.len()];
    f.note.clear();
    for s in [
        &mut f.contact_name,
        &mut f.contact_role,
        &mut f.contact_phone,
        &mut f.contact_email,
    ] {
        s.clear();
    }
    let doc = document(&f, Some(&kommun()), Lang::Sv, now()).unwrap();
    assert!(doc.body.family.is_none() && doc.body.travel.is_none());
    assert!(doc.body.school_actions.is_none());
}

#[test]
fn every_problem_is_put_by_its_field_in_one_round() {
    let mut f = good();
    f.departure = "lördag".into();
    f.personnummer = "20110509-2844".into();
    f.skolenhetskod = "5816".into();
    f.concern = "  ".into();
    f.guardians[2].relation = String::new();
    f.guardians[0].phone = "ring mamma".into();
    f.siblings[1].name = String::new();
    f.flight = "flyget".into();
    f.actions[0].at = "2026-10-22T08:00".into();
    f.actions[2] = ActionRow {
        done: true,
        at: String::new(),
    };
    f.contact_email = "karin at skolan".into();
    let e = document(&f, Some(&kommun()), Lang::Sv, now()).unwrap_err();
    let home = Action::ALL[2].code();
    let mut want = vec![
        "departure".to_owned(),
        "personnummer".into(),
        "skolenhetskod".into(),
        "concern".into(),
        "guardian2_relation".into(),
        "guardian0_phone".into(),
        "sibling1_name".into(),
        "flight".into(),
        format!("action_{}_at", Action::ALL[0].code()),
        format!("action_{home}_at"),
        "contact_email".into(),
    ];
    want.sort();
    assert_eq!(names(&e), want, "{e:?}");
    assert!(e.general.is_empty(), "{:?}", e.general);
    assert!(e.fields["personnummer"].starts_with("Personnumret"));
    assert_eq!(e.fields["guardian2_relation"], "Välj relation till eleven.");
}

#[test]
fn a_pupil_with_no_number_nor_date_is_told_so_in_english() {
    let mut f = good();
    f.personnummer.clear();
    let e = document(&f, Some(&kommun()), Lang::En, now()).unwrap_err();
    assert_eq!(names(&e), ["personnummer"]);
    assert!(e.fields["personnummer"].contains("date of birth"), "{e:?}");
    // A date of birth alone will do.
    f.date_of_birth = "2011-05-09".into();
    assert!(document(&f, Some(&kommun()), Lang::En, now()).is_ok());
}

#[test]
fn a_guardian_given_twice_is_reported_at_the_second_row() {
    let mut f = good();
    f.guardians[2].personnummer = f.guardians[0].personnummer.clone();
    let e = document(&f, Some(&kommun()), Lang::Sv, now()).unwrap_err();
    assert_eq!(names(&e), ["guardian2_personnummer"]);
}
