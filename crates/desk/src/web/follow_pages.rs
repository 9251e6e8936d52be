//! The school's alert page, rendered with maud (escaped by default): the alert's header, the
//! content sealed until asked for, each recipient's state, the escalations and refusals in words,
//! the updates and cancels sent in order, and the forms for another update, a cancel or the
//! case's closing with its outcome.

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;

use varsel_protocol::message::CaseOutcome;

use super::case::Thread;
use super::pages::page;
use super::reading::{time as stockholm, time_ms as time};
use super::school_pages::{escalations_list, l, recipients_table};
use super::text::{code, Lang};
use super::{reading, reasons};
use crate::store::accounts::Account;

/// What the page says above everything else.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Notice {
    Opened,
    TextMissing,
    TextRefused,
    AlreadySent,
    SendFailed,
    OutcomeMissing,
    JournalItemMissing,
    JournalWhen,
    JournalClosed,
    JournalEntryUnknown,
    AlreadyShared,
    NotShareable,
    NotShared,
}

impl Notice {
    fn words(self, lang: Lang) -> (&'static str, bool) {
        match self {
            Notice::Opened => (lang.t().opened_logged, false),
            Notice::TextMissing => (l(lang, "Skriv vad som är nytt innan du skickar uppdateringen.", "Write what is new before sending the update."), true),
            Notice::TextRefused => (l(lang, "Texten godtogs inte: den är för lång (högst 10 000 tecken) eller innehåller otillåtna tecken. Inget skickades.", "The text was not accepted: it is too long (at most 10,000 characters) or holds characters that are not allowed. Nothing was sent."), true),
            Notice::AlreadySent => (l(lang, "Det här formuläret är redan skickat. Det skickades inte en gång till.", "This form was sent already. It was not sent again."), true),
            Notice::OutcomeMissing => (l(lang, "Välj hur ärendet slutade innan du avslutar det.", "Choose how the case ended before closing it."), true),
            Notice::JournalItemMissing => (l(lang, "Välj vad som gjordes (en punkt på checklistan eller en anteckning). Inget sparades.", "Choose what was done (an item of the checklist or a note). Nothing was saved."), true),
            Notice::JournalWhen => (l(lang, "Tiden gick inte att läsa eller ligger i framtiden. Skriv när det gjordes, till exempel 2026-12-01 14:30. Inget sparades.", "The time could not be read or is in the future. Write when it was done, for example 2026-12-01 14:30. Nothing was saved."), true),
            Notice::JournalClosed => (l(lang, "Ärendet är avslutat; journalen tar inte emot fler anteckningar.", "The case is closed; the journal takes no more entries."), true),
            Notice::JournalEntryUnknown => (l(lang, "Den anteckningen finns inte i ärendets journal.", "That entry is not in the case's journal."), true),
            Notice::AlreadyShared => (l(lang, "Anteckningen är redan delad med mottagarna. Den skickades inte en gång till.", "The entry is already shared with the recipients. It was not sent again."), true),
            Notice::NotShareable => (l(lang, "Ärendet är återkallat eller avslutat, så inget mer kan delas med mottagarna.", "The alert is cancelled or its case closed, so nothing more can be shared with the recipients."), true),
            Notice::NotShared => (l(lang, "Anteckningen finns i journalen men kunde inte delas just nu (ingen kontakt med meddelandeservern). Inget skickades; dela den med knappen Dela med mottagarna.", "The entry is in the journal but could not be shared just now (no contact with the message server). Nothing was sent; share it with its button Share with the recipients."), true),
            Notice::SendFailed => (l(lang, "Meddelandet kunde inte skickas just nu (ingen kontakt med meddelandeservern). Inget skickades; försök igen.", "The message could not be sent just now (no contact with the message server). Nothing was sent; try again."), true),
        }
    }
}

fn follow_up_form(lang: Lang, csrf: &str, t: &Thread, kind: &'static str, token: &str) -> Markup {
    let (legend, hint, button) = if kind == "update" {
        (
            l(lang, "Skicka en uppdatering", "Send an update"),
            l(
                lang,
                "Vad är nytt? Texten förseglas som varslet.",
                "What is new? The text is sealed like the alert.",
            ),
            l(lang, "Skicka uppdateringen", "Send the update"),
        )
    } else {
        (
            l(lang, "Återkalla varslet", "Cancel the alert"),
            l(lang, "Varför återkallas det (frivilligt)? Mottagarna får återkallelsen och ska kvittera den.", "Why is it cancelled (optional)? The recipients get the cancel and are to acknowledge it."),
            l(lang, "Återkalla varslet", "Cancel the alert"),
        )
    };
    html! {
        form method="post" action={ "/alerts/" (t.alert.id) "/" (kind) } {
            fieldset {
                legend { (legend) }
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="form" value=(token);
                label for={ (kind) "-note" } { (l(lang, "Text", "Text")) }
                p id={ (kind) "-hint" } { (hint) }
                textarea id={ (kind) "-note" } name="note" rows="3" aria-describedby={ (kind) "-hint" } {}
                div { button type="submit" id={ "send-" (kind) } { (button) } }
            }
        }
    }
}

/// The closing form: how the case ended (one of the outcomes, as radio buttons) and an optional
/// text, sealed to the broker and told to every member.
fn close_form(lang: Lang, csrf: &str, t: &Thread) -> Markup {
    html! {
        form method="post" action={ "/alerts/" (t.alert.id) "/close" } {
            fieldset {
                legend { (l(lang, "Avsluta ärendet", "Close the case")) }
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="form" value=(&t.form_tokens.2);
                p id="close-hint" { (l(lang, "Alla mottagare får veta att ärendet är avslutat och hur det slutade (förseglat). Tidsfrister och eskaleringar upphör. Därefter kan inget mer skickas i ärendet.", "Every recipient is told the case is closed and how it ended (sealed). Deadlines and escalations stop. Nothing more can be sent in the case afterwards.")) }
                fieldset id="outcome" aria-describedby="close-hint" {
                    legend { (l(lang, "Hur slutade det?", "How did it end?")) }
                    @for o in CaseOutcome::ALL {
                        div {
                            input type="radio" name="outcome" id={ "outcome-" (o.code()) } value=(o.code()) required;
                            " "
                            label for={ "outcome-" (o.code()) } { (code(lang, o.code())) }
                        }
                    }
                }
                label for="close-note" { (l(lang, "Text (frivillig)", "Text (optional)")) }
                textarea id="close-note" name="note" rows="3" {}
                div { button type="submit" id="send-close" { (l(lang, "Avsluta ärendet", "Close the case")) } }
            }
        }
    }
}

fn recipients(lang: Lang, t: &Thread) -> Markup {
    html! {
        h2 { (lang.t().recipients) }
        div id="recipients" { (recipients_table(lang, &t.recipients)) }
        h2 { (l(lang, "Tidsfrister och eskaleringar", "Deadlines and escalations")) }
        @if t.escalations.is_empty() {
            p id="no-escalations" { (l(lang, "Ingen tidsfrist har passerat utan kvittens.", "No deadline has passed unacknowledged.")) }
        } @else {
            div id="escalations" { (escalations_list(lang, &t.escalations)) }
        }
    }
}

fn thread_list(lang: Lang, t: &Thread) -> Markup {
    html! {
        h2 { (l(lang, "Uppdateringar, återkallelse och avslut", "Updates, cancel and closing")) }
        @if t.follow_ups.is_empty() { p { (l(lang, "Inga har skickats.", "None sent.")) } } @else {
            ol id="follow-ups" {
                @for f in &t.follow_ups {
                    li data-kind=(f.kind) data-message=(f.id) {
                        (time(f.sent_at)) " – " (code(lang, &f.kind))
                        @if t.refused.iter().any(|r| r.message == f.id) { " – " strong class="error" { (l(lang, "avvisad av förmedlingen", "refused by the broker")) } }
                    }
                }
            }
        }
        @if !t.received.is_empty() {
            h2 { (l(lang, "Från myndigheterna i ärendet", "From the agencies in the case")) }
            ol id="received" {
                @for (delivery, kind, at) in &t.received {
                    li data-kind=(kind) data-delivery=(delivery) { (time(*at)) " – " (code(lang, kind)) }
                }
            }
        }
        @if !t.refused.is_empty() {
            h2 { (l(lang, "Avvisat av förmedlingen", "Refused by the broker")) }
            ul id="refused" {
                @for r in &t.refused {
                    li class="error" data-reason=(r.reason) data-kind=(r.kind) {
                        (time(r.at)) " – " (code(lang, &r.kind)) ": " (reasons::reason(lang, &r.reason))
                        br;
                        small { (l(lang, "Kod", "Code")) " " code { (varsel_protocol::refusal::bounded(&r.reason)) } "; " (r.detail) }
                    }
                }
            }
        }
    }
}

fn opened(lang: Lang, csrf: &str, t: &Thread) -> Markup {
    let tr = lang.t();
    html! {
        @match &t.opened {
            Some(messages) => {
                @for m in messages {
                    section class="sealed" data-kind=(m.kind) id={ "opened-" (m.message) } {
                        h2 { (code(lang, &m.kind)) ", " (time(m.sent_at)) }
                        @if let Some(from) = &m.from { p class="from" { (l(lang, "Från", "From")) ": " (from) } }
                        @match &m.body {
                            Ok(Value::Object(sections)) => {
                                @for (label, content) in sections {
                                    h3 { (code(lang, label)) }
                                    (reading::value(lang, None, content))
                                }
                            }
                            Ok(other) => (reading::value(lang, None, other)),
                            Err(reason) => p class="error" { (l(lang, "Kan inte öppnas här", "Cannot be opened here")) ": " (reasons::reason(lang, reason)) },
                        }
                    }
                }
            }
            None => {
                p { (l(lang, "Innehållet är förseglat. Det öppnas först när du begär det, och öppnandet loggas med ditt namn.", "The content is sealed. It is opened only when you ask, and the opening is logged with your name.")) }
                form method="post" action={ "/alerts/" (t.alert.id) "/open" } {
                    input type="hidden" name="csrf" value=(csrf);
                    button type="submit" id="open" { (tr.open_sections) }
                }
            }
        }
    }
}

pub(crate) fn alert(
    lang: Lang,
    status: StatusCode,
    who: (&Account, &str),
    t: &Thread,
    notice: Option<Notice>,
) -> Response {
    let tr = lang.t();
    let csrf = who.1;
    let title = format!(
        "{}: {}, {}",
        tr.alert,
        code(lang, &t.alert.category),
        code(lang, &t.alert.urgency).to_lowercase()
    );
    page(
        lang,
        status,
        &title,
        Some(who),
        html! {
            @if let Some((text, error)) = notice.map(|n| n.words(lang)) {
                @if error { p class="error" id="error" role="alert" { (text) } }
                @else { p class="notice" id="notice" role="status" { (text) } }
            }
            dl id="header" {
                dt { (tr.sent_at) } dd { (time(t.alert.sent_at)) }
                dt { (tr.category) } dd { (code(lang, &t.alert.category)) }
                dt { (tr.urgency) } dd { (code(lang, &t.alert.urgency)) }
                dt { (l(lang, "Skarpt eller övning", "Real or exercise")) } dd { (code(lang, &t.alert.status)) }
                @if let Some(p) = t.header.as_ref().and_then(|h| h.planned_departure) {
                    dt { (tr.planned_departure) } dd { (stockholm(p)) }
                }
                @if t.cancelled {
                    dt { (tr.state) } dd id="cancelled" class="overdue-flag" { (l(lang, "ÅTERKALLAT", "CANCELLED")) }
                }
                @if t.closed {
                    dt { (tr.state) } dd id="closed" { (l(lang, "AVSLUTAT", "CLOSED")) }
                }
            }
            (opened(lang, csrf, t))
            (recipients(lang, t))
            (thread_list(lang, t))
            (super::journal_pages::journal(lang, csrf, t))
            @if !t.cancelled && !t.closed {
                (follow_up_form(lang, csrf, t, "update", &t.form_tokens.0))
                (follow_up_form(lang, csrf, t, "cancel", &t.form_tokens.1))
                (close_form(lang, csrf, t))
            }
            p { a href="/alerts" { (tr.my_alerts) } }
        },
    )
}
