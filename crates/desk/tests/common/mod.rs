//! What the desk's browser tests share: a desk in the harness's world with accounts, Chromium
//! under chromedriver, and the small steps of driving a page (typing, clicking and waiting for the
//! next page, signing in, posting a form by hand).
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use varsel_desk::accounts::{self, Add, Enrolment};
use varsel_desk::role::Role;
use varsel_desk::{Config, Store};
use varsel_protocol::message::ParticipantId;
use varsel_testkit::browser::{chromium, Chromedriver};
use varsel_testkit::harness::{wait_until, Harness};
use varsel_transport::clock::Clock;
use varsel_transport::shutdown::Signals;

pub const PASSWORD: &str = "rätt häst batteri häftklammer";

/// An account to make: user name, display name, participant, role.
pub type NewAccount<'a> = (&'a str, &'a str, &'a str, Role);

/// A desk in the harness's world serving `participants`, with `accounts` (password
/// [`PASSWORD`]); their enrolments in the same order.
pub async fn desk_with(
    h: &Harness,
    participants: &[&str],
    accounts: &[NewAccount<'_>],
) -> (varsel_desk::Running, Vec<Enrolment>) {
    desk_on(h, participants, accounts, Clock::system()).await
}

/// [`desk_with`] on `clock` (the harness's manual clock, for tests that move time).
pub async fn desk_on(
    h: &Harness,
    participants: &[&str],
    accounts: &[NewAccount<'_>],
    clock: Clock,
) -> (varsel_desk::Running, Vec<Enrolment>) {
    desk_at(h, participants, accounts, clock, "desk.sqlite").await
}

/// [`desk_on`] with the store `desk.toml` names as `store` (a path, or a postgres:// URL).
pub async fn desk_at(
    h: &Harness,
    participants: &[&str],
    accounts: &[NewAccount<'_>],
    clock: Clock,
    store: &str,
) -> (varsel_desk::Running, Vec<Enrolment>) {
    let dir = h.path();
    let mut files = Vec::new();
    for p in participants {
        varsel_testkit::world::client_config(dir, p, &h.vhost.url()).unwrap();
        files.push(format!("\"{p}.client.toml\""));
    }
    std::fs::write(
        dir.join("desk.toml"),
        format!("listen = \"127.0.0.1:0\"\nstore = \"{store}\"\nname = \"Norrköpings kommun\"\nparticipants = [{}]\n", files.join(", ")),
    )
    .unwrap();
    let config = Config::load(&dir.join("desk.toml")).unwrap();
    let store = Store::open_making_key(&config).await.unwrap();
    let mut enrolments = Vec::new();
    for (username, display_name, participant, role) in accounts {
        let participant: ParticipantId = participant.parse().unwrap();
        let new = Add {
            username,
            display_name,
            participant: &participant,
            role: *role,
            password: PASSWORD,
        };
        enrolments.push(
            accounts::add(&config, &store, &new, chrono::Utc::now().timestamp_millis())
                .await
                .unwrap(),
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let desk = varsel_desk::start(config, listener, Signals::new(), clock)
        .await
        .unwrap();
    (desk, enrolments)
}

/// Chromium under chromedriver, headless.
pub async fn browser(dir: &Path) -> (Chromedriver, fantoccini::Client) {
    let driver = Chromedriver::start(&dir.join("chromedriver.log")).await;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium(),
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--window-size=1280,900"],
        }),
    );
    let c = ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session with Chromium");

    (driver, c)
}

/// POSTs a form with a cookie over plain HTTP/1.1; the status and body.
pub async fn post(addr: &str, path: &str, cookie: &str, form: &str) -> (u16, String) {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {cookie}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).await.unwrap();
        raw
    };
    let raw = tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .unwrap_or_else(|_| panic!("POST {path}: no answer within 30 s"));
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("POST {path}: not an HTTP answer: {raw}"));
    (status, raw)
}

/// Types `text` into the field with id `id`.
pub async fn type_into(c: &fantoccini::Client, id: &str, text: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no field #{id}: {e}"))
        .send_keys(text)
        .await
        .unwrap();
}

/// Clicks the element `what` finds (a button or link) and waits until the page it loads has
/// replaced the current one (the old document's root element is gone).
pub async fn click(c: &fantoccini::Client, what: Locator<'_>) {
    let old = c.find(Locator::Css("html")).await.unwrap();
    c.find(what)
        .await
        .unwrap_or_else(|e| panic!("nothing to click: {e}"))
        .click()
        .await
        .unwrap();
    wait_until(Duration::from_secs(10), "the next page to load", || {
        let old = old.clone();
        async move { old.tag_name().await.is_err() }
    })
    .await;
}

/// The session cookie the browser holds now.
pub async fn session_cookie(c: &fantoccini::Client) -> String {
    c.get_named_cookie("varsel_desk")
        .await
        .expect("a session cookie")
        .value()
        .to_owned()
}

/// The value of the first hidden field `name` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let at = html.find(&key).unwrap_or_else(|| panic!("no field {name}")) + key.len();
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

/// The value of the first hidden `csrf` field in a page.
pub fn csrf_of(html: &str) -> String {
    hidden(html, "csrf")
}

/// Waits (up to 60 s) until the desk keeps `participant`'s delivery of `alert`; its id.
pub async fn kept_delivery(store: &Store, participant: &str, alert: uuid::Uuid) -> uuid::Uuid {
    let participant: ParticipantId = participant.parse().unwrap();
    varsel_testkit::wait::value(
        Duration::from_secs(60),
        "the desk to keep the delivery",
        || {
            let (store, participant) = (store.clone(), participant.clone());
            async move {
                store
                    .inbox(&participant)
                    .await
                    .unwrap()
                    .iter()
                    .find(|d| d.alert == alert)
                    .map(|d| d.delivery)
            }
        },
    )
    .await
}

/// A property (`value`, `checked`) of the element with id `id`.
pub async fn prop(c: &fantoccini::Client, id: &str, name: &str) -> Option<String> {
    c.find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no element #{id}: {e}"))
        .prop(name)
        .await
        .unwrap()
}

/// The text of the element `what` finds.
pub async fn text_of(c: &fantoccini::Client, what: Locator<'_>) -> String {
    c.find(what)
        .await
        .unwrap_or_else(|e| panic!("nothing found: {e}"))
        .text()
        .await
        .unwrap()
}

/// Writes a screenshot of the page to target/test-output/`name`.
pub async fn screenshot(c: &fantoccini::Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(varsel_testkit::browser::output_dir().join(name), png).unwrap();
}

/// Signs in as `username`: password, then the current code.
pub async fn sign_in(c: &fantoccini::Client, base: &str, username: &str, enrolment: &Enrolment) {
    c.goto(&format!("{base}/login")).await.unwrap();
    type_into(c, "username", username).await;
    type_into(c, "password", PASSWORD).await;
    click(c, Locator::Id("sign-in")).await;
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    type_into(c, "code", &enrolment.secret.code_at(now)).await;
    click(c, Locator::Id("verify")).await;
}
