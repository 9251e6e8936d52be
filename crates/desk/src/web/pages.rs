//! The pages, rendered with maud (escaped by default): one layout with the language switch and
//! the signed-in person's name, and the page bodies. Markup is plain HTML: labels on every field,
//! tables with headers, state in words; the one script (the live inbox's) only adds to a page
//! that works without it.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use serde_json::Value;
use std::collections::HashSet;
use uuid::Uuid;

use varsel_protocol::message::NoteKind;

use super::reading::time_ms as time;
use super::text::{code, Lang};
use crate::store::accounts::Account;
use crate::store::deliveries::Delivery;
use crate::store::notes::SentNote;

/// The signed-in person and the session's CSRF token, for the header's sign-out form.
pub(crate) type Who<'a> = Option<(&'a Account, &'a str)>;

pub(crate) fn page(
    lang: Lang,
    status: StatusCode,
    title: &str,
    who: Who<'_>,
    body: Markup,
) -> Response {
    let t = lang.t();
    let other = lang.other();
    let markup = html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – varsel" }
                link rel="stylesheet" href="/desk.css";
            }
            body {
                header {
                    strong { "varsel" }
                    @if let Some((a, _)) = who {
                        @if a.role.works_inbox() { a href="/inbox" { (t.inbox) } }
                        @if a.role.works_school() { a href="/alerts/new" { (t.new_alert) } a href="/alerts" { (t.my_alerts) } }
                    }
                    a href={ "/lang/" (other.code()) } lang=(other.code()) { (other.t().language_name) }
                    @if let Some((a, csrf)) = who {
                        span class="who" { (t.signed_in_as) " " (a.display_name) }
                        form class="inline" method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { (t.sign_out) }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    };
    (status, Html(markup.into_string())).into_response()
}

/// A page that says one thing (an error, a refusal).
pub(crate) fn message(lang: Lang, status: StatusCode, text: &str, who: Who<'_>) -> Response {
    let t = lang.t();
    page(
        lang,
        status,
        "varsel",
        who,
        html! {
            p class=(if status.is_success() { "notice" } else { "error" }) role="alert" { (text) }
            @if who.is_some_and(|(a, _)| a.role.works_inbox()) { p { a href="/inbox" { (t.back_to_inbox) } } }
        },
    )
}

pub(crate) fn login(
    lang: Lang,
    status: StatusCode,
    csrf: &str,
    username: &str,
    error: Option<&str>,
) -> Response {
    let t = lang.t();
    page(
        lang,
        status,
        t.sign_in,
        None,
        html! {
            @if let Some(e) = error { p class="error" id="login-error" role="alert" { (e) } }
            form method="post" action="/login" {
                input type="hidden" name="csrf" value=(csrf);
                label for="username" { (t.username) }
                input id="username" name="username" type="text" autocomplete="username" required value=(username);
                label for="password" { (t.password) }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                div { button type="submit" id="sign-in" { (t.next) } }
            }
        },
    )
}

pub(crate) fn code_form(
    lang: Lang,
    status: StatusCode,
    csrf: &str,
    error: Option<&str>,
) -> Response {
    let t = lang.t();
    page(
        lang,
        status,
        t.sign_in,
        None,
        html! {
            @if let Some(e) = error { p class="error" id="code-error" role="alert" { (e) } }
            form method="post" action="/login/code" {
                input type="hidden" name="csrf" value=(csrf);
                label for="code" { (t.code) }
                p id="code-hint" { (t.code_hint) }
                input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code"
                    pattern="[0-9]{6}" maxlength="6" required aria-describedby="code-hint";
                div { button type="submit" id="verify" { (t.sign_in) } }
            }
        },
    )
}

fn span(ms: i64) -> String {
    let min = ms.abs() / 60_000;
    if min >= 60 {
        format!("{} h {} min", min / 60, min % 60)
    } else {
        format!("{min} min")
    }
}

/// The deadline cell: time left, or how late, in words; whether it is overdue.
fn deadline(lang: Lang, d: &Delivery, now: i64) -> (String, bool) {
    let t = lang.t();
    if let Some(by) = &d.acked_by {
        return (format!("{} {by}", t.acknowledged_by), false);
    }
    match d.ack_due {
        None => ("–".to_owned(), false),
        Some(due) if due <= now => (format!("{} {}", t.overdue, span(now - due)), true),
        Some(due) => (format!("{} {}", span(due - now), t.in_time), false),
    }
}

fn status_flag(lang: Lang, status: &str) -> Markup {
    let t = lang.t();
    html! {
        @match status {
            "exercise" => { " " span class="exercise" { (t.exercise) } }
            "test" => { " " span class="exercise" { (t.test) } }
            _ => {}
        }
    }
}

/// The mark of an alert its school cancelled.
fn cancelled_flag(lang: Lang) -> Markup {
    html! { " " span class="exercise cancelled" { (code(lang, "cancel").to_uppercase()) } }
}

pub(crate) fn inbox(
    lang: Lang,
    who: (&Account, &str),
    rows: &[Delivery],
    cancelled: &HashSet<Uuid>,
    now: i64,
) -> Response {
    let t = lang.t();
    page(
        lang,
        StatusCode::OK,
        t.inbox,
        Some(who),
        html! {
            // Shown by the live inbox's script, where the browser can notify.
            button type="button" id="notify" hidden { (t.enable_notifications) }
            p id="live-status" role="status" {}
            @if rows.is_empty() { p id="inbox-empty" { (t.inbox_empty) } }
            // There even when empty, so a new row has a table to go to.
            // When it was rendered: the live inbox's stream starts with what came after.
            table id="inbox" hidden[rows.is_empty()] data-rendered=(now) {
                thead { tr {
                    th scope="col" { (t.alert) } th scope="col" { (t.urgency) } th scope="col" { (t.category) }
                    th scope="col" { (t.municipality) } th scope="col" { (t.deadline) } th scope="col" { (t.role) }
                    th scope="col" { (t.received) }
                } }
                tbody { @for d in rows { (inbox_row(lang, d, d.kind == "alert" && cancelled.contains(&d.alert), now)) } }
            }
            script src="/static/live.js" defer {}
        },
    )
}

/// One delivery's row in the inbox, for the page and for the live inbox's events alike.
/// `cancelled`: the delivery is an alert its school has cancelled since.
pub(crate) fn inbox_row(lang: Lang, d: &Delivery, cancelled: bool, now: i64) -> Markup {
    let t = lang.t();
    let (left, overdue) = deadline(lang, d, now);
    html! {
        tr class=(if overdue { "overdue" } else { "" }) data-delivery=(d.delivery) data-overdue=(overdue) {
            td { a href={ "/alert/" (d.delivery) } { (code(lang, &d.kind)) " " (d.school) } (status_flag(lang, &d.status))
                @if cancelled { (cancelled_flag(lang)) } }
            td { (code(lang, &d.urgency)) }
            td { (code(lang, &d.category)) }
            td { (d.municipality) }
            td class=(if overdue { "overdue-flag" } else { "" }) { (left) }
            td { (if d.role == "required" { t.required } else { t.informed }) }
            td { (time(d.received_at)) }
        }
    }
}

/// What the alert page shows besides the header: the opened content, a notice, an error, and
/// the rest of the case as this agency knows it.
#[derive(Default, Clone)]
pub(crate) struct AlertView<'a> {
    /// The opened body (JSON by section) and the sections not granted.
    pub opened: Option<(Value, Vec<String>)>,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
    /// The updates and cancels delivered for the same alert, in arrival order (delivery, kind,
    /// received at).
    pub follow_ups: Vec<(Uuid, String, i64)>,
    /// The notes this agency posted to the case, in the order sent.
    pub posted: Vec<SentNote>,
    /// The note kinds this agency may post (none: no form).
    pub note_kinds: Vec<NoteKind>,
    /// A fresh one-time token for the note form.
    pub note_token: String,
}

impl AlertView<'_> {
    /// Whether the case still takes notes: its school has neither cancelled nor closed it.
    pub(crate) fn open_case(&self) -> bool {
        !self
            .follow_ups
            .iter()
            .any(|(_, k, _)| k == "cancel" || k == "case_closed")
    }
}

/// The note form: the kinds this agency may post, the text, and a decided travel ban's decision
/// time and reference.
fn note_form(lang: Lang, csrf: &str, d: &Delivery, view: &AlertView<'_>) -> Markup {
    let sv = lang == Lang::Sv;
    html! {
        form method="post" action={ "/alert/" (d.delivery) "/note" } {
            fieldset {
                legend { (if sv { "Skriv i ärendet" } else { "Post to the case" }) }
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="form" value=(view.note_token);
                p id="note-hint" { (if sv { "Anteckningen förseglas och går till ärendets övriga parter enligt förmedlingstabellen." } else { "The note is sealed and goes to the case's other members as the routing table says." }) }
                label for="note-kind" { (if sv { "Vad" } else { "What" }) }
                select id="note-kind" name="kind" required aria-describedby="note-hint" {
                    option value="" { (if sv { "Välj" } else { "Choose" }) }
                    @for k in &view.note_kinds { option value=(k.code()) { (code(lang, k.code())) } }
                }
                label for="note-text" { "Text" }
                textarea id="note-text" name="text" rows="3" {}
                label for="note-decided" { (if sv { "Beslutat (utreseförbud)" } else { "Decided (travel ban)" }) }
                input type="datetime-local" id="note-decided" name="decided_at";
                label for="note-reference" { (if sv { "Diarienummer (utreseförbud)" } else { "Reference (travel ban)" }) }
                input type="text" id="note-reference" name="reference" maxlength="200";
                div { button type="submit" id="post-note" { (if sv { "Skicka anteckningen" } else { "Send the note" }) } }
            }
        }
    }
}

pub(crate) fn alert(
    lang: Lang,
    status: StatusCode,
    who: (&Account, &str),
    d: &Delivery,
    now: i64,
    view: AlertView<'_>,
) -> Response {
    let t = lang.t();
    let csrf = who.1;
    let (left, overdue) = deadline(lang, d, now);
    let title = format!("{} – {}", code(lang, &d.kind), d.school);
    page(
        lang,
        status,
        &title,
        Some(who),
        html! {
            @if let Some(n) = view.notice { p class="notice" id="notice" role="status" { (n) } }
            @if let Some(e) = view.error { p class="error" id="error" role="alert" { (e) } }
            dl id="header" {
                dt { (t.school) } dd { (d.school) (status_flag(lang, &d.status))
                    @if view.follow_ups.iter().any(|(_, k, _)| k == "cancel") { span id="cancelled" { (cancelled_flag(lang)) } }
                    @if view.follow_ups.iter().any(|(_, k, _)| k == "case_closed") { " " span id="closed" class="exercise" { (code(lang, "case_closed").to_uppercase()) } } }
                dt { (t.category) } dd { (code(lang, &d.category)) }
                dt { (t.urgency) } dd { (code(lang, &d.urgency)) }
                dt { (t.municipality) } dd { (d.municipality) }
                @if let Some(p) = d.planned_departure { dt { (t.planned_departure) } dd { (time(p)) } }
                dt { (t.role) } dd { (if d.role == "required" { t.required } else { t.informed }) }
                dt { (t.received) } dd { (time(d.received_at)) }
                dt { (t.state) } dd id="state" class=(if overdue { "overdue-flag" } else { "" }) {
                    (left)
                    @if let Some(o) = &d.outcome { " (" (code(lang, o)) ")" }
                }
            }
            @match &view.opened {
                Some((body, not_granted)) => {
                    (super::reading::sections(lang, body))
                    @if !not_granted.is_empty() {
                        p id="not-granted" { (t.not_granted) ": "
                            @for (i, l) in not_granted.iter().enumerate() { @if i > 0 { ", " } (code(lang, l)) } }
                    }
                }
                None => {
                    p { (t.sealed_note) }
                    form method="post" action={ "/alert/" (d.delivery) "/open" } {
                        input type="hidden" name="csrf" value=(csrf);
                        button type="submit" id="open" { (t.open_sections) }
                    }
                }
            }
            @if !view.follow_ups.is_empty() {
                h2 { (if lang == Lang::Sv { "Uppdateringar, återkallelse och anteckningar" } else { "Updates, cancel and notes" }) }
                ol id="follow-ups" {
                    @for (delivery, kind, at) in &view.follow_ups {
                        li data-kind=(kind) data-delivery=(delivery) {
                            (time(*at)) " – "
                            @if *delivery == d.delivery { (code(lang, kind)) } @else { a href={ "/alert/" (delivery) } { (code(lang, kind)) } }
                        }
                    }
                }
            }
            @if !view.posted.is_empty() {
                h2 { (if lang == Lang::Sv { "Anteckningar ni skickat" } else { "Notes you posted" }) }
                ol id="posted" {
                    @for n in &view.posted {
                        li data-kind=(n.kind) data-message=(n.id) { (time(n.sent_at)) " – " (code(lang, &n.kind)) " – " (n.by) }
                    }
                }
            }
            @if d.kind == "alert" && !view.note_kinds.is_empty() && view.open_case() {
                (note_form(lang, csrf, d, &view))
            }
            @if d.ack_state.is_none() {
                h2 { (t.acknowledge) }
                form method="post" action={ "/alert/" (d.delivery) "/ack" } {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="outcome" { (t.outcome) }
                    select id="outcome" name="outcome" required {
                        option value="" { (t.choose_outcome) }
                        @for o in varsel_protocol::message::Outcome::ALL { option value=(o.code()) { (code(lang, o.code())) } }
                    }
                    div { button type="submit" id="acknowledge" { (t.acknowledge) } }
                }
            }
            p { a href="/inbox" { (t.back_to_inbox) } }
        },
    )
}
