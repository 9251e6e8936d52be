//! The journal on the school's alert page: the checklist with each item's latest entry (when,
//! who, shared or not), the entries in the order written with their texts once the page was
//! opened, and the form that writes another.

use maud::{html, Markup};

use varsel_protocol::alert::Action as Checklist;

use super::case::Thread;
use super::reading::time_ms as time;
use super::school_pages::l;
use super::text::{code, Lang};
use crate::store::journal::{Entry, NOTE};

/// An entry's item in words.
fn item(lang: Lang, e: &Entry) -> &str {
    if e.item == NOTE {
        l(lang, "Anteckning", "Note")
    } else {
        code(lang, &e.item)
    }
}

fn shared_flag(lang: Lang) -> Markup {
    html! { " – " span class="shared" { (l(lang, "delat med mottagarna", "shared with the recipients")) } }
}

/// The checklist: each item of the routine (not `other`) with its latest entry.
fn checklist(lang: Lang, t: &Thread) -> Markup {
    html! {
        table id="checklist" {
            caption { (l(lang, "Checklista", "Checklist")) }
            thead { tr { th scope="col" { (l(lang, "Åtgärd", "Action")) } th scope="col" { (l(lang, "Gjort", "Done")) } } }
            tbody {
                @for a in Checklist::ALL.iter().filter(|a| **a != Checklist::Other) {
                    @let done = t.journal.iter().rev().find(|e| e.item == a.code());
                    tr data-item=(a.code()) data-done=(done.is_some()) {
                        th scope="row" { (code(lang, a.code())) }
                        td {
                            @match done {
                                Some(e) => {
                                    (time(e.done_at)) ", " (e.by)
                                    @if e.shared.is_some() { (shared_flag(lang)) }
                                }
                                None => { (l(lang, "Inte gjort", "Not done")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn entries(lang: Lang, csrf: &str, t: &Thread) -> Markup {
    html! {
        @if t.journal.is_empty() {
            p id="journal-empty" { (l(lang, "Inget är skrivet i journalen ännu.", "Nothing is written in the journal yet.")) }
        } @else {
            ol id="journal" {
                @for e in &t.journal {
                    li data-item=(e.item) data-entry=(e.id) data-shared=(e.shared.is_some()) {
                        (time(e.done_at)) " – " strong { (item(lang, e)) } " – " (e.by)
                        @if e.shared.is_some() { (shared_flag(lang)) }
                        @match t.journal_texts.as_ref().map(|texts| texts.get(&e.id)) {
                            Some(Some(Some(text))) if !text.is_empty() => { p class="entry-text" { (text) } }
                            Some(Some(Some(_))) => {}
                            Some(_) => { p class="error" { (l(lang, "Texten kan inte öppnas här.", "The text cannot be opened here.")) } }
                            None => {}
                        }
                        @if e.shared.is_none() && t.shareable() {
                            form method="post" action={ "/alerts/" (t.alert.id) "/journal/" (e.id) "/share" } class="inline" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" class="share" aria-label={ (l(lang, "Dela med mottagarna", "Share with the recipients")) ": " (item(lang, e)) ", " (time(e.done_at)) } {
                                    (l(lang, "Dela med mottagarna", "Share with the recipients"))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn write_form(lang: Lang, csrf: &str, t: &Thread) -> Markup {
    html! {
        form method="post" action={ "/alerts/" (t.alert.id) "/journal" } {
            fieldset {
                legend { (l(lang, "Skriv i journalen", "Write in the journal")) }
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="form" value=(&t.journal_token);
                label for="journal-item" { (l(lang, "Vad", "What")) }
                select id="journal-item" name="item" required {
                    option value="" { (l(lang, "Välj", "Choose")) }
                    @for a in Checklist::ALL { option value=(a.code()) { (code(lang, a.code())) } }
                    option value=(NOTE) { (l(lang, "Anteckning", "Note")) }
                }
                label for="journal-done" { (l(lang, "När (tom: nu)", "When (empty: now)")) }
                input type="datetime-local" id="journal-done" name="done_at";
                label for="journal-text" { (l(lang, "Text", "Text")) }
                p id="journal-hint" { (l(lang, "Vad gjordes och vad kom fram (till exempel vad hembesöket visade, eller hur det gick med syskonens skolor). Texten sparas förseglad.", "What was done and what came of it (for example what the home visit found, or what the siblings' schools said). The text is kept sealed.")) }
                textarea id="journal-text" name="text" rows="3" aria-describedby="journal-hint" {}
                @if t.shareable() {
                    div {
                        input type="checkbox" id="journal-share" name="share" value="on";
                        " "
                        label for="journal-share" { (l(lang, "Dela med mottagarna (skickas förseglat som en uppdatering)", "Share with the recipients (sent sealed as an update)")) }
                    }
                }
                div { button type="submit" id="write-journal" { (l(lang, "Spara i journalen", "Save in the journal")) } }
            }
        }
    }
}

/// The journal's part of the alert page.
pub(crate) fn journal(lang: Lang, csrf: &str, t: &Thread) -> Markup {
    html! {
        section id="journal-section" aria-labelledby="journal-heading" {
            h2 id="journal-heading" { (l(lang, "Journal och checklista", "Journal and checklist")) }
            (checklist(lang, t))
            (entries(lang, csrf, t))
            @if !t.closed { (write_form(lang, csrf, t)) }
        }
    }
}
