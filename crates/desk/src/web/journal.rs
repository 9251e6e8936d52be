//! The school's journal of a case, on its alert page: a checklist item done (the Västerås
//! routine: guardians contacted, home visit, siblings' schools checked, concern report filed,
//! police or Skatteverket contacted) or a free-text entry, each with who wrote it and when it was
//! done. The text is sealed in the desk's store; an entry the school marks as shared also goes to
//! the case's recipients as a sealed update (the item as an action taken, the text as its note),
//! once, either when it is written or later with its *Dela* button.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use varsel_participant::client::Client;
use varsel_protocol::alert::{Action as Checklist, ActionTaken, Body, Document, SchoolActions};
use varsel_protocol::message::Kind;

use super::case::Thread;
use super::follow::{posted, thread};
use super::follow_pages::{self, Notice};
use super::form_check::local_time_by;
use super::send_once::{Keep, Sending, Unsent};
use super::{internal, lang_of, Desk, Shared};
use crate::access_log::Action;
use crate::store::accounts::Account;
use crate::store::journal::{Entry, NewEntry, NOTE};
use crate::store::sessions::Session;

/// What the journal's form posts.
#[derive(Debug, Deserialize)]
pub(super) struct EntryForm {
    csrf: Option<String>,
    /// The form's one-time token.
    #[serde(default)]
    form: String,
    /// A checklist action's code, or `note`.
    #[serde(default)]
    item: String,
    /// When it was done, as a `datetime-local` in Stockholm time; empty for now.
    #[serde(default)]
    done_at: String,
    #[serde(default)]
    text: String,
    /// Present (`on`) when the entry is to be shared with the case's recipients.
    #[serde(default)]
    share: Option<String>,
}

/// What a share button posts (an entry is shared once whatever posts it: see [`share_entry`]).
#[derive(Debug, Deserialize)]
pub(super) struct ShareForm {
    csrf: Option<String>,
}

/// Whether a journal text may be kept: bounded like an update's text, and no control character
/// but line breaks and tabs.
fn text_fits(text: &str) -> bool {
    text.chars().count() <= varsel_protocol::alert::MAX_TEXT
        && !text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// A checklist item by its code; None for a free-text entry or an unknown code.
fn checklist_item(code: &str) -> Option<Checklist> {
    code.parse().ok()
}

/// POST /alerts/{alert}/journal: writes an entry, once per form, and shares it when asked.
pub(super) async fn write(
    State(desk): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Form(f): Form<EntryForm>,
) -> Response {
    let lang = lang_of(&headers);
    let (s, a, client, t) =
        match posted(&desk, &headers, id, f.csrf.as_deref(), Some(&f.form)).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let refuse = |status: StatusCode, notice: Notice| {
        follow_pages::alert(lang, status, (&a, &s.csrf), &t, Some(notice))
    };
    if t.closed {
        return refuse(StatusCode::CONFLICT, Notice::JournalClosed);
    }
    let item = f.item.trim();
    if item != NOTE && checklist_item(item).is_none() {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, Notice::JournalItemMissing);
    }
    let text = f.text.trim();
    if item == NOTE && text.is_empty() {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, Notice::TextMissing);
    }
    if !text_fits(text) {
        tracing::warn!(account = a.id, alert = %id, "a journal entry's text was refused");
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, Notice::TextRefused);
    }
    let now = desk.clock.now();
    let done_at = if f.done_at.trim().is_empty() {
        now
    } else {
        match local_time_by(&f.done_at, now) {
            Some(at) => at,
            None => return refuse(StatusCode::UNPROCESSABLE_ENTITY, Notice::JournalWhen),
        }
    };
    let share = f.share.is_some();
    if share && !t.shareable() {
        return refuse(StatusCode::CONFLICT, Notice::NotShareable);
    }
    match desk.store.claim_form(&f.form, now.timestamp_millis()).await {
        Err(e) => return internal(lang, &e),
        Ok(false) => {
            tracing::warn!(account = a.id, alert = %id, reason = "form_replayed", "a journal form sent before was refused");
            return refuse(StatusCode::CONFLICT, Notice::AlreadySent);
        }
        Ok(true) => {}
    }
    let entry = Uuid::now_v7();
    let written = async {
        desk.store
            .keep_entry(NewEntry {
                id: entry,
                alert: id,
                participant: &a.participant,
                account: a.id,
                item,
                done_at: done_at.timestamp_millis(),
                written_at: now.timestamp_millis(),
                text,
            })
            .await?;
        let detail = json!({ "alert": id.to_string(), "entry": entry.to_string(), "item": item });
        desk.store
            .log_access(
                &a.username,
                Action::JournalWritten,
                None,
                detail,
                now.timestamp_millis(),
            )
            .await
    };
    if let Err(e) = written.await {
        return internal(lang, &e);
    }
    tracing::info!(account = a.id, alert = %id, %entry, item, "a journal entry was written");
    if !share {
        return Redirect::to(&format!("/alerts/{id}#journal-section")).into_response();
    }
    // The page as it is now (with the entry), for what sharing may answer.
    let t = match thread(&desk, client, &a, &s, id, lang).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(kept) = t.journal.iter().find(|e| e.id == entry) else {
        return internal(lang, &"a journal entry just written is not in the journal");
    };
    share_entry(&desk, client, (&s, &a), &t, kept, text, lang).await
}

/// POST /alerts/{alert}/journal/{entry}/share: shares an entry written earlier, once.
pub(super) async fn share(
    State(desk): State<Shared>,
    headers: HeaderMap,
    Path((id, entry)): Path<(Uuid, Uuid)>,
    Form(f): Form<ShareForm>,
) -> Response {
    let lang = lang_of(&headers);
    let (s, a, client, t) = match posted(&desk, &headers, id, f.csrf.as_deref(), None).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let refuse = |status: StatusCode, notice: Notice| {
        follow_pages::alert(lang, status, (&a, &s.csrf), &t, Some(notice))
    };
    let Some(kept) = t.journal.iter().find(|e| e.id == entry) else {
        return refuse(StatusCode::NOT_FOUND, Notice::JournalEntryUnknown);
    };
    if kept.shared.is_some() {
        return refuse(StatusCode::CONFLICT, Notice::AlreadyShared);
    }
    if !t.shareable() {
        return refuse(StatusCode::CONFLICT, Notice::NotShareable);
    }
    let text = match desk.store.entry_text(kept) {
        Ok(text) => text,
        Err(e) => return internal(lang, &e),
    };
    share_entry(&desk, client, (&s, &a), &t, kept, &text, lang).await
}

/// Sends an entry to the case's recipients as a sealed update and records that it did. The
/// one-time token claimed is the entry's own, so an entry is sent once however many forms post
/// it at the same time; one that was not sent releases it, and can be shared again.
async fn share_entry(
    desk: &Desk,
    client: &Client,
    who: (&Session, &Account),
    t: &Thread,
    entry: &Entry,
    text: &str,
    lang: super::text::Lang,
) -> Response {
    let (s, a) = who;
    let form = format!("journal share {}", entry.id);
    let id = t.alert.id;
    let refuse = |status: StatusCode, notice: Notice| {
        follow_pages::alert(lang, status, (a, &s.csrf), t, Some(notice))
    };
    let Some(header) = t.header.clone() else {
        return internal(lang, &"a kept alert no longer verifies");
    };
    let now = desk.clock.now();
    let actions = checklist_item(&entry.item)
        .map(|action| ActionTaken {
            action,
            at: chrono::DateTime::from_timestamp_millis(entry.done_at).unwrap_or(now),
        })
        .into_iter()
        .collect();
    let doc = Document {
        kind: Kind::Update,
        references: vec![id],
        header,
        body: Body {
            school_actions: Some(SchoolActions {
                actions,
                contact: None,
                note: (!text.is_empty()).then(|| text.to_owned().into()),
            }),
            ..Body::default()
        },
    };
    if let Err(problems) = doc.validate_at(now) {
        let codes: Vec<&str> = problems.iter().map(|p| p.reason.code()).collect();
        tracing::warn!(account = a.id, alert = %id, entry = %entry.id, reason = ?codes, "a journal entry could not be shared");
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, Notice::TextRefused);
    }
    let sending = Sending {
        desk,
        client,
        who: (s, a),
        alert: id,
        delivery: None,
        form: &form,
        kind: Kind::Update.code(),
        keep: Keep::FollowUp,
        lang,
    };
    let sent = sending.send(
        || client.seal_for_self_too(&doc, now),
        |status, unsent| {
            let notice = match unsent {
                Unsent::Replayed => Notice::AlreadySent,
                Unsent::NotTaken => Notice::NotShared,
            };
            refuse(status, notice)
        },
    );
    let update = match sent.await {
        Ok(update) => update,
        Err(r) => return r,
    };
    match desk.store.mark_shared(entry.id, update).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(account = a.id, alert = %id, entry = %entry.id, %update, "a journal entry was shared twice");
        }
        Err(e) => return internal(lang, &e),
    }
    tracing::info!(account = a.id, alert = %id, entry = %entry.id, %update, "a journal entry was shared");
    Redirect::to(&format!("/alerts/{id}#journal-section")).into_response()
}
