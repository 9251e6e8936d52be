//! The broker pipeline against the real RabbitMQ: routing to exactly the right inboxes with
//! exactly the granted sections, feedback to the school, refusals of forged, stale, reused,
//! tampered, unknown and misrouted input, a SIGKILL during a burst, and unroutable deliveries.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc, Weekday};
use lapin::options::{BasicGetOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use varsel_broker::store::{AlertFilter, AlertState, Store};
use varsel_participant::client::Item;
use varsel_protocol::envelope;
use varsel_protocol::message::{Content, DeliveryState, Kind, Outcome, Payload, SectionLabel};
use varsel_transport::amqp;
use varsel_transport::clock::Clock;

use varsel_testkit::harness::{drain, wait_until, Harness};
use varsel_testkit::http::sample;
use varsel_testkit::process::KillOnDrop;

const SCHOOL: &str = "norrkoping-ektorpsskolan";
const SOCIAL: &str = "norrkoping-socialtjansten";
const JOUR: &str = "norrkoping-socialjouren";
const POLICE: &str = "polisen-region-ost";
const FK: &str = "forsakringskassan";
const SKV: &str = "skatteverket";
const OPS: &str = "varsel-ops";

/// 10:00 in Stockholm on the next ordinary weekday `day` at least two days ahead (keys made now
/// are valid then, and socialtjänsten is open).
pub fn next_office_hour(day: Weekday) -> DateTime<Utc> {
    let mut date = (Utc::now() + chrono::Duration::days(2)).date_naive();
    while date.weekday() != day || varsel_protocol::calendar::is_holiday(date).is_some() {
        date = date.succ_opt().unwrap();
    }
    stockholm(date, 10, 0)
}

pub fn stockholm(date: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    varsel_protocol::calendar::TZ
        .from_local_datetime(&date.and_hms_opt(h, m, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

/// The example alert with its planned departure eight hours after `now` (an example departure
/// already passed would pull the ladder's departure steps forward at once).
fn departing_alert(h: &Harness) -> varsel_protocol::alert::Document {
    let mut doc = h.example("alert.json");
    let departure = h.clock.now() + chrono::Duration::hours(8);
    doc.header.planned_departure = Some(departure);
    if let Some(t) = doc.body.travel.as_mut() {
        t.planned_departure = Some(departure);
    }
    doc
}

fn sections(list: &[SectionLabel]) -> BTreeSet<&'static str> {
    list.iter().map(|l| l.code()).collect()
}

/// Publishes `body` to `varsel.in` under `key`, as any client could, and checks RabbitMQ took it.
async fn publish_in(p: &amqp::Publisher, key: &str, body: &[u8], props: lapin::BasicProperties) {
    let r = p.publish(amqp::IN, key, body, props, true).await.unwrap();
    assert_eq!(r, amqp::Published::Confirmed);
}

/// The error replies `client` finds once the broker's outbox is empty: refused id and reason.
async fn error_replies(
    h: &Harness,
    client: &varsel_participant::client::Client,
) -> Vec<(Option<uuid::Uuid>, String)> {
    let store = h.store();
    wait_until(
        Duration::from_secs(30),
        "the error replies to be sent",
        || async { store.stats(h.clock.now()).await.unwrap().outbox_pending == 0 },
    )
    .await;
    drain(client)
        .await
        .into_iter()
        .filter_map(|i| match i {
            Item::Error(e) => Some((e.refused, e.reason)),
            _ => None,
        })
        .collect()
}

async fn all_sent(store: &Store, alert: uuid::Uuid) -> bool {
    store
        .deliveries_of(alert)
        .await
        .map(|d| !d.is_empty() && d.iter().all(|d| d.state != DeliveryState::Pending))
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_reaches_exactly_its_inboxes_with_exactly_its_sections_and_feedback_returns() {
    let clock = Clock::manual(next_office_hour(Weekday::Tue));
    let h = Harness::start_with("route", clock, None).await;
    let store = h.store();
    let school = h.client(SCHOOL);
    let alert = school.send(&departing_alert(&h)).await.unwrap();
    wait_until(
        Duration::from_secs(30),
        "the deliveries to be published",
        || all_sent(&store, alert),
    )
    .await;
    // The alert is `immediate`: its deliveries were queued ahead of routine sends.
    let to_agencies: Vec<_> = store
        .outbox_of(alert)
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.destination != format!("inbox.{SCHOOL}"))
        .collect();
    assert!(!to_agencies.is_empty());
    assert!(to_agencies.iter().all(|o| o.urgent));

    let expected: BTreeMap<&str, BTreeSet<&str>> = [
        (SOCIAL, sections(SectionLabel::ALL)),
        (
            POLICE,
            sections(&[SectionLabel::Core, SectionLabel::Travel]),
        ),
        (FK, sections(&[SectionLabel::Core])),
        (SKV, sections(&[SectionLabel::Core])),
    ]
    .into_iter()
    .collect();
    let mut delivery_of = BTreeMap::new();
    for id in [SOCIAL, JOUR, POLICE, FK, SKV, OPS] {
        let items = drain(&h.client(id)).await;
        let deliveries: Vec<_> = items
            .iter()
            .filter_map(|i| match i {
                Item::Delivery(d) => Some(d),
                _ => None,
            })
            .collect();
        match expected.get(id) {
            None => assert!(
                deliveries.is_empty(),
                "{id} must receive nothing, got {}",
                deliveries.len()
            ),
            Some(granted) => {
                assert_eq!(deliveries.len(), 1, "{id} gets exactly one delivery");
                let d = deliveries[0];
                assert_eq!(d.alert, alert);
                assert_eq!(
                    sections(&d.opened),
                    *granted,
                    "{id} opens exactly its granted sections"
                );
                let all = sections(SectionLabel::ALL);
                let others: BTreeSet<_> = all.difference(granted).copied().collect();
                assert_eq!(
                    sections(&d.not_granted),
                    others,
                    "{id} cannot open the rest"
                );
                assert_eq!(d.body.core.is_some(), granted.contains("core"));
                assert_eq!(d.body.family.is_some(), granted.contains("family"));
                assert_eq!(d.body.travel.is_some(), granted.contains("travel"));
                assert_eq!(
                    d.body.school_actions.is_some(),
                    granted.contains("school_actions")
                );
                delivery_of.insert(id, d.delivery);
            }
        }
    }

    // Receipts went back automatically; the school hears of each.
    wait_until(
        Duration::from_secs(30),
        "every delivery to be received",
        || async {
            store
                .deliveries_of(alert)
                .await
                .unwrap()
                .iter()
                .all(|d| d.state == DeliveryState::Received)
        },
    )
    .await;
    h.client(SOCIAL)
        .ack(delivery_of[SOCIAL], "Anna Handläggare", Outcome::CaseOpened)
        .await
        .unwrap();
    h.client(POLICE)
        .ack(delivery_of[POLICE], "Insp. Berg", Outcome::CaseOpened)
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(30),
        "the alert to be acknowledged",
        || async { store.alert(alert).await.unwrap().unwrap().state == AlertState::Acknowledged },
    )
    .await;
    wait_until(Duration::from_secs(30), "feedback to be sent", || async {
        store.stats(h.clock.now()).await.unwrap().outbox_pending == 0
    })
    .await;
    let feedback: Vec<_> = drain(&school)
        .await
        .into_iter()
        .filter_map(|i| match i {
            Item::Feedback(f) => Some(f),
            _ => None,
        })
        .collect();
    let received: BTreeSet<_> = feedback
        .iter()
        .filter(|f| f.state == DeliveryState::Received)
        .map(|f| f.recipient.to_string())
        .collect();
    assert_eq!(received, expected.keys().map(|s| s.to_string()).collect());
    let acked: BTreeMap<_, _> = feedback
        .iter()
        .filter(|f| f.state == DeliveryState::Acknowledged)
        .map(|f| (f.recipient.to_string(), f.officer.clone()))
        .collect();
    assert_eq!(acked.len(), 2);
    assert_eq!(acked[SOCIAL].as_deref(), Some("Anna Handläggare"));
    assert_eq!(acked[POLICE].as_deref(), Some("Insp. Berg"));
    h.stop().await;
}

/// Reads every dead letter: (reason header, routing key header).
async fn dead_letters(url: &str) -> Vec<(String, String)> {
    dead_letter_properties(url)
        .await
        .iter()
        .map(|p| {
            (
                amqp::header(p, amqp::H_REASON).unwrap_or_default(),
                amqp::header(p, amqp::H_ROUTING_KEY).unwrap_or_default(),
            )
        })
        .collect()
}

/// Replaces one character of the payload part with another valid base64url character.
fn tamper(compact: &str) -> String {
    let dot = compact.find('.').unwrap();
    let mut bytes = compact.as_bytes().to_vec();
    let i = dot + 20;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stale_reused_tampered_unknown_and_misrouted_messages_are_dead_lettered_with_their_reason(
) {
    let clock = Clock::manual(next_office_hour(Weekday::Wed));
    let h = Harness::start_with("attacks", clock, None).await;
    let store = h.store();
    let school = h.client(SCHOOL);
    let now = h.clock.now();
    let doc = departing_alert(&h);
    let conn = amqp::connect(&h.vhost.url(), "test-attacker")
        .await
        .unwrap();
    let publisher = amqp::Publisher::open(&conn).await.unwrap();
    let send = |key: String, body: Vec<u8>, kind: Kind| {
        let publisher = publisher.clone();
        async move {
            let props = amqp::properties(kind, uuid::Uuid::now_v7(), None);
            publish_in(&publisher, &key, &body, props).await;
        }
    };
    let key = amqp::routing_key(Kind::Alert, school.me());

    // A genuine alert, and the very same bytes again (a duplicate, acknowledged without effect).
    let (genuine, genuine_jws) = school.seal(&doc, now).unwrap();
    send(key.clone(), genuine_jws.clone().into_bytes(), Kind::Alert).await;
    send(key.clone(), genuine_jws.clone().into_bytes(), Kind::Alert).await;

    // Forged: the school's kid, someone else's signature.
    let (other, _) = envelope::SigningKeyPair::generate().unwrap();
    let (_, jws) = school.seal(&doc, now).unwrap();
    let signing_input = &jws[..jws.rfind('.').unwrap()];
    let forged = format!(
        "{signing_input}.{}",
        envelope::b64(&other.sign(signing_input.as_bytes()))
    );
    send(key.clone(), forged.into_bytes(), Kind::Alert).await;
    // Stale: sent an hour ago (a replay after the window).
    let (_, stale) = school.seal(&doc, now - chrono::Duration::hours(1)).unwrap();
    send(key.clone(), stale.into_bytes(), Kind::Alert).await;
    // Reused id: another message under the genuine alert's id.
    let (mut reused, _) = school.seal(&doc, now).unwrap();
    reused.id = genuine.id;
    let reused_jws = envelope::sign(&reused, &school.keys.signing);
    send(key.clone(), reused_jws.into_bytes(), Kind::Alert).await;
    // Tampered: one character of the payload changed.
    let (_, jws) = school.seal(&doc, now).unwrap();
    send(key.clone(), tamper(&jws).into_bytes(), Kind::Alert).await;
    // Unknown sender: keys nobody registered.
    let stranger_dir = tempfile::tempdir().unwrap();
    let stranger_id: varsel_protocol::message::ParticipantId = "okand-skola".parse().unwrap();
    envelope::keygen(
        &stranger_id,
        stranger_dir.path(),
        now - chrono::Duration::days(1),
    )
    .unwrap();
    let stranger = envelope::KeySet::load(stranger_dir.path(), &stranger_id).unwrap();
    let mut p: Payload = genuine.clone();
    p.id = uuid::Uuid::now_v7();
    p.sender = stranger_id.clone();
    send(
        amqp::routing_key(Kind::Alert, &stranger_id),
        envelope::sign(&p, &stranger.signing).into_bytes(),
        Kind::Alert,
    )
    .await;
    // Misrouted: the school's message under another participant's routing key.
    let (_, jws) = school.seal(&doc, now).unwrap();
    send(format!("alert.{SOCIAL}"), jws.into_bytes(), Kind::Alert).await;
    // Oversized and malformed.
    send(key.clone(), vec![b'a'; 300 * 1024], Kind::Alert).await;
    send(key.clone(), b"not a message".to_vec(), Kind::Alert).await;

    let mut letters = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while letters.len() < 8 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for eight dead letters, got {letters:?}"
        );
        letters.extend(dead_letters(&h.vhost.url()).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut reasons: Vec<&str> = letters.iter().map(|(r, _)| r.as_str()).collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "bad_signature",
            "bad_signature",
            "malformed",
            "oversized",
            "reused_id",
            "stale",
            "unknown_key",
            "wrong_routing_key"
        ]
    );
    assert!(letters
        .iter()
        .any(|(r, k)| r == "wrong_routing_key" && k == &format!("alert.{SOCIAL}")));

    // Exactly one alert was accepted, with its four deliveries; nothing else reached an inbox.
    wait_until(
        Duration::from_secs(30),
        "the genuine alert to be delivered",
        || all_sent(&store, genuine.id),
    )
    .await;
    let alerts = store.alerts(&Default::default()).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].id, genuine.id);
    for id in [SOCIAL, POLICE, FK, SKV] {
        let n = drain(&h.client(id))
            .await
            .iter()
            .filter(|i| matches!(i, Item::Delivery(_)))
            .count();
        assert_eq!(n, 1, "{id} holds exactly the genuine delivery");
    }
    for id in [JOUR, OPS] {
        // Ops receives the broker's signed audit checkpoints, and nothing else here.
        let items = drain(&h.client(id)).await;
        assert!(
            items.iter().all(|i| matches!(i, Item::Checkpoint(_))),
            "{id} holds nothing: {items:?}"
        );
    }
    // Error replies went to the school where the signer was known; never for forgeries.
    wait_until(
        Duration::from_secs(30),
        "error replies to be sent",
        || async { store.stats(h.clock.now()).await.unwrap().outbox_pending == 0 },
    )
    .await;
    let mut replied: Vec<String> = drain(&school)
        .await
        .into_iter()
        .filter_map(|i| match i {
            Item::Error(e) => Some(e.reason),
            _ => None,
        })
        .collect();
    replied.sort();
    assert_eq!(replied, ["reused_id", "stale", "wrong_routing_key"]);
    // Every refusal is in the audit log with its reason.
    let refused = store
        .audit_entries(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "message_refused")
        .count();
    assert_eq!(refused, 8);
    h.stop().await;
}

/// Error replies cannot be amplified. One captured alert replayed 30 times after the freshness
/// window is answered once; a stream of distinct refused messages is answered up to the signer's
/// budget (10 per 10 minutes) and the rest are counted; the first reply of the next window says
/// how many went unanswered. Every refusal is still dead-lettered and audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_replies_are_sent_once_per_refused_bytes_and_bounded_per_signer() {
    let clock = Clock::manual(next_office_hour(Weekday::Mon));
    let h = Harness::start_with("amplify", clock.clone(), None).await;
    let store = h.store();
    let school = h.client(SCHOOL);
    let doc = departing_alert(&h);
    let conn = amqp::connect(&h.vhost.url(), "test-replayer")
        .await
        .unwrap();
    let publisher = amqp::Publisher::open(&conn).await.unwrap();
    let key = amqp::routing_key(Kind::Alert, school.me());
    let send = |body: String| {
        let (publisher, key) = (publisher.clone(), key.clone());
        async move {
            let props = amqp::properties(Kind::Alert, uuid::Uuid::now_v7(), None);
            publish_in(&publisher, &key, body.as_bytes(), props).await;
        }
    };
    let refusals = |n: usize| {
        let store = store.clone();
        async move {
            store
                .audit_entries(None)
                .await
                .map(|a| a.iter().filter(|e| e.action == "message_refused").count() >= n)
                .unwrap_or(false)
        }
    };
    let an_hour_ago = h.clock.now() - chrono::Duration::hours(1);

    let (_, captured) = school.seal(&doc, an_hour_ago).unwrap();
    for _ in 0..30 {
        send(captured.clone()).await;
    }
    // Twelve distinct stale messages: the window's budget of ten is spent after nine of them.
    for _ in 0..12 {
        send(school.seal(&doc, an_hour_ago).unwrap().1).await;
    }
    wait_until(Duration::from_secs(60), "42 refusals to be audited", || {
        refusals(42)
    })
    .await;
    // The next window: one more refusal, answered with the count of those left unanswered.
    clock.advance(chrono::Duration::minutes(11));
    send(
        school
            .seal(&doc, h.clock.now() - chrono::Duration::hours(1))
            .unwrap()
            .1,
    )
    .await;
    wait_until(Duration::from_secs(60), "43 refusals to be audited", || {
        refusals(43)
    })
    .await;
    wait_until(
        Duration::from_secs(30),
        "the error replies to be sent",
        || async { store.stats(h.clock.now()).await.unwrap().outbox_pending == 0 },
    )
    .await;

    let replies: Vec<_> = drain(&school)
        .await
        .into_iter()
        .filter_map(|i| match i {
            Item::Error(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(replies.len(), 11, "{replies:?}");
    assert!(replies.iter().all(|e| e.reason == "stale"));
    let last = &replies[10];
    assert!(
        last.detail
            .contains("(3 more of your messages were refused in the 600 s before"),
        "{last:?}"
    );
    let metrics = h.broker.as_ref().unwrap().shared.metrics.render();
    for (name, label, value, count) in [
        ("varsel_error_replies_withheld_total", "why", "repeat", 29.0),
        (
            "varsel_error_replies_withheld_total",
            "why",
            "over_budget",
            3.0,
        ),
        ("varsel_refused_total", "reason", "stale", 43.0),
    ] {
        assert_eq!(
            sample(&metrics, name, &[(label, value)]),
            Some(count),
            "{name}{{{label}=\"{value}\"}} in {metrics}"
        );
    }
    assert_eq!(dead_letter_properties(&h.vhost.url()).await.len(), 43);
    h.stop().await;
}

/// Every dead letter's properties, in the order RabbitMQ holds them.
async fn dead_letter_properties(url: &str) -> Vec<lapin::BasicProperties> {
    queued(url, amqp::DEAD_LETTERS, false)
        .await
        .into_iter()
        .map(|(props, _)| props)
        .collect()
}

/// Every message now in `queue`, properties and body, in the order RabbitMQ holds them. With
/// `keep` they are left unacknowledged and go back to the queue when the channel closes;
/// otherwise they are taken off it.
async fn queued(url: &str, queue: &str, keep: bool) -> Vec<(lapin::BasicProperties, Vec<u8>)> {
    let conn = amqp::connect(url, "test-queue-reader").await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    let mut out = Vec::new();
    while let Some(m) = ch
        .basic_get(queue.into(), BasicGetOptions { no_ack: !keep })
        .await
        .unwrap()
    {
        out.push((m.delivery.properties.clone(), m.delivery.data.clone()));
    }
    let _ = conn.close(200, "read".into()).await;
    out
}

/// Checks one message the broker published, as it lay in an inbox queue: signed by the broker,
/// AMQP `type` its kind, `message_id` the id inside the signed payload, `x-varsel-delivery`
/// present exactly on a delivery and naming it. Returns the kind.
fn check_labels(
    registry: &varsel_protocol::registry::Registry,
    now: DateTime<Utc>,
    props: &lapin::BasicProperties,
    body: &[u8],
) -> Kind {
    let verified = envelope::verify(body, registry, now, envelope::DEFAULT_MAX_MESSAGE)
        .expect("the broker's message verifies");
    let payload = verified.payload;
    let kind = payload.kind();
    assert_eq!(
        props.kind().as_ref().map(|t| t.as_str()),
        Some(kind.code()),
        "AMQP type of a {kind:?} message"
    );
    let id = payload.id.to_string();
    assert_eq!(
        props.message_id().as_ref().map(|m| m.as_str()),
        Some(id.as_str()),
        "AMQP message_id of a {kind:?} message is the signed payload's id"
    );
    let delivery = match &payload.content {
        Content::Delivery(d) => Some(d.delivery.to_string()),
        _ => None,
    };
    assert_eq!(
        amqp::header(props, amqp::H_DELIVERY),
        delivery,
        "x-varsel-delivery of a {kind:?} message"
    );
    kind
}

/// What the broker publishes says what it is (issue 13, defect 7): a delivery read raw off an
/// agency's inbox, and feedback (a receipt) and an error reply (a stale message) read raw off the
/// school's, each carry their own kind as AMQP `type`, the id inside the signed payload as
/// `message_id`, and `x-varsel-delivery` only when there is a delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_messages_carry_their_kind_id_and_delivery_in_their_amqp_properties() {
    let clock = Clock::manual(next_office_hour(Weekday::Thu));
    let h = Harness::start_with("labels", clock, None).await;
    let store = h.store();
    let school = h.client(SCHOOL);
    let now = h.clock.now();
    let doc = departing_alert(&h);
    let alert = school.send(&doc).await.unwrap();
    wait_until(
        Duration::from_secs(30),
        "the deliveries to be published",
        || all_sent(&store, alert),
    )
    .await;

    // The delivery as it lies in socialtjänsten's inbox, left there for its client.
    let social_inbox = amqp::inbox(&SOCIAL.parse().unwrap());
    let peeked = queued(&h.vhost.url(), &social_inbox, true).await;
    assert_eq!(peeked.len(), 1, "socialtjänsten holds one message");
    let (props, body) = &peeked[0];
    assert_eq!(
        check_labels(&school.registry, now, props, body),
        Kind::Delivery
    );

    // Its client receipts it (feedback to the school); a stale message earns an error reply.
    let items = drain(&h.client(SOCIAL)).await;
    assert!(items.iter().any(|i| matches!(i, Item::Delivery(_))));
    let conn = amqp::connect(&h.vhost.url(), "test-stale").await.unwrap();
    let publisher = amqp::Publisher::open(&conn).await.unwrap();
    let (stale, jws) = school.seal(&doc, now - chrono::Duration::hours(1)).unwrap();
    let published = publisher
        .publish(
            amqp::IN,
            &amqp::routing_key(Kind::Alert, school.me()),
            jws.as_bytes(),
            amqp::properties(Kind::Alert, stale.id, None),
            true,
        )
        .await
        .unwrap();
    assert_eq!(published, amqp::Published::Confirmed);
    wait_until(
        Duration::from_secs(30),
        "the receipt and the refusal to be recorded and their replies sent",
        || async {
            let refused = store
                .audit_entries(None)
                .await
                .unwrap()
                .iter()
                .any(|e| e.action == "message_refused");
            let received = store
                .deliveries_of(alert)
                .await
                .unwrap()
                .iter()
                .any(|d| d.recipient.as_str() == SOCIAL && d.received_at.is_some());
            refused && received && store.stats(h.clock.now()).await.unwrap().outbox_pending == 0
        },
    )
    .await;

    let school_inbox = amqp::inbox(school.me());
    let mut kinds: Vec<&str> = queued(&h.vhost.url(), &school_inbox, false)
        .await
        .iter()
        .map(|(props, body)| check_labels(&school.registry, now, props, body).code())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["error", "feedback"], "the school's inbox");
    h.stop().await;
}

/// The bytes a header table takes on the wire, roughly: names and string values.
fn header_bytes(props: &lapin::BasicProperties) -> usize {
    props.headers().as_ref().map_or(0, |h| {
        h.inner()
            .iter()
            .map(|(k, v)| {
                k.as_str().len()
                    + match v {
                        AMQPValue::LongString(s) => s.as_bytes().len(),
                        AMQPValue::ShortString(s) => s.as_str().len(),
                        _ => 8,
                    }
            })
            .sum()
    })
}

/// A poison message costs one pass. A JWS whose header carries a 180 KiB `kid`, and a 9-byte
/// body under 120 KB of AMQP headers of its own, are each refused once, dead-lettered once with
/// bounded headers and audited once, without a reconnect; a genuine alert sent after them is
/// delivered as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_refused_once_with_bounded_headers_and_holds_nothing_up() {
    let clock = Clock::manual(next_office_hour(Weekday::Tue));
    let h = Harness::start_with("poison", clock, None).await;
    let store = h.store();
    let school = h.client(SCHOOL);
    let key = amqp::routing_key(Kind::Alert, school.me());
    let conn = amqp::connect(&h.vhost.url(), "test-attacker")
        .await
        .unwrap();
    let publisher = amqp::Publisher::open(&conn).await.unwrap();

    // A genuine alert's payload and signature under a header with a huge kid.
    let (_, jws) = school.seal(&departing_alert(&h), h.clock.now()).unwrap();
    let mut parts = jws.split('.');
    let (_, payload, signature) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
    let kid = "k".repeat(180 * 1024);
    let header = envelope::b64(
        format!(r#"{{"alg":"EdDSA","kid":"{kid}","typ":"varsel-alert+jws"}}"#).as_bytes(),
    );
    let poison = format!("{header}.{payload}.{signature}");
    let props = amqp::properties(Kind::Alert, uuid::Uuid::now_v7(), None);
    publish_in(&publisher, &key, poison.as_bytes(), props).await;

    // Nine bytes under 120 KB of headers.
    let mut padding = FieldTable::default();
    for i in 0..120 {
        padding.insert(
            format!("x-pad-{i:03}").as_str().into(),
            AMQPValue::LongString("p".repeat(1000).as_str().into()),
        );
    }
    let props = amqp::properties(Kind::Alert, uuid::Uuid::now_v7(), None).with_headers(padding);
    publish_in(&publisher, &key, b"not a jws", props).await;

    // A genuine alert behind them.
    let alert = school.send(&departing_alert(&h)).await.unwrap();
    let took = wait_until(
        Duration::from_secs(60),
        "the genuine alert behind the poison to be delivered",
        || all_sent(&store, alert),
    )
    .await;
    eprintln!("the genuine alert behind the poison was delivered after {took:?}");

    let refused = store
        .audit_entries(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "message_refused")
        .count();
    assert_eq!(refused, 2, "each poison message is audited once");
    let dead = dead_letter_properties(&h.vhost.url()).await;
    let reasons: Vec<String> = dead
        .iter()
        .map(|p| amqp::header(p, amqp::H_REASON).unwrap_or_default())
        .collect();
    assert_eq!(
        reasons,
        ["unknown_key", "malformed"],
        "dead-lettered once each"
    );
    for p in &dead {
        let detail = amqp::header(p, amqp::H_DETAIL).unwrap_or_default();
        assert!(
            detail.len() <= 4 * 1024,
            "x-varsel-detail of {} bytes",
            detail.len()
        );
        assert!(
            header_bytes(p) <= 8 * 1024,
            "{} bytes of headers",
            header_bytes(p)
        );
    }
    let metrics = h.broker.as_ref().unwrap().shared.metrics.render();
    let reconnects = metrics
        .lines()
        .find(|l| l.starts_with("varsel_amqp_reconnects_total"))
        .and_then(|l| l.rsplit(' ').next())
        .map(str::to_owned);
    assert_eq!(reconnects.as_deref(), Some("0"), "{metrics}");
    h.stop().await;
}

/// A message the store keeps refusing for a reason retrying does not cure (here a trigger that
/// refuses one alert, as a constraint or corrupt state would) is parked: dead-lettered once with
/// reason `internal`, audited, an error reply to the school, ops paged; and the alert sent after
/// it goes through instead of waiting behind it for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_store_keeps_refusing_is_parked_and_the_next_alert_goes_through() {
    use sqlx::Connection;
    let clock = Clock::manual(next_office_hour(Weekday::Wed));
    let h = Harness::start_with("park", clock, None).await;
    let store = h.store();
    let school = h.client(SCHOOL);
    let marked = h.clock.now() + chrono::Duration::hours(7);
    let db = h.path().join("varsel.db");
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TRIGGER refuse_one BEFORE INSERT ON alerts WHEN NEW.planned_departure = {} \
         BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END",
        marked.timestamp_millis()
    )))
    .execute(&mut c)
    .await
    .unwrap();
    c.close().await.unwrap();

    let mut doomed = departing_alert(&h);
    doomed.header.planned_departure = Some(marked);
    if let Some(t) = doomed.body.travel.as_mut() {
        t.planned_departure = Some(marked);
    }
    let parked = school.send(&doomed).await.unwrap();
    let alert = school.send(&departing_alert(&h)).await.unwrap();
    let took = wait_until(
        Duration::from_secs(60),
        "the alert behind the parked one to be delivered",
        || all_sent(&store, alert),
    )
    .await;
    eprintln!("the alert behind the parked one was delivered after {took:?}");
    assert!(store.alert(parked).await.unwrap().is_none());

    let dead = dead_letter_properties(&h.vhost.url()).await;
    let reasons: Vec<String> = dead
        .iter()
        .map(|p| amqp::header(p, amqp::H_REASON).unwrap_or_default())
        .collect();
    assert_eq!(reasons, ["internal"], "dead-lettered once");
    let audit = store.audit_entries(None).await.unwrap();
    let refused: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "message_refused")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].detail["reason"], "internal");
    assert_eq!(refused[0].detail["message"], parked.to_string());
    assert!(
        refused[0].detail["cause"]
            .as_str()
            .unwrap()
            .contains("refused by the test trigger"),
        "{refused:?}"
    );
    let pages: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "message_parked")
        .collect();
    assert_eq!(pages.len(), 1, "ops alarmed once: {pages:?}");
    let alarm = pages[0].detail["detail"].as_str().unwrap();
    assert!(
        alarm.contains(&parked.to_string()) && alarm.contains("refused by the test trigger"),
        "{alarm}"
    );
    let metrics = h.broker.as_ref().unwrap().shared.metrics.render();
    assert!(
        sample(&metrics, "varsel_refused_total", &[("reason", "internal")]) == Some(1.0),
        "{metrics}"
    );

    let replies = error_replies(&h, &school).await;
    assert_eq!(replies, [(Some(parked), "internal".to_owned())]);
    h.stop().await;
}

/// A known school's alert whose sections cannot be re-wrapped (sealed under another message id)
/// is accepted, but its deliveries cannot be made: the school gets an error reply naming each
/// recipient, ops are alarmed for each, and the alert is handed to ops (escalated).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_that_cannot_be_made_reach_the_school_and_ops() {
    let clock = Clock::manual(next_office_hour(Weekday::Fri));
    let h = Harness::start_with("undeliverable", clock, None).await;
    let store = h.store();
    let school = h.client(SCHOOL);
    let (mut payload, _) = school.seal(&departing_alert(&h), h.clock.now()).unwrap();
    // The sections stay sealed to the old id, which their encryption binds them to.
    payload.id = uuid::Uuid::now_v7();
    let jws = envelope::sign(&payload, &school.keys.signing);
    let conn = amqp::connect(&h.vhost.url(), "test-reseal").await.unwrap();
    let publisher = amqp::Publisher::open(&conn).await.unwrap();
    publish_in(
        &publisher,
        &amqp::routing_key(Kind::Alert, school.me()),
        jws.as_bytes(),
        amqp::properties(Kind::Alert, payload.id, None),
    )
    .await;
    let alert = payload.id;
    wait_until(
        Duration::from_secs(30),
        "the alert to be accepted and escalated to ops",
        || async {
            store
                .alert(alert)
                .await
                .is_ok_and(|a| a.is_some_and(|a| a.state == AlertState::Escalated))
        },
    )
    .await;
    let deliveries = store.deliveries_of(alert).await.unwrap();
    assert!(!deliveries.is_empty());
    let undeliverable: Vec<_> = deliveries
        .iter()
        .filter(|d| d.state == DeliveryState::Unroutable)
        .collect();
    assert_eq!(undeliverable.len(), deliveries.len(), "{deliveries:?}");
    let audit = store.audit_entries(Some(alert)).await.unwrap();
    let alarms = audit
        .iter()
        .filter(|e| e.action == "delivery_impossible")
        .count();
    assert_eq!(alarms, deliveries.len(), "one alarm per delivery");
    assert_eq!(audit.iter().filter(|e| e.action == "ops_paged").count(), 1);

    wait_until(
        Duration::from_secs(30),
        "the error replies to be sent",
        || async { store.stats(h.clock.now()).await.unwrap().outbox_pending == 0 },
    )
    .await;
    let replies: Vec<_> = drain(&school)
        .await
        .into_iter()
        .filter_map(|i| match i {
            Item::Error(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(replies.len(), deliveries.len(), "{replies:?}");
    for d in &deliveries {
        assert!(
            replies.iter().any(|e| e.refused == Some(alert)
                && e.reason == "undecryptable"
                && e.detail
                    .contains(&format!("cannot be delivered to {}", d.recipient))),
            "an error reply about {}: {replies:?}",
            d.recipient
        );
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_nobody_can_take_is_marked_unroutable_and_reaches_the_school_and_ops() {
    let clock = Clock::manual(next_office_hour(Weekday::Thu));
    let h = Harness::start_with("unroutable", clock, None).await;
    let store = h.store();
    // Försäkringskassan's inbox disappears (deleted by hand, say).
    let conn = amqp::connect(&h.vhost.url(), "test-admin").await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.queue_delete(
        format!("inbox.{FK}").as_str().into(),
        QueueDeleteOptions::default(),
    )
    .await
    .unwrap();
    let alert = h.client(SCHOOL).send(&departing_alert(&h)).await.unwrap();
    wait_until(
        Duration::from_secs(30),
        "the delivery to Försäkringskassan to be marked unroutable",
        || async {
            store
                .deliveries_of(alert)
                .await
                .unwrap()
                .iter()
                .any(|d| d.recipient.as_str() == FK && d.state == DeliveryState::Unroutable)
        },
    )
    .await;
    let audit = store.audit_entries(Some(alert)).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "delivery_unroutable"));
    // The others were delivered as usual. Their confirms may be recorded after the unroutable
    // one (the alternate exchange's consumer and the outbox commit independently).
    wait_until(
        Duration::from_secs(30),
        "the three other deliveries to be marked sent",
        || async {
            store
                .deliveries_of(alert)
                .await
                .unwrap()
                .iter()
                .filter(|d| d.recipient.as_str() != FK)
                .all(|d| d.state == DeliveryState::Sent)
        },
    )
    .await;
    let others: Vec<_> = store
        .deliveries_of(alert)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.recipient.as_str() != FK)
        .collect();
    assert_eq!(others.len(), 3);
    assert!(others.iter().all(|d| d.state == DeliveryState::Sent));
    // And people hear of it: ops are alarmed once, the alert is escalated to them, and the
    // school gets an error reply naming Försäkringskassan.
    let audit = store.audit_entries(Some(alert)).await.unwrap();
    let alarms: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "delivery_impossible")
        .collect();
    assert_eq!(alarms.len(), 1, "{audit:?}");
    assert!(alarms[0].detail["detail"].as_str().unwrap().contains(FK));
    assert_eq!(
        store.alert(alert).await.unwrap().unwrap().state,
        AlertState::Escalated
    );
    wait_until(
        Duration::from_secs(30),
        "the error reply to be sent",
        || async { store.stats(h.clock.now()).await.unwrap().outbox_pending == 0 },
    )
    .await;
    let replies: Vec<_> = drain(&h.client(SCHOOL))
        .await
        .into_iter()
        .filter_map(|i| match i {
            Item::Error(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0]
            .detail
            .contains(&format!("cannot be delivered to {FK}")),
        "{replies:?}"
    );
    h.stop().await;
}

/// Waits for a child broker process to consume its intake queue.
async fn wait_consuming(url: &str) {
    wait_until(
        Duration::from_secs(60),
        "the broker process to consume",
        || async {
            let Ok(conn) = amqp::connect(url, "test-probe").await else {
                return false;
            };
            let Ok(ch) = conn.create_channel().await else {
                return false;
            };
            let opts = lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            let ok = match ch
                .queue_declare(amqp::INTAKE.into(), opts, Default::default())
                .await
            {
                Ok(q) => q.consumer_count() > 0,
                Err(_) => false,
            };
            let _ = conn.close(200, "probe".into()).await;
            ok
        },
    )
    .await;
}

/// `varsel serve` as a child process, killed when dropped; its log is printed if the test fails.
fn spawn_broker(config: &std::path::Path) -> KillOnDrop {
    let log = config.with_file_name(format!("broker-{}.log", uuid::Uuid::now_v7().simple()));
    KillOnDrop::spawn_logged(
        std::process::Command::new(env!("CARGO_BIN_EXE_varsel"))
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "warn"),
        &log,
    )
    .expect("start varsel serve")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_survives_sigkill_of_the_broker_routed_once_delivered_and_processed_once() {
    const ALERTS: usize = 500;
    let vhost = varsel_testkit::harness::Vhost::create("sigkill");
    let dir = tempfile::tempdir().unwrap();
    varsel_testkit::world::write_world(dir.path()).unwrap();
    varsel_testkit::world::broker_config(dir.path(), &vhost.url(), 1, None, "127.0.0.1:0").unwrap();
    let config = dir.path().join("varsel.toml");
    let mut broker = spawn_broker(&config);
    wait_consuming(&vhost.url()).await;

    let client = |id: &str| {
        let cfg = varsel_testkit::world::client_config(dir.path(), id, &vhost.url()).unwrap();
        varsel_participant::client::Client::load(cfg).unwrap()
    };
    let school = client(SCHOOL);
    let mut doc: varsel_protocol::alert::Document =
        serde_json::from_str(varsel_testkit::world::ALERT_EXAMPLE).unwrap();
    doc.header.category = varsel_protocol::message::Category::SuspectedAbroad;
    doc.header.planned_departure = None;
    doc.body.travel = None;
    let (conn, publisher) = school.connect().await.unwrap();
    let mut ids = Vec::new();
    let mut sends = Vec::new();
    for _ in 0..ALERTS {
        let (payload, compact) = school.seal(&doc, Utc::now()).unwrap();
        ids.push(payload.id);
        sends.push((payload, compact));
    }
    let publishing = {
        let school = &school;
        let publisher = &publisher;
        futures_util::future::join_all(
            sends
                .iter()
                .map(|(p, c)| async move { school.publish(publisher, p, c).await }),
        )
    };
    // Opened before the burst: opening the store took 1 to 2 s while the broker was writing,
    // long enough for it to route the whole burst before the kill.
    let store_url = format!("sqlite://{}", dir.path().join("varsel.db").display());
    let store = tokio::time::timeout(Duration::from_secs(30), Store::connect(&store_url))
        .await
        .expect("the store opens within 30 s")
        .expect("the broker's store opens");
    let killer = async {
        // Kill the broker mid-flight, as soon as its first batch is committed: a cheap query
        // polled every 5 ms, so most of the burst is still queued or in flight.
        let first = AlertFilter {
            limit: Some(1),
            ..Default::default()
        };
        tokio::time::timeout(Duration::from_secs(120), async {
            while !store.alerts(&first).await.is_ok_and(|a| !a.is_empty()) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the broker routed a first alert of the burst within 120 s");
        broker.kill();
        store
    };
    let (published, store) = tokio::join!(publishing, killer);
    assert!(
        published.iter().all(|r| r.is_ok()),
        "every alert was taken by RabbitMQ"
    );
    let _ = conn.close(200, "done".into()).await;
    let routed_before = store.alerts(&Default::default()).await.unwrap().len();
    assert!(
        routed_before < ALERTS,
        "the kill came mid-burst ({routed_before} routed)"
    );

    // Restart: the rest is routed, nothing twice.
    let mut broker = spawn_broker(&config);
    wait_until(
        Duration::from_secs(300),
        "all alerts to be routed and delivered",
        || async {
            let alerts = store
                .alerts(&varsel_broker::store::AlertFilter {
                    limit: Some(10_000),
                    ..Default::default()
                })
                .await
                .unwrap();
            let stats = store.stats(Utc::now()).await.unwrap();
            alerts.len() == ALERTS && stats.outbox_pending == 0
        },
    )
    .await;
    let alerts = store
        .alerts(&varsel_broker::store::AlertFilter {
            limit: Some(10_000),
            ..Default::default()
        })
        .await
        .unwrap();
    let routed: BTreeSet<_> = alerts.iter().map(|a| a.id).collect();
    assert_eq!(
        routed,
        ids.iter().copied().collect(),
        "every alert routed, no other"
    );
    let mut per_recipient: BTreeMap<String, BTreeSet<uuid::Uuid>> = BTreeMap::new();
    for a in &alerts {
        let ds = store.deliveries_of(a.id).await.unwrap();
        let recipients: Vec<_> = ds.iter().map(|d| d.recipient.to_string()).collect();
        let unique: BTreeSet<_> = recipients.iter().cloned().collect();
        assert_eq!(
            recipients.len(),
            unique.len(),
            "alert {} routed once: one delivery per recipient",
            a.id
        );
        // Social services, or socialjouren instead outside office hours; and the two informed.
        assert_eq!(unique.len(), 3);
        assert!(unique.contains(FK) && unique.contains(SKV));
        assert!(unique.contains(SOCIAL) ^ unique.contains(JOUR));
        for d in ds {
            per_recipient
                .entry(d.recipient.to_string())
                .or_default()
                .insert(d.id);
        }
    }
    // Each agency's client processes each of its deliveries exactly once, however often RabbitMQ
    // delivered it.
    for id in per_recipient.keys().cloned().collect::<Vec<_>>() {
        let id = id.as_str();
        let c = client(id);
        drain(&c).await;
        let processed = c.state().processed();
        let deliveries: Vec<uuid::Uuid> = processed
            .iter()
            .filter_map(|k| k.strip_prefix("delivery-").and_then(|s| s.parse().ok()))
            .collect();
        let unique: BTreeSet<_> = deliveries.iter().copied().collect();
        assert_eq!(
            deliveries.len(),
            unique.len(),
            "{id} processed no delivery twice"
        );
        assert_eq!(
            unique, per_recipient[id],
            "{id} processed every delivery made to it"
        );
    }
    broker.kill();
}

/// A school's alert in wire format v1 (content keys wrapped per section, as schools sent before
/// v2), signed at `now`.
fn v1_alert(
    school: &varsel_participant::client::Client,
    doc: &varsel_protocol::alert::Document,
    now: DateTime<Utc>,
) -> (uuid::Uuid, String) {
    let (mut p, _) = school.seal(doc, now).unwrap();
    let broker = school.registry.broker().id.clone();
    let key = school.registry.sealing_key_for(&broker, None, now).unwrap();
    let (sections, wraps) = envelope::seal::seal_v1(
        p.id,
        &doc.header,
        &doc.body.to_sections(),
        &[(broker, key)],
        varsel_protocol::message::Aead::ChaCha20Poly1305,
    )
    .unwrap();
    p.v = varsel_protocol::message::VERSION_1;
    p.content = Content::Alert(varsel_protocol::message::Sealed {
        header: doc.header.clone(),
        sections,
        wraps,
        keys: vec![],
    });
    (p.id, envelope::sign(&p, &school.keys.signing))
}

/// The move to wire format v2: a school's v1 alert is accepted through `[wire]
/// accept_v1_until` and handed to the agencies as v2 deliveries they open; from the next day a
/// v1 alert is refused as `unsupported_version`, the same code in the dead-letter header, the
/// metric and the error reply to the school.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_alerts_are_handed_over_as_v2_until_their_last_day_then_refused() {
    let clock = Clock::manual(next_office_hour(Weekday::Thu));
    let mut h = Harness::start_with("wire-v1", clock, None).await;
    // v1's last day is today (UTC); the broker reads the end from its configuration at start.
    h.stop_broker().await;
    let tomorrow = h.clock.now().date_naive().succ_opt().unwrap();
    h.config.intake.v1_refused_from = tomorrow.and_hms_opt(0, 0, 0).unwrap().and_utc();
    h.start_broker().await;
    let store = h.store();
    let school = h.client(SCHOOL);
    let doc = departing_alert(&h);
    let conn = amqp::connect(&h.vhost.url(), "test-v1-school")
        .await
        .unwrap();
    let publisher = amqp::Publisher::open(&conn).await.unwrap();
    let key = amqp::routing_key(Kind::Alert, school.me());

    let (accepted, jws) = v1_alert(&school, &doc, h.clock.now());
    let props = amqp::properties(Kind::Alert, accepted, None);
    publish_in(&publisher, &key, jws.as_bytes(), props).await;
    wait_until(
        Duration::from_secs(30),
        "the v1 alert to be delivered",
        || all_sent(&store, accepted),
    )
    .await;
    let items = drain(&h.client(POLICE)).await;
    let d = items
        .iter()
        .find_map(|i| match i {
            Item::Delivery(d) => Some(d),
            _ => None,
        })
        .expect("the police get the v1 alert");
    assert_eq!(d.alert, accepted);
    assert_eq!(
        sections(&d.opened),
        sections(&[SectionLabel::Core, SectionLabel::Travel])
    );
    // What went out is v2: one key block for the police, the school's v1 JWS inside unchanged.
    let sent = store.outbox_of(accepted).await.unwrap();
    let to_police = sent
        .iter()
        .find(|o| o.destination == format!("inbox.{POLICE}"))
        .expect("a delivery to the police");
    let payload = envelope::payload_of(std::str::from_utf8(&to_police.payload).unwrap()).unwrap();
    assert_eq!(payload.v, varsel_protocol::message::VERSION);
    let Content::Delivery(delivery) = payload.content else {
        panic!("not a delivery")
    };
    assert!(delivery.wraps.is_empty());
    assert_eq!(delivery.keys.len(), 1);
    assert_eq!(delivery.original, jws);

    // The next day v1 is refused.
    h.clock.set(stockholm(tomorrow, 10, 0));
    let (refused, jws) = v1_alert(&school, &doc, h.clock.now());
    let props = amqp::properties(Kind::Alert, refused, None);
    publish_in(&publisher, &key, jws.as_bytes(), props).await;
    let mut letters = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while letters.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for the v1 alert's dead letter"
        );
        letters.extend(dead_letters(&h.vhost.url()).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(letters, [("unsupported_version".to_owned(), key.clone())]);
    let metrics = h.broker.as_ref().unwrap().shared.metrics.render();
    assert_eq!(
        sample(
            &metrics,
            "varsel_refused_total",
            &[("reason", "unsupported_version")]
        ),
        Some(1.0),
        "{metrics}"
    );
    let replies = error_replies(&h, &school).await;
    assert_eq!(replies, [(Some(refused), "unsupported_version".to_owned())]);
    assert!(store
        .alerts(&Default::default())
        .await
        .unwrap()
        .iter()
        .all(|a| a.id != refused));
    h.stop().await;
}
