//! The school's pages: *New alert* (the form, checked on the server by the protocol's validator,
//! every problem shown by its field in the page's language and nothing typed lost; a preview of
//! what recipients will read; a form is sent once, and written to the access log as an intent
//! before it is sent and as an outcome after) and *My alerts* (each sent alert with each
//! recipient's state, from the broker's feedback messages kept from the school's inbox).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde_json::json;

use varsel_participant::client::Client;

use super::form::AlertForm;
use super::form_check::{document, Errors};
use super::outgoing::{self, Logged, NotSent, SENDING};
use super::{
    csrf_refused, follow, form_page, internal, lang_of, log_failed, school_pages, staff,
    unrecorded, Desk, Shared,
};
use crate::access_log::Action;
use crate::session;
use crate::store::accounts::Account;
use crate::store::sessions::Session;

/// GET /alerts/new: an empty form with the school's name filled in.
pub(super) async fn new_form(State(desk): State<Shared>, headers: HeaderMap) -> Response {
    let lang = lang_of(&headers);
    let (s, a, client) = match staff(&desk, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let form = AlertForm {
        school_name: client
            .registry
            .participant(client.me())
            .map(|p| p.name.clone())
            .unwrap_or_default(),
        status: "actual".into(),
        ..AlertForm::empty()
    };
    form_page::new_alert(
        lang,
        StatusCode::OK,
        (&a, &s.csrf),
        &form,
        &session::token(),
        &Errors::default(),
    )
}

/// POST /alerts/new: by the button pressed, another empty guardian or sibling row, back to the
/// form from the preview, the preview, or the alert validated, sealed, signed and sent, once.
pub(super) async fn send(
    State(desk): State<Shared>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let lang = lang_of(&headers);
    let (s, a, client) = match staff(&desk, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut f = AlertForm::from_pairs(pairs);
    if !session::csrf_matches(&s.csrf, f.csrf.as_deref()) {
        return csrf_refused(lang);
    }
    let form_again = |f: &AlertForm, status: StatusCode, errors: &Errors| {
        form_page::new_alert(lang, status, (&a, &s.csrf), f, &f.form, errors)
    };
    match f.step.as_str() {
        "add_guardian" => f.add_guardian(),
        "add_sibling" => f.add_sibling(),
        "edit" => {}
        // A post that pressed no known button (a script's, or an old page's) is previewed, not
        // sent: only the preview's own button sends.
        _ => return check_and_send(&desk, (&s, &a, client), f, lang).await,
    }
    form_again(&f, StatusCode::OK, &Errors::default())
}

/// Previews or (for `step=send`) sends a form.
async fn check_and_send(
    desk: &Desk,
    (s, a, client): (&Session, &Account, &Client),
    f: AlertForm,
    lang: crate::web::text::Lang,
) -> Response {
    let now = desk.clock.now();
    let refuse = |status: StatusCode, errors: &Errors| {
        form_page::new_alert(lang, status, (a, &s.csrf), &f, &f.form, errors)
    };
    let municipality = client
        .registry
        .participant(client.me())
        .and_then(|p| p.municipality.as_ref());
    let doc = match document(&f, municipality, lang, now) {
        Ok(doc) => doc,
        Err(errors) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, &errors),
    };
    if f.step != "send" {
        return form_page::preview(lang, (a, &s.csrf), &f, &f.form, &doc);
    }
    if f.form.len() < 32 {
        return csrf_refused(lang);
    }
    match desk.store.claim_form(&f.form, now.timestamp_millis()).await {
        Err(e) => return internal(lang, &e),
        Ok(false) => {
            tracing::warn!(
                account = a.id,
                reason = "form_replayed",
                "a New alert form sent before was refused"
            );
            return school_pages::already_sent(lang, (a, &s.csrf));
        }
        Ok(true) => {}
    }
    let at = now.timestamp_millis();
    let not_sent_page = |e: &dyn std::fmt::Display| {
        tracing::warn!(account = a.id, error = %e, "an alert could not be sent");
        let errors = Errors {
            general: vec![lang.t().send_failed.to_owned()],
            ..Errors::default()
        };
        refuse(StatusCode::SERVICE_UNAVAILABLE, &errors)
    };
    let (payload, compact) = match client.seal_for_self_too(&doc, now) {
        Ok(x) => x,
        Err(e) => {
            if let Err(e) = desk.store.release_form(&f.form).await {
                return internal(lang, &e);
            }
            return not_sent_page(&e);
        }
    };
    let detail = json!({ "message": payload.id.to_string() });
    let log = Logged {
        account: a,
        delivery: None,
        detail: &detail,
        at,
    };
    if let Err(not_sent) = outgoing::publish(desk, client, SENDING, log, &payload, &compact).await {
        if let Err(e) = desk.store.release_form(&f.form).await {
            return internal(lang, &e);
        }
        return match not_sent {
            NotSent::Unlogged(e) => log_failed(lang, &e, Some((a, &s.csrf))),
            NotSent::Unconfirmed(e) => not_sent_page(&e),
        };
    }
    let kept = async {
        desk.store
            .keep_sent(
                payload.id,
                &a.participant,
                a.id,
                &doc.header,
                compact.as_bytes(),
                at,
            )
            .await?;
        desk.store
            .log_access(&a.username, Action::Sent, None, detail, at)
            .await
    };
    if let Err(e) = kept.await {
        let t = lang.t();
        return unrecorded(lang, t.sent_unrecorded, payload.id, &e, Some((a, &s.csrf)));
    }
    tracing::info!(account = a.id, message = %payload.id, "alert sent");
    Redirect::to("/alerts").into_response()
}

/// GET /alerts: the school's sent alerts with each recipient's latest state.
pub(super) async fn mine(State(desk): State<Shared>, headers: HeaderMap) -> Response {
    let lang = lang_of(&headers);
    let (s, a, client) = match staff(&desk, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (sent, feedback) = match (
        desk.store.sent(&a.participant).await,
        desk.store.feedback(&a.participant).await,
    ) {
        (Ok(s), Ok(f)) => (s, f),
        (Err(e), _) | (_, Err(e)) => return internal(lang, &e),
    };
    let feedback = follow::opened_feedback(client, feedback);
    let rows: Vec<school_pages::Row> = sent
        .into_iter()
        .map(|alert| {
            let (recipients, escalations) = follow::reports(client, &feedback, alert.id);
            school_pages::Row {
                alert,
                recipients,
                escalations,
            }
        })
        .collect();
    school_pages::my_alerts(lang, Some((&a, &s.csrf)), &rows)
}
