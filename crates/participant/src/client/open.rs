//! Opening messages: verifying the broker's and the sender's signatures and opening the
//! sections granted to this participant, from the inbox or offline (`varsel open`).

use chrono::{DateTime, Utc};

use varsel_protocol::alert::Body;
use varsel_protocol::envelope;
use varsel_protocol::message::Content;
use varsel_protocol::note;
use varsel_protocol::refusal::Refusal;
use varsel_protocol::registry::Role;

use super::item::{Item, OpenedDelivery, OpenedNote};
use super::Client;

impl Client {
    /// Verifies and opens one message from the inbox.
    pub fn open(&self, body: &[u8], now: DateTime<Utc>) -> Result<Item, Refusal> {
        let outer = envelope::verify(body, &self.registry, now, envelope::DEFAULT_MAX_MESSAGE * 2)?;
        let from_broker = self
            .registry
            .participant(&outer.signer)
            .is_some_and(|p| p.role == Role::Broker);
        if !from_broker {
            return Err(Refusal::new(
                varsel_protocol::refusal::Reason::NotEntitled,
                format!(
                    "inbox messages come from the broker, this one is signed by {}",
                    outer.signer
                ),
            ));
        }
        match outer.payload.content {
            Content::Delivery(d) => {
                if &d.recipient != self.me() {
                    return Err(Refusal::new(
                        varsel_protocol::refusal::Reason::NotEntitled,
                        format!("delivery {} is addressed to {}", d.delivery, d.recipient),
                    ));
                }
                let inner = envelope::verify(
                    d.original.as_bytes(),
                    &self.registry,
                    now,
                    envelope::DEFAULT_MAX_MESSAGE,
                )?;
                let note = match &inner.payload.content {
                    Content::Note(n) => Some(n.clone()),
                    _ => None,
                };
                let sealed = match &note {
                    Some(n) => n.sealed(),
                    None => inner.payload.content.sealed().cloned().ok_or_else(|| {
                        Refusal::new(
                            varsel_protocol::refusal::Reason::Schema,
                            "a delivery must carry an alert, update, cancel or note",
                        )
                    })?,
                };
                let opened = envelope::open(
                    inner.payload.id,
                    &sealed.header,
                    &sealed.sections,
                    d.key_view(),
                    self.me(),
                    &self.keys.sealing,
                );
                let mut parts = Vec::new();
                let mut sealed_to_others = Vec::new();
                for (label, result) in opened {
                    match result {
                        Ok(bytes) => parts.push((label, bytes)),
                        Err(_) => sealed_to_others.push(label),
                    }
                }
                let (body, note) = match note {
                    Some(n) => (Body::default(), Some(opened_note(n.note, &parts)?)),
                    None => (
                        Body::from_sections(&parts).map_err(|p| {
                            Refusal::new(
                                varsel_protocol::refusal::Reason::Schema,
                                format!("an opened section does not follow the schema: {p}"),
                            )
                        })?,
                        None,
                    ),
                };
                Ok(Item::Delivery(Box::new(OpenedDelivery {
                    delivery: d.delivery,
                    alert: d.alert,
                    kind: inner.payload.kind(),
                    message: inner.payload.id,
                    school: inner.signer.clone(),
                    school_name: self
                        .registry
                        .participant(&inner.signer)
                        .map(|p| p.name.clone())
                        .unwrap_or_default(),
                    role: d.role,
                    header: sealed.header,
                    sent_at: inner.payload.sent_at,
                    receipt_due: d.receipt_due,
                    ack_due: d.ack_due,
                    opened: parts.iter().map(|(l, _)| *l).collect(),
                    not_granted: sealed_to_others,
                    body,
                    note,
                })))
            }
            Content::Feedback(f) => Ok(Item::Feedback(f)),
            Content::Error(e) => Ok(Item::Error(e)),
            Content::Checkpoint(c) => Ok(Item::Checkpoint(c)),
            Content::Heartbeat(h) if &h.recipient == self.me() => Ok(Item::Heartbeat(h)),
            Content::Heartbeat(h) => Err(Refusal::new(
                varsel_protocol::refusal::Reason::NotEntitled,
                format!("heartbeat {} is addressed to {}", h.heartbeat, h.recipient),
            )),
            other => Err(Refusal::new(
                varsel_protocol::refusal::Reason::KindNotAllowed,
                format!("a {} message does not belong in an inbox", other.kind()),
            )),
        }
    }

    /// `varsel open`: verifies any message and opens what this participant may read: the granted
    /// sections of a delivery, or the sections of an alert wrapped directly to it. Refused when
    /// nothing in it is wrapped for this participant.
    pub fn open_offline(
        &self,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<serde_json::Value, Refusal> {
        let verified =
            envelope::verify(body, &self.registry, now, envelope::DEFAULT_MAX_MESSAGE * 2)?;
        let (sealed, note_kind) = match &verified.payload.content {
            Content::Alert(s) | Content::Update(s) | Content::Cancel(s) => (Some(s.clone()), None),
            Content::Note(n) => (Some(n.sealed()), Some(n.note)),
            _ => (None, None),
        };
        match &sealed {
            Some(sealed) => {
                let opened = envelope::open(
                    verified.payload.id,
                    &sealed.header,
                    &sealed.sections,
                    sealed.key_view(),
                    self.me(),
                    &self.keys.sealing,
                );
                let mut parts = Vec::new();
                let mut refused = serde_json::Map::new();
                for (label, result) in opened {
                    match result {
                        Ok(bytes) => parts.push((label, bytes)),
                        Err(r) => {
                            refused.insert(
                                label.code().to_owned(),
                                serde_json::json!({"reason": r.reason.code(), "detail": r.detail}),
                            );
                        }
                    }
                }
                if parts.is_empty() && !sealed.sections.is_empty() {
                    let first = refused
                        .values()
                        .next()
                        .and_then(|v| v["reason"].as_str())
                        .unwrap_or("");
                    let reason = if first == varsel_protocol::refusal::Reason::Undecryptable.code()
                    {
                        varsel_protocol::refusal::Reason::Undecryptable
                    } else {
                        varsel_protocol::refusal::Reason::NotWrappedForRecipient
                    };
                    return Err(Refusal::new(
                        reason,
                        format!(
                            "no section of {} can be opened by {}",
                            verified.payload.id,
                            self.me()
                        ),
                    ));
                }
                let schema = |p: String| {
                    Refusal::new(
                        varsel_protocol::refusal::Reason::Schema,
                        format!("an opened section does not follow the schema: {p}"),
                    )
                };
                // A note's body under its kind; an alert's, update's or cancel's by section.
                let body = match note_kind {
                    Some(kind) => match opened_note(kind, &parts)?.body {
                        Some(b) => serde_json::json!({ kind.code(): b }),
                        None => serde_json::json!({}),
                    },
                    None => serde_json::to_value(
                        Body::from_sections(&parts).map_err(|p| schema(p.to_string()))?,
                    )
                    .map_err(|e| schema(e.to_string()))?,
                };
                Ok(serde_json::json!({
                    "id": verified.payload.id,
                    "kind": verified.payload.kind(),
                    "sender": verified.signer,
                    "sent_at": verified.payload.sent_at,
                    "references": verified.payload.references,
                    "header": sealed.header,
                    "opened": parts.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
                    "not_opened": refused,
                    "body": body,
                }))
            }
            None => {
                let item = self.open(body, now)?;
                serde_json::to_value(&item).map_err(|e| {
                    Refusal::new(varsel_protocol::refusal::Reason::Schema, e.to_string())
                })
            }
        }
    }
}

/// A note's opened body: its one section, read as a note body (a member that could not open it
/// still learns the note's kind).
fn opened_note(
    kind: varsel_protocol::message::NoteKind,
    parts: &[(varsel_protocol::message::SectionLabel, Vec<u8>)],
) -> Result<OpenedNote, Refusal> {
    let body = match parts.iter().find(|(l, _)| *l == note::SECTION) {
        Some((_, bytes)) => Some(
            note::Body::from_section(bytes)
                .map_err(|e| Refusal::new(varsel_protocol::refusal::Reason::Schema, e))?,
        ),
        None => None,
    };
    Ok(OpenedNote { kind, body })
}
