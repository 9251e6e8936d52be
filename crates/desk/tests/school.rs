//! The school's side of the desk in a real browser, against the real broker: a counsellor signs
//! in, fills in *New alert* with a personnummer whose check digit is wrong (refused beside the
//! field, in Swedish, with everything typed still there), corrects it and sends; the alert
//! reaches socialtjänsten (here served by the same desk); when an officer acknowledges it, *My
//! alerts* shows who did, from the broker's feedback. The same form posted again is not sent.
//! Each alert is written to the access log as an intent before it is sent; when the store fails
//! after RabbitMQ confirmed an alert, the page says it was sent and the log has its entry.

mod common;

use std::time::Duration;

use fantoccini::Locator;

use varsel_desk::role::Role;
use varsel_protocol::message::{Outcome, ParticipantId};
use varsel_testkit::harness::{wait_until, Harness};

use common::{
    browser, click, csrf_of, desk_with, hidden, kept_delivery, post, prop, screenshot,
    session_cookie, sign_in, text_of, type_into,
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
