//! Making and sending messages: validating, sealing and signing a document or a note to a case,
//! receipts and acks, and publishing them on `varsel.in` with a confirm.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use varsel_protocol::alert::Document;
use varsel_protocol::envelope;
use varsel_protocol::message::{
    Ack, Aead, Content, Header, Kind, Note, NoteKind, Outcome, ParticipantId, Payload, Receipt,
    Sealed, Suite,
};
use varsel_protocol::note;
use varsel_transport::amqp;

use super::{Client, Error};

impl Client {
    /// Validates a document and turns it into a signed message (JWS compact) sealed to the
    /// broker, without sending.
    pub fn seal(&self, doc: &Document, now: DateTime<Utc>) -> Result<(Payload, String), Error> {
        let broker = self.registry.broker().id.clone();
        self.seal_to(doc, &[broker], self.config.suite, now)
    }

    /// Like [`Client::seal`], with the sections also wrapped to this participant's own sealing
    /// key when the registry has one, so the sender can open what it sent later (the desk's
    /// school pages keep it sealed and open it on demand). The broker passes on only what it
    /// opens with its own wrap, so no recipient gains anything from the extra wrap.
    pub fn seal_for_self_too(
        &self,
        doc: &Document,
        now: DateTime<Utc>,
    ) -> Result<(Payload, String), Error> {
        let mut to = vec![self.registry.broker().id.clone()];
        if self
            .registry
            .sealing_key_for(self.me(), Some(self.config.suite), now)
            .is_some()
        {
            to.push(self.me().clone());
        }
        self.seal_to(doc, &to, self.config.suite, now)
    }

    /// Like [`Client::seal`], with the sections wrapped to any participants, with keys of the
    /// given suite (offline trials and interoperability checks).
    pub fn seal_to(
        &self,
        doc: &Document,
        to: &[ParticipantId],
        suite: Suite,
        now: DateTime<Utc>,
    ) -> Result<(Payload, String), Error> {
        if to.is_empty() {
            return Err(Error::Invalid("  to: name at least one recipient".into()));
        }
        // As of `now`, the time the message is sent with (the client's clock), not the wall
        // clock: a document is checked against the same time it is stamped with.
        doc.validate_at(now).map_err(|problems| {
            Error::Invalid(
                problems
                    .iter()
                    .map(|p| format!("  {p}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        })?;
        let mut recipients = Vec::with_capacity(to.len());
        for r in to {
            let key = self
                .registry
                .sealing_key_for(r, Some(suite), now)
                .ok_or_else(|| {
                    Error::Keys(format!(
                        "{r} has no valid {suite} sealing key in the registry"
                    ))
                })?;
            recipients.push((r.clone(), key));
        }
        let id = Uuid::now_v7();
        let sections = doc.body.to_sections();
        let (sealed_sections, keys) = envelope::seal(
            id,
            &doc.header,
            &sections,
            &recipients,
            Aead::ChaCha20Poly1305,
        )
        .map_err(|e| Error::Other(e.to_string()))?;
        let sealed = Sealed {
            header: doc.header.clone(),
            sections: sealed_sections,
            wraps: Vec::new(),
            keys,
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

    /// Seals a note to the case of alert `alert` (whose routing header is `header`, as this
    /// member received it) to the broker, and to this participant too when it has a sealing key
    /// (so the sender can read what it posted), and signs it, without sending. The body is
    /// checked for the note's kind first (a decided travel ban has its decision time and
    /// reference, a closing its outcome).
    pub fn seal_note(
        &self,
        kind: NoteKind,
        alert: Uuid,
        header: &Header,
        body: &note::Body,
        now: DateTime<Utc>,
    ) -> Result<(Payload, String), Error> {
        let problems = body.problems(kind);
        if !problems.is_empty() {
            return Err(Error::Invalid(
                problems
                    .iter()
                    .map(|p| format!("  body.{p}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ));
        }
        let broker = self.registry.broker().id.clone();
        let key = self
            .registry
            .sealing_key_for(&broker, Some(self.config.suite), now)
            .ok_or_else(|| Error::Keys(format!("{broker} has no valid sealing key")))?;
        let mut to = vec![(broker, key)];
        if let Some(own) = self
            .registry
            .sealing_key_for(self.me(), Some(self.config.suite), now)
        {
            to.push((self.me().clone(), own));
        }
        let id = Uuid::now_v7();
        let (sections, keys) =
            envelope::seal(id, header, &body.to_sections(), &to, Aead::ChaCha20Poly1305)
                .map_err(|e| Error::Other(e.to_string()))?;
        let content = Content::Note(Note {
            note: kind,
            header: header.clone(),
            sections,
            keys,
        });
        let mut payload = Payload::new(self.me().clone(), content);
        payload.id = id;
        payload.sent_at = now;
        payload.references = vec![alert];
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
        if doc.kind == Kind::Alert {
            // Before it is sent: a case the broker has may always be closed from here.
            self.state().remember_case(payload.id, &doc.header)?;
        }
        let (conn, publisher) = self.connect().await?;
        self.publish(&publisher, &payload, &compact).await?;
        let _ = conn.close(200, "sent".into()).await;
        Ok(payload.id)
    }

    /// `varsel send --note`: seals a note to the case of `alert`, under the routing header this
    /// client received it with, signs and publishes it. Returns the note's id.
    pub async fn send_note(
        &self,
        kind: NoteKind,
        alert: Uuid,
        body: &note::Body,
    ) -> Result<Uuid, Error> {
        let header = self.state().case_header(alert)?.ok_or_else(|| {
            Error::Invalid(format!(
                "  alert: {alert} is not a case this client has raised or received; read it with varsel inbox first"
            ))
        })?;
        let (payload, compact) = self.seal_note(kind, alert, &header, body, self.clock.now())?;
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
        self.ack_for(delivery, alert, officer, outcome)
    }

    /// Builds a signed ack for a delivery of an alert the caller knows (the desk keeps it in its
    /// own store rather than in the client's state directory).
    pub fn ack_for(
        &self,
        delivery: Uuid,
        alert: Option<Uuid>,
        officer: &str,
        outcome: Outcome,
    ) -> (Payload, String) {
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
}
