//! `varsel demo --desk`, walked through as the README's "Try it" says, over HTTP as a browser
//! would (the desks' pages need no JavaScript; they are tested in Chromium in crates/desk/tests):
//! the demo runs as a child process; from what it prints (the desks' addresses, the accounts'
//! user names, passwords and TOTP secrets) the counsellor signs in to the school's desk and
//! sends an alert from *New alert*; the social worker signs in to the agencies' desk, finds it in
//! the inbox, opens it and acknowledges it; the school's *My alerts* then shows it acknowledged by
//! the social worker. The police officer's account sees the police's delivery of it; socialjouren's
//! officer on duty signs in to the same desk and, when the alert was sent after office hours (so
//! socialjouren is a recipient too), acknowledges socialjouren's delivery. Ctrl-C stops
//! the demo cleanly. And in one Chromium (with the desk's browser helpers), a person stays
//! signed in to both desks at once.
//!
//! It runs on a virtual host of its own on the plain local RabbitMQ, bounded, and prints the
//! demo's output when it fails.

mod common;
#[path = "../../desk/tests/common/mod.rs"]
mod desk_browser;

use std::collections::BTreeMap;
use std::time::Duration;

use fantoccini::Locator;

use varsel_desk::totp::Secret;
use varsel_testkit::http::{get, post_form, Response};

use common::Demo;
use desk_browser::{browser, click, type_into};

/// An account as the demo prints it, with the address of its desk.
#[derive(Debug)]
struct Account {
    desk: String,
    password: String,
    secret: Secret,
}

/// The accounts in the demo's output, by user name.
fn accounts(out: &str) -> BTreeMap<String, Account> {
    let mut found = BTreeMap::new();
    let (mut desk, mut last) = (String::new(), String::new());
    for line in out.lines().map(str::trim) {
        if let Some((_, url)) = line.split_once(": http://") {
            if let Some(addr) = url.strip_suffix('/') {
                desk = addr.to_owned();
            }
        } else if let Some(rest) = line.strip_prefix("user name: ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            assert_eq!(words.get(1), Some(&"password:"), "{line}");
            last = words[0].to_owned();
            found.insert(
                last.clone(),
                Account {
                    desk: desk.clone(),
                    password: words[2].to_owned(),
                    secret: Secret::from_bytes(Vec::new()),
                },
            );
        } else if let Some(secret) = line.strip_prefix("TOTP secret: ") {
            let a = found.get_mut(&last).expect("a secret after its account");
            a.secret = Secret::from_base32(secret).expect("a base32 secret");
        }
    }
    found
}

/// Percent-encodes a form value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The value of the first hidden field `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&key)
        .unwrap_or_else(|| panic!("no field {name} in {html}"))
        + key.len();
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

/// The `name=value` of the session cookie an answer sets.
fn cookie_of(r: &Response) -> String {
    let set = r
        .header("set-cookie")
        .unwrap_or_else(|| panic!("no cookie set: {r:?}"));
    set.split(';').next().unwrap().to_owned()
}

fn redirect(r: &Response, to: &str) {
    assert_eq!((r.status, r.header("location")), (303, Some(to)), "{r:?}");
}

/// Signs in as `user` (password, then the current code); the session cookie.
async fn sign_in(user: &str, a: &Account) -> String {
    let page = get(&a.desk, "/login", &[]).await;
    assert_eq!(page.status, 200, "{page:?}");
    let cookie = cookie_of(&page);
    let form = format!(
        "csrf={}&username={}&password={}",
        enc(&hidden(&page.body, "csrf")),
        enc(user),
        enc(&a.password)
    );
    let r = post_form(&a.desk, "/login", &[("Cookie", &cookie)], &form).await;
    redirect(&r, "/login/code");
    let cookie = cookie_of(&r);
    let page = get(&a.desk, "/login/code", &[("Cookie", &cookie)]).await;
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    let form = format!(
        "csrf={}&code={}",
        enc(&hidden(&page.body, "csrf")),
        a.secret.code_at(now)
    );
    let r = post_form(&a.desk, "/login/code", &[("Cookie", &cookie)], &form).await;
    redirect(&r, "/");
    cookie_of(&r)
}

/// Waits (up to 60 s) for a delivery in the inbox of the officer signed in with `cookie`.
async fn first_delivery(desk: &str, cookie: &str) -> String {
    varsel_testkit::wait::value(
        Duration::from_secs(60),
        "a delivery in the officer's inbox",
        || async move {
            let page = get(desk, "/inbox", &[("Cookie", cookie)]).await;
            assert_eq!(page.status, 200, "{page:?}");
            let at = page.body.find("data-delivery=\"")? + "data-delivery=\"".len();
            Some(page.body[at..at + 36].to_owned())
        },
    )
    .await
}

/// Acknowledges the alert at `path` ("case opened") with the page's `csrf` field; back to its page.
async fn acknowledge(desk: &str, cookie: &str, path: &str, csrf: &str) {
    let acked = post_form(
        desk,
        &format!("{path}/ack"),
        &[("Cookie", cookie)],
        &format!("{csrf}&outcome=case_opened"),
    )
    .await;
    redirect(&acked, path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walk_through_with_the_demo_desks() {
    let mut demo = Demo::staying("demodesk", &["--desk"], "codes now: kurator ").await;
    // Whatever fails from here on shows what the demo printed (KillOnDrop prints its log).
    let printed = demo.output();
    let accounts = accounts(&printed);
    assert_eq!(
        accounts.keys().collect::<Vec<_>>(),
        ["jour", "kurator", "polis", "socialsekreterare"],
        "{printed}"
    );
    assert!(printed.contains("otpauth://totp/"), "{printed}");
    assert!(printed.contains("Ctrl-C stops it."), "{printed}");
    for desk in ["desk-ektorpsskolan", "desk-myndigheter"] {
        assert!(demo.dir().join(desk).join("desk.sqlite").exists(), "{desk}");
    }

    // The counsellor sends an alert from New alert.
    let school = &accounts["kurator"];
    let cookie = sign_in("kurator", school).await;
    let home = get(&school.desk, "/", &[("Cookie", &cookie)]).await;
    redirect(&home, "/alerts");
    let page = get(&school.desk, "/alerts/new", &[("Cookie", &cookie)]).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.body.contains("value=\"Ektorpsskolan\""),
        "the school's name is filled in"
    );
    let concern = "Hon berättade att familjen reser på lördag.";
    let fields = [
        ("csrf", hidden(&page.body, "csrf")),
        ("form", hidden(&page.body, "form")),
        ("category", "departure_imminent".into()),
        ("urgency", "immediate".into()),
        ("status", "actual".into()),
        ("pupil_name", "Hana Karimi".into()),
        ("personnummer", "20110509-2843".into()),
        ("school_name", "Ektorpsskolan".into()),
        ("skolenhetskod", "58163210".into()),
        ("concern", concern.into()),
        ("country", "IQ".into()),
        ("contact_name", "Karin Berg".into()),
        ("contact_role", "kurator".into()),
        ("contact_phone", "011-15 00 00".into()),
        // Straight to sending, as a script without the preview would: the form still sends once.
        ("step", "send".into()),
    ];
    let form: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    let sent = post_form(
        &school.desk,
        "/alerts/new",
        &[("Cookie", &cookie)],
        &form.join("&"),
    )
    .await;
    redirect(&sent, "/alerts");
    let mine = get(&school.desk, "/alerts", &[("Cookie", &cookie)]).await;
    let at = mine
        .body
        .find("id=\"alert-")
        .expect("the alert in My alerts")
        + 10;
    let alert = mine.body[at..at + 36].to_owned();

    // The social worker finds it in the inbox, opens it and acknowledges it.
    let social = &accounts["socialsekreterare"];
    let officer = sign_in("socialsekreterare", social).await;
    let home = get(&social.desk, "/", &[("Cookie", &officer)]).await;
    redirect(&home, "/inbox");
    let delivery = first_delivery(&social.desk, &officer).await;
    let path = format!("/alert/{delivery}");
    let page = get(&social.desk, &path, &[("Cookie", &officer)]).await;
    assert_eq!(page.status, 200, "{page:?}");
    let csrf = format!("csrf={}", enc(&hidden(&page.body, "csrf")));
    let opened = post_form(
        &social.desk,
        &format!("{path}/open"),
        &[("Cookie", &officer)],
        &csrf,
    )
    .await;
    assert_eq!(opened.status, 200, "{opened:?}");
    assert!(
        opened.body.contains("Hana Karimi") && opened.body.contains(concern),
        "the opened alert is the counsellor's: {}",
        opened.body
    );
    acknowledge(&social.desk, &officer, &path, &csrf).await;

    // The police officer's account sees the police's delivery of it too.
    let police = &accounts["polis"];
    let constable = sign_in("polis", police).await;
    first_delivery(&police.desk, &constable).await;

    // socialjouren's officer on duty works at the agencies' desk too.
    let duty = &accounts["jour"];
    assert_eq!(duty.desk, social.desk, "socialjouren at the agencies' desk");
    let on_duty = sign_in("jour", duty).await;
    let home = get(&duty.desk, "/", &[("Cookie", &on_duty)]).await;
    redirect(&home, "/inbox");

    // My alerts shows it acknowledged by the social worker, from the broker's feedback.
    let row = "data-recipient=\"norrkoping-socialtjansten\" data-state=\"acknowledged\"";
    let section = varsel_testkit::wait::value(
        Duration::from_secs(60),
        "My alerts to show the acknowledgement",
        || {
            let (desk, cookie, alert) = (&school.desk, &cookie, &alert);
            async move {
                let page = get(desk, "/alerts", &[("Cookie", cookie)]).await;
                let start = page.body.find(&format!("id=\"alert-{alert}\""))?;
                let section = &page.body[start..];
                let section = &section[..section.find("</section>").unwrap_or(section.len())];
                section.contains(row).then(|| section.to_owned())
            }
        },
    )
    .await;
    assert!(
        section.contains("av Ali Hassan") && section.contains("Ärende öppnat"),
        "{section}"
    );

    // After office hours the alert went to socialjouren as well (its receipt is in My alerts by
    // now, sent on arrival): the officer on duty takes it from the desk.
    if section.contains("data-recipient=\"norrkoping-socialjouren\"") {
        let delivery = first_delivery(&duty.desk, &on_duty).await;
        let path = format!("/alert/{delivery}");
        let page = get(&duty.desk, &path, &[("Cookie", &on_duty)]).await;
        let csrf = format!("csrf={}", enc(&hidden(&page.body, "csrf")));
        acknowledge(&duty.desk, &on_duty, &path, &csrf).await;
        let row = "data-recipient=\"norrkoping-socialjouren\" data-state=\"acknowledged\"";
        varsel_testkit::wait::value(
            Duration::from_secs(60),
            "My alerts to show socialjouren's acknowledgement",
            || {
                let (desk, cookie) = (&school.desk, &cookie);
                async move {
                    let page = get(desk, "/alerts", &[("Cookie", cookie)]).await;
                    page.body.contains(row).then_some(())
                }
            },
        )
        .await;
    } else {
        eprintln!("sent in office hours: socialjouren was not a recipient this time");
    }

    // Ctrl-C stops the broker and both desks cleanly.
    demo.interrupt();
}

/// Signs in as `user` in the browser, as a person would: the password, then the current code.
async fn sign_in_in(c: &fantoccini::Client, user: &str, a: &Account) {
    c.goto(&format!("http://{}/login", a.desk)).await.unwrap();
    type_into(c, "username", user).await;
    type_into(c, "password", &a.password).await;
    click(c, Locator::Id("sign-in")).await;
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    type_into(c, "code", &a.secret.code_at(now)).await;
    click(c, Locator::Id("verify")).await;
}

/// The path of the page the browser shows after going to `path` on `desk`.
async fn lands_on(c: &fantoccini::Client, desk: &str, path: &str) -> String {
    c.goto(&format!("http://{desk}{path}")).await.unwrap();
    c.current_url().await.unwrap().path().to_owned()
}

/// In one Chromium, as the README has it: signed in to the school's desk and to the agencies'
/// desk at once (their printed host names differ, and a browser keeps cookies per host, not per
/// port), each still signed in after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_browser_stays_signed_in_to_both_desks() {
    let mut demo = Demo::staying("demodeskweb", &["--desk"], "codes now: kurator ").await;
    let accounts = accounts(&demo.output());
    let (school, social) = (&accounts["kurator"], &accounts["socialsekreterare"]);
    let (driver, c) = browser(demo.dir()).await;
    sign_in_in(&c, "kurator", school).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/alerts");
    sign_in_in(&c, "socialsekreterare", social).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/inbox");
    assert_eq!(lands_on(&c, &school.desk, "/alerts").await, "/alerts");
    assert_eq!(lands_on(&c, &social.desk, "/inbox").await, "/inbox");
    assert_eq!(
        lands_on(&c, &school.desk, "/alerts/new").await,
        "/alerts/new"
    );
    c.close().await.unwrap();
    drop(driver);
    demo.interrupt();
}
