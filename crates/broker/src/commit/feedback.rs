//! Feedback to the school that raised an alert: a broker-signed message in the outbox for the
//! school's inbox, telling it how one delivery moved on (a receipt, an ack, an escalation step).

use chrono::{DateTime, Utc};

use super::{Error, Writer};
use crate::store::{self, MessageLabel, NewOutbox};
use varsel_protocol::message::{Content, Feedback, ParticipantId, Payload};
use varsel_transport::amqp;

impl Writer {
    /// Signs a feedback message and puts it in the outbox for the school's inbox.
    pub async fn feedback(
        &self,
        tx: &mut store::Tx,
        school: &ParticipantId,
        fb: Feedback,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let alert = fb.alert;
        let mut p = Payload::new(self.broker.clone(), Content::Feedback(fb));
        p.sent_at = now;
        p.references = vec![alert];
        tx.enqueue(&NewOutbox::amqp(
            amqp::inbox(school),
            MessageLabel::of(&p),
            self.sign(&p).into_bytes(),
            None,
            Some(alert),
            now,
        ))
        .await?;
        Ok(())
    }
}
