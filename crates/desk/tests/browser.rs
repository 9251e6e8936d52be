//! The desk in a real browser (Chromium driven through chromedriver), against the real broker on
//! the local RabbitMQ: a school sends an alert; socialtjänsten's desk takes it from its inbox and
//! keeps it sealed; an officer signs in with password and TOTP (a wrong code is refused first),
//! sees the alert in the inbox, opens it (the access log records who opened what), and
//! acknowledges it with an outcome, which the broker records. A form without its CSRF token is
//! refused, and the same acknowledgement posted again is not sent twice. A police officer at the
//! same desk opens only the sections the route grants the police. The desk keeps its store on
//! PostgreSQL here (school.rs runs on the default SQLite file). Screenshots are kept in
//! target/test-output/.
//!
//! The live inbox: an officer signs in by keyboard only; with the inbox open, the school sends
//! and the row appears without navigation, announced in the page; the officer goes on by
//! keyboard to the alert and acknowledges it. The event stream carries only the officer's own
//! participant's deliveries, ends the oldest of a session's streams beyond the limit, ends at
//! sign-out and at the desk's shutdown. axe-core checks every page on the way against WCAG 2.1
//! A and AA.

use std::time::Duration;

use fantoccini::key::Key;
use fantoccini::Locator;

use varsel_desk::role::Role;
use varsel_desk::store::Backend;
use varsel_protocol::message::{DeliveryState, ParticipantId};
use varsel_testkit::fleet::{admin_pg, Database};
use varsel_testkit::harness::{wait_until, Harness};
use varsel_transport::clock::Clock;

mod common;

use common::{
    axe, browser, click, csrf_of, desk_at, desk_with, kept_delivery, post, press, screenshot,
    session_cookie, sign_in, tab_to, text_of, type_into, Events, NewAccount, Next, PASSWORD,
};

const SOCIAL: &str = "norrkoping-socialtjansten";
const POLICE: &str = "polisen-region-ost";
const POLICE_OFFICER: NewAccount = ("polis1", "Polis Ett", POLICE, Role::AgencyOfficer);
const OFFICER: NewAccount = (
    "handlaggare1",
    "Handläggare Ett",
    SOCIAL,
    Role::AgencyOfficer,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_signs_in_with_totp_opens_and_acknowledges_an_alert() {
    let h = Harness::start("desk-browser").await;
    let dir = h.path();

    let pg = Database::create(&admin_pg()).await;
    let (desk, enrolments) = desk_at(
        &h,
        &[SOCIAL, POLICE],
        &[OFFICER, POLICE_OFFICER],
        Clock::system(),
        &pg.url,
    )
    .await;
    assert_eq!(desk.store.backend(), Backend::Postgres);
    let enrolment = &enrolments[0];
    let addr = desk.addr.to_string();
    let base = format!("http://{addr}");

    // A school sends an alert; the desk keeps socialtjänsten's delivery sealed.
    let doc = h.example("alert.json");
    let pupil = serde_json::to_value(&doc.body).unwrap()["core"]["pupil"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let alert = h
        .client("norrkoping-ektorpsskolan")
        .send(&doc)
        .await
        .unwrap();
    let store = desk.store.clone();
    let delivery = kept_delivery(&store, SOCIAL, alert).await;
    let kept = store.delivery(delivery).await.unwrap().unwrap();
    assert!(kept.raw.len() > 1000, "{} bytes kept", kept.raw.len());
    assert!(
        !String::from_utf8_lossy(&kept.raw).contains(&pupil),
        "the kept message is not sealed"
    );
    // The receipt went out on arrival: the broker has the delivery as received.
    let broker = h.store();
    wait_until(
        Duration::from_secs(30),
        "the broker to record the receipt",
        || {
            let broker = broker.clone();
            async move {
                broker
                    .deliveries_of(alert)
                    .await
                    .unwrap()
                    .iter()
                    .any(|d| d.id == delivery && d.received_at.is_some())
            }
        },
    )
    .await;

    let (driver, c) = browser(dir).await;

    // Password, then a wrong code (refused), then the right one.
    c.goto(&format!("{base}/login")).await.unwrap();
    let page = c.source().await.unwrap();
    let anonymous = session_cookie(&c).await;
    assert!(
        page.contains("<html lang=\"sv\"") && page.contains("Logga in"),
        "{page}"
    );
    type_into(&c, "username", "handlaggare1").await;
    type_into(&c, "password", PASSWORD).await;
    click(&c, Locator::Id("sign-in")).await;
    let after_password = session_cookie(&c).await;
    assert!(c.current_url().await.unwrap().path() == "/login/code");
    let now = || u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    let right = enrolment.secret.code_at(now());
    let wrong = format!(
        "{:06}",
        (right.parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    type_into(&c, "code", &wrong).await;
    click(&c, Locator::Id("verify")).await;
    let refused = c
        .find(Locator::Id("code-error"))
        .await
        .expect("the wrong code is refused");
    assert!(refused.text().await.unwrap().contains("Koden godtogs inte"));
    type_into(&c, "code", &enrolment.secret.code_at(now())).await;
    click(&c, Locator::Id("verify")).await;
    let signed_in = session_cookie(&c).await;
    // A new session token at each step: one seen before sign-in is worth nothing after.
    assert!(anonymous != after_password && after_password != signed_in && anonymous != signed_in);
    assert_eq!(c.current_url().await.unwrap().path(), "/inbox");
    let before = format!("varsel_desk={after_password}");
    let stale = varsel_testkit::http::get(&addr, "/inbox", &[("Cookie", &before)]).await;
    assert_eq!(stale.header("location"), Some("/login"), "{stale:?}");

    // The inbox lists the alert with the school by name, its header in words, required, not
    // overdue.
    let row = c
        .find(Locator::Css(&format!("tr[data-delivery='{delivery}']")))
        .await
        .expect("the delivery in the inbox");
    let text = row.text().await.unwrap();
    for words in [
        "Ektorpsskolan",
        "Omedelbar",
        "Förestående avresa",
        "0581",
        "Måste kvittera",
        "kvar",
    ] {
        assert!(text.contains(words), "{words:?} not in the row: {text}");
    }
    assert_eq!(
        row.attr("data-overdue").await.unwrap().as_deref(),
        Some("false")
    );
    screenshot(&c, "desk-inbox.png").await;

    // The alert page keeps the content sealed until asked, then shows it and logs the opening.
    click(
        &c,
        Locator::Css(&format!("tr[data-delivery='{delivery}'] a")),
    )
    .await;
    assert!(!c.source().await.unwrap().contains(&pupil));
    assert!(store
        .access_log()
        .await
        .unwrap()
        .iter()
        .all(|l| l.entry.action != "opened"));
    click(&c, Locator::Id("open")).await;
    let core = c
        .find(Locator::Id("section-core"))
        .await
        .expect("the core section opened");
    assert!(core.text().await.unwrap().contains(&pupil));
    let log = store.access_log().await.unwrap();
    let opened = log
        .iter()
        .find(|l| l.entry.action == "opened")
        .expect("the opening logged");
    assert_eq!(opened.entry.actor, "handlaggare1");
    assert_eq!(opened.entry.delivery, Some(delivery));
    assert!(opened.entry.detail["sections"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "core"));
    screenshot(&c, "desk-alert-opened.png").await;

    // A form without the CSRF token is refused, with this session's own cookie.
    let cookie = format!("varsel_desk={signed_in}");
    let (status, body) = post(
        &addr,
        &format!("/alert/{delivery}/ack"),
        &cookie,
        "outcome=case_opened",
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(store
        .delivery(delivery)
        .await
        .unwrap()
        .unwrap()
        .ack_state
        .is_none());

    // Acknowledge as the signed-in officer.
    c.find(Locator::Css("#outcome option[value='case_opened']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(&c, Locator::Id("acknowledge")).await;
    let state = text_of(&c, Locator::Id("state")).await;
    assert!(
        state.contains("Kvitterat av Handläggare Ett") && state.contains("Ärende öppnat"),
        "{state}"
    );
    screenshot(&c, "desk-alert-acknowledged.png").await;
    wait_until(
        Duration::from_secs(30),
        "the broker to record the officer's ack",
        || {
            let broker = broker.clone();
            async move {
                broker.deliveries_of(alert).await.unwrap().iter().any(|d| {
                    d.id == delivery
                        && d.state == DeliveryState::Acknowledged
                        && d.officer.as_deref() == Some("Handläggare Ett")
                })
            }
        },
    )
    .await;

    // The same acknowledgement posted again, with a valid token, is refused and not sent.
    c.goto(&format!("{base}/alert/{delivery}")).await.unwrap();
    let csrf = csrf_of(&c.source().await.unwrap());
    let (status, body) = post(
        &addr,
        &format!("/alert/{delivery}/ack"),
        &cookie,
        &format!("csrf={csrf}&outcome=case_opened"),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("skickades inte en gång till"), "{body}");
    let log = store.access_log().await.unwrap();
    // Written as an intent before it was sent, and as the outcome after.
    let actions: Vec<&str> = log
        .iter()
        .filter(|l| l.entry.delivery == Some(delivery))
        .map(|l| l.entry.action.as_str())
        .collect();
    assert_eq!(actions, ["opened", "acknowledging", "acknowledged"]);
    assert_eq!(store.verify_access_log().await.unwrap(), Ok(log.len()));

    // A police officer at the same desk opens the police's own delivery of the alert: the route
    // grants the police the core and travel sections, and the others stay sealed to them.
    click(&c, Locator::Css("form[action='/logout'] button")).await;
    sign_in(&c, &base, "polis1", &enrolments[1]).await;
    let police_delivery = kept_delivery(&store, POLICE, alert).await;
    c.goto(&format!("{base}/alert/{police_delivery}"))
        .await
        .unwrap();
    click(&c, Locator::Id("open")).await;
    assert!(c.find(Locator::Id("section-core")).await.is_ok());
    assert!(c.find(Locator::Id("section-travel")).await.is_ok());
    assert!(c.find(Locator::Id("section-family")).await.is_err());
    let not_granted = text_of(&c, Locator::Id("not-granted")).await;
    assert!(
        not_granted.contains("Familj") && not_granted.contains("Skolans åtgärder"),
        "{not_granted}"
    );
    let log = store.access_log().await.unwrap();
    let opened = log.last().unwrap();
    assert_eq!(
        (opened.entry.actor.as_str(), opened.entry.delivery),
        ("polis1", Some(police_delivery))
    );
    assert_eq!(
        opened.entry.detail["sections"],
        serde_json::json!(["core", "travel"])
    );
    // socialtjänsten's delivery is not the police's to see.
    c.goto(&format!("{base}/alert/{delivery}")).await.unwrap();
    assert!(c.source().await.unwrap().contains("Sidan finns inte."));
    assert!(!c.source().await.unwrap().contains(&pupil));

    // English on request.
    c.goto(&format!("{base}/lang/en")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/inbox");
    assert!(c
        .source()
        .await
        .unwrap()
        .contains("Time left to acknowledge"));

    c.close().await.unwrap();
    drop(driver);
    desk.stop().await;
    store.close().await;
    drop(pg);
    h.stop().await;
}

/// Types `text` where the keyboard focus is.
async fn type_here(c: &fantoccini::Client, text: &str) {
    c.active_element()
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

/// Presses Enter on the focused control and waits until the page it leads to has loaded.
async fn enter_and_wait(c: &fantoccini::Client) {
    let old = c.find(Locator::Css("html")).await.unwrap();
    press(c, Key::Enter).await;
    wait_until(Duration::from_secs(10), "the next page to load", || {
        let old = old.clone();
        async move { old.tag_name().await.is_err() }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_updates_live_and_the_pages_pass_axe_by_keyboard() {
    let h = Harness::start("desk-live").await;
    let (desk, enrolments) = desk_with(&h, &[SOCIAL, POLICE], &[OFFICER, POLICE_OFFICER]).await;
    let addr = desk.addr.to_string();
    let base = format!("http://{addr}");
    let (driver, c) = browser(h.path()).await;

    // Sign-in by keyboard only: Tab to each field, type, Enter.
    c.goto(&format!("{base}/login")).await.unwrap();
    axe(&c, "the sign-in page").await;
    tab_to(&c, "#username").await;
    type_here(&c, "handlaggare1").await;
    tab_to(&c, "#password").await;
    type_here(&c, PASSWORD).await;
    tab_to(&c, "#sign-in").await;
    enter_and_wait(&c).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/login/code");
    axe(&c, "the code page").await;
    tab_to(&c, "#code").await;
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    type_here(&c, &enrolments[0].secret.code_at(now)).await;
    enter_and_wait(&c).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/inbox");
    axe(&c, "the empty inbox").await;
    // The notifications button is offered where the browser can still be asked, else hidden.
    let asked = c
        .execute(
            "const b = document.getElementById('notify'); \
             return [window.Notification ? Notification.permission : 'none', b.hidden, b.textContent];",
            vec![],
        )
        .await
        .unwrap();
    eprintln!("notification permission and button (hidden, text): {asked}");
    assert_eq!(asked[1], asked[0] != "default", "{asked}");
    assert_eq!(asked[2], "Aktivera aviseringar");
    let cookie = format!("varsel_desk={}", session_cookie(&c).await);

    // A stream of the officer's own, read here, besides the page's.
    let mut mine = Events::open(&addr, &cookie).await;
    assert_eq!(mine.status, 200, "{}", mine.head);
    assert!(mine.head.contains("text/event-stream"), "{}", mine.head);
    let anonymous = Events::open(&addr, "varsel_desk=nothing").await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.head);

    // The school sends; the row appears in the open page, with no navigation.
    let page = c.find(Locator::Css("html")).await.unwrap();
    let alert = h
        .client("norrkoping-ektorpsskolan")
        .send(&h.example("alert.json"))
        .await
        .unwrap();
    let sent = std::time::Instant::now();
    let row = varsel_testkit::wait::value(
        Duration::from_secs(60),
        "the new delivery's row in the open inbox page",
        || {
            let c = c.clone();
            async move {
                c.find(Locator::Css("#inbox tbody tr[data-delivery]"))
                    .await
                    .ok()
            }
        },
    )
    .await;
    eprintln!(
        "the row appeared {:?} after the school sent",
        sent.elapsed()
    );
    assert!(page.tag_name().await.is_ok(), "the page was navigated away");
    let delivery = kept_delivery(&desk.store, SOCIAL, alert).await;
    assert_eq!(
        row.attr("data-delivery").await.unwrap(),
        Some(delivery.to_string())
    );
    let text = row.text().await.unwrap();
    assert!(
        text.contains("Ektorpsskolan") && text.contains("Måste kvittera"),
        "{text}"
    );
    let said = text_of(&c, Locator::Id("live-status")).await;
    assert_eq!(said, "Nytt varsel: Förestående avresa, Omedelbar");
    let empty = c.find(Locator::Id("inbox-empty")).await.unwrap();
    assert!(
        !empty.is_displayed().await.unwrap(),
        "the empty note hidden"
    );
    screenshot(&c, "desk-inbox-live.png").await;
    axe(&c, "the inbox with a live row").await;

    // The stream gave the officer socialtjänsten's delivery, never the police's (kept by the
    // same desk at the same time), and no personal data.
    let police = kept_delivery(&desk.store, POLICE, alert).await;
    let (name, event) = mine
        .expect(Duration::from_secs(30), "the delivery event")
        .await;
    assert_eq!(name, "delivery");
    assert_eq!(event["delivery"], delivery.to_string());
    assert_eq!(
        event["notice"],
        "Nytt varsel: Förestående avresa, Omedelbar"
    );
    let pupil = serde_json::to_value(&h.example("alert.json").body).unwrap()["core"]["pupil"]
        ["name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!event.to_string().contains(&pupil));
    match mine.next(Duration::from_secs(2)).await {
        Next::Quiet => {}
        other => panic!("only the officer's own delivery, then quiet: {other:?} (police {police})"),
    }

    // On by keyboard: to the alert, its content opened, an outcome chosen, acknowledged.
    tab_to(&c, &format!("a[href='/alert/{delivery}']")).await;
    enter_and_wait(&c).await;
    axe(&c, "the alert page").await;
    tab_to(&c, "#open").await;
    enter_and_wait(&c).await;
    assert!(c.find(Locator::Id("section-core")).await.is_ok());
    axe(&c, "the alert page with its sections opened").await;
    tab_to(&c, "#outcome").await;
    press(&c, Key::Down).await;
    tab_to(&c, "#acknowledge").await;
    enter_and_wait(&c).await;
    let state = text_of(&c, Locator::Id("state")).await;
    assert!(state.contains("Kvitterat av Handläggare Ett"), "{state}");
    axe(&c, "the acknowledged alert page").await;

    // A session holds four streams at most: a fifth ends the oldest. Each of these starts with
    // what was kept since the time given (here: ever), so nothing in between is missed.
    let bad = Events::open_at(&addr, "/inbox/events?since=yesterday", &cookie).await;
    assert_eq!(bad.status, 400, "{}", bad.head);
    let mut more = Vec::new();
    for _ in 0..4 {
        let mut e = Events::open_at(&addr, "/inbox/events?since=0", &cookie).await;
        assert_eq!(e.status, 200, "{}", e.head);
        let (name, event) = e.expect(Duration::from_secs(10), "the catch-up").await;
        assert_eq!(name, "delivery");
        assert_eq!(event["delivery"], delivery.to_string());
        more.push(e);
    }
    mine.ends("replaced").await;

    // Sign-out ends the session's streams, and a new one is refused.
    click(&c, Locator::Css("form[action='/logout'] button")).await;
    for e in &mut more {
        let end = e.ends("signed_out").await;
        assert!(end["notice"]
            .as_str()
            .unwrap()
            .contains("inte längre inloggad"));
    }
    assert_eq!(Events::open(&addr, &cookie).await.status, 401);

    // The desk's shutdown ends the streams too, and is not held up by them.
    sign_in(&c, &base, "polis1", &enrolments[1]).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/inbox");
    let police_cookie = format!("varsel_desk={}", session_cookie(&c).await);
    let mut last = Events::open(&addr, &police_cookie).await;
    assert_eq!(last.status, 200, "{}", last.head);
    tokio::time::timeout(Duration::from_secs(15), desk.stop())
        .await
        .expect("the desk stops within 15 s with streams open");
    last.ends("stopping").await;

    c.close().await.unwrap();
    drop(driver);
    h.stop().await;
}

/// Figures for the report, not assertions on speed: the inbox and an alert page with 1,000
/// deliveries kept. One real alert goes through the broker; 999 copies of its kept row, under
/// new delivery ids, are added to the desk's store in SQL, so the inbox has 1,000 rows to show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn measure_the_inbox_with_a_thousand_deliveries() {
    let h = Harness::start("desk-1000").await;
    let (desk, enrolment) = desk_with(&h, &[SOCIAL], &[OFFICER]).await;
    let enrolment = &enrolment[0];
    let social: ParticipantId = SOCIAL.parse().unwrap();
    let base = format!("http://{}", desk.addr);
    h.client("norrkoping-ektorpsskolan")
        .send(&h.example("alert.json"))
        .await
        .unwrap();
    let store = desk.store.clone();
    wait_until(
        Duration::from_secs(60),
        "the desk to keep the delivery",
        || {
            let (store, social) = (store.clone(), social.clone());
            async move { !store.inbox(&social).await.unwrap().is_empty() }
        },
    )
    .await;
    let file = h.path().join("desk.sqlite");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    for _ in 0..999 {
        sqlx::query(
            "INSERT INTO deliveries (delivery, participant, alert, kind, school, municipality, \
             category, urgency, status, role, planned_departure, receipt_due, ack_due, \
             received_at, receipt_sent_at, raw) SELECT ?, participant, alert, kind, school, \
             municipality, category, urgency, status, role, planned_departure, receipt_due, \
             ack_due, received_at, receipt_sent_at, raw FROM deliveries LIMIT 1",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(store.inbox(&social).await.unwrap().len(), 1000);

    let (driver, c) = browser(h.path()).await;
    sign_in(&c, &base, "handlaggare1", enrolment).await;
    let cookie = format!("varsel_desk={}", session_cookie(&c).await);
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let page =
            varsel_testkit::http::get(&desk.addr.to_string(), "/inbox", &[("Cookie", &cookie)])
                .await;
        eprintln!(
            "GET /inbox (server and transfer, no browser): {} bytes in {:?}",
            page.body.len(),
            t.elapsed()
        );
    }
    for _ in 0..3 {
        let t = std::time::Instant::now();
        c.goto(&format!("{base}/inbox")).await.unwrap();
        let rows = c
            .find_all(Locator::Css("#inbox tbody tr"))
            .await
            .unwrap()
            .len();
        eprintln!(
            "the inbox in Chromium (navigation to loaded): {rows} rows in {:?}",
            t.elapsed()
        );
    }
    let t = std::time::Instant::now();
    click(&c, Locator::Css("#inbox tbody tr:first-child a")).await;
    eprintln!("an alert page from the 1,000-row inbox: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    click(&c, Locator::Id("open")).await;
    eprintln!(
        "opening its sections (verify, unwrap, decrypt, log): {:?}",
        t.elapsed()
    );
    c.close().await.unwrap();
    drop(driver);
    desk.stop().await;
    h.stop().await;
}
