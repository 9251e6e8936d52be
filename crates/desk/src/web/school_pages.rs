//! The school's pages, rendered with maud: the *New alert* form with each problem beside its
//! field (linked to it with `aria-describedby`), and *My alerts* with each recipient's state.

use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::{html, Markup};

use varsel_protocol::alert::Indicator;
use varsel_protocol::message::{Category, Feedback, Urgency};

use super::form::{AlertForm, Errors};
use super::pages::{page, Who};
use super::text::{code, Lang};
use crate::store::sent::Sent;

pub(crate) fn l(lang: Lang, sv: &'static str, en: &'static str) -> &'static str {
    if lang == Lang::Sv {
        sv
    } else {
        en
    }
}

/// A labelled field with its error, if any, beside it.
fn field(errors: &Errors, name: &'static str, label: &str, input: Markup) -> Markup {
    html! {
        div class="field" {
            label for=(name) { (label) }
            @if let Some(e) = errors.fields.get(name) {
                p class="error" id={ (name) "-error" } { (e) }
            }
            (input)
        }
    }
}

fn text_input(name: &'static str, value: &str, errors: &Errors, extra: Option<&str>) -> Markup {
    let invalid = errors.fields.contains_key(name);
    let described = invalid.then(|| format!("{name}-error"));
    html! {
        input id=(name) name=(name) type="text" value=(value) autocomplete="off"
            aria-invalid=[invalid.then_some("true")] aria-describedby=[described]
            placeholder=[extra];
    }
}

fn select(
    lang: Lang,
    name: &'static str,
    chosen: &str,
    codes: &[&'static str],
    errors: &Errors,
) -> Markup {
    let invalid = errors.fields.contains_key(name);
    html! {
        select id=(name) name=(name) required aria-invalid=[invalid.then_some("true")] {
            option value="" { "–" }
            @for c in codes { option value=(c) selected[*c == chosen] { (code(lang, c)) } }
        }
    }
}

pub(crate) fn new_alert(
    lang: Lang,
    status: StatusCode,
    who: (&crate::store::accounts::Account, &str),
    f: &AlertForm,
    form_token: &str,
    errors: &Errors,
) -> Response {
    let t = lang.t();
    let categories: Vec<&str> = Category::ALL.iter().map(|c| c.code()).collect();
    let urgencies: Vec<&str> = Urgency::ALL.iter().map(|u| u.code()).collect();
    let indicators = [
        (Indicator::ForcedMarriage, &f.indicator_forced_marriage),
        (
            Indicator::GenitalMutilation,
            &f.indicator_genital_mutilation,
        ),
        (Indicator::ReEducationTrip, &f.indicator_re_education_trip),
        (Indicator::Other, &f.indicator_other),
    ];
    page(
        lang,
        status,
        t.new_alert,
        Some(who),
        html! {
            @if !errors.is_empty() {
                div class="error" role="alert" id="form-errors" {
                    p { (t.form_has_errors) }
                    @for g in &errors.general { p { (g) } }
                }
            }
            form method="post" action="/alerts/new" novalidate {
                input type="hidden" name="csrf" value=(who.1);
                input type="hidden" name="form" value=(form_token);
                fieldset {
                    legend { (t.alert) }
                    (field(errors, "category", t.category, select(lang, "category", &f.category, &categories, errors)))
                    (field(errors, "urgency", t.urgency, select(lang, "urgency", &f.urgency, &urgencies, errors)))
                    (field(errors, "status", l(lang, "Skarpt eller övning", "Real or exercise"), select(lang, "status", &f.status, &["actual", "exercise"], errors)))
                    (field(errors, "departure", t.planned_departure, html! {
                        input id="departure" name="departure" type="datetime-local" value=(f.departure)
                            aria-describedby=[errors.fields.contains_key("departure").then_some("departure-error")];
                    }))
                }
                fieldset {
                    legend { (l(lang, "Eleven", "The pupil")) }
                    (field(errors, "pupil_name", l(lang, "Namn", "Name"), text_input("pupil_name", &f.pupil_name, errors, None)))
                    (field(errors, "personnummer", l(lang, "Personnummer eller samordningsnummer", "Personal identity or coordination number"), text_input("personnummer", &f.personnummer, errors, Some("ÅÅÅÅMMDD-NNNN"))))
                    (field(errors, "date_of_birth", l(lang, "Födelsedatum (om personnummer saknas)", "Date of birth (without a personal identity number)"), text_input("date_of_birth", &f.date_of_birth, errors, Some("ÅÅÅÅ-MM-DD"))))
                    (field(errors, "school_name", t.school, text_input("school_name", &f.school_name, errors, None)))
                    (field(errors, "skolenhetskod", l(lang, "Skolenhetskod", "School unit code"), text_input("skolenhetskod", &f.skolenhetskod, errors, None)))
                }
                fieldset {
                    legend { (l(lang, "Tecken på risk", "Signs of risk")) }
                    @for (i, on) in indicators {
                        div {
                            input type="checkbox" id={ "indicator_" (i.code()) } name={ "indicator_" (i.code()) } checked[on.is_some()];
                            label class="inline" for={ "indicator_" (i.code()) } { (code(lang, i.code())) }
                        }
                    }
                    (field(errors, "concern", l(lang, "Skolans oro, med egna ord", "The school's concern, in your own words"), html! {
                        textarea id="concern" name="concern" rows="5"
                            aria-describedby=[errors.fields.contains_key("concern").then_some("concern-error")] { (f.concern) }
                    }))
                    (field(errors, "country", l(lang, "Resmål (landskod, t.ex. IQ)", "Destination (country code, e.g. IQ)"), text_input("country", &f.country, errors, None)))
                }
                fieldset {
                    legend { (l(lang, "Kontaktperson på skolan", "Contact person at the school")) }
                    (field(errors, "contact_name", l(lang, "Namn", "Name"), text_input("contact_name", &f.contact_name, errors, None)))
                    (field(errors, "contact_role", l(lang, "Roll (t.ex. kurator)", "Role (e.g. counsellor)"), text_input("contact_role", &f.contact_role, errors, None)))
                    (field(errors, "contact_phone", l(lang, "Telefon", "Phone"), text_input("contact_phone", &f.contact_phone, errors, None)))
                }
                button type="submit" id="send" { (t.send) }
            }
        },
    )
}

pub(crate) fn already_sent(lang: Lang, who: (&crate::store::accounts::Account, &str)) -> Response {
    let t = lang.t();
    page(
        lang,
        StatusCode::CONFLICT,
        t.new_alert,
        Some(who),
        html! {
            p class="error" role="alert" id="already-sent" { (t.already_sent) }
            p { a href="/alerts" { (t.my_alerts) } }
        },
    )
}

/// One sent alert, its deliveries' latest reports and the escalations.
pub(crate) struct Row {
    pub alert: Sent,
    pub recipients: Vec<Report>,
    /// The escalation reports in order (recipient's name, report).
    pub escalations: Vec<(String, Feedback)>,
}

fn time(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Europe::Stockholm)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// One delivery's latest report, with the recipient's name.
pub(crate) struct Report {
    pub name: String,
    pub feedback: Feedback,
    /// Whether the delivery is of an update or cancel rather than of the alert.
    pub follow_up: bool,
}

/// Each delivery's latest state in words (who acknowledged, with the outcome) and its time.
pub(crate) fn recipients_table(lang: Lang, recipients: &[Report]) -> Markup {
    let t = lang.t();
    html! {
        @if recipients.is_empty() { p { (t.no_feedback) } } @else {
            table {
                thead { tr { th scope="col" { (t.recipients) } th scope="col" { (t.state) } th scope="col" { (l(lang, "Tid", "Time")) } } }
                tbody {
                    @for Report { name, feedback: fb, follow_up } in recipients {
                        tr data-recipient=(fb.recipient) data-state=(fb.state.code()) data-follow-up=[follow_up.then_some("true")] {
                            td { (name) @if *follow_up { " " small { (l(lang, "(uppdatering eller återkallelse)", "(update or cancel)")) } } }
                            td {
                                (code(lang, fb.state.code()))
                                @if let Some(o) = &fb.officer { " " (l(lang, "av", "by")) " " (o) }
                                @if let Some(o) = fb.outcome { " (" (code(lang, o.code())) ")" }
                            }
                            td { (time(fb.at)) }
                        }
                    }
                }
            }
        }
    }
}

/// The escalations the broker reported, in order: when, whose deadline, what it did.
pub(crate) fn escalations_list(lang: Lang, escalations: &[(String, Feedback)]) -> Markup {
    html! {
        ol class="escalations" {
            @for (name, fb) in escalations {
                li data-step=[fb.escalation.as_deref()] { (time(fb.at)) " – " (name) ": " (super::reasons::escalation(lang, fb.escalation.as_deref().unwrap_or_default())) }
            }
        }
    }
}

pub(crate) fn my_alerts(lang: Lang, who: Who<'_>, rows: &[Row]) -> Response {
    let t = lang.t();
    page(
        lang,
        StatusCode::OK,
        t.my_alerts,
        who,
        html! {
            p { a href="/alerts/new" { (t.new_alert) } }
            @if rows.is_empty() { p { (t.no_alerts_sent) } }
            @for r in rows {
                section class="sealed" id={ "alert-" (r.alert.id) } {
                    h2 { a href={ "/alerts/" (r.alert.id) } {
                        (code(lang, &r.alert.category)) ", " (code(lang, &r.alert.urgency).to_lowercase())
                        @if r.alert.status != "actual" { " " span class="exercise" { (code(lang, &r.alert.status).to_uppercase()) } }
                    } }
                    p { (t.sent_at) " " (DateTime::from_timestamp_millis(r.alert.sent_at).map(time).unwrap_or_default()) }
                    (recipients_table(lang, &r.recipients))
                    @if !r.escalations.is_empty() { (escalations_list(lang, &r.escalations)) }
                }
            }
        },
    )
}
