//! Deadlines, escalation ladders, office hours, email, update and cancel, with a controllable
//! clock: the broker runs on a manual clock the test moves, so minutes and days pass without
//! sleeping. Each test has its own RabbitMQ vhost, store and SMTP sink.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, SubsecRound, TimeZone, Utc, Weekday};
use uuid::Uuid;
use varsel_broker::store::{AlertState, Store, TimerState};
use varsel_protocol::message::{DeliveryState, Kind, Outcome, Status};
use varsel_transport::clock::Clock;

use varsel_testkit::harness::{drain, wait_until, Harness};
use varsel_testkit::smtp::{Received, SmtpSink};
use varsel_testkit::wait;

const SCHOOL: &str = "norrkoping-ektorpsskolan";
const SOCIAL: &str = "norrkoping-socialtjansten";
const JOUR: &str = "norrkoping-socialjouren";
const POLICE: &str = "polisen-region-ost";
/// The functional mailbox of the ops participant (`varsel-ops`) in the test world.
const OPS_MAILBOX: &str = "drift@varsel.example";

fn stockholm(date: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    varsel_protocol::calendar::TZ
        .from_local_datetime(&date.and_hms_opt(h, m, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

/// `h:m` in Stockholm on the next `day` at least two days ahead that is not a public holiday.
fn next(day: Weekday, h: u32, m: u32) -> DateTime<Utc> {
    let mut date = (Utc::now() + chrono::Duration::days(2)).date_naive();
    while date.weekday() != day || varsel_protocol::calendar::is_holiday(date).is_some() {
        date = date.succ_opt().unwrap();
    }
    stockholm(date, h, m)
}

async fn start(name: &str, at: DateTime<Utc>) -> (Harness, SmtpSink) {
    let sink = SmtpSink::start().await;
    let h = Harness::start_with(name, Clock::manual(at), Some(sink.port())).await;
    (h, sink)
}

/// The example alert (departure imminent) leaving `departure` after the clock's now.
fn alert_doc(h: &Harness, departure: chrono::Duration) -> varsel_protocol::alert::Document {
    let mut doc = h.example("alert.json");
    let at = h.clock.now() + departure;
    doc.header.planned_departure = Some(at);
    if let Some(t) = doc.body.travel.as_mut() {
        t.planned_departure = Some(at);
    }
    doc
}

/// The example alert as a suspicion of a stay abroad, with no departure: social services alone
/// are required, under the standard policy (whose next recipient is socialjouren).
fn suspected_abroad(h: &Harness) -> varsel_protocol::alert::Document {
    let mut doc = h.example("alert.json");
    doc.header.category = varsel_protocol::message::Category::SuspectedAbroad;
    doc.header.planned_departure = None;
    doc.body.travel = None;
    doc
}

/// The escalation steps taken for an alert so far: (action, recipient of the delivery).
async fn steps(store: &Store, alert: Uuid) -> Vec<(String, String)> {
    let deliveries: BTreeMap<Uuid, String> = store
        .deliveries_of(alert)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.id, d.recipient.to_string()))
        .collect();
    store
        .audit_entries(Some(alert))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| {
            (e.action.starts_with("escalation_") && e.action != "escalation_skipped")
                || e.action == "ops_paged"
        })
        .map(|e| {
            (
                e.action,
                e.delivery
                    .and_then(|d| deliveries.get(&d).cloned())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

async fn delivery_of(
    store: &Store,
    alert: Uuid,
    recipient: &str,
) -> Option<varsel_broker::store::DeliveryRow> {
    store
        .deliveries_of(alert)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.recipient.as_str() == recipient && d.kind == Kind::Alert)
}

async fn sent(store: &Store, alert: Uuid) -> bool {
    store
        .deliveries_of(alert)
        .await
        .map(|d| !d.is_empty() && d.iter().all(|d| d.state != DeliveryState::Pending))
        .unwrap_or(false)
}

/// The school sends `doc`; returns the alert's id once every delivery has left the outbox.
async fn send_delivered(h: &Harness, doc: &varsel_protocol::alert::Document) -> Uuid {
    let alert = h.client(SCHOOL).send(doc).await.unwrap();
    let store = h.store();
    wait_until(Duration::from_secs(30), "the alert to be delivered", || {
        sent(&store, alert)
    })
    .await;
    alert
}

/// Moves the clock to `created + offset` and waits until the steps taken equal `expected`.
async fn at(
    h: &Harness,
    created: DateTime<Utc>,
    offset: chrono::Duration,
    alert: Uuid,
    expected: &[(&str, &str)],
) {
    h.clock.set(created + offset);
    let store = h.store();
    // Steps of two recipients due at the same instant may be recorded in either order.
    let mut want: Vec<(String, String)> = expected
        .iter()
        .map(|(a, r)| (a.to_string(), r.to_string()))
        .collect();
    want.sort();
    let sorted = |mut v: Vec<(String, String)>| {
        v.sort();
        v
    };
    wait_until(
        Duration::from_secs(30),
        &format!("steps {want:?} at +{offset}"),
        || async { sorted(steps(&store, alert).await) == want },
    )
    .await;
    // Nothing more fires at this instant (the scheduler polls every 100 ms).
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        sorted(steps(&store, alert).await),
        want,
        "no further step at +{offset}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_departure_alert_climbs_the_ladder_step_by_step() {
    let (h, sink) = start("ladder", next(Weekday::Tue, 10, 0)).await;
    let store = h.store();
    let created = h.clock.now();
    let doc = alert_doc(&h, chrono::Duration::hours(8));
    let alert = send_delivered(&h, &doc).await;
    for id in [SOCIAL, POLICE] {
        drain(&h.client(id)).await;
    }
    // The police take the case at once: their ladder stops, social services' goes on.
    let police = delivery_of(&store, alert, POLICE).await.unwrap();
    h.clock.set(created + chrono::Duration::minutes(5));
    h.client(POLICE)
        .ack(police.id, "Insp. Berg", Outcome::CaseOpened)
        .await
        .unwrap();
    wait_until(Duration::from_secs(30), "the police ack", || async {
        delivery_of(&store, alert, POLICE).await.unwrap().state == DeliveryState::Acknowledged
    })
    .await;

    let m = chrono::Duration::minutes;
    let s = chrono::Duration::seconds;
    at(&h, created, m(10) - s(1), alert, &[]).await;
    at(
        &h,
        created,
        m(10),
        alert,
        &[("escalation_redeliver", SOCIAL)],
    )
    .await;
    at(
        &h,
        created,
        m(20),
        alert,
        &[
            ("escalation_redeliver", SOCIAL),
            ("escalation_email", SOCIAL),
        ],
    )
    .await;
    at(
        &h,
        created,
        m(30),
        alert,
        &[
            ("escalation_redeliver", SOCIAL),
            ("escalation_email", SOCIAL),
            ("escalation_add_recipient", SOCIAL),
        ],
    )
    .await;
    let jour = delivery_of(&store, alert, JOUR)
        .await
        .expect("socialjouren was added");
    assert_eq!(jour.role, varsel_protocol::message::RecipientRole::Required);
    assert!(
        jour.ack_due.is_some(),
        "the added recipient has deadlines of its own"
    );
    at(
        &h,
        created,
        m(60),
        alert,
        &[
            ("escalation_redeliver", SOCIAL),
            ("escalation_email", SOCIAL),
            ("escalation_add_recipient", SOCIAL),
            ("ops_paged", SOCIAL),
        ],
    )
    .await;
    assert_eq!(
        store.alert(alert).await.unwrap().unwrap().state,
        AlertState::Escalated
    );

    // The email went to social services' functional mailbox and carries nothing personal.
    let mail = sink.wait_for(1, Duration::from_secs(30)).await;
    let notice = mail
        .iter()
        .find(|m| m.to.iter().any(|t| t == "barn.unga@norrkoping.example"))
        .expect("email to the mailbox");
    let text = notice.decoded();
    assert!(
        text.contains(&alert.to_string()),
        "the notice names the alert id"
    );
    let core = doc.body.core.as_ref().unwrap();
    let pnr = core
        .pupil
        .personnummer
        .as_ref()
        .unwrap()
        .expose()
        .to_owned();
    for secret in [
        core.pupil.name.expose().as_str(),
        pnr.as_str(),
        &pnr.replace('-', ""),
        &pnr[2..],
    ] {
        assert!(
            !text.contains(secret),
            "the email must not contain {secret:?}"
        );
    }
    let first_name = core.pupil.name.expose().split_whitespace().next().unwrap();
    assert!(!text.contains(first_name));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_office_hours_and_on_holidays_the_alert_also_goes_to_socialjouren() {
    let friday_evening = next(Weekday::Fri, 17, 30);
    let (h, _sink) = start("hours", friday_evening).await;
    let store = h.store();
    let school = h.client(SCHOOL);
    let midsommarafton = varsel_protocol::calendar::holidays(2027)
        .into_iter()
        .find(|(_, n)| n.to_lowercase().contains("midsommarafton"))
        .unwrap()
        .0;
    let easter_monday = varsel_protocol::calendar::easter(2027)
        .unwrap()
        .succ_opt()
        .unwrap();
    let cases = [
        ("Friday 17:30", friday_evening, true),
        (
            "midsommarafton 10:00",
            stockholm(midsommarafton, 10, 0),
            true,
        ),
        ("annandag påsk 10:00", stockholm(easter_monday, 10, 0), true),
        ("Wednesday 02:00", next(Weekday::Wed, 2, 0), true),
        ("Tuesday 10:00", next(Weekday::Tue, 10, 0), false),
    ];
    for (what, instant, closed) in cases {
        h.clock.set(instant);
        let alert = school
            .send(&alert_doc(&h, chrono::Duration::hours(8)))
            .await
            .unwrap();
        wait_until(Duration::from_secs(30), what, || sent(&store, alert)).await;
        let jour = delivery_of(&store, alert, JOUR).await.is_some();
        let social = delivery_of(&store, alert, SOCIAL).await.is_some();
        assert!(social, "{what}: social services always get it");
        assert_eq!(
            jour, closed,
            "{what}: socialjouren gets it only when social services are closed"
        );
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_departure_in_90_minutes_pulls_the_departure_steps_forward() {
    let (h, _sink) = start("departure", next(Weekday::Wed, 10, 0)).await;
    let store = h.store();
    let alert = h
        .client(SCHOOL)
        .send(&alert_doc(&h, chrono::Duration::minutes(90)))
        .await
        .unwrap();
    // "add socialjouren 3 h before departure" and "page ops 2 h before" are both due at once,
    // without the clock moving; "redeliver after 10 min" is not.
    wait_until(
        Duration::from_secs(30),
        "the departure steps to fire",
        || async {
            let s = steps(&store, alert).await;
            s.iter()
                .any(|(a, r)| a == "escalation_add_recipient" && r == SOCIAL)
                && s.iter().any(|(a, _)| a == "ops_paged")
        },
    )
    .await;
    let s = steps(&store, alert).await;
    assert!(!s.iter().any(|(a, _)| a == "escalation_redeliver"), "{s:?}");
    assert!(delivery_of(&store, alert, JOUR).await.is_some());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_goes_to_the_same_recipients_and_a_cancel_stops_every_timer() {
    let (h, _sink) = start("cancel", next(Weekday::Thu, 10, 0)).await;
    let store = h.store();
    let school = h.client(SCHOOL);
    let created = h.clock.now();
    let doc = alert_doc(&h, chrono::Duration::hours(8));
    let alert = send_delivered(&h, &doc).await;

    let mut update = doc.clone();
    update.kind = Kind::Update;
    update.references = vec![alert];
    let update_id = school.send(&update).await.unwrap();
    let mut cancel = doc.clone();
    cancel.kind = Kind::Cancel;
    cancel.references = vec![alert];
    cancel.body = Default::default();
    school.send(&cancel).await.unwrap();
    wait_until(
        Duration::from_secs(30),
        "the alert to be cancelled",
        || async { store.alert(alert).await.unwrap().unwrap().state == AlertState::Cancelled },
    )
    .await;
    let deliveries = store.deliveries_of(alert).await.unwrap();
    let recipients = |kind: Kind| {
        let mut r: Vec<String> = deliveries
            .iter()
            .filter(|d| d.kind == kind)
            .map(|d| d.recipient.to_string())
            .collect();
        r.sort();
        r
    };
    assert_eq!(
        recipients(Kind::Update),
        recipients(Kind::Alert),
        "the update reaches the same recipients"
    );
    assert_eq!(
        recipients(Kind::Cancel),
        recipients(Kind::Alert),
        "the cancel reaches the same recipients"
    );
    assert!(deliveries
        .iter()
        .filter(|d| d.kind == Kind::Update)
        .all(|d| d.message == update_id));
    let timers = store.timers_of(alert).await.unwrap();
    assert!(!timers.is_empty());
    assert!(
        timers.iter().all(|t| t.state == TimerState::Cancelled),
        "every timer stopped"
    );
    h.clock.set(created + chrono::Duration::hours(3));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        steps(&store, alert).await.is_empty(),
        "no step fires after a cancel"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_between_two_steps_fires_the_next_step_once() {
    let (mut h, sink) = start("restart", next(Weekday::Tue, 11, 0)).await;
    let created = h.clock.now();
    let alert = send_delivered(&h, &alert_doc(&h, chrono::Duration::hours(8))).await;
    let m = chrono::Duration::minutes;
    at(
        &h,
        created,
        m(10),
        alert,
        &[
            ("escalation_redeliver", POLICE),
            ("escalation_redeliver", SOCIAL),
        ],
    )
    .await;
    h.stop_broker().await;
    // While the broker is down the email steps fall due.
    h.clock.set(created + m(25));
    h.start_broker().await;
    let store = h.store();
    wait_until(
        Duration::from_secs(30),
        "the email steps after the restart",
        || async {
            steps(&store, alert)
                .await
                .iter()
                .filter(|(a, _)| a == "escalation_email")
                .count()
                == 2
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = steps(&store, alert).await;
    assert_eq!(
        s.iter().filter(|(a, _)| a == "escalation_email").count(),
        2,
        "each email step fired once: {s:?}"
    );
    assert_eq!(
        s.iter()
            .filter(|(a, _)| a == "escalation_redeliver")
            .count(),
        2
    );
    let mails = sink.wait_for(2, Duration::from_secs(30)).await;
    assert_eq!(mails.len(), 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_delivery_is_rerouted_and_with_no_required_recipient_left_ops_are_paged() {
    let (h, _sink) = start("decline", next(Weekday::Wed, 10, 0)).await;
    let store = h.store();
    let alert = send_delivered(&h, &suspected_abroad(&h)).await;
    let social = delivery_of(&store, alert, SOCIAL).await.unwrap();
    h.client(SOCIAL)
        .ack(social.id, "Handläggare", Outcome::NotOurJurisdiction)
        .await
        .unwrap();
    // The standard policy's next recipient, socialjouren, takes over at once.
    wait_until(
        Duration::from_secs(30),
        "socialjouren to be added",
        || async { delivery_of(&store, alert, JOUR).await.is_some() },
    )
    .await;
    assert_eq!(
        delivery_of(&store, alert, SOCIAL).await.unwrap().state,
        DeliveryState::Declined
    );
    assert_ne!(
        store.alert(alert).await.unwrap().unwrap().state,
        AlertState::Acknowledged
    );
    wait_until(
        Duration::from_secs(30),
        "socialjouren's delivery to be sent",
        || sent(&store, alert),
    )
    .await;
    let jour = delivery_of(&store, alert, JOUR).await.unwrap();
    h.client(JOUR)
        .ack(jour.id, "Jourhavande", Outcome::NotOurJurisdiction)
        .await
        .unwrap();
    // Nobody required is left: ops are paged.
    wait_until(Duration::from_secs(30), "ops to be paged", || async {
        store.alert(alert).await.unwrap().unwrap().state == AlertState::Escalated
    })
    .await;
    let audit = store.audit_entries(Some(alert)).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "delivery_rerouted")
            .count(),
        1
    );
    assert_eq!(audit.iter().filter(|e| e.action == "ops_paged").count(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exercise_climbs_its_ladder_marked_as_exercise_but_never_pages_ops() {
    let (h, sink) = start("exercise", next(Weekday::Thu, 9, 0)).await;
    let store = h.store();
    let created = h.clock.now();
    let doc = h.example("exercise-alert.json");
    assert_eq!(doc.header.status, Status::Exercise);
    let alert = h.client(SCHOOL).send(&doc).await.unwrap();
    wait_until(
        Duration::from_secs(30),
        "the exercise to be delivered",
        || sent(&store, alert),
    )
    .await;
    // The exercise policy: email after 2 h, page ops after a day (recorded, never carried out).
    h.clock.set(created + chrono::Duration::hours(2));
    wait_until(Duration::from_secs(30), "the exercise email", || async {
        steps(&store, alert).await.len() == 1
    })
    .await;
    h.clock
        .set(created + chrono::Duration::days(1) + chrono::Duration::minutes(1));
    wait_until(
        Duration::from_secs(30),
        "the page to be skipped",
        || async {
            store
                .audit_entries(Some(alert))
                .await
                .unwrap()
                .iter()
                .any(|e| e.action == "escalation_skipped")
        },
    )
    .await;
    assert_eq!(
        steps(&store, alert).await,
        vec![("escalation_email".to_string(), SOCIAL.to_string())]
    );
    assert_eq!(
        store.alert(alert).await.unwrap().unwrap().state,
        AlertState::Open
    );
    let mail = sink.wait_for(1, Duration::from_secs(30)).await;
    assert!(
        mail[0].subject().contains("ÖVNING"),
        "{}",
        mail[0].subject()
    );
    h.stop().await;
}

/// The audit entries with `action`, for one alert or (with `None`) all of them.
async fn audited(store: &Store, alert: Option<Uuid>, action: &str) -> Vec<serde_json::Value> {
    store
        .audit_entries(alert)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .map(|e| e.detail)
        .collect()
}

/// The first alarm emailed to ops whose text contains `needle`.
async fn alarm_mail(sink: &SmtpSink, needle: &str) -> Received {
    wait::value(
        Duration::from_secs(30),
        &format!("an alarm to ops about {needle}"),
        || async {
            sink.messages().into_iter().find(|m| {
                m.to.iter().any(|t| t == OPS_MAILBOX)
                    && m.subject().contains("DRIFTLARM")
                    && m.decoded().contains(needle)
            })
        },
    )
    .await
}

/// Changes the broker's SQLite store behind its back, as a damaged disk or a careless hand would.
async fn tamper(h: &Harness, sql: &str, binds: &[&str]) {
    use sqlx::Connection;
    let url = format!("sqlite://{}", h.path().join("varsel.db").display());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for b in binds {
        q = q.bind(b.to_string());
    }
    assert_eq!(q.execute(&mut c).await.unwrap().rows_affected(), 1, "{sql}");
}

/// A changed registry whose office hours do not parse (`mon-fri 8-17`) is refused whole on
/// SIGHUP: the registry in force stays, so an alert at night still also goes to socialjouren, and
/// ops are alarmed (audited and emailed) with the file and the key path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_with_an_office_hours_typo_is_refused_and_ops_are_alarmed() {
    let (h, sink) = start("reload-typo", next(Weekday::Wed, 2, 0)).await;
    let store = h.store();
    let shared = h.broker.as_ref().unwrap().shared.clone();
    let in_force = shared.world().registry.version().to_owned();
    let path = h.path().join("registry.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let typo = text.replacen(
        "office_hours = \"mon-fri 08:00-17:00\"",
        "office_hours = \"mon-fri 8-17\"",
        1,
    );
    assert_ne!(
        typo, text,
        "the registry gives social services' office hours"
    );
    std::fs::write(&path, &typo).unwrap();
    h.signals.reload();

    let refused = wait::value(
        Duration::from_secs(30),
        "the refused reload to be audited",
        || async { audited(&store, None, "config_refused").await.pop() },
    )
    .await;
    let detail = refused["detail"].as_str().unwrap();
    // Social services are the fourth participant of the test world.
    let key = "participant[3].office_hours";
    assert!(
        detail.contains(&format!(
            "registry.toml: {key}: office hours \"mon-fri 8-17\""
        )),
        "{detail}"
    );
    assert_eq!(
        shared.world().registry.version(),
        in_force,
        "the registry in force stays"
    );
    assert!(audited(&store, None, "config_reloaded").await.is_empty());
    let alarm = alarm_mail(&sink, key).await;
    assert!(alarm.decoded().contains("vägrades"), "{}", alarm.decoded());

    // Social services are closed at 02:00, as the registry in force says: socialjouren gets it.
    // (The participants' clients read the registry file too; they get the good one back, and the
    // broker, not told to reload, goes on with the registry it kept.)
    std::fs::write(&path, &text).unwrap();
    let alert = send_delivered(&h, &alert_doc(&h, chrono::Duration::hours(8))).await;
    assert!(delivery_of(&store, alert, SOCIAL).await.is_some());
    assert!(
        delivery_of(&store, alert, JOUR).await.is_some(),
        "socialjouren gets the alert at night"
    );
    h.stop().await;
}

/// A registry that gives social services no office hours at all, under a table that sends their
/// alerts to socialjouren when they are closed, is refused: social services would count as always
/// open and socialjouren would never get an alert at night.
#[test]
fn a_recipient_with_an_after_hours_alternative_but_no_office_hours_is_refused() {
    let dir = varsel_testkit::temp_dir();
    let path = varsel_testkit::world::write_world(dir.path()).unwrap();
    let config =
        varsel_testkit::world::broker_config(dir.path(), "amqp://unused", 1, None, "127.0.0.1:0")
            .unwrap();
    assert!(varsel_broker::daemon::load_world(&config).is_ok());
    let text = std::fs::read_to_string(&path).unwrap();
    let without = text.replacen("office_hours = \"mon-fri 08:00-17:00\"\n", "", 1);
    assert_ne!(
        without, text,
        "the registry gives social services' office hours"
    );
    std::fs::write(&path, without).unwrap();
    let err = match varsel_broker::daemon::load_world(&config) {
        Ok(_) => panic!("a world where socialjouren is never used must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(".when_closed: norrkoping-socialtjansten has no office_hours"),
        "{err}"
    );
}

/// Stored escalation state that does not read is never taken for "no escalation": a frozen policy
/// corrupted in the store, and a timer whose action is `null` (what a failed serialisation used to
/// store), each make their step fail loudly when it falls due: the timer is closed (not retried
/// for ever), ops are alarmed with the table, column and row, and the alert is handed to ops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_escalation_state_that_does_not_read_alarms_and_pages_ops() {
    let (h, sink) = start("unreadable", next(Weekday::Tue, 10, 0)).await;
    let store = h.store();
    let created = h.clock.now();
    let doc = alert_doc(&h, chrono::Duration::hours(8));
    let policy_gone = send_delivered(&h, &doc).await;
    let action_gone = send_delivered(&h, &doc).await;
    tamper(
        &h,
        "UPDATE alerts SET policy = $1 WHERE id = $2",
        &[r#"{"departure": "corrupted"}"#, &policy_gone.to_string()],
    )
    .await;
    let social = delivery_of(&store, action_gone, SOCIAL).await.unwrap();
    let first = store
        .timers_of(action_gone)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.delivery == Some(social.id))
        .min_by_key(|t| (t.due_at, t.id))
        .unwrap();
    tamper(
        &h,
        "UPDATE timers SET action = 'null' WHERE id = $1",
        &[&first.id.to_string()],
    )
    .await;

    // The first steps (redeliver to social services and the police) fall due.
    h.clock.set(created + chrono::Duration::minutes(10));
    wait_until(
        Duration::from_secs(30),
        "both of the policy-less alert's due steps to be given up",
        || async {
            audited(&store, Some(policy_gone), "stored_state_invalid")
                .await
                .len()
                == 2
        },
    )
    .await;
    let why = audited(&store, Some(policy_gone), "stored_state_invalid").await;
    let shown = why[0]["detail"].as_str().unwrap();
    assert!(
        shown.contains(&format!(
            "alerts.policy of alert {policy_gone} does not read"
        )),
        "{shown}"
    );
    assert!(!audited(&store, Some(policy_gone), "ops_paged")
        .await
        .is_empty());
    assert!(audited(&store, Some(policy_gone), "escalation_redeliver")
        .await
        .is_empty());
    assert_eq!(
        store.alert(policy_gone).await.unwrap().unwrap().state,
        AlertState::Escalated
    );
    alarm_mail(&sink, &format!("alerts.policy of alert {policy_gone}")).await;

    wait_until(
        Duration::from_secs(30),
        "the timer without an action to be given up, the other step to fire",
        || async {
            !audited(&store, Some(action_gone), "stored_state_invalid")
                .await
                .is_empty()
                && steps(&store, action_gone)
                    .await
                    .contains(&("escalation_redeliver".to_owned(), POLICE.to_owned()))
        },
    )
    .await;
    let why = audited(&store, Some(action_gone), "stored_state_invalid").await;
    assert_eq!(why.len(), 1, "{why:?}");
    let shown = why[0]["detail"].as_str().unwrap();
    assert!(
        shown.contains(&format!(
            "timers.action of timer {} does not read",
            first.id
        )),
        "{shown}"
    );
    assert_eq!(
        store.alert(action_gone).await.unwrap().unwrap().state,
        AlertState::Escalated
    );
    alarm_mail(&sink, &format!("timers.action of timer {}", first.id)).await;

    // Given up once, not retried when a lease would have run out.
    let closed =
        |t: &varsel_broker::store::TimerRow| t.due_at <= created + chrono::Duration::minutes(10);
    h.clock.set(created + chrono::Duration::minutes(12));
    tokio::time::sleep(Duration::from_millis(500)).await;
    for alert in [policy_gone, action_gone] {
        let timers = store.timers_of(alert).await.unwrap();
        assert!(
            timers
                .iter()
                .filter(|t| closed(t))
                .all(|t| t.state == TimerState::Fired),
            "{timers:?}"
        );
    }
    assert_eq!(
        audited(&store, Some(policy_gone), "stored_state_invalid")
            .await
            .len()
            + audited(&store, Some(action_gone), "stored_state_invalid")
                .await
                .len(),
        3
    );
    h.stop().await;
}

/// A decline on an alert whose frozen policy does not read cannot be re-routed by that policy:
/// instead of acting as if there were no policy, ops are alarmed with the column and row and the
/// alert is handed to them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decline_whose_policy_does_not_read_alarms_and_pages_ops() {
    let (h, sink) = start("decline-unreadable", next(Weekday::Wed, 10, 0)).await;
    let store = h.store();
    let alert = send_delivered(&h, &suspected_abroad(&h)).await;
    tamper(
        &h,
        "UPDATE alerts SET policy = $1 WHERE id = $2",
        &[
            r#"{"standard": {"receipt_deadline": "soon"}}"#,
            &alert.to_string(),
        ],
    )
    .await;
    let social = delivery_of(&store, alert, SOCIAL).await.unwrap();
    h.client(SOCIAL)
        .ack(social.id, "Handläggare", Outcome::NotOurJurisdiction)
        .await
        .unwrap();
    let why = wait::value(
        Duration::from_secs(30),
        "the unreadable policy to be reported",
        || async {
            audited(&store, Some(alert), "stored_state_invalid")
                .await
                .pop()
        },
    )
    .await;
    let shown = why["detail"].as_str().unwrap();
    assert!(
        shown.contains(&format!("alerts.policy of alert {alert} does not read")),
        "{shown}"
    );
    let paged = audited(&store, Some(alert), "ops_paged").await;
    assert_eq!(paged.len(), 1, "{paged:?}");
    assert_eq!(paged[0]["why"], "stored state unreadable");
    assert!(audited(&store, Some(alert), "delivery_rerouted")
        .await
        .is_empty());
    assert!(delivery_of(&store, alert, JOUR).await.is_none());
    assert_eq!(
        store.alert(alert).await.unwrap().unwrap().state,
        AlertState::Escalated
    );
    alarm_mail(&sink, &format!("alerts.policy of alert {alert}")).await;
    h.stop().await;
}

/// Timer precision under load (a measurement, not a test of speed: run it by hand with
/// `cargo test --release --test escalation timer_precision -- --ignored --nocapture`).
/// 10,000 real escalation timers (redelivery steps of one open delivery) fall due spread over
/// 60 seconds of system time; each fired timer's lateness is `fired_at - due_at` from the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn timer_precision_with_10000_pending_timers() {
    const TIMERS: i64 = 10_000;
    let h = Harness::start("precision").await;
    let store = h.store();
    let alert = send_delivered(&h, &alert_doc(&h, chrono::Duration::hours(8))).await;
    let social = delivery_of(&store, alert, SOCIAL).await.unwrap();
    // The alert's own ladder is hours away; only the timers scheduled here fall due.
    let ladder = store.stats(Utc::now()).await.unwrap().timers_pending;
    // Whole milliseconds, as the store keeps them.
    let start = (Utc::now() + chrono::Duration::seconds(5)).trunc_subsecs(3);
    let mut tx = store.begin().await.unwrap();
    for i in 0..TIMERS {
        tx.schedule(&varsel_broker::store::NewTimer {
            alert,
            delivery: Some(social.id),
            action: serde_json::json!({ "policy": "departure", "step": 0, "round": 0 }),
            due_at: start + chrono::Duration::milliseconds(i * 60_000 / TIMERS),
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    // Polled with a count so that the watching does not load the store it measures.
    tokio::time::sleep(Duration::from_secs(60)).await;
    wait_until(Duration::from_secs(900), "every timer to fire", || async {
        store.stats(Utc::now()).await.unwrap().timers_pending <= ladder
    })
    .await;
    let mut late: Vec<i64> = store
        .timers_of(alert)
        .await
        .unwrap()
        .iter()
        .filter(|t| t.state == TimerState::Fired && t.due_at >= start)
        .map(|t| (t.fired_at.unwrap() - t.due_at).num_milliseconds())
        .collect();
    late.sort();
    let pct = |p: f64| late[((late.len() - 1) as f64 * p) as usize];
    println!(
        "timer precision: {} timers due over 60 s; lateness p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
        late.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        late[late.len() - 1]
    );
    assert_eq!(late.len() as i64, TIMERS, "every timer fired once");
    h.stop().await;
}
