//! Email notices sent with lettre to a real SMTP server on loopback: what arrives, what never
//! arrives (personal data), and how failures are classified for the outbox's retries.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use uuid::Uuid;
use varsel_broker::mailer::{self, Mailer, Notice, NoticeReason, TlsMode};
use varsel_protocol::message::{Category, Header, Status, Urgency};
use varsel_testkit::smtp::{decode_encoded_words, SmtpSink};

// The cleartext the school typed into its alert. It is sealed in the alert's sections; the
// mailer only ever sees the routing header, so these must never show up in an email.
const PUPIL: &str = "Amina Testsson";
const PNR: &str = "20120312-1234";
const PNR_COMPACT: &str = "201203121234";

const WAIT: Duration = Duration::from_secs(10);
const TO: &str = "socialtjansten@norrkoping.example";

struct AlertFixture {
    id: Uuid,
    header: Header,
    school_name: &'static str,
    body: serde_json::Value,
}

fn alert(status: Status) -> AlertFixture {
    AlertFixture {
        id: Uuid::now_v7(),
        header: Header {
            municipality: "0581".parse().unwrap(),
            category: Category::DepartureImminent,
            urgency: Urgency::Immediate,
            status,
            planned_departure: Some(Utc.with_ymd_and_hms(2025, 6, 14, 6, 0, 0).unwrap()),
            correlation: Vec::new(),
        },
        school_name: "Ektorpsskolan",
        body: serde_json::json!({
            "pupil": { "name": PUPIL, "personnummer": PNR },
            "travel": { "destination": "okänd", "carrier": "flyg" },
        }),
    }
}

fn notice_for(alert: &AlertFixture, reason: NoticeReason) -> Notice {
    Notice {
        alert: alert.id,
        category: alert.header.category,
        urgency: alert.header.urgency,
        status: alert.header.status,
        school_name: alert.school_name.to_owned(),
        // 15:30 UTC is 17:30 in Stockholm in June.
        deadline: Some(Utc.with_ymd_and_hms(2025, 6, 13, 15, 30, 0).unwrap()),
        reason,
    }
}

fn mailer_for(sink: &SmtpSink) -> Mailer {
    Mailer::new(&mailer::Config {
        host: "127.0.0.1".to_owned(),
        port: sink.port(),
        tls: TlsMode::Plain,
        from: "varsel <varsel@norrkoping.example>".to_owned(),
        username: None,
        password: None,
        ca_file: None,
        timeout: Duration::from_secs(10),
    })
    .expect("mailer for the loopback sink")
}

#[tokio::test]
async fn a_notice_arrives_with_ids_and_swedish_words_but_no_personal_data() {
    let sink = SmtpSink::start().await;
    let mailer = mailer_for(&sink);
    let alert = alert(Status::Actual);
    // The fixture really does hold the personal data the email must not carry.
    assert!(alert.body.to_string().contains(PUPIL));

    mailer
        .send(TO, &notice_for(&alert, NoticeReason::NewAlert))
        .await
        .expect("send to the sink");

    let received = sink.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(mail.from, "varsel@norrkoping.example");
    assert_eq!(mail.to, vec![TO.to_owned()]);
    assert_eq!(
        mail.subject(),
        "[varsel] Brådskande varsel från Ektorpsskolan – avresa nära förestående"
    );
    let body = mail.body();
    for needle in [
        alert.id.to_string().as_str(),
        "avresa nära förestående",
        "omedelbar",
        "Ektorpsskolan",
        "fredag 13 juni 2025 kl. 17:30",
        "varsel inbox",
    ] {
        assert!(body.contains(needle), "{needle:?} missing in:\n{body}");
    }
    assert!(!body.contains("ÖVNING") && !mail.subject().contains("ÖVNING"));

    let decoded = mail.decoded();
    for secret in [PUPIL, "Amina", "Testsson", PNR, PNR_COMPACT, "okänd"] {
        assert!(!mail.data.contains(secret), "{secret:?} in raw message");
        assert!(!decoded.contains(secret), "{secret:?} in decoded message");
    }
}

#[tokio::test]
async fn an_exercise_notice_is_marked_ovning_in_subject_and_body() {
    let sink = SmtpSink::start().await;
    let mailer = mailer_for(&sink);
    let alert = alert(Status::Exercise);

    mailer
        .send(TO, &notice_for(&alert, NoticeReason::Escalated))
        .await
        .expect("send to the sink");

    let received = sink.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    let subject = received[0].subject();
    assert!(subject.starts_with("[varsel] ÖVNING: "), "{subject}");
    assert!(subject.contains("Eskalerat"), "{subject}");
    let body = received[0].body();
    assert!(body.starts_with("ÖVNING"), "{body}");
}

#[tokio::test]
async fn a_451_is_transient_and_the_retry_goes_through() {
    let sink = SmtpSink::start().await;
    let mailer = mailer_for(&sink);
    let alert = alert(Status::Actual);
    let notice = notice_for(&alert, NoticeReason::Overdue);

    sink.set_failing(true);
    let err = mailer.send(TO, &notice).await.expect_err("sink refuses");
    assert!(err.is_transient(), "{err}");
    assert!(
        matches!(err, mailer::Error::Deferred { code: 451, .. }),
        "{err:?}"
    );
    assert!(sink.messages().is_empty());

    sink.set_failing(false);
    mailer.send(TO, &notice).await.expect("retry succeeds");
    assert_eq!(sink.wait_for(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn a_relay_that_is_down_is_transient() {
    let sink = SmtpSink::start().await;
    let mailer = mailer_for(&sink);
    sink.stop().await;

    let err = mailer
        .send(
            TO,
            &notice_for(&alert(Status::Actual), NoticeReason::NewAlert),
        )
        .await
        .expect_err("nobody listens");
    assert!(err.is_transient(), "{err}");
    assert!(matches!(err, mailer::Error::Unreachable { .. }), "{err:?}");
}

#[tokio::test]
async fn an_unknown_mailbox_is_permanent() {
    let sink = SmtpSink::start().await;
    let mailer = mailer_for(&sink);

    let err = mailer
        .send(
            "nobody@norrkoping.example",
            &notice_for(&alert(Status::Actual), NoticeReason::NewAlert),
        )
        .await
        .expect_err("mailbox refused");
    assert!(!err.is_transient(), "{err}");
    assert!(
        matches!(err, mailer::Error::Rejected { code: 550, .. }),
        "{err:?}"
    );

    let err = mailer
        .send(
            "inte en adress",
            &notice_for(&alert(Status::Actual), NoticeReason::NewAlert),
        )
        .await
        .expect_err("not an address");
    assert!(!err.is_transient(), "{err}");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn the_sink_unstuffs_dots_and_resets() {
    let sink = SmtpSink::start().await;
    let stream = tokio::net::TcpStream::connect(sink.addr()).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    let mut expect = async |code: &str| {
        // Multi-line replies end with a line whose fourth character is a space.
        loop {
            let line = lines.next_line().await.unwrap().expect("a reply");
            assert!(line.starts_with(code), "expected {code}, got {line}");
            if line.as_bytes().get(3) == Some(&b' ') {
                break;
            }
        }
    };
    expect("220").await;
    for (command, code) in [
        ("EHLO test\r\n", "250"),
        ("MAIL FROM:<a@x.example>\r\n", "250"),
        ("RCPT TO:<dropped@x.example>\r\n", "250"),
        ("RSET\r\n", "250"),
        ("DATA\r\n", "503"),
        ("NOOP\r\n", "250"),
        ("MAIL FROM:<a@x.example> BODY=8BITMIME\r\n", "250"),
        ("RCPT TO:<b@x.example>\r\n", "250"),
        ("DATA\r\n", "354"),
        ("Subject: dots\r\n\r\n..leading dot\r\n.\r\n", "250"),
        ("QUIT\r\n", "221"),
    ] {
        writer.write_all(command.as_bytes()).await.unwrap();
        expect(code).await;
    }
    let received = sink.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].from, "a@x.example");
    assert_eq!(received[0].to, vec!["b@x.example".to_owned()]);
    assert_eq!(received[0].data, "Subject: dots\r\n\r\n.leading dot\r\n");
}

#[test]
fn encoded_words_decode() {
    assert_eq!(
        decode_encoded_words("=?utf-8?b?w5ZWTklORw==?= =?utf-8?q?_fr=C3=A5n?= skolan"),
        "ÖVNING från skolan"
    );
    assert_eq!(decode_encoded_words("plain =? text"), "plain =? text");
}
