//! The agency officer's pages: the inbox, an alert's page, opening its sealed sections on demand
//! (each opening written to the access log first), and acknowledging it with an outcome, claimed
//! in the store before it is sent so a form submitted twice sends one acknowledgement, and
//! written to the access log as an intent before it is sent and as an outcome after.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use varsel_participant::client::{Client, Item};
use varsel_protocol::message::{NoteKind, Outcome};
use varsel_protocol::note;

use super::outgoing::{self, Entries, Logged, NotSent};
use super::pages::{self, AlertView};
use super::signin::CsrfForm;
use super::{csrf_refused, internal, lang_of, log_failed, signed_in, unrecorded, Desk, Shared};
use crate::access_log::Action;
use crate::session;
use crate::store::accounts::Account;
use crate::store::deliveries::Delivery;
use crate::store::sessions::Session;

#[derive(Debug, Deserialize)]
pub(super) struct AckForm {
    csrf: Option<String>,
    outcome: Option<String>,
}

/// A signed-in officer, the delivery asked for (of the officer's own participant) and the
/// participant's client; or the answer to give instead.
async fn officer_and(
    desk: &Desk,
    headers: &HeaderMap,
    id: Option<Uuid>,
) -> Result<(Session, Account, Option<Delivery>), Response> {
    let lang = lang_of(headers);
    let (s, a) = signed_in(desk, headers).await?;
    if !a.role.works_inbox() {
        return Err(pages::message(
            lang,
            StatusCode::FORBIDDEN,
            lang.t().forbidden,
            Some((&a, &s.csrf)),
        ));
    }
    let Some(id) = id else {
        return Ok((s, a, None));
    };
    match desk.store.delivery(id).await {
        Err(e) => Err(internal(lang, &e)),
        Ok(Some(d)) if d.participant == a.participant.as_str() => {
            let d = named(client(desk, &a), d);
            Ok((s, a, Some(d)))
        }
        Ok(_) => Err(pages::message(
            lang,
            StatusCode::NOT_FOUND,
            lang.t().not_found,
            Some((&a, &s.csrf)),
        )),
    }
}

/// Like [`officer_and`] for a form posted about a delivery: its CSRF token checked too.
pub(super) async fn officer_form(
    desk: &Desk,
    headers: &HeaderMap,
    id: Uuid,
    csrf: Option<&str>,
) -> Result<(Session, Account, Delivery), Response> {
    let (s, a, d) = officer_and(desk, headers, Some(id)).await?;
    if !session::csrf_matches(&s.csrf, csrf) {
        return Err(csrf_refused(lang_of(headers)));
    }
    Ok((s, a, d.expect("asked for")))
}

/// The schools' names from the registry in place of their ids, where the registry knows them.
pub(super) fn named(client: &Client, mut d: Delivery) -> Delivery {
    if let Some(p) = d
        .school
        .parse()
        .ok()
        .and_then(|id| client.registry.participant(&id))
    {
        d.school = p.name.clone();
    }
    d
}

pub(super) fn client<'a>(desk: &'a Desk, a: &Account) -> &'a Client {
    desk.clients
        .get(&a.participant)
        .expect("accounts belong to a participant the desk serves")
}

/// GET /inbox
pub(super) async fn inbox(State(desk): State<Shared>, headers: HeaderMap) -> Response {
    let lang = lang_of(&headers);
    let (s, a, _) = match officer_and(&desk, &headers, None).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match desk.store.inbox(&a.participant).await {
        Err(e) => internal(lang, &e),
        Ok(rows) => {
            let cancelled = match desk.store.cancelled_alerts(&a.participant).await {
                Ok(c) => c,
                Err(e) => return internal(lang, &e),
            };
            let c = client(&desk, &a);
            let rows: Vec<Delivery> = rows.into_iter().map(|d| named(c, d)).collect();
            pages::inbox(lang, (&a, &s.csrf), &rows, &cancelled, desk.now())
        }
    }
}

/// The note kinds the client's participant may post from the desk (the closing is the school's).
pub(super) fn note_kinds(client: &Client) -> Vec<NoteKind> {
    let Some(me) = client.registry.participant(client.me()) else {
        return Vec::new();
    };
    NoteKind::ALL
        .iter()
        .copied()
        .filter(|k| *k != NoteKind::CaseClosed && note::may_post(me, *k))
        .collect()
}

/// The rest of the case of `d` as this agency knows it: the updates and cancels delivered for the
/// same alert (in arrival order), the notes it posted, and the note kinds it may post.
pub(super) async fn case_view(
    desk: &Desk,
    a: &Account,
    d: &Delivery,
    lang: super::text::Lang,
) -> Result<AlertView<'static>, Response> {
    let loaded = async {
        Ok::<_, crate::store::Error>((
            desk.store
                .delivered_follow_ups(&d.participant, d.alert)
                .await?,
            desk.store.sent_notes(&d.participant, d.alert).await?,
        ))
    };
    let (follow_ups, posted) = loaded.await.map_err(|e| internal(lang, &e))?;
    Ok(AlertView {
        follow_ups,
        posted,
        note_kinds: note_kinds(client(desk, a)),
        note_token: session::token(),
        ..AlertView::default()
    })
}

/// GET /alert/{delivery}: the header, and the updates and cancels of the same alert; the content
/// stays sealed until asked for.
pub(super) async fn alert(
    State(desk): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Response {
    let lang = lang_of(&headers);
    let (s, a, d) = match officer_and(&desk, &headers, Some(id)).await {
        Ok((s, a, d)) => (s, a, d.expect("asked for")),
        Err(r) => return r,
    };
    let view = match case_view(&desk, &a, &d, lang).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    pages::alert(lang, StatusCode::OK, (&a, &s.csrf), &d, desk.now(), view)
}

/// POST /alert/{delivery}/open: opens the granted sections, logged before they are shown.
pub(super) async fn open(
    State(desk): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let lang = lang_of(&headers);
    let (s, a, d) = match officer_form(&desk, &headers, id, f.csrf.as_deref()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    // Verified as of its arrival: the keys that signed it were valid then.
    let at = chrono::DateTime::from_timestamp_millis(d.received_at).unwrap_or_default();
    let opened = match client(&desk, &a).open(&d.raw, at) {
        Ok(Item::Delivery(o)) => o,
        Ok(_) => return internal(lang, &"a kept delivery opened as another kind of message"),
        Err(r) => {
            return internal(
                lang,
                &format_args!("a kept delivery no longer opens ({})", r.reason.code()),
            )
        }
    };
    let sections: Vec<&str> = opened.opened.iter().map(|l| l.code()).collect();
    let now = desk.now();
    if let Err(e) = desk
        .store
        .log_access(
            &a.username,
            Action::Opened,
            Some(id),
            json!({ "sections": sections }),
            now,
        )
        .await
    {
        return internal(lang, &e);
    }
    tracing::info!(account = a.id, delivery = %id, "sealed sections opened");
    let body = super::reading::delivered(&opened).unwrap_or_else(|| json!({}));
    let not_granted = opened
        .not_granted
        .iter()
        .map(|l| l.code().to_owned())
        .collect();
    let view = match case_view(&desk, &a, &d, lang).await {
        Ok(v) => AlertView {
            opened: Some((body, not_granted)),
            notice: Some(lang.t().opened_logged),
            ..v
        },
        Err(r) => return r,
    };
    pages::alert(lang, StatusCode::OK, (&a, &s.csrf), &d, now, view)
}

/// POST /alert/{delivery}/ack: acknowledges as the signed-in officer, once.
pub(super) async fn acknowledge(
    State(desk): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Form(f): Form<AckForm>,
) -> Response {
    let lang = lang_of(&headers);
    let t = lang.t();
    let (s, a, d) = match officer_form(&desk, &headers, id, f.csrf.as_deref()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let now = desk.now();
    let base = match case_view(&desk, &a, &d, lang).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let refuse = |status: StatusCode, error: &str| {
        let view = AlertView {
            error: Some(error),
            ..base.clone()
        };
        pages::alert(lang, status, (&a, &s.csrf), &d, now, view)
    };
    let Some(outcome) = f.outcome.as_deref().and_then(|o| o.parse::<Outcome>().ok()) else {
        return refuse(StatusCode::BAD_REQUEST, t.outcome_missing);
    };
    match desk.store.claim_ack(id).await {
        Err(e) => return internal(lang, &e),
        Ok(false) => {
            tracing::warn!(account = a.id, delivery = %id, reason = "already_acknowledged", "a second acknowledgement was refused");
            return refuse(StatusCode::CONFLICT, t.already_acknowledged);
        }
        Ok(true) => {}
    }
    let c = client(&desk, &a);
    let (payload, compact) = c.ack_for(id, Some(d.alert), &a.display_name, outcome);
    let detail = json!({ "outcome": outcome.code(), "message": payload.id.to_string() });
    let log = Logged {
        account: &a,
        delivery: Some(id),
        detail: &detail,
        at: now,
    };
    let entries = Entries {
        intent: Action::Acknowledging,
        failed: Action::AckFailed,
    };
    if let Err(not_sent) = outgoing::publish(&desk, c, entries, log, &payload, &compact).await {
        if let Err(e) = desk.store.release_ack(id).await {
            return internal(lang, &e);
        }
        return match not_sent {
            NotSent::Unlogged(e) => log_failed(lang, &e, Some((&a, &s.csrf))),
            NotSent::Unconfirmed(_) => refuse(StatusCode::SERVICE_UNAVAILABLE, t.ack_failed),
        };
    }
    let recorded = async {
        desk.store
            .ack_sent(id, a.id, outcome.code(), payload.id, now)
            .await?;
        desk.store
            .log_access(&a.username, Action::Acknowledged, Some(id), detail, now)
            .await
    };
    if let Err(e) = recorded.await {
        return unrecorded(lang, t.ack_unrecorded, payload.id, &e, Some((&a, &s.csrf)));
    }
    tracing::info!(account = a.id, delivery = %id, message = %payload.id, "acknowledged");
    Redirect::to(&format!("/alert/{id}")).into_response()
}
