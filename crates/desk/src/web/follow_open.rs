//! Opening the school's alert page: the alert and the updates, cancels and closing it sent, the
//! case's journal texts, and the notes other members of the case sent the school (a decided
//! travel ban, the case taken, …), each opened for the signed-in member of staff and written to
//! the access log before anything is shown.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use serde_json::json;
use uuid::Uuid;

use varsel_participant::client::{Client, Item};

use super::case::{Opened, Thread};
use super::follow::{at, posted};
use super::follow_pages;
use super::signin::CsrfForm;
use super::{internal, lang_of, Desk, Shared};
use crate::access_log::Action;

/// POST /alerts/{alert}/open: opens the alert and its updates and cancels for the signed-in
/// member of staff, written to the access log before it is shown.
pub(super) async fn open(
    State(desk): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let lang = lang_of(&headers);
    let (s, a, client, mut t) = match posted(&desk, &headers, id, f.csrf.as_deref(), None).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut messages = vec![("alert".to_owned(), id, t.alert.sent_at, t.raw.clone())];
    messages.extend(
        t.follow_ups
            .iter()
            .map(|f| (f.kind.clone(), f.id, f.sent_at, f.raw.clone())),
    );
    let mut opened: Vec<Opened> = messages
        .into_iter()
        .map(|(kind, message, sent_at, raw)| Opened {
            kind,
            from: None,
            sent_at,
            // Verified as of when it was sent: the keys that signed it were valid then.
            body: client
                .open_offline(&raw, at(sent_at))
                .map(|v| v["body"].clone())
                .map_err(|r| r.reason.code().to_owned()),
            message,
        })
        .collect();
    let received = match received_notes(&desk, client, &t).await {
        Ok(r) => r,
        Err(e) => return internal(lang, &e),
    };
    let ids: Vec<String> = opened
        .iter()
        .filter(|o| o.body.is_ok())
        .map(|o| o.message.to_string())
        .collect();
    let deliveries: Vec<String> = received
        .iter()
        .filter(|o| o.body.is_ok())
        .map(|o| o.message.to_string())
        .collect();
    opened.extend(received);
    let texts: BTreeMap<Uuid, Option<String>> = t
        .journal
        .iter()
        .map(|e| match desk.store.entry_text(e) {
            Ok(text) => (e.id, Some(text)),
            Err(err) => {
                tracing::error!(account = a.id, alert = %id, entry = %e.id, error = %err, "a journal entry does not open");
                (e.id, None)
            }
        })
        .collect();
    let entries: Vec<String> = texts
        .iter()
        .filter(|(_, text)| text.is_some())
        .map(|(entry, _)| entry.to_string())
        .collect();
    if let Err(e) = desk
        .store
        .log_access(
            &a.username,
            Action::Opened,
            None,
            json!({
                "alert": id.to_string(),
                "messages": ids,
                "journal": entries,
                "received": deliveries,
            }),
            desk.now(),
        )
        .await
    {
        return internal(lang, &e);
    }
    tracing::info!(account = a.id, alert = %id, "a sent alert opened");
    t.opened = Some(opened);
    t.journal_texts = Some(texts);
    follow_pages::alert(
        lang,
        StatusCode::OK,
        (&a, &s.csrf),
        &t,
        Some(follow_pages::Notice::Opened),
    )
}

/// The notes the case's members sent the school about this alert (a decided travel ban, the
/// case taken, …), opened as of their arrival; one that does not open says why.
async fn received_notes(
    desk: &Desk,
    client: &Client,
    t: &Thread,
) -> Result<Vec<Opened>, crate::store::Error> {
    let mut out = Vec::new();
    for (delivery, kind, received_at) in &t.received {
        let Some(d) = desk.store.delivery(*delivery).await? else {
            continue;
        };
        let (from, body) = match client.open(&d.raw, at(*received_at)) {
            Ok(Item::Delivery(o)) => (
                Some(o.school_name.clone()),
                super::reading::delivered(&o).ok_or_else(|| "not_granted".to_owned()),
            ),
            Ok(_) => (None, Err("schema".to_owned())),
            Err(r) => (None, Err(r.reason.code().to_owned())),
        };
        out.push(Opened {
            kind: kind.clone(),
            from,
            message: *delivery,
            sent_at: *received_at,
            body,
        });
    }
    Ok(out)
}
