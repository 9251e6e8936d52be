//! The school's pages, rendered with maud: the answer to a *New alert* form sent before, and *My
//! alerts* with each recipient's state (the form itself and its preview are in `form_page`).

use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::html;

use varsel_protocol::message::Feedback;

use super::pages::{page, Who};
use super::text::{code, Lang};
use crate::store::sent::Sent;

/// The words of `lang` for text only the school's pages say.
pub(super) fn l(lang: Lang, sv: &'static str, en: &'static str) -> &'static str {
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

/// One sent alert and its recipients' latest reports (recipient's name, report).
pub(crate) struct Row {
    pub alert: Sent,
    pub recipients: Vec<(String, Feedback)>,
}

fn time(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Europe::Stockholm)
        .format("%Y-%m-%d %H:%M")
        .to_string()
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
                    h2 {
                        (code(lang, &r.alert.category)) ", " (code(lang, &r.alert.urgency).to_lowercase())
                        @if r.alert.status != "actual" { " " span class="exercise" { (code(lang, &r.alert.status).to_uppercase()) } }
                    }
                    p { (t.sent_at) " " (DateTime::from_timestamp_millis(r.alert.sent_at).map(time).unwrap_or_default()) }
                    @if r.recipients.is_empty() { p { (t.no_feedback) } } @else {
                        table {
                            thead { tr { th scope="col" { (t.recipients) } th scope="col" { (t.state) } th scope="col" { (l(lang, "Tid", "Time")) } } }
                            tbody {
                                @for (name, fb) in &r.recipients {
                                    tr data-recipient=(fb.recipient) data-state=(fb.state.code()) {
                                        td { (name) }
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
        },
    )
}
