//! The participant client: what a school and an agency run (`varsel send`, `varsel inbox`,
//! `varsel ack`).
//!
//! - `send`: reads a school's alert, update or cancel document, validates it (personnummer
//!   checksums included), seals each section to the broker, signs, and publishes on `varsel.in`
//!   with a publisher confirm. Prints the message id.
//! - `inbox`: reads the participant's own inbox, verifies the broker's signature and, inside a
//!   delivery, the school's original signature; opens the sections this participant was granted;
//!   sends a signed `receipt` at once; and remembers each delivery id so a redelivered message is
//!   processed once.
//! - `ack`: a named officer takes a delivery, with an outcome.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;
use serde::Serialize;
use uuid::Uuid;

use crate::config::ClientConfig;
use varsel_protocol::alert::{Body, Document};
use varsel_protocol::envelope::{self, KeySet};
use varsel_protocol::message::{
    Ack, Aead, Content, Kind, Outcome, ParticipantId, Payload, Receipt, Sealed, SectionLabel,
};
use varsel_protocol::refusal::Refusal;
use varsel_protocol::registry::{Registry, Role};
use varsel_transport::amqp;
use varsel_transport::clock::Clock;
use varsel_transport::shutdown::Signals;

/// What went wrong in the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Registry(#[from] varsel_protocol::registry::Error),
    #[error("keys: {0}")]
    Keys(String),
    #[error("the document is not valid:\n{0}")]
    Invalid(String),
    #[error("{0}")]
    Refused(Refusal),
    #[error(transparent)]
    Amqp(#[from] amqp::Error),
    #[error("RabbitMQ did not take the message ({0:?}); it was not sent")]
    NotConfirmed(amqp::Published),
    #[error("the client state in {path}: {source}")]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// A participant's client: its configuration, the registry and its private keys.
pub struct Client {
    pub config: ClientConfig,
    pub registry: Registry,
    pub keys: KeySet,
    /// The time messages are dated with (the system clock, except in the demo and tests).
    pub clock: Clock,
}

impl Client {
    pub fn load(config: ClientConfig) -> Result<Client, Error> {
        let registry = Registry::load(&config.registry)?;
        let keys = KeySet::load(&config.keys_dir, &config.participant)
            .map_err(|e| Error::Keys(e.to_string()))?;
        Ok(Client {
            config,
            registry,
            keys,
            clock: Clock::system(),
        })
    }

    pub fn me(&self) -> &ParticipantId {
        &self.config.participant
    }

    /// A client for offline use (`varsel seal`, `varsel open`): no AMQP, no state directory.
    pub fn offline(registry: Registry, participant: ParticipantId, keys: KeySet) -> Client {
        Client {
            config: ClientConfig {
                participant,
                keys_dir: PathBuf::new(),
                registry: PathBuf::new(),
                state_dir: PathBuf::new(),
                suite: varsel_protocol::message::Suite::X25519,
                amqp: varsel_transport::settings::Amqp {
                    url: String::new(),
                    prefetch: 1,
                    reconnect_max_delay: std::time::Duration::ZERO,
                    tls: None,
                },
            },
            registry,
            keys,
            clock: Clock::system(),
        }
    }

    /// Validates a document and turns it into a signed message (JWS compact) sealed to the
    /// broker, without sending.
    pub fn seal(&self, doc: &Document, now: DateTime<Utc>) -> Result<(Payload, String), Error> {
        let broker = self.registry.broker().id.clone();
        self.seal_to(doc, &broker, now)
    }

    /// Like [`Client::seal`], with the sections wrapped to any participant (offline trials).
    pub fn seal_to(
        &self,
        doc: &Document,
        to: &ParticipantId,
        now: DateTime<Utc>,
    ) -> Result<(Payload, String), Error> {
        doc.validate().map_err(|problems| {
            Error::Invalid(
                problems
                    .iter()
                    .map(|p| format!("  {p}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        })?;
        let key = self
            .registry
            .sealing_key_for(to, Some(self.config.suite), now)
            .ok_or_else(|| Error::Keys(format!("{to} has no valid sealing key in the registry")))?;
        let id = Uuid::now_v7();
        let sections = doc.body.to_sections();
        let (sealed_sections, wraps) = envelope::seal(
            id,
            &doc.header,
            &sections,
            &[(to.clone(), key)],
            Aead::ChaCha20Poly1305,
        )
        .map_err(|e| Error::Other(e.to_string()))?;
        let sealed = Sealed {
            header: doc.header.clone(),
            sections: sealed_sections,
            wraps,
        };
        let content = match doc.kind {
            Kind::Alert => Content::Alert(sealed),
            Kind::Update => Content::Update(sealed),
            Kind::Cancel => Content::Cancel(sealed),
            other => {
                return Err(Error::Invalid(format!(
                    "  kind: a document is an alert, update or cancel, not {other}"
                )))
            }
        };
        let mut payload = Payload::new(self.me().clone(), content);
        payload.id = id;
        payload.sent_at = now;
        payload.references = doc.references.clone();
        let compact = envelope::sign(&payload, &self.keys.signing);
        Ok((payload, compact))
    }

    /// Signs and publishes a payload built by this client on `varsel.in`, waiting for the confirm.
    pub async fn publish(
        &self,
        publisher: &amqp::Publisher,
        payload: &Payload,
        compact: &str,
    ) -> Result<(), Error> {
        let user = self.config.amqp_user();
        let props = amqp::properties(payload.kind(), payload.id, user.as_deref());
        let key = amqp::routing_key(payload.kind(), self.me());
        match publisher
            .publish(amqp::IN, &key, compact.as_bytes(), props, true)
            .await?
        {
            amqp::Published::Confirmed => Ok(()),
            other => Err(Error::NotConfirmed(other)),
        }
    }

    /// Opens a connection and a confirming publisher.
    pub async fn connect(&self) -> Result<(lapin::Connection, amqp::Publisher), Error> {
        let name = format!("varsel-client-{}", self.me());
        let conn = amqp::connect_to(&self.config.amqp, &name).await?;
        let publisher = amqp::Publisher::open(&conn).await?;
        Ok((conn, publisher))
    }

    /// `varsel send`: validates, seals, signs and publishes a document. Returns the message id.
    pub async fn send(&self, doc: &Document) -> Result<Uuid, Error> {
        let (payload, compact) = self.seal(doc, self.clock.now())?;
        let (conn, publisher) = self.connect().await?;
        self.publish(&publisher, &payload, &compact).await?;
        let _ = conn.close(200, "sent".into()).await;
        Ok(payload.id)
    }

    /// Builds a signed receipt for a delivery.
    pub fn receipt(&self, delivery: Uuid, alert: Option<Uuid>) -> (Payload, String) {
        let mut p = Payload::new(self.me().clone(), Content::Receipt(Receipt { delivery }));
        p.sent_at = self.clock.now();
        p.references = alert.into_iter().collect();
        let compact = envelope::sign(&p, &self.keys.signing);
        (p, compact)
    }

    /// Builds a signed ack for a delivery.
    pub fn ack_message(
        &self,
        delivery: Uuid,
        officer: &str,
        outcome: Outcome,
    ) -> (Payload, String) {
        let alert = self.state().alert_of(delivery);
        let mut p = Payload::new(
            self.me().clone(),
            Content::Ack(Ack {
                delivery,
                officer: officer.to_owned(),
                outcome,
            }),
        );
        p.sent_at = self.clock.now();
        p.references = alert.into_iter().collect();
        let compact = envelope::sign(&p, &self.keys.signing);
        (p, compact)
    }

    /// `varsel ack`: an officer takes a delivery. Returns the ack's message id.
    pub async fn ack(
        &self,
        delivery: Uuid,
        officer: &str,
        outcome: Outcome,
    ) -> Result<Uuid, Error> {
        let (payload, compact) = self.ack_message(delivery, officer, outcome);
        let (conn, publisher) = self.connect().await?;
        self.publish(&publisher, &payload, &compact).await?;
        let _ = conn.close(200, "acked".into()).await;
        Ok(payload.id)
    }

    /// The client's memory of processed deliveries.
    pub fn state(&self) -> State {
        State {
            dir: self.config.state_dir.clone(),
        }
    }

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
                let sealed = inner.payload.content.sealed().cloned().ok_or_else(|| {
                    Refusal::new(
                        varsel_protocol::refusal::Reason::Schema,
                        "a delivery must carry an alert, update or cancel",
                    )
                })?;
                let opened = envelope::open(
                    inner.payload.id,
                    &sealed.header,
                    &sealed.sections,
                    &d.wraps,
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
                let body = Body::from_sections(&parts).map_err(|p| {
                    Refusal::new(
                        varsel_protocol::refusal::Reason::Schema,
                        format!("an opened section does not follow the schema: {p}"),
                    )
                })?;
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
                })))
            }
            Content::Feedback(f) => Ok(Item::Feedback(f)),
            Content::Error(e) => Ok(Item::Error(e)),
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
        match &verified.payload.content {
            Content::Alert(sealed) | Content::Update(sealed) | Content::Cancel(sealed) => {
                let opened = envelope::open(
                    verified.payload.id,
                    &sealed.header,
                    &sealed.sections,
                    &sealed.wraps,
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
                let body = Body::from_sections(&parts).map_err(|p| {
                    Refusal::new(
                        varsel_protocol::refusal::Reason::Schema,
                        format!("an opened section does not follow the schema: {p}"),
                    )
                })?;
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
            _ => {
                let item = self.open(body, now)?;
                serde_json::to_value(&item).map_err(|e| {
                    Refusal::new(varsel_protocol::refusal::Reason::Schema, e.to_string())
                })
            }
        }
    }

    /// `varsel inbox`: processes the inbox. Without `follow`, returns when the inbox is empty;
    /// with it, runs until `signals` stops it. Each new item is passed to `show`; deliveries are
    /// receipted automatically. Returns how many new items were processed.
    pub async fn inbox(
        &self,
        follow: bool,
        signals: &Signals,
        mut show: impl FnMut(&Item),
    ) -> Result<usize, Error> {
        let (conn, publisher) = self.connect().await?;
        let channel = conn
            .create_channel()
            .await
            .map_err(|source| amqp::Error::Protocol {
                what: "opening a channel".into(),
                source,
            })?;
        channel
            .basic_qos(16, BasicQosOptions::default())
            .await
            .map_err(|source| amqp::Error::Protocol {
                what: "setting the prefetch".into(),
                source,
            })?;
        let queue = amqp::inbox(self.me());
        let state = self.state();
        state.ensure()?;
        let mut processed = 0;
        if follow {
            let mut consumer = channel
                .basic_consume(
                    queue.as_str().into(),
                    "varsel-inbox".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|source| amqp::Error::Protocol {
                    what: format!("consuming {queue}"),
                    source,
                })?;
            loop {
                tokio::select! {
                    _ = signals.stopped() => break,
                    next = consumer.next() => match next {
                        Some(Ok(d)) => {
                            let h = self.handle(&publisher, &state, &d.data, &mut show).await?;
                            if h == Handled::New { processed += 1; }
                            ack_or_reject(&d.acker, h != Handled::Refused).await?;
                        }
                        Some(Err(e)) => return Err(amqp::Error::Protocol { what: format!("consuming {queue}"), source: e }.into()),
                        None => break,
                    }
                }
            }
        } else {
            while let Some(m) = channel
                .basic_get(queue.as_str().into(), BasicGetOptions::default())
                .await
                .map_err(|source| amqp::Error::Protocol {
                    what: format!("reading {queue}"),
                    source,
                })?
            {
                let h = self
                    .handle(&publisher, &state, &m.delivery.data, &mut show)
                    .await?;
                if h == Handled::New {
                    processed += 1;
                }
                ack_or_reject(&m.delivery.acker, h != Handled::Refused).await?;
            }
        }
        let _ = conn.close(200, "inbox done".into()).await;
        Ok(processed)
    }

    /// Handles one inbox message. A refused message (bad signature, not addressed to this
    /// participant, …) is shown, noted in the state directory's `refused.log`, and rejected so
    /// the inbox queue dead-letters it.
    async fn handle(
        &self,
        publisher: &amqp::Publisher,
        state: &State,
        body: &[u8],
        show: &mut impl FnMut(&Item),
    ) -> Result<Handled, Error> {
        let item = match self.open(body, self.clock.now()) {
            Ok(item) => item,
            Err(r) => {
                state.record_refused(&r, body)?;
                show(&Item::Refused(r));
                return Ok(Handled::Refused);
            }
        };
        let key = item.key();
        if state.seen(&key) {
            return Ok(Handled::Old);
        }
        show(&item);
        if let Item::Delivery(d) = &item {
            let (payload, compact) = self.receipt(d.delivery, Some(d.alert));
            self.publish(publisher, &payload, &compact).await?;
        }
        state.record(&key, &item)?;
        Ok(Handled::New)
    }
}

/// What became of one inbox message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handled {
    New,
    /// Processed before (a redelivery): acknowledged without effect.
    Old,
    Refused,
}

async fn ack_or_reject(acker: &lapin::Acker, ok: bool) -> Result<(), Error> {
    let r = if ok {
        acker.ack(BasicAckOptions::default()).await
    } else {
        acker.reject(BasicRejectOptions { requeue: false }).await
    };
    r.map(|_| ()).map_err(|source| {
        amqp::Error::Protocol {
            what: "acknowledging an inbox message".into(),
            source,
        }
        .into()
    })
}

/// A delivery as the recipient sees it after opening.
#[derive(Debug, Clone, Serialize)]
pub struct OpenedDelivery {
    pub delivery: Uuid,
    pub alert: Uuid,
    pub kind: Kind,
    pub message: Uuid,
    pub school: ParticipantId,
    pub school_name: String,
    pub role: varsel_protocol::message::RecipientRole,
    pub header: varsel_protocol::message::Header,
    pub sent_at: DateTime<Utc>,
    pub receipt_due: Option<DateTime<Utc>>,
    pub ack_due: Option<DateTime<Utc>>,
    /// The sections this recipient could open.
    pub opened: Vec<SectionLabel>,
    /// Sections in the message that were not granted to this recipient.
    pub not_granted: Vec<SectionLabel>,
    pub body: Body,
}

/// One processed inbox message.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum Item {
    Delivery(Box<OpenedDelivery>),
    Feedback(varsel_protocol::message::Feedback),
    Error(varsel_protocol::message::ErrorReply),
    Refused(#[serde(serialize_with = "ser_refusal")] Refusal),
}

fn ser_refusal<S: serde::Serializer>(r: &Refusal, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(2))?;
    m.serialize_entry("reason", r.reason.code())?;
    m.serialize_entry("detail", &r.detail)?;
    m.end()
}

impl Item {
    /// The key the client deduplicates on: the delivery id for deliveries.
    fn key(&self) -> String {
        match self {
            Item::Delivery(d) => format!("delivery-{}", d.delivery),
            Item::Feedback(f) => match &f.escalation {
                Some(step) => format!(
                    "feedback-{}-escalation-{step}-{}",
                    f.delivery,
                    f.at.timestamp_millis()
                ),
                None => format!("feedback-{}-{}", f.delivery, f.state),
            },
            Item::Error(e) => format!(
                "error-{}",
                e.refused
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| e.reason.clone())
            ),
            Item::Refused(_) => String::new(),
        }
    }
}

impl std::fmt::Display for Item {
    /// The text an officer or school sees in the terminal (Swedish).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Item::Delivery(d) => {
                let what = match d.kind {
                    Kind::Alert => "VARSEL",
                    Kind::Update => "UPPDATERING",
                    Kind::Cancel => "ÅTERKALLAT",
                    _ => "MEDDELANDE",
                };
                let exercise = match d.header.status {
                    varsel_protocol::message::Status::Actual => "",
                    varsel_protocol::message::Status::Exercise => " [ÖVNING]",
                    varsel_protocol::message::Status::Test => " [TEST]",
                };
                writeln!(
                    f,
                    "=== {what}{exercise} från {} ({}) ===",
                    d.school_name, d.school
                )?;
                writeln!(f, "  leverans:  {}", d.delivery)?;
                writeln!(f, "  varsel:    {}", d.alert)?;
                writeln!(
                    f,
                    "  kategori:  {}   brådska: {}   kommun: {}",
                    d.header.category, d.header.urgency, d.header.municipality
                )?;
                if let Some(t) = d.header.planned_departure {
                    writeln!(
                        f,
                        "  avresa:    {}",
                        t.with_timezone(&chrono_tz::Europe::Stockholm)
                            .format("%Y-%m-%d %H:%M")
                    )?;
                }
                writeln!(
                    f,
                    "  roll:      {}",
                    if d.role == varsel_protocol::message::RecipientRole::Required {
                        "måste kvittera"
                    } else {
                        "för kännedom"
                    }
                )?;
                if let Some(t) = d.ack_due {
                    writeln!(
                        f,
                        "  kvittera senast: {}",
                        t.with_timezone(&chrono_tz::Europe::Stockholm)
                            .format("%Y-%m-%d %H:%M")
                    )?;
                }
                let opened: Vec<&str> = d.opened.iter().map(|l| l.code()).collect();
                writeln!(f, "  öppnade delar: {}", opened.join(", "))?;
                if !d.not_granted.is_empty() {
                    let others: Vec<&str> = d.not_granted.iter().map(|l| l.code()).collect();
                    writeln!(f, "  ej tilldelade delar: {}", others.join(", "))?;
                }
                let body = serde_json::to_string_pretty(&d.body).unwrap_or_default();
                for line in body.lines() {
                    writeln!(f, "  | {line}")?;
                }
                writeln!(
                    f,
                    "  Kvittera: varsel ack {} --officer \"Namn\" --outcome case_opened",
                    d.delivery
                )
            }
            Item::Feedback(fb) => {
                let state = match fb.state {
                    varsel_protocol::message::DeliveryState::Sent => "levererat",
                    varsel_protocol::message::DeliveryState::Received => "mottaget",
                    varsel_protocol::message::DeliveryState::Acknowledged => "kvitterat",
                    varsel_protocol::message::DeliveryState::Declined => "avböjt",
                    varsel_protocol::message::DeliveryState::Escalated => "eskalerat",
                    other => other.code(),
                };
                write!(
                    f,
                    "--- återkoppling: varsel {} hos {}: {state}",
                    fb.alert, fb.recipient
                )?;
                if let Some(o) = &fb.officer {
                    write!(f, " av {o}")?;
                }
                if let Some(o) = fb.outcome {
                    write!(f, " ({o})")?;
                }
                if let Some(e) = &fb.escalation {
                    write!(f, " [eskalering: {e}]")?;
                }
                writeln!(
                    f,
                    " {}",
                    fb.at
                        .with_timezone(&chrono_tz::Europe::Stockholm)
                        .format("%H:%M:%S")
                )
            }
            Item::Error(e) => writeln!(
                f,
                "!!! avvisat av mäklaren: {} ({}) {}",
                e.reason,
                e.detail,
                e.refused.map(|i| i.to_string()).unwrap_or_default()
            ),
            Item::Refused(r) => writeln!(f, "!!! ogiltigt meddelande i inkorgen: {r}"),
        }
    }
}

/// The client's memory, one file per processed item, so a redelivered message is processed once
/// even across restarts. `processed.log` lists every item processed, in order.
pub struct State {
    dir: PathBuf,
}

impl State {
    fn err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::State {
            path: path.to_path_buf(),
            source,
        }
    }

    fn ensure(&self) -> Result<(), Error> {
        std::fs::create_dir_all(self.dir.join("seen")).map_err(Self::err(&self.dir))
    }

    fn seen(&self, key: &str) -> bool {
        self.dir.join("seen").join(key).exists()
    }

    fn record(&self, key: &str, item: &Item) -> Result<(), Error> {
        let alert = match item {
            Item::Delivery(d) => d.alert.to_string(),
            _ => String::new(),
        };
        let path = self.dir.join("seen").join(key);
        let mut f = std::fs::File::create(&path).map_err(Self::err(&path))?;
        f.write_all(alert.as_bytes()).map_err(Self::err(&path))?;
        f.sync_all().map_err(Self::err(&path))?;
        let log = self.dir.join("processed.log");
        let mut l = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(Self::err(&log))?;
        writeln!(l, "{key}").map_err(Self::err(&log))?;
        Ok(())
    }

    fn record_refused(&self, r: &Refusal, body: &[u8]) -> Result<(), Error> {
        self.ensure()?;
        let log = self.dir.join("refused.log");
        let mut l = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(Self::err(&log))?;
        writeln!(l, "{} {} bytes={}", r.reason.code(), r.detail, body.len())
            .map_err(Self::err(&log))?;
        Ok(())
    }

    /// The alert a processed delivery belongs to.
    pub fn alert_of(&self, delivery: Uuid) -> Option<Uuid> {
        std::fs::read_to_string(self.dir.join("seen").join(format!("delivery-{delivery}")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Every processed item key, in the order processed (with repeats, if any).
    pub fn processed(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("processed.log"))
            .map(|s| s.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }
}
