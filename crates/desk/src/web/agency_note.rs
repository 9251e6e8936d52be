//! An officer posts a note to a case from the alert's page: a decided temporary travel ban
//! (31 d § LVU) with its decision time and reference, an application for one, the case taken, a
//! child located, or a request for or reply with information. The kinds offered are those the
//! registry lets the officer's agency post; the note is sealed to the broker (and the agency
//! itself) under the case's routing header, sent once per form (a one-time token claimed before
//! sending), written to the access log as an intent before RabbitMQ sees it, and kept sealed for
//! the page's list.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use uuid::Uuid;

use varsel_participant::client::Item;
use varsel_protocol::message::NoteKind;
use varsel_protocol::note;

use super::agency::{case_view, client, officer_form};
use super::form_check::local_time_by;
use super::pages::{self, AlertView};
use super::send_once::{Keep, Sending, Unsent};
use super::text::Lang;
use super::{csrf_refused, internal, lang_of, Shared};

/// What the note form posts.
#[derive(Debug, Deserialize)]
pub(super) struct NoteForm {
    csrf: Option<String>,
    /// The form's one-time token.
    #[serde(default)]
    form: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    text: String,
    /// A `datetime-local` in Stockholm time; a decided travel ban needs it.
    #[serde(default)]
    decided_at: String,
    #[serde(default)]
    reference: String,
}

/// What the page says when the note's body is refused before sending: the first problem, in
/// words (the problems name fields, never quote what was typed).
fn refused_words(lang: Lang, problems: &[String]) -> &'static str {
    let sv = lang == Lang::Sv;
    let first = problems.first().map(String::as_str).unwrap_or_default();
    if first.starts_with("decided_at") {
        if sv {
            "Ett beslutat utreseförbud anger när det beslutades."
        } else {
            "A decided travel ban says when it was decided."
        }
    } else if first.starts_with("reference: missing") {
        if sv {
            "Ett beslutat utreseförbud anger beslutets diarienummer."
        } else {
            "A decided travel ban gives the decision's reference."
        }
    } else if first.starts_with("reference") {
        if sv {
            "Diarienumret är för långt (högst 200 tecken)."
        } else {
            "The reference is too long (at most 200 characters)."
        }
    } else if first.starts_with("text: missing") {
        if sv {
            "Skriv vad anteckningen gäller."
        } else {
            "Write what the note is about."
        }
    } else if sv {
        "Texten godtogs inte: den är för lång (högst 10 000 tecken). Inget skickades."
    } else {
        "The text was not accepted: it is too long (at most 10,000 characters). Nothing was sent."
    }
}

/// POST /alert/{delivery}/note
pub(super) async fn post(
    State(desk): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Form(f): Form<NoteForm>,
) -> Response {
    let lang = lang_of(&headers);
    let sv = lang == Lang::Sv;
    let (s, a, d) = match officer_form(&desk, &headers, id, f.csrf.as_deref()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if f.form.len() < 32 {
        return csrf_refused(lang);
    }
    let base = match case_view(&desk, &a, &d, lang).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let now = desk.clock.now();
    let refuse = |status: StatusCode, error: &str| {
        let view = AlertView {
            error: Some(error),
            ..base.clone()
        };
        pages::alert(
            lang,
            status,
            (&a, &s.csrf),
            &d,
            now.timestamp_millis(),
            view,
        )
    };
    let Some(kind) = f
        .kind
        .parse::<NoteKind>()
        .ok()
        .filter(|k| base.note_kinds.contains(k))
    else {
        tracing::warn!(account = a.id, delivery = %id, reason = "note_kind_not_permitted", "a note of a kind the agency may not post was refused");
        return refuse(
            StatusCode::FORBIDDEN,
            if sv {
                "Er myndighet får inte skicka den sortens anteckning. Inget skickades."
            } else {
                "Your agency may not send that kind of note. Nothing was sent."
            },
        );
    };
    if !base.open_case() {
        return refuse(
            StatusCode::CONFLICT,
            if sv {
                "Skolan har återkallat varslet eller avslutat ärendet; inget mer kan skickas i det."
            } else {
                "The school cancelled the alert or closed the case; nothing more can be sent in it."
            },
        );
    }
    let decided_at = match f.decided_at.trim() {
        "" => None,
        typed => match local_time_by(typed, now) {
            Some(t) => Some(t),
            None => {
                return refuse(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    if sv {
                        "Beslutstiden gick inte att läsa eller ligger i framtiden. Inget skickades."
                    } else {
                        "The decision time could not be read or is in the future. Nothing was sent."
                    },
                )
            }
        },
    };
    let reference = f.reference.trim();
    let body = note::Body {
        text: f.text.trim().to_owned().into(),
        decided_at,
        reference: (!reference.is_empty()).then(|| reference.to_owned().into()),
        outcome: None,
    };
    let problems = body.problems(kind);
    if !problems.is_empty() {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            refused_words(lang, &problems),
        );
    }
    let c = client(&desk, &a);
    // The case's routing header as the agency received it, verified as of its arrival.
    let received = chrono::DateTime::from_timestamp_millis(d.received_at).unwrap_or_default();
    let header = match c.open(&d.raw, received) {
        Ok(Item::Delivery(o)) => o.header,
        _ => return internal(lang, &"a kept delivery no longer opens"),
    };
    let sending = Sending {
        desk: &desk,
        client: c,
        who: (&s, &a),
        alert: d.alert,
        delivery: Some(id),
        form: &f.form,
        kind: kind.code(),
        keep: Keep::Note,
        lang,
    };
    let sent = sending.send(
        || c.seal_note(kind, d.alert, &header, &body, now),
        |status, unsent| {
            refuse(
                status,
                match (unsent, sv) {
                    (Unsent::Replayed, true) => "Det här formuläret är redan skickat. Det skickades inte en gång till.",
                    (Unsent::Replayed, false) => "This form was sent already. It was not sent again.",
                    (Unsent::NotTaken, true) => "Anteckningen kunde inte skickas just nu (ingen kontakt med meddelandeservern). Inget skickades; försök igen.",
                    (Unsent::NotTaken, false) => "The note could not be sent just now (no contact with the message server). Nothing was sent; try again.",
                },
            )
        },
    );
    let message = match sent.await {
        Ok(m) => m,
        Err(r) => return r,
    };
    tracing::info!(account = a.id, delivery = %id, %message, kind = kind.code(), "a note was posted to the case");
    Redirect::to(&format!("/alert/{id}")).into_response()
}
