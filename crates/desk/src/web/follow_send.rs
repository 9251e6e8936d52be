//! Sending what the school's alert page posts (an update, a cancel, the case's closing) once per
//! form: the one-time token claimed, the message sealed, logged as an intent, published and kept
//! for the page.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use uuid::Uuid;

use varsel_participant::client::{Client, Error as ClientError};
use varsel_protocol::message::Payload;

use super::case::Thread;
use super::follow_pages;
use super::outgoing::{self, Logged, NotSent, SENDING};
use super::{internal, log_failed, unrecorded, Desk};
use crate::access_log::Action;
use crate::store::accounts::Account;
use crate::store::follow_ups::NewFollowUp;
use crate::store::sessions::Session;

/// One update, cancel or closing on its way: the form's one-time token is claimed, the message
/// sealed, logged and published, and kept for the alert's page; a failure before the broker has
/// it releases the token so the form can be sent again.
pub(super) struct Sending<'a> {
    pub(super) desk: &'a Desk,
    pub(super) client: &'a Client,
    pub(super) who: (&'a Session, &'a Account),
    pub(super) thread: &'a Thread,
    pub(super) alert: Uuid,
    pub(super) form: &'a str,
    /// `update`, `cancel` or `case_closed`.
    pub(super) kind: &'static str,
    /// What the page says when RabbitMQ did not take the message.
    pub(super) failed: follow_pages::Notice,
    pub(super) lang: super::text::Lang,
}

impl Sending<'_> {
    /// The message's id once RabbitMQ confirmed it and it is kept; the page to answer with
    /// when it was not sent or not recorded.
    pub(super) async fn send(
        self,
        seal: impl FnOnce() -> Result<(Payload, String), ClientError>,
    ) -> Result<Uuid, Response> {
        let Sending {
            desk,
            client,
            who: (s, a),
            thread: t,
            alert: id,
            form,
            kind,
            failed,
            lang,
        } = self;
        let refuse = |status: StatusCode, notice: follow_pages::Notice| {
            follow_pages::alert(lang, status, (a, &s.csrf), t, Some(notice))
        };
        let now = desk.clock.now();
        match desk.store.claim_form(form, now.timestamp_millis()).await {
            Err(e) => return Err(internal(lang, &e)),
            Ok(false) => {
                tracing::warn!(account = a.id, alert = %id, reason = "form_replayed", "an update, cancel or closing form sent before was refused");
                return Err(refuse(
                    StatusCode::CONFLICT,
                    follow_pages::Notice::AlreadySent,
                ));
            }
            Ok(true) => {}
        }
        let at = now.timestamp_millis();
        let release = |e: &dyn std::fmt::Display| {
            tracing::warn!(account = a.id, alert = %id, error = %e, "an update, cancel or closing could not be sent");
            desk.store.release_form(form)
        };
        let (payload, compact) = match seal() {
            Ok(x) => x,
            Err(e) => {
                if let Err(e) = release(&e).await {
                    return Err(internal(lang, &e));
                }
                return Err(refuse(StatusCode::SERVICE_UNAVAILABLE, failed));
            }
        };
        let detail =
            json!({ "message": payload.id.to_string(), "kind": kind, "alert": id.to_string() });
        let log = Logged {
            account: a,
            delivery: None,
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
                NotSent::Unconfirmed(_) => refuse(StatusCode::SERVICE_UNAVAILABLE, failed),
            });
        }
        let kept = async {
            desk.store
                .keep_follow_up(NewFollowUp {
                    id: payload.id,
                    alert: id,
                    participant: &a.participant,
                    account: a.id,
                    kind,
                    raw: compact.as_bytes(),
                    at,
                })
                .await?;
            desk.store
                .log_access(&a.username, Action::Sent, None, detail, at)
                .await
        };
        if let Err(e) = kept.await {
            let text = lang.t().sent_unrecorded;
            return Err(unrecorded(lang, text, payload.id, &e, Some((a, &s.csrf))));
        }
        tracing::info!(account = a.id, alert = %id, message = %payload.id, kind, "update, cancel or closing sent");
        Ok(payload.id)
    }
}
