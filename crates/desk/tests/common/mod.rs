//! What the desk's browser tests share: a desk in the harness's world with accounts, Chromium
//! under chromedriver, and the small steps of driving a page (typing, clicking and waiting for the
//! next page, signing in, posting a form by hand, pressing keys); axe-core's WCAG checks on the
//! page shown; and the live inbox's event stream read over plain HTTP.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

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
    sign_in_at(c, base, username, enrolment, chrono::Utc::now()).await;
}

/// Signs in as `username` to a desk whose clock reads `now` (a test's manual clock).
pub async fn sign_in_at(
    c: &fantoccini::Client,
    base: &str,
    username: &str,
    enrolment: &Enrolment,
    now: chrono::DateTime<chrono::Utc>,
) {
    c.goto(&format!("{base}/login")).await.unwrap();
    type_into(c, "username", username).await;
    type_into(c, "password", PASSWORD).await;
    click(c, Locator::Id("sign-in")).await;
    let now = u64::try_from(now.timestamp()).unwrap();
    type_into(c, "code", &enrolment.secret.code_at(now)).await;
    click(c, Locator::Id("verify")).await;
}

/// Presses and releases `key` where the keyboard focus is, as a person at the keyboard would.
pub async fn press(c: &fantoccini::Client, key: Key) {
    let value = char::from(key);
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value })
        .then(KeyAction::Up { value });
    c.perform_actions(keys).await.unwrap();
}

/// Presses Tab until the focus is on the element `css` matches, at most 30 times; panics naming
/// where the focus went if it never gets there (the control is not reachable by keyboard).
pub async fn tab_to(c: &fantoccini::Client, css: &str) {
    let mut path = Vec::new();
    for _ in 0..30 {
        press(c, Key::Tab).await;
        let (here, at) = focused(c, css).await;
        if here {
            return;
        }
        path.push(at);
    }
    panic!(
        "Tab never reached {css}; the focus went: {}",
        path.join(" → ")
    );
}

/// Whether the focused element matches `css`, and a short description of it.
async fn focused(c: &fantoccini::Client, css: &str) -> (bool, String) {
    let v = c
        .execute(
            "const e = document.activeElement; \
             return [e.matches(arguments[0]), e.tagName + (e.id ? '#' + e.id : '') + \
                     (e.getAttribute('href') ? '[' + e.getAttribute('href') + ']' : '')];",
            vec![json!(css)],
        )
        .await
        .unwrap();
    (
        v[0].as_bool().unwrap_or(false),
        v[1].as_str().unwrap_or_default().to_owned(),
    )
}

/// The WCAG 2.1 A and AA rules of axe-core (the tags Swedish public services are held to).
const WCAG: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/// Runs axe-core's WCAG 2.1 A and AA rules on the page the browser shows; panics listing every
/// violation (rule, impact, the elements and what is wrong with them). `what` names the page.
pub async fn axe(c: &fantoccini::Client, what: &str) {
    let path = varsel_testkit::browser::axe_core();
    let source = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    // WebDriver runs scripts outside the page's Content-Security-Policy, as a browser extension would.
    c.execute(&source, vec![]).await.expect("axe-core loads");
    let r = c
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             axe.run(document, { runOnly: { type: 'tag', values: arguments[0] } }) \
               .then(r => done({ passes: r.passes.length, violations: r.violations.map(v => ({ \
                  id: v.id, impact: v.impact, help: v.help, \
                  nodes: v.nodes.map(n => ({ target: n.target.join(' '), summary: n.failureSummary })) })) })) \
               .catch(e => done({ error: String(e) }));",
            vec![json!(WCAG)],
        )
        .await
        .expect("axe-core runs");
    assert!(r["error"].is_null(), "axe-core failed on {what}: {r}");
    let violations = r["violations"].as_array().expect("axe-core's violations");
    let mut report = String::new();
    for v in violations {
        report.push_str(&format!("\n- {} ({}): {}", v["id"], v["impact"], v["help"]));
        for n in v["nodes"].as_array().into_iter().flatten() {
            report.push_str(&format!("\n    {}: {}", n["target"], n["summary"]));
        }
    }
    assert!(
        violations.is_empty(),
        "axe-core found WCAG 2.1 AA violations on {what}:{report}"
    );
    // A run that checked nothing would pass too: it must have passed rules.
    assert!(
        r["passes"].as_u64().unwrap_or(0) > 5,
        "axe-core checked nothing on {what}: {r}"
    );
}

/// The live inbox's event stream, read over HTTP/1.0 so its body comes as sent (not chunked).
pub struct Events {
    pub status: u16,
    pub head: String,
    reader: BufReader<tokio::net::TcpStream>,
}

/// What the stream did next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// An event: its name and its data.
    Event(String, String),
    /// The desk ended the stream.
    Closed,
    /// Nothing (but keep-alive comments) in the time given.
    Quiet,
}

impl Events {
    /// Opens `GET /inbox/events` with `cookie` and reads the status and headers (within 10 s).
    pub async fn open(addr: &str, cookie: &str) -> Events {
        Events::open_at(addr, "/inbox/events", cookie).await
    }

    /// Opens the stream at `path` (`/inbox/events?…`) as [`Events::open`] does.
    pub async fn open_at(addr: &str, path: &str, cookie: &str) -> Events {
        let opened = async {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let req = format!(
                "GET {path} HTTP/1.0\r\nHost: {addr}\r\nCookie: {cookie}\r\n\
                 Accept: text/event-stream\r\n\r\n"
            );
            s.write_all(req.as_bytes()).await.unwrap();
            let mut reader = BufReader::new(s);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).await.unwrap() == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let status = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("not an HTTP answer: {head:?}"));
            Events {
                status,
                head,
                reader,
            }
        };
        tokio::time::timeout(Duration::from_secs(10), opened)
            .await
            .expect("the event stream's headers within 10 s")
    }

    /// The next event, the end of the stream, or quiet after `within`.
    pub async fn next(&mut self, within: Duration) -> Next {
        let read = async {
            let (mut name, mut data) = (String::from("message"), Vec::new());
            loop {
                let mut line = String::new();
                if self.reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return Next::Closed;
                }
                let line = line.trim_end_matches(['\r', '\n']);
                if line.is_empty() {
                    if !data.is_empty() {
                        return Next::Event(name, data.join("\n"));
                    }
                } else if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim_start().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
                }
            }
        };
        tokio::time::timeout(within, read)
            .await
            .unwrap_or(Next::Quiet)
    }

    /// The stream's last event, which must say it ended for `reason` (within 10 s), and then its
    /// close; the event's data.
    pub async fn ends(&mut self, reason: &str) -> serde_json::Value {
        let awaited = format!("the stream's end ({reason})");
        let (name, end) = self.expect(Duration::from_secs(10), &awaited).await;
        assert_eq!(
            (name.as_str(), end["reason"].as_str()),
            ("end", Some(reason)),
            "{end}"
        );
        assert_eq!(
            self.next(Duration::from_secs(10)).await,
            Next::Closed,
            "{awaited}"
        );
        end
    }

    /// The next event, which must come within `within`; panics saying what was `awaited`.
    pub async fn expect(&mut self, within: Duration, awaited: &str) -> (String, serde_json::Value) {
        match self.next(within).await {
            Next::Event(name, data) => {
                let v = serde_json::from_str(&data).unwrap_or(serde_json::Value::String(data));
                (name, v)
            }
            other => panic!("waiting {within:?} for {awaited}: {other:?}"),
        }
    }
}
