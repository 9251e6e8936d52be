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
//! Each alert is written to the access log as an intent before it is sent; when the store fails
//! after RabbitMQ confirmed an alert, the page says it was sent and the log has its entry.
//! axe-core checks *New alert* with its errors and *My alerts* against WCAG 2.1 A and AA.
//!
//! On a clock the test moves, the counsellor then follows an alert from its page: an escalation
//! when a deadline passes, the content opened (logged), an update and a cancel sent from the page
//! (a replayed form refused), and a stale update refused by the broker, shown in words; the
//! officer's page lists the update and the cancel in order and the inbox marks the alert
//! cancelled. A counsellor closes another alert's case with its outcome: the broker stops its
//! timers, the page marks it closed with no forms left, and the officer's page marks it too.
//!
//! A counsellor keeps a case's journal: a home visit written and shared at once, a call to the
//! guardians kept in the journal and shared later with its button (each as one sealed update that
//! socialtjänsten's officer opens, the entry's markup shown as text), refusals (unknown item, note
//! without text, overlong text, a time in the future, a replayed form, a second share, an unknown
//! entry or alert, no CSRF token) that keep and send nothing, the texts sealed in the desk's store
//! and shown only when the page is opened (logged). Socialtjänsten decides a travel ban: the
//! school's page lists it and opens it with who sent it. Closed, the journal takes no more
//! entries, and the officer opens the closing note with its outcome in words.

mod common;

use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;

use varsel_desk::accounts::Enrolment;
use varsel_desk::role::Role;
use varsel_participant::client::Item;
use varsel_protocol::message::{NoteKind, Outcome, ParticipantId};
use varsel_protocol::note;
use varsel_testkit::browser::Chromedriver;
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

/// The one-time token of the alert page's form that posts to `…/{action}`.
async fn form_token(c: &fantoccini::Client, action: &str) -> String {
    let css = format!("form[action$='/{action}'] input[name='form']");
    c.find(Locator::Css(&css))
        .await
        .unwrap_or_else(|e| panic!("no form posting to {action}: {e}"))
        .attr("value")
        .await
        .unwrap()
        .unwrap_or_default()
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
    axe(&c, "My alerts, empty").await;

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
    // Serial 000 and a birth in the future, each with a check digit that matches, are flagged
    // too (then cleared: the server's refusals are checked below).
    for (field, number, says) in [
        ("guardian1_personnummer", "20110509-0003", "Löpnumret 000"),
        ("sibling1_personnummer", "20990101-1230", "i framtiden"),
    ] {
        type_into(&c, field, number).await;
        let live = format!("#{field}-live");
        wait_until(Duration::from_secs(10), says, || {
            let (c, live) = (c.clone(), live.clone());
            async move { text_at(&c, &live).await.contains(says) }
        })
        .await;
        retype(&c, field, "").await;
    }

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
    axe(&c, "New alert with errors").await;

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
    let about_it: Vec<&str> = log
        .iter()
        .filter(|l| l.entry.detail["message"] == alert.to_string())
        .map(|l| l.entry.action.as_str())
        .collect();
    assert_eq!(about_it, ["sending", "sent"]);
    assert!(log.iter().all(|l| l.entry.actor == "kurator"));
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
    let used = fields
        .split('&')
        .find(|kv| kv.starts_with("form="))
        .unwrap();
    let token = uuid::Uuid::now_v7().simple().to_string().repeat(2);
    let fresh = fields.replace(used, &format!("form={token}")) + "&step=send";
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

/// A desk with a counsellor of the school and an officer of socialtjänsten, the counsellor signed
/// in, and an alert the counsellor sent, kept at socialtjänsten.
struct Followed {
    desk: varsel_desk::Running,
    enrolments: Vec<Enrolment>,
    addr: String,
    school_base: String,
    /// Two host names, two cookie jars: the counsellor and the officer in one browser.
    agency_base: String,
    driver: Chromedriver,
    c: fantoccini::Client,
    /// The counsellor's session cookie, for posts made as the browser would.
    cookie: String,
    alert: uuid::Uuid,
    /// Socialtjänsten's delivery of the alert.
    delivery: uuid::Uuid,
}

async fn counsellor_sends_an_alert(h: &Harness) -> Followed {
    let (desk, enrolments) = desk_on(
        h,
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
    let school_base = format!("http://{addr}");
    let agency_base = format!("http://localhost:{}", desk.addr.port());
    let (driver, c) = browser(h.path()).await;
    sign_in_at(&c, &school_base, "kurator", &enrolments[0], h.clock.now()).await;
    let cookie = format!("varsel_desk={}", session_cookie(&c).await);

    // An alert sent with the New alert form (posted as the browser would).
    c.goto(&format!("{school_base}/alerts/new")).await.unwrap();
    let page = c.source().await.unwrap();
    let form = format!(
        "csrf={}&form={}&category=departure_imminent&urgency=immediate&status=actual&pupil_name=Hana+Karimi&personnummer=20110509-2843&school_name=Ektorpsskolan&skolenhetskod=58163210&concern=Familjen+reser+p%C3%A5+l%C3%B6rdag.&step=send",
        csrf_of(&page),
        hidden(&page, "form")
    );
    let (status, body) = post(&addr, "/alerts/new", &cookie, &form).await;
    assert_eq!(status, 303, "{body}");
    let school: ParticipantId = SCHOOL.parse().unwrap();
    let alert = desk.store.sent(&school).await.unwrap()[0].id;
    let delivery = kept_delivery(&desk.store, SOCIAL, alert).await;
    Followed {
        desk,
        enrolments,
        addr,
        school_base,
        agency_base,
        driver,
        c,
        cookie,
        alert,
        delivery,
    }
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
    let Followed {
        desk,
        enrolments,
        addr,
        school_base,
        agency_base,
        driver,
        c,
        cookie,
        alert,
        delivery,
    } = counsellor_sends_an_alert(&h).await;

    // Received (the desk receipts on arrival): My alerts says by when socialtjänsten must
    // acknowledge, the deadline the broker holds for that delivery.
    let ack_due = h
        .store()
        .deliveries_of(alert)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.recipient.as_str() == SOCIAL)
        .and_then(|d| d.ack_due)
        .expect("socialtjänsten's delivery has an acknowledgement deadline");
    let received =
        format!("#alert-{alert} tr[data-recipient='{SOCIAL}'][data-state='received'] td.due");
    let due = shown(
        &c,
        &format!("{school_base}/alerts"),
        &received,
        "My alerts to show the receipt",
    )
    .await;
    let by = ack_due
        .with_timezone(&chrono_tz::Europe::Stockholm)
        .format("%Y-%m-%d %H:%M")
        .to_string();
    assert_eq!(due, format!("kvittera senast {by}"));

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
    let update_form = form_token(&c, "update").await;
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
        form_token(&c, "update").await
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
        refused
            .contains("Varslet som meddelandet gäller är okänt, redan återkallat eller avslutat"),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counsellor_closes_a_case_with_its_outcome_and_its_timers_stop() {
    let h = Harness::start_with("desk-close", Clock::manual(office_morning()), None).await;
    let Followed {
        desk,
        enrolments,
        addr,
        school_base,
        agency_base,
        driver,
        c,
        cookie,
        alert,
        delivery,
    } = counsellor_sends_an_alert(&h).await;
    let store = h.store();
    let pending = || async {
        store
            .timers_of(alert)
            .await
            .unwrap()
            .iter()
            .filter(|t| t.state == varsel_broker::store::TimerState::Pending)
            .count()
    };
    assert!(pending().await > 0, "socialtjänsten's ladder runs");

    // Closing without an outcome is refused, with the reason, and nothing is sent.
    let url = format!("{school_base}/alerts/{alert}");
    c.goto(&url).await.unwrap();
    let page = c.source().await.unwrap();
    let bare = format!("csrf={}&form={}&note=klart", csrf_of(&page), "k".repeat(43));
    let (status, body) = post(&addr, &format!("/alerts/{alert}/close"), &cookie, &bare).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("Välj hur ärendet slutade"), "{body}");
    assert!(desk.store.follow_ups(alert).await.unwrap().is_empty());

    // Closed from the page: the pupil is back.
    h.clock.advance(chrono::Duration::minutes(1));
    choose(&c, "#outcome-returned").await;
    type_into(&c, "close-note", "Hana är tillbaka i skolan sedan i morse.").await;
    click(&c, Locator::Id("send-close")).await;
    assert_eq!(c.current_url().await.unwrap().as_str(), url);
    let kinds: Vec<String> = desk
        .store
        .follow_ups(alert)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.kind)
        .collect();
    assert_eq!(kinds, ["case_closed"]);
    assert!(text_of(&c, Locator::Id("closed"))
        .await
        .contains("AVSLUTAT"));
    for form in ["send-update", "send-cancel", "send-close"] {
        assert!(
            c.find(Locator::Id(form)).await.is_err(),
            "no {form} form on a closed case"
        );
    }
    wait_until(
        Duration::from_secs(30),
        "the broker to close the case",
        || async {
            store
                .alert(alert)
                .await
                .unwrap()
                .is_some_and(|a| a.state == varsel_broker::store::AlertState::Closed)
        },
    )
    .await;
    assert_eq!(pending().await, 0, "no timer of a closed case is left");
    // Opened, the closing shows its outcome in words.
    click(&c, Locator::Id("open")).await;
    let closing = text_of(&c, Locator::Css("section[data-kind='case_closed']")).await;
    assert!(
        closing.contains("Eleven är tillbaka") && closing.contains("sedan i morse"),
        "{closing}"
    );

    // The officer's page marks the case closed and lists the closing.
    sign_in_at(
        &c,
        &agency_base,
        "handlaggare",
        &enrolments[1],
        h.clock.now(),
    )
    .await;
    let closed = shown(
        &c,
        &format!("{agency_base}/alert/{delivery}"),
        "#closed",
        "the closing on the officer's page",
    )
    .await;
    assert!(closed.contains("ÄRENDET AVSLUTAT"), "{closed}");
    let list = text_of(&c, Locator::Id("follow-ups")).await;
    assert!(list.contains("Ärendet avslutat"), "{list}");

    c.close().await.unwrap();
    drop(driver);
    desk.stop().await;
    h.stop().await;
}

/// `t` as a `datetime-local` value, in Stockholm time.
fn local_at(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono_tz::Europe::Stockholm)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counsellor_keeps_the_case_journal_and_shares_what_the_agencies_need() {
    let h = Harness::start_with("desk-journal", Clock::manual(office_morning()), None).await;
    let Followed {
        desk,
        enrolments,
        addr,
        school_base,
        agency_base,
        driver,
        c,
        cookie,
        alert,
        delivery,
    } = counsellor_sends_an_alert(&h).await;
    let school: ParticipantId = SCHOOL.parse().unwrap();
    let url = format!("{school_base}/alerts/{alert}");
    let journal = || async { desk.store.journal(&school, alert).await.unwrap() };
    let updates = || async {
        let kinds: Vec<String> = desk
            .store
            .follow_ups(alert)
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.kind)
            .collect();
        kinds
    };

    // Nothing done yet: every item of the routine is open.
    c.goto(&url).await.unwrap();
    assert!(c.find(Locator::Id("journal-empty")).await.is_ok());
    for item in [
        "guardians_contacted",
        "home_visit",
        "siblings_schools_checked",
    ] {
        let row = format!("#checklist tr[data-item='{item}'][data-done='false']");
        assert!(text_at(&c, &row).await.contains("Inte gjort"), "{item}");
    }

    // The home visit, two hours ago, written and shared in one go. Its text holds markup, which
    // must reach every page as text.
    let visit =
        "Ingen öppnade. Grannen säger att familjen reste i går. <script>window.hacked=1</script>";
    let two_hours_ago = h.clock.now() - chrono::Duration::hours(2);
    c.find(Locator::Css("#journal-item option[value='home_visit']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    set_value(&c, "journal-done", &local_at(two_hours_ago)).await;
    type_into(&c, "journal-text", visit).await;
    choose(&c, "#journal-share").await;
    click(&c, Locator::Id("write-journal")).await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        format!("/alerts/{alert}"),
        "{}",
        text_at(&c, "#error").await
    );
    let row = text_at(
        &c,
        "#checklist tr[data-item='home_visit'][data-done='true']",
    )
    .await;
    assert!(
        row.contains("Karin Berg") && row.contains("delat med mottagarna"),
        "{row}"
    );
    assert!(
        row.contains(&local_at(two_hours_ago).replace('T', " ")),
        "{row}"
    );
    assert_eq!(updates().await, ["update"], "shared as one update");
    let kept = journal().await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].item, "home_visit");
    assert_eq!(
        kept[0].shared,
        Some(desk.store.follow_ups(alert).await.unwrap()[0].id)
    );
    // Sealed: the text shows only once the page is opened.
    assert!(!c.source().await.unwrap().contains("Grannen säger"));

    // Guardians called, kept in the journal only; shared later with its button.
    c.find(Locator::Css(
        "#journal-item option[value='guardians_contacted']",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    type_into(&c, "journal-text", "Mamman svarar inte i telefon.").await;
    click(&c, Locator::Id("write-journal")).await;
    assert_eq!(updates().await, ["update"], "not shared: nothing sent");
    let called = journal().await[1].clone();
    assert_eq!(
        (called.item.as_str(), called.shared),
        ("guardians_contacted", None)
    );
    let entry = format!("#journal li[data-entry='{}']", called.id);
    assert!(text_at(&c, &entry)
        .await
        .contains("Vårdnadshavarna kontaktade"));
    axe(&c, "the alert page with its journal").await;
    click(&c, Locator::Css(&format!("{entry} button.share"))).await;
    assert_eq!(updates().await, ["update", "update"]);
    assert!(journal().await[1].shared.is_some());
    assert!(c
        .find(Locator::Css(&format!("{entry} button.share")))
        .await
        .is_err());

    // Refused, each with its reason, and nothing kept or sent: an unknown item, a note without
    // text, an overlong text, a time in the future, a replayed form, a second share, an entry
    // or alert that is not there, a form without its CSRF token.
    let page = c.source().await.unwrap();
    let csrf = csrf_of(&page);
    let token = form_token(&c, "journal").await;
    let future = local_at(h.clock.now() + chrono::Duration::hours(3));
    let long = "å".repeat(10_001);
    let refusals = [
        (
            format!("csrf={csrf}&form={token}&item=sudo&text=x"),
            422,
            "Välj vad som gjordes",
        ),
        (
            format!("csrf={csrf}&form={token}&item=note&text=+"),
            422,
            "Skriv vad som är nytt",
        ),
        (
            format!("csrf={csrf}&form={token}&item=note&text={long}"),
            422,
            "Texten godtogs inte",
        ),
        (
            format!("csrf={csrf}&form={token}&item=home_visit&done_at={future}"),
            422,
            "ligger i framtiden",
        ),
        (format!("form={token}&item=note&text=x"), 403, ""),
    ];
    for (form, status, says) in &refusals {
        let (got, body) = post(&addr, &format!("/alerts/{alert}/journal"), &cookie, form).await;
        assert_eq!(got, *status, "{form:.80}: {body}");
        assert!(body.contains(says), "{form:.80}: {body}");
    }
    let first = format!("csrf={csrf}&form={token}&item=note&text=Rektor+informerad.");
    let (got, body) = post(&addr, &format!("/alerts/{alert}/journal"), &cookie, &first).await;
    assert_eq!(got, 303, "{body}");
    let (got, body) = post(&addr, &format!("/alerts/{alert}/journal"), &cookie, &first).await;
    assert_eq!(got, 409, "the same form again: {body}");
    assert!(body.contains("redan skickat"), "{body}");
    let share = format!("csrf={csrf}");
    let again = format!("/alerts/{alert}/journal/{}/share", called.id);
    let (got, body) = post(&addr, &again, &cookie, &share).await;
    assert_eq!(got, 409, "{body}");
    assert!(body.contains("redan delad"), "{body}");
    let unknown = format!("/alerts/{alert}/journal/{}/share", uuid::Uuid::now_v7());
    assert_eq!(post(&addr, &unknown, &cookie, &share).await.0, 404);
    let elsewhere = format!("/alerts/{}/journal", uuid::Uuid::now_v7());
    let (got, _) = post(
        &addr,
        &elsewhere,
        &cookie,
        &first.replace(&token, &"e".repeat(43)),
    )
    .await;
    assert_eq!(got, 404, "an alert that is not the school's");
    assert_eq!(
        journal().await.len(),
        3,
        "only the note posted once was kept"
    );
    assert_eq!(updates().await, ["update", "update"]);

    // Socialtjänsten decides a temporary travel ban; the school is told, and its page lists it.
    let social = h.client(SOCIAL);
    let raw = desk.store.delivery(delivery).await.unwrap().unwrap().raw;
    let Ok(Item::Delivery(received)) = social.open(&raw, h.clock.now()) else {
        panic!("socialtjänsten's delivery does not open");
    };
    let ban = note::Body {
        text: "Tillfälligt utreseförbud beslutat av nämndens ordförande (31 d § LVU).".into(),
        decided_at: Some(h.clock.now()),
        reference: Some("SN 2026/0417".into()),
        ..note::Body::default()
    };
    let (payload, compact) = social
        .seal_note(
            NoteKind::TravelBanDecided,
            alert,
            &received.header,
            &ban,
            h.clock.now(),
        )
        .unwrap();
    let (conn, publisher) = social.connect().await.unwrap();
    social
        .publish(&publisher, &payload, &compact)
        .await
        .unwrap();
    let _ = conn.close(200, "sent".into()).await;
    let told = shown(
        &c,
        &url,
        "#received li[data-kind='travel_ban_decided']",
        "the school's page to list the travel ban",
    )
    .await;
    assert!(told.contains("Utreseförbud beslutat"), "{told}");

    // Opened (and logged), the texts read as text: the markup is shown, not run; the travel ban
    // says who decided it and its reference.
    c.goto(&url).await.unwrap();
    click(&c, Locator::Id("open")).await;
    let ban = text_at(&c, "section[data-kind='travel_ban_decided']").await;
    assert!(
        ban.contains("Från: ") && ban.contains("SN 2026/0417") && ban.contains("31 d § LVU"),
        "{ban}"
    );
    let listed = text_at(&c, "#journal").await;
    assert!(
        listed.contains("Grannen säger") && listed.contains("<script>"),
        "{listed}"
    );
    let hacked = c
        .execute("return window.hacked === undefined;", vec![])
        .await
        .unwrap();
    assert_eq!(hacked, json!(true), "the entry's markup did not run");
    let log = desk.store.access_log().await.unwrap();
    let written = log
        .iter()
        .filter(|l| l.entry.action == "journal_written")
        .count();
    assert_eq!(written, 3);
    let opened = log
        .iter()
        .rev()
        .find(|l| l.entry.action == "opened")
        .unwrap();
    assert_eq!(opened.entry.detail["journal"].as_array().unwrap().len(), 3);
    assert_eq!(opened.entry.detail["received"].as_array().unwrap().len(), 1);
    // Not in the desk's store file in the clear.
    let db = h.path().join("desk.sqlite");
    for file in [db.clone(), db.with_extension("sqlite-wal")] {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let found = bytes.windows(13).any(|w| w == "Grannen säger".as_bytes());
        assert!(
            !found,
            "{} holds a journal text in the clear",
            file.display()
        );
    }

    // Socialtjänsten's officer opens the shared home visit as an update: the item in words, when
    // it was done, and the text, as text.
    wait_until(
        Duration::from_secs(30),
        "socialtjänsten to get both updates",
        || async {
            desk.store
                .delivered_follow_ups(SOCIAL, alert)
                .await
                .unwrap()
                .len()
                == 2
        },
    )
    .await;
    let (first_update, _, _) = desk
        .store
        .delivered_follow_ups(SOCIAL, alert)
        .await
        .unwrap()[0]
        .clone();
    sign_in_at(
        &c,
        &agency_base,
        "handlaggare",
        &enrolments[1],
        h.clock.now(),
    )
    .await;
    c.goto(&format!("{agency_base}/alert/{first_update}"))
        .await
        .unwrap();
    click(&c, Locator::Id("open")).await;
    let section = text_at(&c, "#section-school_actions").await;
    assert!(
        section.contains("Hembesök")
            && section.contains("Grannen säger")
            && section.contains("<script>"),
        "{section}: {}",
        text_at(&c, "main").await
    );
    let hacked = c
        .execute("return window.hacked === undefined;", vec![])
        .await
        .unwrap();
    assert_eq!(hacked, json!(true));

    // Closed, the journal takes no more entries and shares nothing (the counsellor is still
    // signed in on the school's host name).
    c.goto(&url).await.unwrap();
    choose(&c, "#outcome-returned").await;
    click(&c, Locator::Id("send-close")).await;
    assert!(c.find(Locator::Id("write-journal")).await.is_err());
    let page = c.source().await.unwrap();
    let late = format!(
        "csrf={}&form={}&item=note&text=sent",
        csrf_of(&page),
        "z".repeat(43)
    );
    let (got, body) = post(&addr, &format!("/alerts/{alert}/journal"), &cookie, &late).await;
    assert_eq!(got, 409, "{body}");
    assert!(body.contains("avslutat"), "{body}");
    assert_eq!(journal().await.len(), 3);

    // The officer opens the closing, a note: its outcome in words.
    wait_until(
        Duration::from_secs(30),
        "socialtjänsten to get the closing",
        || async {
            desk.store
                .delivered_follow_ups(SOCIAL, alert)
                .await
                .unwrap()
                .iter()
                .any(|(_, kind, _)| kind == "case_closed")
        },
    )
    .await;
    let (closing, _, _) = desk
        .store
        .delivered_follow_ups(SOCIAL, alert)
        .await
        .unwrap()
        .into_iter()
        .find(|(_, kind, _)| kind == "case_closed")
        .unwrap();
    c.goto(&format!("{agency_base}/alert/{closing}"))
        .await
        .unwrap();
    click(&c, Locator::Id("open")).await;
    let outcome = text_at(&c, "#section-note").await;
    assert!(outcome.contains("Eleven är tillbaka"), "{outcome}");

    screenshot(&c, "desk-journal-closed.png").await;
    c.close().await.unwrap();
    drop(driver);
    desk.stop().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_posts_a_decided_travel_ban_to_the_case_and_the_school_sees_it() {
    let h = Harness::start_with("desk-note", Clock::manual(office_morning()), None).await;
    let Followed {
        desk,
        enrolments,
        addr,
        school_base,
        agency_base,
        driver,
        c,
        alert,
        delivery,
        ..
    } = counsellor_sends_an_alert(&h).await;
    sign_in_at(
        &c,
        &agency_base,
        "handlaggare",
        &enrolments[1],
        h.clock.now(),
    )
    .await;
    let page_url = format!("{agency_base}/alert/{delivery}");
    c.goto(&page_url).await.unwrap();
    let officer = format!("varsel_desk={}", session_cookie(&c).await);
    // Socialtjänsten may post every kind of note but the school's closing.
    let mut offered = Vec::new();
    for option in c.find_all(Locator::Css("#note-kind option")).await.unwrap() {
        offered.push(option.attr("value").await.unwrap().unwrap_or_default());
    }
    assert!(
        offered.iter().any(|k| k == "travel_ban_decided"),
        "{offered:?}"
    );
    assert!(!offered.iter().any(|k| k == "case_closed"), "{offered:?}");
    axe(&c, "the officer's alert page with the note form").await;

    // Refused before sending: a decided ban without its reference (422), a kind the agency may not
    // post (403), a form without the CSRF token (403).
    let page = c.source().await.unwrap();
    let (csrf, token) = (csrf_of(&page), form_token(&c, "note").await);
    let decided = local_at(h.clock.now() - chrono::Duration::minutes(30));
    let path = format!("/alert/{delivery}/note");
    let refusals = [
        (
            format!(
                "csrf={csrf}&form={token}&kind=travel_ban_decided&text=Beslut&decided_at={decided}"
            ),
            422,
            "diarienummer",
        ),
        (
            format!("csrf={csrf}&form={token}&kind=case_closed&text=Klart"),
            403,
            "får inte",
        ),
        (format!("form={token}&kind=case_taken&text=x"), 403, ""),
    ];
    for (form, status, says) in &refusals {
        let (got, body) = post(&addr, &path, &officer, form).await;
        assert_eq!(got, *status, "{form}: {body}");
        assert!(body.contains(says), "{form}: {body}");
    }
    assert!(desk
        .store
        .sent_notes(SOCIAL, alert)
        .await
        .unwrap()
        .is_empty());

    // Posted from the page: the police must act on it, the school is told.
    c.find(Locator::Css(
        "#note-kind option[value='travel_ban_decided']",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    type_into(
        &c,
        "note-text",
        "Tillfälligt utreseförbud beslutat av nämndens ordförande (31 d § LVU).",
    )
    .await;
    set_value(&c, "note-decided", &decided).await;
    type_into(&c, "note-reference", "SN 2026/0417").await;
    click(&c, Locator::Id("post-note")).await;
    assert_eq!(
        c.current_url().await.unwrap().as_str(),
        page_url,
        "{}",
        text_at(&c, "#error").await
    );
    let posted = text_at(&c, "#posted li[data-kind='travel_ban_decided']").await;
    assert!(
        posted.contains("Utreseförbud beslutat") && posted.contains("Handläggare Ett"),
        "{posted}"
    );
    let (got, body) = post(
        &addr,
        &path,
        &officer,
        &format!("csrf={csrf}&form={token}&kind=case_taken&text=Vi+leder+%C3%A4rendet."),
    )
    .await;
    assert_eq!(got, 409, "the same form again: {body}");
    assert_eq!(desk.store.sent_notes(SOCIAL, alert).await.unwrap().len(), 1);
    let store = h.store();
    wait_until(
        Duration::from_secs(30),
        "the police's required delivery of the ban",
        || async {
            store.deliveries_of(alert).await.unwrap().iter().any(|d| {
                d.kind == varsel_protocol::message::Kind::Note
                    && d.recipient.as_str() == "polisen-region-ost"
                    && d.role == varsel_protocol::message::RecipientRole::Required
            })
        },
    )
    .await;

    // The school's page lists it and, opened, says who decided what.
    let url = format!("{school_base}/alerts/{alert}");
    let told = shown(
        &c,
        &url,
        "#received li[data-kind='travel_ban_decided']",
        "the school's page to list the travel ban",
    )
    .await;
    assert!(told.contains("Utreseförbud beslutat"), "{told}");
    click(&c, Locator::Id("open")).await;
    let ban = text_at(&c, "section[data-kind='travel_ban_decided']").await;
    assert!(
        ban.contains("SN 2026/0417") && ban.contains("Från: "),
        "{ban}"
    );

    c.close().await.unwrap();
    drop(driver);
    desk.stop().await;
    h.stop().await;
}
