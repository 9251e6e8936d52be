//! The school's side of the desk in a real browser, against the real broker: a counsellor signs
//! in and fills in every section of *New alert*. The check-as-you-type script flags a
//! personnummer with a wrong check digit beside the field before anything is sent; the server
//! reports that and two other problems in one round, in Swedish, with everything typed still
//! there; "add a sibling" works as a plain submit. Corrected, the preview shows the alert as
//! recipients will read it; *Ändra* goes back with everything kept; *Skicka* sends it, once (the
//! preview's send posted again is refused with 409). The same form works with no script at all
//! (plain HTTP posts). The alert, an exercise, is marked ÖVNING in My alerts, in socialtjänsten's
//! inbox and on its alert page, whose opened content has Swedish labels; when an officer
//! acknowledges it, *My alerts* shows who did, from the broker's feedback.

mod common;

use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;

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
        .unwrap_or_else(|e| panic!("nothing at {css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Sets a `datetime-local` field, whose typed form depends on the browser's locale.
async fn set_value(c: &fantoccini::Client, id: &str, value: &str) {
    c.execute(
        "document.getElementById(arguments[0]).value = arguments[1];",
        vec![json!(id), json!(value)],
    )
    .await
    .unwrap();
}

async fn retype(c: &fantoccini::Client, id: &str, text: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    type_into(c, id, text).await;
}

/// A time `days` from now as a `datetime-local` value, in Stockholm time.
fn local(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .with_timezone(&chrono_tz::Europe::Stockholm)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

/// The text of the element `css` finds, or "" when there is none.
async fn text_at(c: &fantoccini::Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap(),
        Err(_) => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counsellor_sends_an_alert_from_the_form_and_sees_it_acknowledged() {
    let h = Harness::start("desk-school").await;
    let (desk, enrolments) = desk_with(
        &h,
        &[SCHOOL, SOCIAL],
        &[
            ("kurator", "Karin Berg", SCHOOL, Role::SchoolStaff),
            (
                "handlaggare1",
                "Handläggare Ett",
                SOCIAL,
                Role::AgencyOfficer,
            ),
        ],
    )
    .await;
    let base = format!("http://{}", desk.addr);
    let school: ParticipantId = SCHOOL.parse().unwrap();
    let (driver, c) = browser(h.path()).await;
    sign_in(&c, &base, "kurator", &enrolments[0]).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/alerts");
    assert!(c
        .source()
        .await
        .unwrap()
        .contains("Inga varsel har skickats härifrån."));

    click(&c, Locator::LinkText("Nytt varsel")).await;
    // Check as you type: leaving the field with a wrong check digit says so beside it, in
    // Swedish, and nothing is posted.
    type_into(&c, "personnummer", "20110509-2844").await;
    type_into(&c, "pupil_name", "Hana Karimi").await;
    wait_until(
        Duration::from_secs(10),
        "the script's message beside the personnummer",
        || {
            let c = c.clone();
            async move {
                text_at(&c, "#personnummer-live")
                    .await
                    .contains("Kontrollsiffran")
            }
        },
    )
    .await;
    let described = c
        .find(Locator::Id("personnummer"))
        .await
        .unwrap()
        .attr("aria-describedby")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(described.contains("personnummer-live"), "{described}");
    assert!(c.find(Locator::Id("form-errors")).await.is_err());
    assert!(desk.store.sent(&school).await.unwrap().is_empty());
    // A number not yet complete is not flagged while typing.
    type_into(&c, "guardian0_personnummer", "198001").await;
    assert_eq!(text_at(&c, "#guardian0_personnummer-live").await, "");

    choose(&c, "#category option[value='departure_imminent']").await;
    choose(&c, "#urgency option[value='immediate']").await;
    choose(&c, "#status option[value='exercise']").await;
    set_value(&c, "departure", &local(3)).await;
    type_into(&c, "skolenhetskod", "5816").await;
    choose(&c, "#indicator_forced_marriage").await;
    type_into(&c, "concern", "Hon berättade att familjen reser på lördag.").await;
    type_into(&c, "country", "IQ").await;
    type_into(&c, "carrier", "Turkish Airlines").await;
    type_into(&c, "flight", "TK1794").await;
    type_into(&c, "guardian0_name", "Fatima Karimi").await;
    choose(&c, "#guardian0_relation option[value='mother']").await;
    type_into(&c, "guardian0_personnummer", "01-2387").await;
    type_into(&c, "guardian0_phone", "070-123 45 67").await;
    type_into(&c, "guardian1_name", "Reza Karimi").await;
    type_into(&c, "sibling0_name", "Sara Karimi").await;
    type_into(&c, "sibling0_personnummer", "20130822-2460").await;
    type_into(&c, "sibling0_school", "Navestadsskolan").await;
    // A fourth sibling row, with no script: the form comes back with one more row.
    click(&c, Locator::Id("add-sibling")).await;
    assert_eq!(
        prop(&c, "sibling0_school", "value").await.as_deref(),
        Some("Navestadsskolan")
    );
    assert_eq!(
        prop(&c, "guardian1_name", "value").await.as_deref(),
        Some("Reza Karimi")
    );
    assert!(c.find(Locator::Id("form-errors")).await.is_err());
    type_into(&c, "sibling3_name", "Omar Karimi").await;
    type_into(&c, "sibling3_school", "Ektorpsskolan").await;
    choose(&c, "#action_concern_report_filed").await;
    set_value(&c, "action_concern_report_filed_at", &local(-1)).await;
    choose(&c, "#action_guardians_contacted").await;
    set_value(&c, "action_guardians_contacted_at", &local(-1)).await;
    type_into(&c, "note", "Syskonen är också borta från skolan.").await;
    type_into(&c, "contact_name", "Karin Berg").await;
    type_into(&c, "contact_role", "kurator").await;
    type_into(&c, "contact_phone", "011-15 00 00").await;
    type_into(&c, "contact_email", "karin.berg@example.se").await;
    click(&c, Locator::Id("preview")).await;

    // Three problems, of three kinds, in one round; each beside its field, in Swedish; nothing
    // typed is lost.
    let error = text_of(&c, Locator::Id("personnummer-error")).await;
    assert!(error.contains("kontrollsiffra"), "{error}");
    let error = text_of(&c, Locator::Id("skolenhetskod-error")).await;
    assert!(error.contains("åtta siffror"), "{error}");
    let error = text_of(&c, Locator::Id("guardian1_relation-error")).await;
    assert!(error.contains("Välj relation"), "{error}");
    for (id, want) in [
        ("pupil_name", "Hana Karimi"),
        ("concern", "Hon berättade att familjen reser på lördag."),
        ("carrier", "Turkish Airlines"),
        ("guardian0_personnummer", "19800101-2387"),
        ("sibling3_name", "Omar Karimi"),
        ("contact_email", "karin.berg@example.se"),
        ("action_guardians_contacted_at", &local(-1)[..10]),
    ] {
        let got = prop(&c, id, "value").await.unwrap_or_default();
        assert!(got.starts_with(want), "#{id}: {got:?}, not {want:?}");
    }
    for id in ["indicator_forced_marriage", "action_concern_report_filed"] {
        assert_eq!(
            prop(&c, id, "checked").await.as_deref(),
            Some("true"),
            "{id}"
        );
    }
    assert!(desk.store.sent(&school).await.unwrap().is_empty());
    screenshot(&c, "desk-new-alert-refused.png").await;

    retype(&c, "personnummer", "20110509-2843").await;
    retype(&c, "skolenhetskod", "58163210").await;
    choose(&c, "#guardian1_relation option[value='father']").await;
    assert_eq!(text_at(&c, "#personnummer-live").await, "");
    click(&c, Locator::Id("preview")).await;

    // The preview: the alert in the recipients' words, nothing sent yet.
    let shown = text_of(&c, Locator::Css("main")).await;
    for want in [
        "Förhandsgranska varslet",
        "Övning",
        "ÖVNING",
        "Hana Karimi",
        "Tecken på risk",
        "Tvångsäktenskap",
        "Vårdnadshavare",
        "Fatima Karimi",
        "Mamma",
        "Pappa",
        "Syskon",
        "Omar Karimi",
        "Navestadsskolan",
        "Resebolag",
        "Turkish Airlines",
        "TK1794",
        "Orosanmälan gjord",
        "Vårdnadshavarna kontaktade",
        "Kontaktperson",
        "karin.berg@example.se",
        "Syskonen är också borta från skolan.",
    ] {
        assert!(shown.contains(want), "{want} not in the preview: {shown}");
    }
    assert!(
        !shown.contains("guardians") && !shown.contains("relation"),
        "{shown}"
    );
    assert!(desk.store.sent(&school).await.unwrap().is_empty());
    screenshot(&c, "desk-preview.png").await;

    // Ändra: back to the form with everything kept, then the preview again.
    click(&c, Locator::Id("edit")).await;
    assert_eq!(
        prop(&c, "guardian1_relation", "value").await.as_deref(),
        Some("father")
    );
    assert_eq!(
        prop(&c, "sibling3_school", "value").await.as_deref(),
        Some("Ektorpsskolan")
    );
    screenshot(&c, "desk-new-alert.png").await;
    click(&c, Locator::Id("preview")).await;
    let replay = c
        .execute(
            "return new URLSearchParams(new FormData(document.getElementById('preview-form'))).toString();",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
        + "&step=send";
    click(&c, Locator::Id("send")).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/alerts");
    let sent = desk.store.sent(&school).await.unwrap();
    assert_eq!(sent.len(), 1);
    let alert = sent[0].id;
    let log = desk.store.access_log().await.unwrap();
    assert!(log
        .iter()
        .any(|l| l.entry.action == "sent" && l.entry.actor == "kurator"));
    let flag = text_at(&c, &format!("#alert-{alert} h2 .exercise")).await;
    assert_eq!(flag, "ÖVNING", "My alerts marks the exercise");

    // The preview's send posted again is refused and not sent.
    let cookie = format!("varsel_desk={}", session_cookie(&c).await);
    let addr = desk.addr.to_string();
    let (status, body) = post(&addr, "/alerts/new", &cookie, &replay).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(desk.store.sent(&school).await.unwrap().len(), 1);

    // With no script at all: plain posts of a fresh form, checked on the server, previewed, sent.
    c.goto(&format!("{base}/alerts/new")).await.unwrap();
    let page = c.source().await.unwrap();
    let fields = format!(
        "csrf={}&form={}&category=departure_imminent&urgency=expected&status=actual&pupil_name=X\
         &school_name=Ektorpsskolan&skolenhetskod=58163210&concern=X",
        csrf_of(&page),
        hidden(&page, "form")
    );
    let (status, body) = post(
        &addr,
        "/alerts/new",
        &cookie,
        &format!("{fields}&personnummer=20110509-2844&step=preview"),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("id=\"personnummer-error\""), "{body}");
    // Text from the form is escaped in the preview, in its words and in its hidden fields.
    let fields =
        format!("{fields}&date_of_birth=2011-05-09&note=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    let (status, body) = post(
        &addr,
        "/alerts/new",
        &cookie,
        &format!("{fields}&step=preview"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("id=\"preview-form\""), "{body}");
    assert!(!body.contains("<script>alert"), "{body}");
    assert!(body.contains("&lt;script&gt;alert(1)"), "{body}");
    let (status, body) = post(
        &addr,
        "/alerts/new",
        &cookie,
        &format!("{fields}&step=send"),
    )
    .await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(desk.store.sent(&school).await.unwrap().len(), 2);

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

    // The officer's side: the exercise is marked in the inbox and on the alert page, and the
    // opened content reads in Swedish.
    click(&c, Locator::Css("header form button")).await;
    sign_in(&c, &base, "handlaggare1", &enrolments[1]).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/inbox");
    let flag = text_at(&c, &format!("tr[data-delivery='{delivery}'] .exercise")).await;
    assert_eq!(flag, "ÖVNING", "the inbox marks the exercise");
    c.goto(&format!("{base}/alert/{delivery}")).await.unwrap();
    assert_eq!(text_at(&c, "#header .exercise").await, "ÖVNING");
    click(&c, Locator::Id("open")).await;
    let family = text_at(&c, "#section-family").await;
    assert!(
        family.contains("Vårdnadshavare")
            && family.contains("Relation till eleven")
            && family.contains("Mamma"),
        "{family}"
    );
    let actions = text_at(&c, "#section-school_actions").await;
    assert!(
        actions.contains("Redan gjort") && actions.contains("Orosanmälan gjord"),
        "{actions}"
    );
    assert!(!text_at(&c, "main").await.contains("destination_country"));

    c.close().await.unwrap();
    drop(driver);
    desk.stop().await;
    h.stop().await;
}
