//! The RabbitMQ side: connecting (with backoff and reconnect), declaring the topology, and
//! publishing with publisher confirms.
//!
//! Topology (see the design brief, "AMQP topology"):
//! - `varsel.in` (topic): participants publish with routing key `<kind>.<their id>`; bound with
//!   `#` to the `varsel.intake` quorum queue, which dead-letters to `varsel.dead`.
//! - `varsel.out` (direct): the broker publishes to `inbox.<participant id>`, one quorum queue per
//!   registered participant, `mandatory`, with the alternate exchange `varsel.unrouted` (fanout,
//!   bound to the `varsel.unrouted` quorum queue) so nothing unroutable is dropped.
//! - `varsel.dead` (topic) bound with `#` to the `varsel.dead-letters` quorum queue: refused input
//!   is published there by the broker with the reason in the `x-varsel-reason` header, and the
//!   queues' own dead-lettering (delivery limit exceeded) lands there too.

use chrono::Utc;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ExchangeKind};
use uuid::Uuid;

use varsel_protocol::message::{Kind, ParticipantId};

mod connect;
use connect::within;
pub use connect::{
    connect, connect_from, connect_to, connect_with_backoff, CONFIRM_TIMEOUT, CONNECT_TIMEOUT,
};

/// Where participants publish.
pub const IN: &str = "varsel.in";
/// The broker's input queue.
pub const INTAKE: &str = "varsel.intake";
/// Where the broker publishes to inboxes.
pub const OUT: &str = "varsel.out";
/// The alternate exchange and queue of `varsel.out`.
pub const UNROUTED: &str = "varsel.unrouted";
/// The dead-letter exchange.
pub const DEAD: &str = "varsel.dead";
/// The queue holding dead letters for ops to inspect.
pub const DEAD_LETTERS: &str = "varsel.dead-letters";

/// Header naming the refusal reason code on a dead letter.
pub const H_REASON: &str = "x-varsel-reason";
/// Header with a human-readable refusal detail (no personal data).
pub const H_DETAIL: &str = "x-varsel-detail";
/// Header with the routing key a refused message was published with.
pub const H_ROUTING_KEY: &str = "x-varsel-routing-key";
/// Header naming the outbox row a published message came from.
pub const H_OUTBOX: &str = "x-varsel-outbox";
/// Header naming the delivery a published message belongs to.
pub const H_DELIVERY: &str = "x-varsel-delivery";

/// How many times a quorum queue redelivers a message that is returned unacked before it is
/// dead-lettered (poison-message protection).
pub const DELIVERY_LIMIT: i64 = 50;

/// The media type of every varsel message body.
pub const CONTENT_TYPE: &str = "application/jose";

/// The inbox queue (and its routing key on `varsel.out`) of a participant.
pub fn inbox(id: &ParticipantId) -> String {
    format!("inbox.{id}")
}

/// The routing key a participant publishes a message of this kind with on `varsel.in`.
pub fn routing_key(kind: Kind, sender: &ParticipantId) -> String {
    format!("{}.{sender}", kind.code())
}

/// What went wrong talking to RabbitMQ.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect to RabbitMQ at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: lapin::Error,
    },
    #[error("cannot set up TLS to RabbitMQ at {url}: {detail}")]
    Tls { url: String, detail: String },
    #[error("RabbitMQ refused {what}: {source}")]
    Protocol {
        what: String,
        #[source]
        source: lapin::Error,
    },
    #[error("{what} did not finish within {after_s} s")]
    TimedOut { what: String, after_s: u64 },
}

impl Error {
    fn protocol(what: impl Into<String>) -> impl FnOnce(lapin::Error) -> Error {
        let what = what.into();
        move |source| Error::Protocol { what, source }
    }
}

/// Hides the password of an AMQP URL for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn quorum_args(dead_letter_key: &str) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(DEAD.into()),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(dead_letter_key.into()),
    );
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(DELIVERY_LIMIT),
    );
    args
}

fn durable_exchange() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    }
}

async fn declare_exchange(
    ch: &Channel,
    name: &str,
    kind: ExchangeKind,
    args: FieldTable,
) -> Result<(), Error> {
    ch.exchange_declare(name.into(), kind, durable_exchange(), args)
        .await
        .map_err(Error::protocol(format!("declaring exchange {name}")))
}

async fn declare_queue(ch: &Channel, name: &str, args: FieldTable) -> Result<(), Error> {
    ch.queue_declare(name.into(), QueueDeclareOptions::durable(), args)
        .await
        .map(|_| ())
        .map_err(Error::protocol(format!("declaring queue {name}")))
}

async fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str) -> Result<(), Error> {
    ch.queue_bind(
        queue.into(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .map_err(Error::protocol(format!("binding {queue} to {exchange}")))
}

/// Declares the broker's exchanges and queues and one inbox per participant. Idempotent: safe on
/// every (re)connect.
pub async fn declare_topology(
    conn: &Connection,
    participants: &[ParticipantId],
) -> Result<(), Error> {
    let ch = conn
        .create_channel()
        .await
        .map_err(Error::protocol("opening a channel"))?;
    declare_exchange(&ch, DEAD, ExchangeKind::Topic, FieldTable::default()).await?;
    let mut dead_args = FieldTable::default();
    dead_args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    declare_queue(&ch, DEAD_LETTERS, dead_args).await?;
    bind(&ch, DEAD_LETTERS, DEAD, "#").await?;

    declare_exchange(&ch, UNROUTED, ExchangeKind::Fanout, FieldTable::default()).await?;
    let mut unrouted_args = FieldTable::default();
    unrouted_args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    declare_queue(&ch, UNROUTED, unrouted_args).await?;
    bind(&ch, UNROUTED, UNROUTED, "").await?;

    declare_exchange(&ch, IN, ExchangeKind::Topic, FieldTable::default()).await?;
    declare_queue(&ch, INTAKE, quorum_args("intake")).await?;
    bind(&ch, INTAKE, IN, "#").await?;

    let mut out_args = FieldTable::default();
    out_args.insert(
        "alternate-exchange".into(),
        AMQPValue::LongString(UNROUTED.into()),
    );
    declare_exchange(&ch, OUT, ExchangeKind::Direct, out_args).await?;
    for p in participants {
        let q = inbox(p);
        declare_queue(&ch, &q, quorum_args(&q)).await?;
        bind(&ch, &q, OUT, &q).await?;
    }
    let _ = ch.close(200, "topology declared".into()).await;
    Ok(())
}

/// The outcome of a confirmed publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// RabbitMQ took responsibility for the message (routed, or parked by the alternate exchange).
    Confirmed,
    /// The message could not be routed and was returned (mandatory, no alternate exchange).
    Returned,
    /// RabbitMQ refused responsibility (nack): publish again later.
    Nacked,
}

/// A channel in confirm mode for publishing.
#[derive(Clone)]
pub struct Publisher {
    channel: Channel,
}

impl Publisher {
    pub async fn open(conn: &Connection) -> Result<Publisher, Error> {
        let channel = conn
            .create_channel()
            .await
            .map_err(Error::protocol("opening a publishing channel"))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(Error::protocol("enabling publisher confirms"))?;
        Ok(Publisher { channel })
    }

    /// Publishes and waits for RabbitMQ's confirm.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        props: BasicProperties,
        mandatory: bool,
    ) -> Result<Published, Error> {
        let opts = BasicPublishOptions {
            mandatory,
            ..BasicPublishOptions::default()
        };
        let confirm = within(
            CONFIRM_TIMEOUT,
            || format!("RabbitMQ's confirm of a publish to {exchange}"),
            async {
                self.channel
                    .basic_publish(exchange.into(), routing_key.into(), opts, body, props)
                    .await
                    .map_err(Error::protocol(format!("publishing to {exchange}")))?
                    .await
                    .map_err(Error::protocol(format!(
                        "confirming a publish to {exchange}"
                    )))
            },
        )
        .await?;
        if confirm.is_nack() {
            return Ok(Published::Nacked);
        }
        if confirm.take_message().is_some() {
            return Ok(Published::Returned);
        }
        Ok(Published::Confirmed)
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }
}

/// Acknowledges a consumed message; an error names `what` was being acknowledged.
pub async fn ack(d: &lapin::message::Delivery, what: &str) -> Result<(), Error> {
    d.acker
        .ack(lapin::options::BasicAckOptions::default())
        .await
        .map(|_| ())
        .map_err(Error::protocol(format!("acknowledging {what}")))
}

/// Hands a consumed message back to RabbitMQ for redelivery. If that fails the channel is
/// going away, and RabbitMQ redelivers everything unacknowledged on it anyway.
pub async fn requeue(d: &lapin::message::Delivery) {
    let _ = d
        .acker
        .nack(lapin::options::BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await;
}

/// Properties of a varsel message: persistent, typed, with the message id, and the publishing
/// AMQP user (which RabbitMQ validates against the connection's user).
pub fn properties(kind: Kind, id: Uuid, user_id: Option<&str>) -> BasicProperties {
    let p = labelled(kind, Some(id));
    match user_id {
        Some(u) => p.with_user_id(u.into()),
        None => p,
    }
}

/// Properties of a varsel message the broker publishes: persistent, typed, and with the message
/// id when it is known (an outbox row stored before its message's id was recorded has none).
pub fn labelled(kind: Kind, id: Option<Uuid>) -> BasicProperties {
    let p = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(CONTENT_TYPE.into())
        .with_type(kind.code().into())
        .with_timestamp(Utc::now().timestamp().max(0) as u64);
    match id {
        Some(id) => p.with_message_id(id.to_string().as_str().into()),
        None => p,
    }
}

/// Header carrying, on a dead letter, the AMQP user that published the refused message.
pub const H_USER_ID: &str = "x-varsel-user-id";

/// The properties of a message the broker republishes (e.g. a refused one to `varsel.dead`):
/// the original's, without its `user_id` (RabbitMQ only lets a connection claim its own user),
/// which moves to the `x-varsel-user-id` header instead. Of the original's headers only a
/// bounded few are kept (see [`bounded_headers`]): a publisher controls them, and copied whole
/// they could make the republished message larger than an AMQP frame.
pub fn republished(props: &BasicProperties) -> BasicProperties {
    let mut p = BasicProperties::default();
    if let Some(v) = props.delivery_mode() {
        p = p.with_delivery_mode(*v);
    }
    if let Some(v) = props.content_type() {
        p = p.with_content_type(v.clone());
    }
    if let Some(v) = props.kind() {
        p = p.with_type(v.clone());
    }
    if let Some(v) = props.message_id() {
        p = p.with_message_id(v.clone());
    }
    if let Some(v) = props.timestamp() {
        p = p.with_timestamp(*v);
    }
    if let Some(v) = props.headers() {
        p = p.with_headers(bounded_headers(v));
    }
    match props.user_id() {
        Some(u) => with_headers(p, &[(H_USER_ID, u.as_str().to_owned())]),
        None => p,
    }
}

/// Header counting, on a republished message, the original headers that were not copied.
pub const H_HEADERS_DROPPED: &str = "x-varsel-headers-dropped";

/// The most original headers copied onto a republished message, and their most bytes in all.
const MAX_COPIED_HEADERS: usize = 32;
const MAX_COPIED_HEADER_BYTES: usize = 4096;
/// The longest header name, and the longest string value, copied.
const MAX_COPIED_NAME: usize = 64;
const MAX_COPIED_VALUE: usize = 256;

/// The part of a publisher's headers that is safe to carry over: at most 32 entries of at most
/// 4 KiB in all, names up to 64 bytes, values that are numbers, booleans, times or strings up to
/// 256 bytes. Names starting with `x-varsel-` are the broker's own and never copied, so a
/// publisher cannot forge them. What is left out is counted in `x-varsel-headers-dropped`.
pub fn bounded_headers(original: &FieldTable) -> FieldTable {
    let mut kept = FieldTable::default();
    let (mut count, mut bytes, mut dropped) = (0usize, 0usize, 0u64);
    for (name, value) in original.inner() {
        let name_len = name.as_str().len();
        let size = match value {
            AMQPValue::LongString(s) => Some(s.as_bytes().len()),
            AMQPValue::ShortString(s) => Some(s.as_str().len()),
            AMQPValue::Boolean(_)
            | AMQPValue::ShortShortInt(_)
            | AMQPValue::ShortShortUInt(_)
            | AMQPValue::ShortInt(_)
            | AMQPValue::ShortUInt(_)
            | AMQPValue::LongInt(_)
            | AMQPValue::LongUInt(_)
            | AMQPValue::LongLongInt(_)
            | AMQPValue::Timestamp(_) => Some(8),
            _ => None,
        };
        let fits = size.is_some_and(|s| {
            s <= MAX_COPIED_VALUE
                && name_len <= MAX_COPIED_NAME
                && count < MAX_COPIED_HEADERS
                && bytes + name_len + s <= MAX_COPIED_HEADER_BYTES
        });
        if fits && !name.as_str().starts_with("x-varsel-") {
            count += 1;
            bytes += name_len + size.unwrap_or(0);
            kept.insert(name.clone(), value.clone());
        } else {
            dropped += 1;
        }
    }
    if dropped > 0 {
        kept.insert(
            ShortString::from(H_HEADERS_DROPPED),
            AMQPValue::LongLongInt(dropped as i64),
        );
    }
    kept
}

/// Adds string headers to properties.
pub fn with_headers(props: BasicProperties, headers: &[(&str, String)]) -> BasicProperties {
    let mut table = props.headers().clone().unwrap_or_default();
    for (k, v) in headers {
        table.insert(
            ShortString::from(*k),
            AMQPValue::LongString(LongString::from(v.as_str())),
        );
    }
    props.with_headers(table)
}

/// Reads a string header from a delivered message.
pub fn header(props: &BasicProperties, name: &str) -> Option<String> {
    let table = props.headers().as_ref()?;
    match table.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_connect_to_a_server_that_never_answers_times_out_and_says_so() {
        // Accepts TCP and then says nothing: the AMQP handshake never completes.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let url = format!("amqp://guest:secret@{addr}/%2f");
        // The same path as `connect` with its 30 s, shortened so the suite does not wait 30 s.
        let limit = Duration::from_secs(2);
        let e = tokio::time::timeout(limit * 5, connect::connect_within(&url, "test", limit))
            .await
            .expect("connect gives up by itself")
            .expect_err("nothing answers");
        let text = e.to_string();
        assert!(
            text.contains("did not finish within 2 s") && text.contains("guest:***@"),
            "{text}"
        );
    }

    #[test]
    fn a_republished_message_keeps_only_a_bounded_part_of_the_publishers_headers() {
        let mut h = FieldTable::default();
        h.insert("trace".into(), AMQPValue::LongString("abc".into()));
        h.insert("n".into(), AMQPValue::LongInt(7));
        h.insert(
            "pad".into(),
            AMQPValue::LongString("x".repeat(130_000).as_str().into()),
        );
        h.insert(H_REASON.into(), AMQPValue::LongString("forged".into()));
        h.insert(
            "nested".into(),
            AMQPValue::FieldTable(FieldTable::default()),
        );
        for i in 0..100 {
            h.insert(
                format!("many-{i:03}").as_str().into(),
                AMQPValue::LongString("y".repeat(200).as_str().into()),
            );
        }
        let props = BasicProperties::default()
            .with_headers(h)
            .with_user_id("skola-a".into());
        let p = republished(&props);
        let kept = p.headers().clone().unwrap();
        let names: Vec<&str> = kept.inner().keys().map(|k| k.as_str()).collect();
        assert!(
            names.contains(&"trace") && names.contains(&"n"),
            "{names:?}"
        );
        assert!(!names.contains(&"pad") && !names.contains(&"nested"));
        assert_eq!(
            header(&p, H_REASON),
            None,
            "a publisher cannot forge the reason"
        );
        assert_eq!(header(&p, H_USER_ID).as_deref(), Some("skola-a"));
        let copied = names.iter().filter(|n| n.starts_with("many-")).count();
        assert!(copied > 0 && copied < 32, "{copied}");
        let size: usize = kept
            .inner()
            .iter()
            .map(|(k, v)| {
                k.as_str().len()
                    + match v {
                        AMQPValue::LongString(s) => s.as_bytes().len(),
                        _ => 8,
                    }
            })
            .sum();
        assert!(size <= 4096 + 64, "{size}");
        match kept.inner().get(H_HEADERS_DROPPED) {
            Some(AMQPValue::LongLongInt(n)) => assert_eq!(*n as usize, 105 - 2 - copied),
            other => panic!("no count of dropped headers: {other:?}"),
        }
    }

    #[test]
    fn names_follow_the_topology() {
        let id: ParticipantId = "norrkoping-ektorpsskolan".parse().unwrap();
        assert_eq!(inbox(&id), "inbox.norrkoping-ektorpsskolan");
        assert_eq!(
            routing_key(Kind::Alert, &id),
            "alert.norrkoping-ektorpsskolan"
        );
    }

    #[test]
    fn passwords_are_hidden_in_logged_urls() {
        assert_eq!(
            redact_url("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact_url("amqp://127.0.0.1"), "amqp://127.0.0.1");
    }

    #[test]
    fn republished_properties_carry_no_user_id() {
        let id = Uuid::now_v7();
        let original = properties(Kind::Alert, id, Some("skola-b"));
        let p = republished(&original);
        assert_eq!(p.user_id(), &None);
        assert_eq!(header(&p, H_USER_ID).as_deref(), Some("skola-b"));
        assert_eq!(p.message_id(), original.message_id());
        assert_eq!(p.delivery_mode(), &Some(2));
    }

    #[test]
    fn headers_round_trip() {
        let p = with_headers(
            BasicProperties::default(),
            &[(H_REASON, "stale".to_owned())],
        );
        assert_eq!(header(&p, H_REASON).as_deref(), Some("stale"));
        assert_eq!(header(&p, H_DETAIL), None);
    }
}
