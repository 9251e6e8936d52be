//! Notes to a case through the real broker and RabbitMQ, on a manual clock: social services post
//! a decided travel ban to an alert's case; the police must acknowledge it, and its escalation
//! ladder climbs while they do not; the school is informed; the police's ack is reported to
//! social services. A note from a participant outside the case, a kind the sender's agency may
//! not post and a note about no known alert are refused with their reason codes, in the error
//! reply, the dead-letter header and the refusal metric alike.

use std::time::Duration;

use lapin::options::BasicGetOptions;
use uuid::Uuid;
use varsel_broker::store::Store;
use varsel_participant::client::{Client, Item, OpenedDelivery};
use varsel_protocol::message::{
    DeliveryState, Header, Kind, NoteKind, Outcome, RecipientRole, SectionLabel,
};
use varsel_protocol::note;
use varsel_transport::amqp;
use varsel_transport::clock::Clock;

use varsel_testkit::harness::{drain, office_morning, wait_until, Harness};
use varsel_testkit::http::sample;
use varsel_testkit::smtp::SmtpSink;
use varsel_testkit::wait;

const SCHOOL: &str = "norrkoping-ektorpsskolan";
const SOCIAL: &str = "norrkoping-socialtjansten";
const JOUR: &str = "norrkoping-socialjouren";
const POLICE: &str = "polisen-region-ost";
const LIMIT: Duration = Duration::from_secs(30);

/// The decided travel ban social services post.
fn travel_ban(at: chrono::DateTime<chrono::Utc>) -> note::Body {
    note::Body {
        text: "Tillfälligt utreseförbud beslutat av nämndens ordförande (31 d § LVU).".into(),
        decided_at: Some(at),
        reference: Some("SN 2026/0417".into()),
    }
}

/// `sender` seals, signs and publishes a note of `kind` to the case of `alert`; returns its id.
async fn post(
    sender: &Client,
    kind: NoteKind,
    alert: Uuid,
    header: &Header,
    body: &note::Body,
) -> Uuid {
    let (payload, compact) = sender
        .seal_note(kind, alert, header, body, sender.clock.now())
        .unwrap();
    let (conn, publisher) = sender.connect().await.unwrap();
    sender
        .publish(&publisher, &payload, &compact)
        .await
        .unwrap();
    let _ = conn.close(200, "sent".into()).await;
    payload.id
}

/// The deliveries of note `note` that have left the outbox, once all of them have.
async fn note_deliveries(store: &Store, alert: Uuid, note: Uuid) -> Vec<(String, RecipientRole)> {
    wait::value(LIMIT, "the note's deliveries to be sent", || async {
        let d: Vec<_> = store
            .deliveries_of(alert)
            .await
            .unwrap()
            .into_iter()
            .filter(|d| d.message == note)
            .collect();
        (!d.is_empty() && d.iter().all(|d| d.state != DeliveryState::Pending)).then(|| {
            let mut who: Vec<_> = d
                .iter()
                .map(|d| (d.recipient.to_string(), d.role))
                .collect();
            who.sort();
            who
        })
    })
    .await
}

/// The next opened note in `c`'s inbox.
async fn next_note(c: &Client) -> OpenedDelivery {
    wait::value(LIMIT, "a note in the inbox", || async {
        drain(c).await.into_iter().find_map(|i| match i {
            Item::Delivery(d) if d.kind == Kind::Note => Some(*d),
            _ => None,
        })
    })
    .await
}

/// The reason of the next error reply in `c`'s inbox, with the id it refused.
async fn next_error(c: &Client) -> (Option<Uuid>, String) {
    wait::value(LIMIT, "an error reply in the inbox", || async {
        drain(c).await.into_iter().find_map(|i| match i {
            Item::Error(e) => Some((e.refused, e.reason)),
            _ => None,
        })
    })
    .await
}

/// The reason headers of every dead letter now queued (taking them off the queue).
async fn dead_letter_reasons(url: &str) -> Vec<String> {
    let conn = amqp::connect(url, "test-dead-letters").await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    let mut out = Vec::new();
    while let Some(m) = ch
        .basic_get(amqp::DEAD_LETTERS.into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
    {
        out.push(amqp::header(&m.delivery.properties, amqp::H_REASON).unwrap_or_default());
    }
    let _ = conn.close(200, "read".into()).await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decided_travel_ban_reaches_the_police_who_must_ack_it_and_the_school_is_informed() {
    let sink = SmtpSink::start().await;
    let h = Harness::start_with("notes", Clock::manual(office_morning()), Some(sink.port())).await;
    let store = h.store();
    let created = h.clock.now();
    let mut doc = h.example("alert.json");
    let departure = created + chrono::Duration::hours(8);
    doc.header.planned_departure = Some(departure);
    if let Some(t) = doc.body.travel.as_mut() {
        t.planned_departure = Some(departure);
    }
    let alert = h.client(SCHOOL).send(&doc).await.unwrap();
    wait_until(LIMIT, "the alert to be delivered", || async {
        let d = store.deliveries_of(alert).await.unwrap();
        !d.is_empty() && d.iter().all(|d| d.state != DeliveryState::Pending)
    })
    .await;
    let social = h.client(SOCIAL);
    let police = h.client(POLICE);
    let school = h.client(SCHOOL);
    drain(&police).await;
    let header = wait::value(LIMIT, "the alert at social services", || async {
        drain(&social).await.into_iter().find_map(|i| match i {
            Item::Delivery(d) if d.alert == alert => Some(d.header),
            _ => None,
        })
    })
    .await;

    // Social services post the ban: the police must ack it, the school is informed, the sender
    // does not get its own note, and socialjouren (not a recipient of this alert) gets nothing.
    let ban = travel_ban(created);
    let note = post(&social, NoteKind::TravelBanDecided, alert, &header, &ban).await;
    assert_eq!(
        note_deliveries(&store, alert, note).await,
        [
            (SCHOOL.to_owned(), RecipientRole::Informed),
            (POLICE.to_owned(), RecipientRole::Required),
        ]
    );
    let at_police = next_note(&police).await;
    let opened = at_police.note.as_ref().expect("a note");
    assert_eq!(opened.kind, NoteKind::TravelBanDecided);
    assert_eq!(opened.body.as_ref(), Some(&ban));
    assert_eq!(
        at_police.school.as_str(),
        SOCIAL,
        "the member that posted it"
    );
    assert_eq!(at_police.role, RecipientRole::Required);
    assert_eq!(at_police.opened, [SectionLabel::Core]);
    let ack_due = at_police
        .ack_due
        .expect("the police must ack by a deadline");
    assert!(
        ack_due < departure,
        "ack due {ack_due} before the departure"
    );
    let at_school = next_note(&school).await;
    assert_eq!(at_school.role, RecipientRole::Informed);
    assert_eq!(at_school.note.unwrap().body, Some(ban.clone()));
    assert!(at_school.ack_due.is_none());

    // The police do not ack: at the first step of their ladder the note is delivered again, and
    // the school hears of the escalation.
    let police_note = at_police.delivery;
    h.clock.set(created + chrono::Duration::minutes(10));
    wait_until(LIMIT, "the note's redelivery step", || async {
        store
            .audit_entries(Some(alert))
            .await
            .unwrap()
            .iter()
            .any(|e| e.action == "escalation_redeliver" && e.delivery == Some(police_note))
    })
    .await;
    wait::value(LIMIT, "the escalation reported to the school", || async {
        drain(&school).await.into_iter().find_map(|i| match i {
            Item::Feedback(f) if f.delivery == police_note && f.escalation.is_some() => Some(()),
            _ => None,
        })
    })
    .await;

    // The police ack; social services, who posted the note, hear of it.
    police
        .ack(police_note, "Insp. Berg", Outcome::CaseOpened)
        .await
        .unwrap();
    let fb = wait::value(LIMIT, "the ack reported to social services", || async {
        drain(&social).await.into_iter().find_map(|i| match i {
            // The police's receipt is reported too, before the ack.
            Item::Feedback(f)
                if f.delivery == police_note && f.state == DeliveryState::Acknowledged =>
            {
                Some(f)
            }
            _ => None,
        })
    })
    .await;
    assert_eq!(fb.officer.as_deref(), Some("Insp. Berg"));
    assert!(
        store
            .timers_of(alert)
            .await
            .unwrap()
            .iter()
            .all(|t| t.delivery != Some(police_note)
                || t.state != varsel_broker::store::TimerState::Pending),
        "the ack stops the note's ladder"
    );

    // Refusals, each with its reason code in the error reply, the dead letter and the metric.
    let jour = h.client(JOUR);
    let outsider = post(&jour, NoteKind::TravelBanDecided, alert, &header, &ban).await;
    assert_eq!(
        next_error(&jour).await,
        (Some(outsider), "not_a_case_member".to_owned())
    );
    let not_theirs = post(&police, NoteKind::TravelBanDecided, alert, &header, &ban).await;
    assert_eq!(
        next_error(&police).await,
        (Some(not_theirs), "note_kind_not_permitted".to_owned())
    );
    let no_case = post(
        &social,
        NoteKind::ChildLocated,
        Uuid::now_v7(),
        &header,
        &ban,
    )
    .await;
    assert_eq!(
        next_error(&social).await,
        (Some(no_case), "unknown_reference".to_owned())
    );
    let mut letters = dead_letter_reasons(&h.vhost.url()).await;
    letters.sort();
    assert_eq!(
        letters,
        [
            "not_a_case_member",
            "note_kind_not_permitted",
            "unknown_reference"
        ]
    );
    let metrics = h.broker.as_ref().unwrap().shared.metrics.render();
    for reason in [
        "not_a_case_member",
        "note_kind_not_permitted",
        "unknown_reference",
    ] {
        assert_eq!(
            sample(&metrics, "varsel_refused_total", &[("reason", reason)]),
            Some(1.0),
            "varsel_refused_total{{reason=\"{reason}\"}} in {metrics}"
        );
    }
    h.stop().await;
}
