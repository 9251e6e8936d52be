//! The *New alert* form and its preview, rendered with maud. Every problem is shown beside its
//! field and linked to it with `aria-describedby`; personnummer fields carry the words for the
//! check-as-you-type script (`form.js`) in the page's language, and an empty live region for
//! them. The preview shows the alert as recipients will read it and carries everything typed on
//! in hidden fields, so nothing is kept on the server until it is sent.

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

use varsel_protocol::alert::{Action, Document, Indicator, Relation};
use varsel_protocol::message::{Category, Status, Urgency};

use super::form::AlertForm;
use super::form_check::Errors;
use super::pages::page;
use super::reading;
use super::school_pages::l;
use super::text::{code, Lang};
use crate::store::accounts::Account;

/// A labelled field with its error, if any, beside it.
fn field(errors: &Errors, name: &str, label: &str, input: Markup) -> Markup {
    html! {
        div class="field" {
            label for=(name) { (label) }
            @if let Some(e) = errors.get(name) {
                p class="error" id={ (name) "-error" } { (e) }
            }
            (input)
        }
    }
}

fn described(errors: &Errors, name: &str) -> Option<String> {
    errors.get(name).map(|_| format!("{name}-error"))
}

fn input(kind: &str, name: &str, value: &str, errors: &Errors, hint: Option<&str>) -> Markup {
    let invalid = errors.get(name).is_some();
    html! {
        input id=(name) name=(name) type=(kind) value=(value) autocomplete="off"
            aria-invalid=[invalid.then_some("true")] aria-describedby=[described(errors, name)]
            placeholder=[hint];
    }
}

fn text_input(name: &str, value: &str, errors: &Errors, hint: Option<&str>) -> Markup {
    input("text", name, value, errors, hint)
}

/// A personnummer field: checked on the server, and as it is typed where scripts run. The live
/// region is always there, so a screen reader hears the script's message.
fn pnr_input(lang: Lang, name: &str, value: &str, errors: &Errors) -> Markup {
    let invalid = errors.get(name).is_some();
    let mut ids = format!("{name}-live");
    if let Some(e) = described(errors, name) {
        ids = format!("{e} {ids}");
    }
    html! {
        input id=(name) name=(name) type="text" value=(value) autocomplete="off" inputmode="numeric"
            placeholder="ÅÅÅÅMMDD-NNNN" aria-invalid=[invalid.then_some("true")] aria-describedby=(ids)
            data-pnr-format=(l(lang, "Skriv numret som ÅÅÅÅMMDD-NNNN (eller ÅÅMMDD-NNNN).", "Write the number as YYYYMMDD-NNNN (or YYMMDD-NNNN)."))
            data-pnr-date=(l(lang, "Datumet i numret finns inte.", "The date in the number does not exist."))
            data-pnr-check=(l(lang, "Kontrollsiffran stämmer inte: kontrollera numret.", "The check digit does not match: check the number."))
            data-pnr-serial=(l(lang, "Löpnumret 000 finns inte: kontrollera numret.", "The serial number 000 does not exist: check the number."))
            data-pnr-future=(l(lang, "Födelsedatumet i numret ligger i framtiden.", "The date of birth in the number is in the future."));
        p class="error live" id={ (name) "-live" } aria-live="polite" {}
    }
}

fn select(lang: Lang, name: &str, chosen: &str, codes: &[&'static str], errors: &Errors) -> Markup {
    let invalid = errors.get(name).is_some();
    html! {
        select id=(name) name=(name) aria-invalid=[invalid.then_some("true")] aria-describedby=[described(errors, name)] {
            option value="" { "–" }
            @for c in codes { option value=(c) selected[*c == chosen] { (code(lang, c)) } }
        }
    }
}

fn checkbox(name: &str, on: bool, label: &str) -> Markup {
    html! {
        div {
            input type="checkbox" id=(name) name=(name) checked[on];
            label class="inline" for=(name) { (label) }
        }
    }
}

fn family(lang: Lang, f: &AlertForm, errors: &Errors) -> Markup {
    let relations: Vec<&str> = Relation::ALL.iter().map(|r| r.code()).collect();
    html! {
        fieldset id="guardians" {
            legend { (l(lang, "Vårdnadshavare", "Guardians")) }
            input type="hidden" name="guardians" value=(f.guardians.len());
            @for (n, g) in f.guardians.iter().enumerate() {
                fieldset class="row" {
                    legend { (l(lang, "Vårdnadshavare", "Guardian")) " " (n + 1) }
                    (field(errors, &format!("guardian{n}_name"), l(lang, "Namn", "Name"), text_input(&format!("guardian{n}_name"), &g.name, errors, None)))
                    (field(errors, &format!("guardian{n}_relation"), l(lang, "Relation till eleven", "Relation to the pupil"), select(lang, &format!("guardian{n}_relation"), &g.relation, &relations, errors)))
                    (field(errors, &format!("guardian{n}_personnummer"), l(lang, "Personnummer", "Personal identity number"), pnr_input(lang, &format!("guardian{n}_personnummer"), &g.personnummer, errors)))
                    (field(errors, &format!("guardian{n}_phone"), l(lang, "Telefon", "Phone"), input("tel", &format!("guardian{n}_phone"), &g.phone, errors, None)))
                }
            }
            button type="submit" name="step" value="add_guardian" id="add-guardian" class="secondary" { (l(lang, "Lägg till vårdnadshavare", "Add a guardian")) }
        }
        fieldset id="siblings" {
            legend { (l(lang, "Syskon", "Siblings")) }
            input type="hidden" name="siblings" value=(f.siblings.len());
            @for (n, s) in f.siblings.iter().enumerate() {
                fieldset class="row" {
                    legend { (l(lang, "Syskon", "Sibling")) " " (n + 1) }
                    (field(errors, &format!("sibling{n}_name"), l(lang, "Namn", "Name"), text_input(&format!("sibling{n}_name"), &s.name, errors, None)))
                    (field(errors, &format!("sibling{n}_personnummer"), l(lang, "Personnummer", "Personal identity number"), pnr_input(lang, &format!("sibling{n}_personnummer"), &s.personnummer, errors)))
                    (field(errors, &format!("sibling{n}_school"), l(lang, "Syskonets skola", "The sibling's school"), text_input(&format!("sibling{n}_school"), &s.school, errors, None)))
                }
            }
            button type="submit" name="step" value="add_sibling" id="add-sibling" class="secondary" { (l(lang, "Lägg till syskon", "Add a sibling")) }
        }
    }
}

fn actions(lang: Lang, f: &AlertForm, errors: &Errors) -> Markup {
    html! {
        fieldset id="actions" {
            legend { (l(lang, "Skolan har redan", "The school has already")) }
            @for (a, r) in Action::ALL.iter().zip(&f.actions) {
                @let at = format!("action_{}_at", a.code());
                div class="action" {
                    (checkbox(&format!("action_{}", a.code()), r.done, code(lang, a.code())))
                    (field(errors, &at, l(lang, "När (ÅÅÅÅ-MM-DD TT:MM)", "When (YYYY-MM-DD HH:MM)"), input("datetime-local", &at, &r.at, errors, None)))
                }
            }
            (field(errors, "note", l(lang, "Övrigt att veta", "Anything else to know"), html! {
                textarea id="note" name="note" rows="3" aria-describedby=[described(errors, "note")] { (f.note) }
            }))
        }
    }
}

pub(crate) fn new_alert(
    lang: Lang,
    status: StatusCode,
    who: (&Account, &str),
    f: &AlertForm,
    form_token: &str,
    errors: &Errors,
) -> Response {
    let t = lang.t();
    let categories: Vec<&str> = Category::ALL.iter().map(|c| c.code()).collect();
    let urgencies: Vec<&str> = Urgency::ALL.iter().map(|u| u.code()).collect();
    let statuses = [Status::Actual.code(), Status::Exercise.code()];
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
            form method="post" action="/alerts/new" novalidate id="alert-form" {
                input type="hidden" name="csrf" value=(who.1);
                input type="hidden" name="form" value=(form_token);
                fieldset {
                    legend { (t.alert) }
                    (field(errors, "category", t.category, select(lang, "category", &f.category, &categories, errors)))
                    (field(errors, "urgency", t.urgency, select(lang, "urgency", &f.urgency, &urgencies, errors)))
                    (field(errors, "status", l(lang, "Skarpt eller övning", "Real or exercise"), select(lang, "status", &f.status, &statuses, errors)))
                    (field(errors, "departure", t.planned_departure, input("datetime-local", "departure", &f.departure, errors, None)))
                }
                fieldset {
                    legend { (l(lang, "Eleven", "The pupil")) }
                    (field(errors, "pupil_name", l(lang, "Namn", "Name"), text_input("pupil_name", &f.pupil_name, errors, None)))
                    (field(errors, "personnummer", l(lang, "Personnummer eller samordningsnummer", "Personal identity or coordination number"), pnr_input(lang, "personnummer", &f.personnummer, errors)))
                    (field(errors, "date_of_birth", l(lang, "Födelsedatum (om personnummer saknas)", "Date of birth (without a personal identity number)"), text_input("date_of_birth", &f.date_of_birth, errors, Some("ÅÅÅÅ-MM-DD"))))
                    (field(errors, "school_name", t.school, text_input("school_name", &f.school_name, errors, None)))
                    (field(errors, "skolenhetskod", l(lang, "Skolenhetskod", "School unit code"), text_input("skolenhetskod", &f.skolenhetskod, errors, None)))
                }
                fieldset {
                    legend { (l(lang, "Tecken på risk", "Signs of risk")) }
                    @for i in Indicator::ALL {
                        (checkbox(&format!("indicator_{}", i.code()), f.indicators.contains(i), code(lang, i.code())))
                    }
                    (field(errors, "concern", l(lang, "Skolans oro, med egna ord", "The school's concern, in your own words"), html! {
                        textarea id="concern" name="concern" rows="5" aria-describedby=[described(errors, "concern")] { (f.concern) }
                    }))
                }
                fieldset {
                    legend { (l(lang, "Resan", "The journey")) }
                    (field(errors, "country", l(lang, "Resmål (landskod, t.ex. IQ)", "Destination (country code, e.g. IQ)"), text_input("country", &f.country, errors, None)))
                    (field(errors, "carrier", l(lang, "Resebolag (flyg, buss, färja)", "Carrier (airline, bus, ferry)"), text_input("carrier", &f.carrier, errors, None)))
                    (field(errors, "flight", l(lang, "Flygnummer", "Flight number"), text_input("flight", &f.flight, errors, Some("TK1794"))))
                    p { (l(lang, "Tiden för avresan anges under Varsel ovan.", "The time of departure is given under Alert above.")) }
                }
                (family(lang, f, errors))
                (actions(lang, f, errors))
                fieldset {
                    legend { (l(lang, "Kontaktperson på skolan", "Contact person at the school")) }
                    (field(errors, "contact_name", l(lang, "Namn", "Name"), text_input("contact_name", &f.contact_name, errors, None)))
                    (field(errors, "contact_role", l(lang, "Roll (t.ex. kurator)", "Role (e.g. counsellor)"), text_input("contact_role", &f.contact_role, errors, None)))
                    (field(errors, "contact_phone", l(lang, "Telefon", "Phone"), input("tel", "contact_phone", &f.contact_phone, errors, None)))
                    (field(errors, "contact_email", l(lang, "E-post", "Email"), input("email", "contact_email", &f.contact_email, errors, None)))
                }
                button type="submit" name="step" value="preview" id="preview" { (l(lang, "Förhandsgranska", "Preview")) }
            }
            script src="/static/form.js" defer {}
        },
    )
}

/// The alert as recipients will read it, with *Skicka* (send) and *Ändra* (back to the form);
/// what was typed rides along in hidden fields.
pub(crate) fn preview(
    lang: Lang,
    who: (&Account, &str),
    f: &AlertForm,
    form_token: &str,
    doc: &Document,
) -> Response {
    let t = lang.t();
    let h = &doc.header;
    let body = serde_json::to_value(&doc.body).unwrap_or_default();
    page(
        lang,
        StatusCode::OK,
        l(lang, "Förhandsgranska varslet", "Preview the alert"),
        Some(who),
        html! {
            p class="notice" { (l(lang, "Så här kommer mottagarna att läsa varslet. Inget är skickat ännu.", "This is how the recipients will read the alert. Nothing has been sent yet.")) }
            dl id="header" {
                dt { (t.category) } dd { (code(lang, h.category.code())) }
                dt { (t.urgency) } dd { (code(lang, h.urgency.code())) }
                dt { (l(lang, "Skarpt eller övning", "Real or exercise")) } dd id="status" {
                    (code(lang, h.status.code()))
                    @if h.status != Status::Actual { " " span class="exercise" { (if h.status == Status::Test { t.test } else { t.exercise }) } }
                }
                @if let Some(d) = h.planned_departure { dt { (t.planned_departure) } dd { (reading::time(d)) } }
            }
            (reading::sections(lang, &body))
            form method="post" action="/alerts/new" id="preview-form" {
                input type="hidden" name="csrf" value=(who.1);
                input type="hidden" name="form" value=(form_token);
                @for (name, value) in f.to_pairs() { input type="hidden" name=(name) value=(value); }
                button type="submit" name="step" value="send" id="send" { (l(lang, "Skicka", "Send")) }
                " "
                button type="submit" name="step" value="edit" id="edit" class="secondary" { (l(lang, "Ändra", "Change")) }
            }
        },
    )
}
