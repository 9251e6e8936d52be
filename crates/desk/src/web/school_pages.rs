//! The school's pages, rendered with maud: the answer to a *New alert* form sent before, and *My
//! alerts* with each recipient's state (the form itself and its preview are in `form_page`).

use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::{html, Markup};

use varsel_protocol::message::Feedback;

use super::pages::{page, Who};
use super::reading::{time, time_ms};
use super::text::{code, Lang};
use crate::store::sent::Sent;

/// The words of `lang` for text only the school's pages say.
pub(crate) fn l(lang: Lang, sv: &'static str, en: &'static str) -> &'static str {
    if lang == Lang::Sv {
        sv
    } else {
        en
    }
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
                thead { tr {
                    th scope="col" { (t.recipients) } th scope="col" { (t.state) } th scope="col" { (l(lang, "Tid", "Time")) }
                    th scope="col" { (l(lang, "Senast", "Due")) }
                } }
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
                            td class="due" {
                                @if let Some((what, at)) = next_due(lang, fb) { (what) " " (time(at)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What the recipient must do next and by when, from the deadlines the broker's report carries:
/// receipt the delivery while it has not, then acknowledge it if it is required; nothing once
/// it is closed (acknowledged, declined, cancelled, expired).
fn next_due(lang: Lang, fb: &Feedback) -> Option<(&'static str, DateTime<Utc>)> {
    use varsel_protocol::message::DeliveryState::{Escalated, Pending, Received, Sent, Unroutable};
    let receipt = || {
        fb.receipt_due
            .map(|at| (l(lang, "ta emot senast", "receipt by"), at))
    };
    let ack = || {
        fb.ack_due
            .map(|at| (l(lang, "kvittera senast", "acknowledge by"), at))
    };
    match fb.state {
        Pending | Sent | Unroutable => receipt().or_else(ack),
        // Received, or a deadline passed and the broker escalated: the acknowledgement is what
        // is still owed.
        Received | Escalated => ack(),
        _ => None,
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
                    p { (t.sent_at) " " (time_ms(r.alert.sent_at)) }
                    (recipients_table(lang, &r.recipients))
                    @if !r.escalations.is_empty() { (escalations_list(lang, &r.escalations)) }
                }
            }
        },
    )
}
