//! The school's alert page: one sent alert with each recipient's state, the escalations and the
//! broker's refusals as the school's inbox reports them, its content opened on demand (logged
//! first), and the forms that send an update or a cancel about it, or close its case with an
//! outcome. Each form carries the session's CSRF token and a one-time token claimed before
//! sending, so a replayed form sends nothing.

use std::collections::{BTreeMap, HashSet};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use varsel_participant::client::{Client, Item};
use varsel_protocol::alert::{Body, Document, SchoolActions};
use varsel_protocol::envelope;
use varsel_protocol::message::{
    CaseOutcome, ErrorReply, Feedback, Header, Kind, NoteKind, ParticipantId,
};
use varsel_protocol::note;

use super::case::{Refused, Thread};
use super::follow_pages;
use super::school_pages::Report;
use super::send_once::{Keep, Sending, Unsent};
use super::{csrf_refused, internal, lang_of, pages, staff, Desk, Shared};
use crate::session;
use crate::store::accounts::Account;
use crate::store::sessions::Session;

/// What the update, cancel and closing forms post: the closing also the case's outcome (a code).
#[derive(Debug, Deserialize)]
pub(super) struct FollowUpForm {
    csrf: Option<String>,
    /// The form's one-time token.
    #[serde(default)]
    form: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    outcome: String,
}

pub(super) fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The broker's reports kept from a participant's inbox, opened (verified as of their arrival),
/// in arrival order; a kept message that no longer opens is left out.
pub(super) fn opened_feedback(client: &Client, kept: Vec<(i64, Vec<u8>)>) -> Vec<Feedback> {
    kept.into_iter()
        .filter_map(|(t, raw)| match client.open(&raw, at(t)) {
            Ok(Item::Feedback(fb)) => Some(fb),
            _ => None,
        })
        .collect()
}

/// A report with the name of the recipient it is about.
pub(super) type Named = (String, Feedback);

/// The reports about one alert: each delivery's latest, and the escalations in order.
///
/// A report names the delivery, not what it delivered; a recipient's first delivery (in the order
/// the reports arrived) is the alert's, any later one an update's or cancel's, which the page
/// says so that a recipient is not shown as if it had several alerts.
pub(super) fn reports(
    client: &Client,
    feedback: &[Feedback],
    alert: Uuid,
) -> (Vec<Report>, Vec<Named>) {
    let mut latest: BTreeMap<Uuid, &Feedback> = BTreeMap::new();
    let mut order: Vec<Uuid> = Vec::new();
    let mut first: BTreeMap<&ParticipantId, Uuid> = BTreeMap::new();
    let mut escalations = Vec::new();
    for fb in feedback.iter().filter(|fb| fb.alert == alert) {
        first.entry(&fb.recipient).or_insert(fb.delivery);
        if !latest.contains_key(&fb.delivery) {
            order.push(fb.delivery);
        }
        if latest.get(&fb.delivery).is_none_or(|old| old.at <= fb.at) {
            latest.insert(fb.delivery, fb);
        }
        if fb.escalation.is_some() {
            escalations.push((name(client, &fb.recipient), fb.clone()));
        }
    }
    let mut rows: Vec<Report> = order
        .iter()
        .filter_map(|d| latest.get(d))
        .map(|fb| Report {
            name: name(client, &fb.recipient),
            follow_up: first.get(&fb.recipient) != Some(&fb.delivery),
            feedback: (*fb).clone(),
        })
        .collect();
    // The alert's deliveries first, then those of its updates and cancels, each in arrival order.
    rows.sort_by_key(|r| r.follow_up);
    (rows, escalations)
}

/// A participant's name from the registry, or its id.
pub(super) fn name(client: &Client, id: &ParticipantId) -> String {
    client
        .registry
        .participant(id)
        .map(|p| p.name.clone())
        .unwrap_or_else(|| id.to_string())
}

/// The routing header of a message this desk sent and kept, verified as of when it was sent.
fn kept_header(client: &Client, raw: &[u8], sent_at: i64) -> Option<Header> {
    let v = envelope::verify(
        raw,
        &client.registry,
        at(sent_at),
        envelope::DEFAULT_MAX_MESSAGE,
    )
    .ok()?;
    v.payload.content.sealed().map(|s| s.header.clone())
}

/// Everything the page shows about one of the school's alerts; the answer instead when it is
/// not one of theirs.
pub(super) async fn thread(
    desk: &Desk,
    client: &Client,
    a: &Account,
    s: &Session,
    id: Uuid,
    lang: super::text::Lang,
) -> Result<Thread, Response> {
    let found = desk
        .store
        .sent_alert(&a.participant, id)
        .await
        .map_err(|e| internal(lang, &e))?;
    let Some((alert, raw)) = found else {
        return Err(pages::message(
            lang,
            StatusCode::NOT_FOUND,
            lang.t().not_found,
            Some((a, &s.csrf)),
        ));
    };
    let loaded = async {
        Ok::<_, crate::store::Error>((
            desk.store.follow_ups(id).await?,
            desk.store.feedback(&a.participant).await?,
            desk.store.kept_of_kind(&a.participant, "error").await?,
            desk.store.journal(&a.participant, id).await?,
            desk.store
                .delivered_follow_ups(a.participant.as_str(), id)
                .await?,
        ))
    };
    let (follow_ups, feedback, errors, journal, received) =
        loaded.await.map_err(|e| internal(lang, &e))?;
    let (recipients, escalations) = reports(client, &opened_feedback(client, feedback), id);
    // The kind of each message of this thread, to say which one a refusal concerns.
    let mut ours: BTreeMap<Uuid, String> = BTreeMap::from([(id, "alert".to_owned())]);
    ours.extend(follow_ups.iter().map(|f| (f.id, f.kind.clone())));
    let mut seen = HashSet::new();
    let refused = errors
        .into_iter()
        .filter_map(|(t, raw)| match client.open(&raw, at(t)) {
            Ok(Item::Error(e)) => Some((t, e)),
            _ => None,
        })
        .filter_map(|(t, e): (i64, ErrorReply)| {
            let message = e.refused?;
            let kind = ours.get(&message)?.clone();
            // One refusal per message and reason, however often it was reported.
            seen.insert((message, e.reason.clone())).then(|| Refused {
                at: t,
                message,
                kind,
                reason: e.reason,
                detail: varsel_protocol::refusal::bounded(&e.detail),
            })
        })
        .collect();
    Ok(Thread {
        header: kept_header(client, &raw, alert.sent_at),
        cancelled: follow_ups.iter().any(|f| f.kind == Kind::Cancel.code()),
        closed: follow_ups
            .iter()
            .any(|f| f.kind == NoteKind::CaseClosed.code()),
        alert,
        follow_ups,
        recipients,
        escalations,
        refused,
        opened: None,
        raw,
        form_tokens: (session::token(), session::token(), session::token()),
        journal,
        journal_texts: None,
        received,
        journal_token: session::token(),
    })
}

/// A form posted by a member of a school's staff about one of the school's alerts: the session,
/// the account, its participant's client and the alert's thread, with the session's CSRF token
/// checked (and the form's one-time token's length, for a form that has one); or the answer to
/// give instead (403 without the token, 404 for an alert that is not the school's).
pub(super) async fn posted<'a>(
    desk: &'a Desk,
    headers: &HeaderMap,
    id: Uuid,
    csrf: Option<&str>,
    one_time: Option<&str>,
) -> Result<(Session, Account, &'a Client, Thread), Response> {
    let lang = lang_of(headers);
    let (s, a, client) = staff(desk, headers).await?;
    if !session::csrf_matches(&s.csrf, csrf) || one_time.is_some_and(|t| t.len() < 32) {
        return Err(csrf_refused(lang));
    }
    let t = thread(desk, client, &a, &s, id, lang).await?;
    Ok((s, a, client, t))
}

/// GET /alerts/{alert}
pub(super) async fn page(
    State(desk): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Response {
    let lang = lang_of(&headers);
    let (s, a, client) = match staff(&desk, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match thread(&desk, client, &a, &s, id, lang).await {
        Ok(t) => follow_pages::alert(lang, StatusCode::OK, (&a, &s.csrf), &t, None),
        Err(r) => r,
    }
}

/// POST /alerts/{alert}/update
pub(super) async fn update(
    State(desk): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Form(f): Form<FollowUpForm>,
) -> Response {
    follow_up(&desk, &headers, id, f, Kind::Update).await
}

/// POST /alerts/{alert}/cancel
pub(super) async fn cancel(
    State(desk): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Form(f): Form<FollowUpForm>,
) -> Response {
    follow_up(&desk, &headers, id, f, Kind::Cancel).await
}

/// POST /alerts/{alert}/close: closes the case with its outcome, a sealed note every member of
/// the case is told of; the broker stops the case's timers. The text is optional.
pub(super) async fn close(
    State(desk): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Form(f): Form<FollowUpForm>,
) -> Response {
    follow_up(&desk, &headers, id, f, Kind::Note).await
}

/// What a follow-up form becomes before it is sealed: a document (update or cancel) or the
/// closing note's body.
enum Prepared {
    Document(Box<Document>),
    Closing(note::Body),
}

/// Sends an update or a cancel about one of the school's alerts as the school's participant,
/// sealed like the alert, or closes its case (`kind` note: the closing note), once per form.
async fn follow_up(
    desk: &Desk,
    headers: &HeaderMap,
    id: Uuid,
    f: FollowUpForm,
    kind: Kind,
) -> Response {
    let lang = lang_of(headers);
    let (s, a, client, t) = match posted(desk, headers, id, f.csrf.as_deref(), Some(&f.form)).await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let refuse = |status: StatusCode, notice: follow_pages::Notice| {
        follow_pages::alert(lang, status, (&a, &s.csrf), &t, Some(notice))
    };
    let Some(header) = t.header.clone() else {
        return internal(lang, &"a kept alert no longer verifies");
    };
    let note = f.note.trim();
    let now = desk.clock.now();
    let prepared = if kind == Kind::Note {
        let Ok(outcome) = f.outcome.parse::<CaseOutcome>() else {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                follow_pages::Notice::OutcomeMissing,
            );
        };
        let body = note::Body {
            text: note.to_owned().into(),
            outcome: Some(outcome),
            ..note::Body::default()
        };
        if !body.problems(NoteKind::CaseClosed).is_empty() {
            tracing::warn!(account = a.id, alert = %id, "a closing was refused before sending");
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                follow_pages::Notice::TextRefused,
            );
        }
        Prepared::Closing(body)
    } else {
        if kind == Kind::Update && note.is_empty() {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                follow_pages::Notice::TextMissing,
            );
        }
        let body = Body {
            school_actions: (!note.is_empty()).then(|| SchoolActions {
                actions: Vec::new(),
                contact: None,
                note: Some(note.into()),
            }),
            ..Body::default()
        };
        let doc = Document {
            kind,
            references: vec![id],
            header: header.clone(),
            body,
        };
        if let Err(problems) = doc.validate_at(now) {
            // The problems' codes only: their details may quote the text.
            let codes: Vec<&str> = problems.iter().map(|p| p.reason.code()).collect();
            tracing::warn!(account = a.id, alert = %id, reason = ?codes, "an update or cancel was refused before sending");
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                follow_pages::Notice::TextRefused,
            );
        }
        Prepared::Document(Box::new(doc))
    };
    let sent = Sending {
        desk,
        client,
        who: (&s, &a),
        alert: id,
        delivery: None,
        form: &f.form,
        kind: match kind {
            Kind::Note => NoteKind::CaseClosed.code(),
            other => other.code(),
        },
        keep: Keep::FollowUp,
        lang,
    };
    let seal = || match prepared {
        Prepared::Document(doc) => client.seal_for_self_too(&doc, now),
        Prepared::Closing(body) => client.seal_note(NoteKind::CaseClosed, id, &header, &body, now),
    };
    let sent = sent
        .send(seal, |status, unsent| {
            let notice = match unsent {
                Unsent::Replayed => follow_pages::Notice::AlreadySent,
                Unsent::NotTaken => follow_pages::Notice::SendFailed,
            };
            refuse(status, notice)
        })
        .await;
    match sent {
        Ok(_) => Redirect::to(&format!("/alerts/{id}")).into_response(),
        Err(r) => r,
    }
}
