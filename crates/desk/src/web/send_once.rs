//! Sending what a page of the desk posts about a case (a school's update, cancel or closing, a
//! shared journal entry, an officer's note) once per form: the one-time token claimed, the
//! message sealed, logged as an intent, published and kept for the page. A failure before the
//! broker has it releases the token so the form can be sent again.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use uuid::Uuid;

use varsel_participant::client::{Client, Error as ClientError};
use varsel_protocol::message::Payload;

use super::outgoing::{self, Logged, NotSent, SENDING};
use super::{internal, log_failed, unrecorded, Desk};
use crate::access_log::Action;
use crate::store::accounts::Account;
use crate::store::follow_ups::NewFollowUp;
use crate::store::sessions::Session;

/// Why a message was not sent, for the page that answers.
#[derive(Debug, Clone, Copy)]
pub(super) enum Unsent {
    /// The form's one-time token was claimed before (409).
    Replayed,
    /// It could not be sealed, or RabbitMQ did not take it (503).
    NotTaken,
}

/// Where the desk keeps a sent message for its page.
#[derive(Debug, Clone, Copy)]
pub(super) enum Keep {
    /// A school's update, cancel or closing (`sent_follow_ups`).
    FollowUp,
    /// An agency's note to the case (`sent_notes`).
    Note,
}

/// One message on its way.
pub(super) struct Sending<'a> {
    pub(super) desk: &'a Desk,
    pub(super) client: &'a Client,
    pub(super) who: (&'a Session, &'a Account),
    pub(super) alert: Uuid,
    /// The delivery whose page posted it (an officer's), named in the access log.
    pub(super) delivery: Option<Uuid>,
    pub(super) form: &'a str,
    /// `update`, `cancel`, `case_closed` or another note kind.
    pub(super) kind: &'static str,
    pub(super) keep: Keep,
    pub(super) lang: super::text::Lang,
}

impl Sending<'_> {
    /// The message's id once RabbitMQ confirmed it and it is kept; otherwise the page to answer
    /// with: `refuse`'s for a replayed form or a message not taken, or an error page.
    pub(super) async fn send(
        self,
        seal: impl FnOnce() -> Result<(Payload, String), ClientError>,
        refuse: impl Fn(StatusCode, Unsent) -> Response,
    ) -> Result<Uuid, Response> {
        let Sending {
            desk,
            client,
            who: (s, a),
            alert: id,
            delivery,
            form,
            kind,
            keep,
            lang,
        } = self;
        let now = desk.clock.now();
        match desk.store.claim_form(form, now.timestamp_millis()).await {
            Err(e) => return Err(internal(lang, &e)),
            Ok(false) => {
                tracing::warn!(account = a.id, alert = %id, kind, reason = "form_replayed", "a form sent before was refused");
                return Err(refuse(StatusCode::CONFLICT, Unsent::Replayed));
            }
            Ok(true) => {}
        }
        let at = now.timestamp_millis();
        let release = |e: &dyn std::fmt::Display| {
            tracing::warn!(account = a.id, alert = %id, kind, error = %e, "a message could not be sent");
            desk.store.release_form(form)
        };
        let (payload, compact) = match seal() {
            Ok(x) => x,
            Err(e) => {
                if let Err(e) = release(&e).await {
                    return Err(internal(lang, &e));
                }
                return Err(refuse(StatusCode::SERVICE_UNAVAILABLE, Unsent::NotTaken));
            }
        };
        let detail =
            json!({ "message": payload.id.to_string(), "kind": kind, "alert": id.to_string() });
        let log = Logged {
            account: a,
            delivery,
            detail: &detail,
            at,
        };
        if let Err(not_sent) =
            outgoing::publish(desk, client, SENDING, log, &payload, &compact).await
        {
            let e: &dyn std::fmt::Display = match &not_sent {
                NotSent::Unlogged(e) => e,
                NotSent::Unconfirmed(e) => e,
            };
            if let Err(e) = release(e).await {
                return Err(internal(lang, &e));
            }
            return Err(match not_sent {
                NotSent::Unlogged(e) => log_failed(lang, &e, Some((a, &s.csrf))),
                NotSent::Unconfirmed(_) => {
                    refuse(StatusCode::SERVICE_UNAVAILABLE, Unsent::NotTaken)
                }
            });
        }
        let kept = async {
            let sent = NewFollowUp {
                id: payload.id,
                alert: id,
                participant: &a.participant,
                account: a.id,
                kind,
                raw: compact.as_bytes(),
                at,
            };
            match keep {
                Keep::FollowUp => desk.store.keep_follow_up(sent).await?,
                Keep::Note => desk.store.keep_sent_note(sent).await?,
            }
            desk.store
                .log_access(&a.username, Action::Sent, delivery, detail, at)
                .await
        };
        if let Err(e) = kept.await {
            let text = lang.t().sent_unrecorded;
            return Err(unrecorded(lang, text, payload.id, &e, Some((a, &s.csrf))));
        }
        tracing::info!(account = a.id, alert = %id, message = %payload.id, kind, "a message was sent");
        Ok(payload.id)
    }
}
