//! Notes to a case through the real broker and RabbitMQ, on a manual clock: social services post
//! a decided travel ban to an alert's case; the police must acknowledge it, and its escalation
//! ladder climbs while they do not; the school is informed; the police's ack is reported to
//! social services. A note from a participant outside the case, a kind the sender's agency may
//! not post and a note about no known alert are refused with their reason codes, in the error
//! reply, the dead-letter header and the refusal metric alike.
//!
//! Then the school closes a case with its outcome while the police's ladder for a travel ban runs:
//! every member is told, informed; every timer stops and nothing is waited for any more; the
//! ladder does not climb past its deadlines; a note or a second closing afterwards is refused.

use std::time::Duration;

use lapin::options::BasicGetOptions;
use uuid::Uuid;
use varsel_broker::store::Store;
use varsel_participant::client::{Client, Item, OpenedDelivery};
use varsel_protocol::message::{
    CaseOutcome, DeliveryState, Header, Kind, NoteKind, Outcome, RecipientRole, SectionLabel,
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
        outcome: None,
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

/// The school raises the example alert with the pupil leaving at `departure`; once it is delivered
/// (the police's inbox emptied), its id and the routing header social services received it with.
async fn raise(
    h: &Harness,
    school: &Client,
    social: &Client,
    police: &Client,
    departure: chrono::DateTime<chrono::Utc>,
) -> (Uuid, Header) {
    let store = h.store();
    let mut doc = h.example("alert.json");
    doc.header.planned_departure = Some(departure);
    if let Some(t) = doc.body.travel.as_mut() {
        t.planned_departure = Some(departure);
    }
    let alert = school.send(&doc).await.unwrap();
    wait_until(LIMIT, "the alert to be delivered", || async {
        let d = store.deliveries_of(alert).await.unwrap();
        !d.is_empty() && d.iter().all(|d| d.state != DeliveryState::Pending)
    })
    .await;
    drain(police).await;
    let header = wait::value(LIMIT, "the alert at social services", || async {
        drain(social).await.into_iter().find_map(|i| match i {
            Item::Delivery(d) if d.alert == alert => Some(d.header),
            _ => None,
        })
    })
    .await;
    (alert, header)
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
    let (created, departure) = (h.clock.now(), h.clock.now() + chrono::Duration::hours(8));
    let social = h.client(SOCIAL);
    let police = h.client(POLICE);
    let school = h.client(SCHOOL);
    let (alert, header) = raise(&h, &school, &social, &police, departure).await;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_school_closes_the_case_every_member_is_told_and_every_timer_stops() {
    let h = Harness::start_with("closing", Clock::manual(office_morning()), None).await;
    let store = h.store();
    let created = h.clock.now();
    let departure = created + chrono::Duration::hours(8);
    let school = h.client(SCHOOL);
    let social = h.client(SOCIAL);
    let police = h.client(POLICE);
    let (alert, header) = raise(&h, &school, &social, &police, departure).await;
    // Every member but the school: the alert's recipients.
    let mut members: Vec<String> = store
        .deliveries_of(alert)
        .await
        .unwrap()
        .iter()
        .map(|d| d.recipient.to_string())
        .collect();
    members.sort();
    members.dedup();
    assert!(members.contains(&POLICE.to_owned()), "{members:?}");

    // A travel ban the police must ack, so the case has a ladder running when it is closed.
    let ban = post(
        &social,
        NoteKind::TravelBanDecided,
        alert,
        &header,
        &travel_ban(created),
    )
    .await;
    note_deliveries(&store, alert, ban).await;
    let pending = |timers: &[varsel_broker::store::TimerRow]| {
        timers
            .iter()
            .filter(|t| t.state == varsel_broker::store::TimerState::Pending)
            .count()
    };
    assert!(pending(&store.timers_of(alert).await.unwrap()) > 0);

    // Only the case's school closes it: the police may not.
    let closing = note::Body {
        text: "Hana är tillbaka i skolan sedan i morse.".into(),
        outcome: Some(CaseOutcome::Returned),
        ..note::Body::default()
    };
    let not_theirs = post(&police, NoteKind::CaseClosed, alert, &header, &closing).await;
    assert_eq!(
        next_error(&police).await,
        (Some(not_theirs), "note_kind_not_permitted".to_owned())
    );
    // A closing without its outcome is refused by the client before it is sealed.
    let bare = note::Body {
        text: "Klart.".into(),
        ..note::Body::default()
    };
    let e = school
        .send_note(NoteKind::CaseClosed, alert, &bare)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("outcome: missing"), "{e}");

    // The school closes the case under the header it raised the alert with.
    let closed = school
        .send_note(NoteKind::CaseClosed, alert, &closing)
        .await
        .unwrap();
    let told = note_deliveries(&store, alert, closed).await;
    assert_eq!(
        told,
        members
            .iter()
            .map(|m| (m.clone(), RecipientRole::Informed))
            .collect::<Vec<_>>(),
        "every member but the school, informed"
    );
    let (shown, at_police) = wait::value(LIMIT, "the closing at the police", || async {
        drain(&police).await.into_iter().find_map(|i| {
            let shown = i.to_string();
            match i {
                Item::Delivery(d) if d.message == closed => Some((shown, *d)),
                _ => None,
            }
        })
    })
    .await;
    let opened = at_police.note.as_ref().expect("a note");
    assert_eq!(opened.kind, NoteKind::CaseClosed);
    assert_eq!(opened.body.as_ref(), Some(&closing));
    assert!(at_police.ack_due.is_none());
    assert!(shown.contains("ÄRENDET AVSLUTAT"), "{shown}");
    assert!(shown.contains("eleven är tillbaka"), "{shown}");

    // The case is closed: no timer is left pending, nothing it sent earlier is waited for.
    let row = store.alert(alert).await.unwrap().unwrap();
    assert_eq!(row.state, varsel_broker::store::AlertState::Closed);
    assert_eq!(pending(&store.timers_of(alert).await.unwrap()), 0);
    for d in store.deliveries_of(alert).await.unwrap() {
        if d.message != closed {
            assert!(
                !varsel_broker::lifecycle::delivery::waits_on_recipient(d.role, d.state),
                "{} to {} is still {}",
                d.kind,
                d.recipient,
                d.state
            );
        }
    }
    let audit = store.audit_entries(Some(alert)).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "timers_stopped"));
    // Long after every deadline, the ladder has not climbed.
    let steps = |a: &[varsel_broker::store::AuditRow]| {
        a.iter()
            .filter(|e| e.action.starts_with("escalation_"))
            .count()
    };
    let before = steps(&audit);
    h.clock.set(created + chrono::Duration::hours(12));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        steps(&store.audit_entries(Some(alert)).await.unwrap()),
        before
    );

    // Nothing more is taken for a closed case.
    let late = post(
        &social,
        NoteKind::ChildLocated,
        alert,
        &header,
        &note::Body {
            text: "Barnet är hos sin moster i Norrköping.".into(),
            ..note::Body::default()
        },
    )
    .await;
    let (refused, reason) = next_error(&social).await;
    assert_eq!(
        (refused, reason.as_str()),
        (Some(late), "unknown_reference")
    );
    let again = school
        .send_note(NoteKind::CaseClosed, alert, &closing)
        .await
        .unwrap();
    assert_eq!(
        next_error(&school).await,
        (Some(again), "unknown_reference".to_owned())
    );
    h.stop().await;
}
