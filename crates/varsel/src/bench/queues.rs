//! The AMQP pieces the relay and the load generators share: quorum queues, waiting for a
//! consumer, and confirmed publishing.

use std::time::Duration;

use anyhow::{anyhow, bail};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection};

use varsel_testkit::wait;

pub(super) fn quorum() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args
}

pub(super) async fn declare_quorum(conn: &Connection, name: &str) -> anyhow::Result<()> {
    let ch = conn.create_channel().await?;
    ch.queue_declare(name.into(), QueueDeclareOptions::durable(), quorum())
        .await?;
    let _ = ch.close(200, "declared".into()).await;
    Ok(())
}

/// Waits until `queue` exists and has a consumer.
pub(super) async fn wait_for_consumer(
    conn: &Connection,
    queue: &str,
    limit: Duration,
) -> anyhow::Result<()> {
    let what = format!("a consumer on {queue}");
    wait::poll(limit, Duration::from_millis(100), &what, || async {
        // A channel that cannot be opened ends the wait at once: the connection is gone.
        let ch = match conn.create_channel().await {
            Ok(ch) => ch,
            Err(e) => return Some(Err(anyhow::Error::from(e))),
        };
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        if let Ok(q) = ch
            .queue_declare(queue.into(), passive, FieldTable::default())
            .await
        {
            let _ = ch.close(200, "checked".into()).await;
            if q.consumer_count() > 0 {
                return Some(Ok(()));
            }
        }
        None
    })
    .await
    .map_err(|_| anyhow!("nothing consumed {queue} within {}s", limit.as_secs()))?
}

pub(super) async fn confirming(conn: &Connection) -> anyhow::Result<lapin::Channel> {
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    Ok(ch)
}

/// Publishes persistently and waits for the confirm.
pub(super) async fn publish_confirmed(
    ch: &lapin::Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
) -> anyhow::Result<()> {
    let confirm = ch
        .basic_publish(
            exchange.into(),
            key.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await?
        .await?;
    if confirm.is_nack() {
        bail!("RabbitMQ nacked a publish");
    }
    Ok(())
}
