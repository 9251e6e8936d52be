//! The school's side of the desk in a real browser, against the real broker: a counsellor signs
//! in, fills in *New alert* with a personnummer whose check digit is wrong (refused beside the
//! field, in Swedish, with everything typed still there), corrects it and sends; the alert
//! reaches socialtjänsten (here served by the same desk); when an officer acknowledges it, *My
//! alerts* shows who did, from the broker's feedback. The same form posted again is not sent.
//! Each alert is written to the access log as an intent before it is sent; when the store fails
//! after RabbitMQ confirmed an alert, the page says it was sent and the log has its entry.
//! axe-core checks *New alert* with its errors and *My alerts* against WCAG 2.1 A and AA.
//!
//! On a clock the test moves, the counsellor then follows an alert from its page: an escalation
//! when a deadline passes, the content opened (logged), an update and a cancel sent from the page
//! (a replayed form refused), and a stale update refused by the broker, shown in words; the
//! officer's page lists the update and the cancel in order and the inbox marks the alert
//! cancelled.

mod common;

use std::time::Duration;

use fantoccini::Locator;

use varsel_desk::role::Role;
use varsel_protocol::message::{Outcome, ParticipantId};
use varsel_testkit::harness::{office_morning, wait_until, Harness};
use varsel_transport::clock::Clock;

use common::{
    axe, browser, click, csrf_of, desk_on, desk_with, hidden, kept_delivery, post, prop,
    screenshot, session_cookie, sign_in, sign_in_at, text_of, type_into,
};

const SCHOOL: &str = "norrkoping-ektorpsskolan";
const SOCIAL: &str = "norrkoping-socialtjansten";

async fn choose(c: &fantoccini::Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counsellor_sends_an_alert_from_the_form_and_sees_it_acknowledged() {
    let h = Harness::start("desk-school").await;
    let (desk, enrolments) = desk_with(
        &h,
        &[SCHOOL, SOCIAL],
        &[("kurator", "Karin Berg", SCHOOL, Role::SchoolStaff)],
    )
    .await;
    let base = format!("http://{}", desk.addr);
    let (driver, c) = browser(h.path()).await;
    sign_in(&c, &base, "kurator", &enrolments[0]).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/alerts");
    assert!(c
        .source()
        .await
        .unwrap()
        .contains("Inga varsel har skickats härifrån."));
    axe(&c, "My alerts, empty").await;

    click(&c, Locator::LinkText("Nytt varsel")).await;
    choose(&c, "#category option[value='departure_imminent']").await;
    choose(&c, "#urgency option[value='immediate']").await;
    type_into(&c, "pupil_name", "Hana Karimi").await;
    type_into(&c, "personnummer", "20110509-2844").await;
    type_into(&c, "skolenhetskod", "58163210").await;
    choose(&c, "#indicator_forced_marriage").await;
    type_into(&c, "concern", "Hon berättade att familjen reser på lördag.").await;
    type_into(&c, "country", "IQ").await;
    type_into(&c, "contact_name", "Karin Berg").await;
    type_into(&c, "contact_role", "kurator").await;
    type_into(&c, "contact_phone", "011-15 00 00").await;
    click(&c, Locator::Id("send")).await;

    // Refused beside the field, in Swedish; nothing typed is lost.
    let error = c
        .find(Locator::Id("personnummer-error"))
        .await
        .expect("the personnummer refused");
    assert!(error.text().await.unwrap().contains("kontrollsiffra"));
    assert_eq!(
        prop(&c, "pupil_name", "value").await.as_deref(),
        Some("Hana Karimi")
    );
    assert_eq!(
        prop(&c, "concern", "value").await.as_deref(),
        Some("Hon berättade att familjen reser på lördag.")
    );
    assert_eq!(
        prop(&c, "indicator_forced_marriage", "checked")
            .await
            .as_deref(),
        Some("true")
    );
    assert!(desk
        .store
        .sent(&SCHOOL.parse().unwrap())
        .await
        .unwrap()
        .is_empty());
    screenshot(&c, "desk-new-alert-refused.png").await;
    axe(&c, "New alert with errors").await;

    c.find(Locator::Id("personnummer"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    type_into(&c, "personnummer", "20110509-2843").await;
    let page = c.source().await.unwrap();
    let form = format!(
        "csrf={}&form={}&category=departure_imminent&urgency=immediate&status=actual&pupil_name=X&date_of_birth=2011-05-09&school_name=Ektorpsskolan&skolenhetskod=58163210&concern=X",
        csrf_of(&page),
        hidden(&page, "form")
    );
    click(&c, Locator::Id("send")).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/alerts");
    let school: ParticipantId = SCHOOL.parse().unwrap();
    let sent = desk.store.sent(&school).await.unwrap();
    assert_eq!(sent.len(), 1);
    let alert = sent[0].id;
    let log = desk.store.access_log().await.unwrap();
    let about_it: Vec<&str> = log
        .iter()
        .filter(|l| l.entry.detail["message"] == alert.to_string())
        .map(|l| l.entry.action.as_str())
        .collect();
    assert_eq!(about_it, ["sending", "sent"]);
    assert!(log.iter().all(|l| l.entry.actor == "kurator"));

    // The same form posted again is refused and not sent.
    let cookie = format!("varsel_desk={}", session_cookie(&c).await);
    let (status, body) = post(&desk.addr.to_string(), "/alerts/new", &cookie, &form).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(desk.store.sent(&school).await.unwrap().len(), 1);

    // socialtjänsten gets it; an officer acknowledges (with the participant client here).
    let delivery = kept_delivery(&desk.store, SOCIAL, alert).await;
    let officer = h.client(SOCIAL);
    let (payload, compact) = officer.ack_for(
        delivery,
        Some(alert),
        "Handläggare Två",
        Outcome::CaseOpened,
    );
    let (conn, publisher) = officer.connect().await.unwrap();
    officer
        .publish(&publisher, &payload, &compact)
        .await
        .unwrap();
    let _ = conn.close(200, "acked".into()).await;

    // My alerts shows it, from the broker's feedback to the school's inbox.
    let row = format!("#alert-{alert} tr[data-recipient='{SOCIAL}']");
    wait_until(
        Duration::from_secs(60),
        "My alerts to show the acknowledgement",
        || {
            let (c, base, row) = (c.clone(), base.clone(), row.clone());
            async move {
                c.goto(&format!("{base}/alerts")).await.unwrap();
                match c.find(Locator::Css(&row)).await {
                    Ok(r) => r.attr("data-state").await.unwrap().as_deref() == Some("acknowledged"),
                    Err(_) => false,
                }
            }
        },
    )
    .await;
    let text = text_of(&c, Locator::Css(&row)).await;
    assert!(
        text.contains("kvitterat av Handläggare Två") && text.contains("Ärende öppnat"),
        "{text}"
    );
    screenshot(&c, "desk-my-alerts.png").await;
    axe(&c, "My alerts").await;

    // The store fails after RabbitMQ confirmed an alert (its table is gone): the alert left the
    // desk, the page says so with its id, and the access log has its intent entry.
    let file = h.path().join("desk.sqlite");
    let mut raw = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        file.display()
    ))
    .await
    .unwrap();
    sqlx::query("ALTER TABLE sent_alerts RENAME TO sent_alerts_away")
        .execute(&mut raw)
        .await
        .unwrap();
    let fresh = form.replace(
        &format!("form={}", hidden(&page, "form")),
        &format!(
            "form={}",
            uuid::Uuid::now_v7().simple().to_string().repeat(2)
        ),
    );
    let (status, body) = post(&desk.addr.to_string(), "/alerts/new", &cookie, &fresh).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("Varslet skickades, men skrivbordet kunde inte spara det"),
        "{body}"
    );
    let log = desk.store.access_log().await.unwrap();
    let intent = log.last().unwrap();
    assert_eq!(intent.entry.action, "sending");
    let id: uuid::Uuid = intent.entry.detail["message"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(body.contains(&id.to_string()), "{body}");
    assert_eq!(desk.store.verify_access_log().await.unwrap(), Ok(log.len()));
    let broker = h.store();
    wait_until(
        Duration::from_secs(30),
        "the broker to route the alert",
        || {
            let broker = broker.clone();
            async move { !broker.deliveries_of(id).await.unwrap().is_empty() }
        },
    )
    .await;

    c.close().await.unwrap();
    drop(driver);
    desk.stop().await;
    h.stop().await;
}

/// Loads `path` until `css` finds an element; its text.
async fn shown(c: &fantoccini::Client, url: &str, css: &str, what: &str) -> String {
    wait_until(Duration::from_secs(60), what, || {
        let (c, url, css) = (c.clone(), url.to_owned(), css.to_owned());
        async move {
            c.goto(&url).await.unwrap();
            c.find(Locator::Css(&css)).await.is_ok()
        }
    })
    .await;
    text_of(c, Locator::Css(css)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counsellor_follows_an_alert_updates_and_cancels_it_from_its_page() {
    let h = Harness::start_with("desk-follow", Clock::manual(office_morning()), None).await;
    let (desk, enrolments) = desk_on(
        &h,
        &[SCHOOL, SOCIAL],
        &[
            ("kurator", "Karin Berg", SCHOOL, Role::SchoolStaff),
            (
                "handlaggare",
                "Handläggare Ett",
                SOCIAL,
                Role::AgencyOfficer,
            ),
        ],
        h.clock.clone(),
    )
    .await;
    let addr = desk.addr.to_string();
    // Two host names, two cookie jars: the counsellor and the officer in one browser.
    let school_base = format!("http://{addr}");
    let agency_base = format!("http://localhost:{}", desk.addr.port());
    let (driver, c) = browser(h.path()).await;
    sign_in_at(&c, &school_base, "kurator", &enrolments[0], h.clock.now()).await;
    let cookie = format!("varsel_desk={}", session_cookie(&c).await);

    // An alert sent with the New alert form (posted as the browser would).
    c.goto(&format!("{school_base}/alerts/new")).await.unwrap();
    let page = c.source().await.unwrap();
    let form = format!(
        "csrf={}&form={}&category=departure_imminent&urgency=immediate&status=actual&pupil_name=Hana+Karimi&personnummer=20110509-2843&school_name=Ektorpsskolan&skolenhetskod=58163210&concern=Familjen+reser+p%C3%A5+l%C3%B6rdag.",
        csrf_of(&page),
        hidden(&page, "form")
    );
    let (status, body) = post(&addr, "/alerts/new", &cookie, &form).await;
    assert_eq!(status, 303, "{body}");
    let school: ParticipantId = SCHOOL.parse().unwrap();
    let alert = desk.store.sent(&school).await.unwrap()[0].id;
    let delivery = kept_delivery(&desk.store, SOCIAL, alert).await;

    // Nobody acknowledges: ten minutes on, the broker sends it again and tells the school.
    h.clock.advance(chrono::Duration::minutes(10));
    let step = format!("#alert-{alert} li[data-step='redeliver']");
    let text = shown(
        &c,
        &format!("{school_base}/alerts"),
        &step,
        "My alerts to show the escalation",
    )
    .await;
    assert!(text.contains("Ej kvitterat i tid: skickat igen"), "{text}");
    screenshot(&c, "desk-school-alert-escalated.png").await;

    // The alert's page: the content sealed until asked for; opening it is logged first.
    click(&c, Locator::Css(&format!("#alert-{alert} h2 a"))).await;
    let url = format!("{school_base}/alerts/{alert}");
    assert_eq!(c.current_url().await.unwrap().as_str(), url);
    assert!(!c.source().await.unwrap().contains("Hana Karimi"));
    assert!(text_of(&c, Locator::Css("#escalations"))
        .await
        .contains("skickat igen"));
    click(&c, Locator::Id("open")).await;
    let opened = text_of(&c, Locator::Css(&format!("#opened-{alert}"))).await;
    assert!(
        opened.contains("Hana Karimi") && opened.contains("Familjen reser på lördag."),
        "{opened}"
    );
    let log = desk.store.access_log().await.unwrap();
    let entry = log
        .iter()
        .rev()
        .find(|l| l.entry.action == "opened")
        .expect("the opening logged");
    assert_eq!(entry.entry.actor, "kurator");

    // An update from the page; the same form posted again is refused and not sent.
    c.goto(&url).await.unwrap();
    let page = c.source().await.unwrap();
    let update_form = hidden(&page, "form");
    h.clock.advance(chrono::Duration::minutes(1));
    type_into(
        &c,
        "update-note",
        "Familjen reser nu redan på fredag. <script>alert(1)</script>",
    )
    .await;
    click(&c, Locator::Id("send-update")).await;
    assert_eq!(c.current_url().await.unwrap().as_str(), url);
    let replay = format!("csrf={}&form={update_form}&note=igen", csrf_of(&page));
    let (status, body) = post(&addr, &format!("/alerts/{alert}/update"), &cookie, &replay).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("redan skickat"), "{body}");
    assert_eq!(desk.store.follow_ups(alert).await.unwrap().len(), 1);
    // Without the session's CSRF token nothing is sent either.
    let forged = format!("csrf=x&form={}&note=x", "f".repeat(43));
    let (status, _) = post(&addr, &format!("/alerts/{alert}/update"), &cookie, &forged).await;
    assert_eq!(status, 403);
    // A text longer than the protocol allows is refused with the reason, and nothing is sent.
    let long = format!(
        "csrf={}&form={}&note={}",
        csrf_of(&page),
        "g".repeat(43),
        "x".repeat(10_001)
    );
    let (status, body) = post(&addr, &format!("/alerts/{alert}/update"), &cookie, &long).await;
    assert_eq!(status, 422);
    assert!(body.contains("för lång"), "{body}");
    assert_eq!(desk.store.follow_ups(alert).await.unwrap().len(), 1);
    // An alert that is not the school's (here: none) is not found.
    let other = format!("csrf={}&form={}&note=x", csrf_of(&page), "h".repeat(43));
    let nobody = uuid::Uuid::now_v7();
    let (status, _) = post(&addr, &format!("/alerts/{nobody}/update"), &cookie, &other).await;
    assert_eq!(status, 404);

    // Then a cancel; a stale update form from before it goes out and the broker refuses it.
    let page = c.source().await.unwrap();
    let stale = format!(
        "csrf={}&form={}&note=sent+after+the+cancel",
        csrf_of(&page),
        hidden(&page, "form")
    );
    h.clock.advance(chrono::Duration::minutes(1));
    type_into(&c, "cancel-note", "Eleven är i skolan; resan är inställd.").await;
    click(&c, Locator::Id("send-cancel")).await;
    let kinds: Vec<String> = desk
        .store
        .follow_ups(alert)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.kind)
        .collect();
    assert_eq!(kinds, ["update", "cancel"]);
    assert!(text_of(&c, Locator::Id("cancelled"))
        .await
        .contains("ÅTERKALLAT"));
    assert!(
        c.find(Locator::Id("send-update")).await.is_err(),
        "no update form after a cancel"
    );
    let (status, body) = post(&addr, &format!("/alerts/{alert}/update"), &cookie, &stale).await;
    assert_eq!(status, 303, "{body}");
    let refused = shown(
        &c,
        &url,
        "#refused li[data-reason='unknown_reference']",
        "the broker's refusal on the alert's page",
    )
    .await;
    assert!(
        refused.contains("Varslet som meddelandet gäller är okänt eller redan återkallat"),
        "{refused}"
    );
    assert!(refused.contains("Uppdatering"), "{refused}");
    // Opened again, the update's text is shown as text, never as markup.
    click(&c, Locator::Id("open")).await;
    let page = c.source().await.unwrap();
    assert!(
        page.contains("redan på fredag. &lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>"));
    assert!(text_of(&c, Locator::Css("section[data-kind='cancel']"))
        .await
        .contains("resan är inställd"));
    let items: Vec<String> = {
        let mut v = Vec::new();
        for li in c.find_all(Locator::Css("#follow-ups li")).await.unwrap() {
            v.push(li.attr("data-kind").await.unwrap().unwrap_or_default());
        }
        v
    };
    assert_eq!(items, ["update", "cancel", "update"]);
    let last = text_of(&c, Locator::Css("#follow-ups li:nth-child(3)")).await;
    assert!(last.contains("avvisad"), "{last}");
    // The recipients' rows of the update and the cancel are told apart from the alert's.
    let first = text_of(&c, Locator::Css("#recipients tbody tr:first-child")).await;
    assert!(!first.contains("uppdatering eller återkallelse"), "{first}");
    shown(
        &c,
        &url,
        &format!("#recipients tr[data-recipient='{SOCIAL}'][data-follow-up='true']"),
        "the school told of the update's delivery",
    )
    .await;
    c.execute(
        "document.getElementById('recipients').scrollIntoView()",
        vec![],
    )
    .await
    .unwrap();
    screenshot(&c, "desk-school-alert.png").await;

    // The officer's page lists the update and the cancel in order; the inbox marks the alert.
    sign_in_at(
        &c,
        &agency_base,
        "handlaggare",
        &enrolments[1],
        h.clock.now(),
    )
    .await;
    let order = shown(
        &c,
        &format!("{agency_base}/alert/{delivery}"),
        "#follow-ups li:nth-child(2)[data-kind='cancel']",
        "the update and the cancel on the officer's page",
    )
    .await;
    assert!(order.contains("Återkallat"), "{order}");
    let list = text_of(&c, Locator::Id("follow-ups")).await;
    let (u, k) = (
        list.find("Uppdatering").unwrap(),
        list.find("Återkallat").unwrap(),
    );
    assert!(u < k, "{list}");
    assert!(text_of(&c, Locator::Id("cancelled"))
        .await
        .contains("ÅTERKALLAT"));
    screenshot(&c, "desk-school-alert-officer.png").await;
    c.goto(&format!("{agency_base}/inbox")).await.unwrap();
    let row = text_of(&c, Locator::Css(&format!("tr[data-delivery='{delivery}']"))).await;
    assert!(row.contains("ÅTERKALLAT"), "{row}");

    c.close().await.unwrap();
    drop(driver);
    desk.stop().await;
    h.stop().await;
}
