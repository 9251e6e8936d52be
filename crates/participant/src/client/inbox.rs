//! Taking the inbox: each message opened once (deduplicated in the client's state), receipted,
//! shown, and acknowledged, or rejected so RabbitMQ dead-letters it. A heartbeat from the broker
//! is receipted at once and acknowledged, never shown nor counted.

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;

use varsel_transport::amqp;
use varsel_transport::shutdown::Signals;

use super::item::Item;
use super::state::State;
use super::{Client, Error};

impl Client {
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
            // A stop (a signal, or the caller's output gone) ends the pass between messages.
            while !signals.is_stopping() {
                let Some(m) = channel
                    .basic_get(queue.as_str().into(), BasicGetOptions::default())
                    .await
                    .map_err(|source| amqp::Error::Protocol {
                        what: format!("reading {queue}"),
                        source,
                    })?
                else {
                    break;
                };
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
        if let Item::Heartbeat(h) = &item {
            // Answered at once and shown to no one: a heartbeat is no alert. A redelivered one is
            // answered again; the broker counts only the first receipt.
            let (payload, compact) = self.receipt(h.heartbeat, None);
            self.publish(publisher, &payload, &compact).await?;
            return Ok(Handled::Heartbeat);
        }
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
    /// A heartbeat, receipted: acknowledged, not shown and not counted.
    Heartbeat,
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
