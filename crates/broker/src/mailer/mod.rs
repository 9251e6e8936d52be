//! Email notices with lettre: a short Swedish notice, never any content.
//!
//! A notice tells an agency's functional mailbox that something happened to an alert (a new
//! alert arrived, it is overdue, it was escalated to them, it was cancelled) and asks them to open
//! it in their varsel inbox. [`Notice`] is built only from ids, codes, the sending school's name
//! and times, so no pupil data can reach an email by construction: the alert's content stays in
//! its sealed sections.
//!
//! Ops get an [`Alarm`] (`alarm`) the same way when the broker itself needs a human: a
//! refused reload, stored state that does not read.
//!
//! Mail goes to the relay over SMTP with STARTTLS required (rustls). Plain SMTP is accepted only
//! for a relay on the loopback interface, such as a local MTA or a test server.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Europe::Stockholm;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use varsel_protocol::message::{Category, Status, Urgency};
use varsel_protocol::redacted::Redacted;

mod alarm;

pub use alarm::{Alarm, AlarmReason, Mail};

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS; the relay's certificate is verified and a relay
    /// that does not offer STARTTLS is refused (no silent downgrade).
    StartTls,
    /// No encryption. Only for a relay on the loopback interface; refused otherwise.
    Plain,
}

/// Settings for the SMTP relay that notices are sent through.
#[derive(Debug, Clone)]
pub struct Config {
    /// The relay's host name (also the name its TLS certificate must carry) or IP address.
    pub host: String,
    /// Usually 587 (submission) for STARTTLS, 25 for a local relay.
    pub port: u16,
    pub tls: TlsMode,
    /// The sender, as a mailbox: `varsel <varsel@kommun.example>`.
    pub from: String,
    /// Relay login, if the relay wants one. Both or neither must be given.
    pub username: Option<String>,
    pub password: Option<Redacted<String>>,
    /// An extra CA certificate (PEM) to trust for the relay, for relays with an internal CA.
    pub ca_file: Option<PathBuf>,
    /// Limit on connecting and on each SMTP command.
    pub timeout: Duration,
}

impl Config {
    /// Checks the settings without connecting, reporting every problem at once.
    pub fn validate(&self) -> Result<(), Error> {
        let mut problems = Vec::new();
        if self.host.trim().is_empty() {
            problems.push("host is empty".to_owned());
        }
        if self.port == 0 {
            problems.push("port must not be 0".to_owned());
        }
        if self.tls == TlsMode::Plain && !is_loopback(&self.host) {
            problems.push(format!(
                "tls = \"plain\" is only allowed for a relay on the loopback interface, not {:?}; use \"starttls\"",
                self.host
            ));
        }
        if let Err(e) = self.from.parse::<Mailbox>() {
            problems.push(format!(
                "from {:?} is not a mailbox such as `varsel <varsel@kommun.example>`: {e}",
                self.from
            ));
        }
        match (&self.username, &self.password) {
            (Some(_), None) => problems.push("username is set but password is not".to_owned()),
            (None, Some(_)) => problems.push("password is set but username is not".to_owned()),
            _ => {}
        }
        if self.timeout.is_zero() {
            problems.push("timeout must be longer than zero".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Config(problems.join("; ")))
        }
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip: IpAddr| ip.is_loopback())
}

/// Why a notice could not be sent. [`Error::is_transient`] tells the outbox whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The mail settings are unusable; fix the configuration.
    #[error("mail settings are invalid: {0}")]
    Config(String),
    /// The recipient's functional mailbox in the registry is not an email address.
    #[error("recipient mailbox {0:?} is not a valid email address")]
    BadAddress(String),
    /// The relay could not be reached or the connection broke (refused, timed out, TLS failed).
    #[error("mail relay {relay} could not be reached: {detail}")]
    Unreachable { relay: String, detail: String },
    /// The relay answered with a 4xx reply: try again later.
    #[error("mail relay {relay} deferred the notice ({code}): {detail}")]
    Deferred {
        relay: String,
        code: u16,
        detail: String,
    },
    /// The relay answered with a 5xx reply: sending the same notice again will not help.
    #[error("mail relay {relay} rejected the notice ({code}): {detail}")]
    Rejected {
        relay: String,
        code: u16,
        detail: String,
    },
    /// The relay and this client could not agree (for example the relay does not offer STARTTLS
    /// or answered something unreadable).
    #[error("mail relay {relay}: {detail}")]
    Protocol { relay: String, detail: String },
}

impl Error {
    /// Whether sending the same notice again later may succeed: connection problems, timeouts
    /// and 4xx replies are transient; 5xx replies, bad addresses, protocol mismatches and
    /// configuration errors are not.
    ///
    /// TLS failures count as transient: they are usually a certificate being renewed or a
    /// broken connection, and retrying keeps the notice alive until an operator has fixed it.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unreachable { .. } | Error::Deferred { .. })
    }

    fn from_smtp(relay: &str, e: lettre::transport::smtp::Error) -> Error {
        let relay = relay.to_owned();
        // lettre's Display repeats its kind; the source carries the relay's own words.
        let detail = std::error::Error::source(&e)
            .map(|s| s.to_string())
            .unwrap_or_else(|| e.to_string());
        if let Some(code) = e.status() {
            let code = u16::from(code);
            if e.is_transient() {
                Error::Deferred {
                    relay,
                    code,
                    detail,
                }
            } else {
                Error::Rejected {
                    relay,
                    code,
                    detail,
                }
            }
        } else if e.is_client() || e.is_response() {
            Error::Protocol { relay, detail }
        } else {
            Error::Unreachable { relay, detail }
        }
    }
}

/// What happened to the alert that the notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeReason {
    /// The alert has just been delivered to the recipient's inbox.
    NewAlert,
    /// The recipient has not acknowledged in time.
    Overdue,
    /// The alert was escalated to this recipient because others did not act in time.
    Escalated,
    /// The school withdrew the alert.
    Cancelled,
}

/// An email notice about one alert. It holds only ids, codes, the sending school's name and
/// times, so it cannot carry personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub alert: Uuid,
    pub category: Category,
    pub urgency: Urgency,
    pub status: Status,
    /// The sending school's name from the registry (an institution, not a person).
    pub school_name: String,
    /// When the recipient must act (acknowledge), if there is such a time.
    pub deadline: Option<DateTime<Utc>>,
    pub reason: NoticeReason,
}

/// The Swedish words for a category, as used in notices.
pub fn category_sv(category: Category) -> &'static str {
    match category {
        Category::DepartureImminent => "avresa nära förestående",
        Category::NotReturnedAfterBreak => "ej återkommen efter lov",
        Category::MissingAtTermStart => "saknas vid terminsstart",
        Category::SuspectedAbroad => "misstänks befinna sig utomlands",
    }
}

/// The Swedish words for an urgency, as used in notices.
pub fn urgency_sv(urgency: Urgency) -> &'static str {
    match urgency {
        Urgency::Immediate => "omedelbar – åtgärd behövs nu",
        Urgency::Expected => "förväntad – åtgärd behövs inom kort",
        Urgency::Future => "framtida – åtgärd behövs längre fram",
    }
}

/// The exercise or test marker for a status, `None` for a real alert.
fn status_mark(status: Status) -> Option<&'static str> {
    match status {
        Status::Actual => None,
        Status::Exercise => Some("ÖVNING"),
        Status::Test => Some("TEST"),
    }
}

/// A time as Swedes read it: "fredag 13 juni 2025 kl. 17:30" in Europe/Stockholm.
pub fn stockholm_time(t: DateTime<Utc>) -> String {
    const MONTHS: [&str; 12] = [
        "januari",
        "februari",
        "mars",
        "april",
        "maj",
        "juni",
        "juli",
        "augusti",
        "september",
        "oktober",
        "november",
        "december",
    ];
    let local = t.with_timezone(&Stockholm);
    let weekday = match local.weekday() {
        Weekday::Mon => "måndag",
        Weekday::Tue => "tisdag",
        Weekday::Wed => "onsdag",
        Weekday::Thu => "torsdag",
        Weekday::Fri => "fredag",
        Weekday::Sat => "lördag",
        Weekday::Sun => "söndag",
    };
    let month = MONTHS.get(local.month0() as usize).copied().unwrap_or("?");
    format!(
        "{weekday} {} {month} {} kl. {:02}:{:02}",
        local.day(),
        local.year(),
        local.hour(),
        local.minute()
    )
}

impl Notice {
    /// The subject and plain-text body, in Swedish.
    pub fn render(&self) -> (String, String) {
        // The name comes from the registry, but a stray line break must never split a header.
        let school: String = self
            .school_name
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let school = school.trim();
        let category = category_sv(self.category);
        let mark = status_mark(self.status);

        let headline = match self.reason {
            NoticeReason::NewAlert if self.urgency == Urgency::Immediate => {
                format!("Brådskande varsel från {school}")
            }
            NoticeReason::NewAlert => format!("Varsel från {school}"),
            NoticeReason::Overdue => format!("Påminnelse: okvitterat varsel från {school}"),
            NoticeReason::Escalated => format!("Eskalerat varsel från {school}"),
            NoticeReason::Cancelled => format!("Återkallat varsel från {school}"),
        };
        let subject = match mark {
            Some(mark) => format!("[varsel] {mark}: {headline} – {category}"),
            None => format!("[varsel] {headline} – {category}"),
        };

        let mut body = String::new();
        if let Some(mark) = mark {
            body.push_str(&format!(
                "{mark} – detta är inte ett skarpt varsel. Hantera det enligt er övningsrutin.\n\n"
            ));
        }
        let what = match self.reason {
            NoticeReason::NewAlert => format!("Ett nytt varsel från {school} har kommit till er."),
            NoticeReason::Overdue => format!(
                "Ett varsel från {school} väntar fortfarande på att ni kvitterar det."
            ),
            NoticeReason::Escalated => format!(
                "Ett varsel från {school} har eskalerats till er eftersom det inte kvitterades i tid."
            ),
            NoticeReason::Cancelled => format!(
                "Ett varsel från {school} har återkallats av skolan. Ingen ytterligare åtgärd behövs för detta varsel."
            ),
        };
        body.push_str(&what);
        body.push_str("\n\n");
        body.push_str(&format!("Varsel-id:      {}\n", self.alert));
        body.push_str(&format!("Kategori:       {category}\n"));
        body.push_str(&format!("Brådskandegrad: {}\n", urgency_sv(self.urgency)));
        body.push_str(&format!("Avsändare:      {school}\n"));
        if let Some(mark) = mark {
            body.push_str(&format!("Status:         {mark}\n"));
        }
        if let Some(deadline) = self.deadline {
            body.push_str(&format!(
                "Tidsgräns:      {} (svensk tid)\n",
                stockholm_time(deadline)
            ));
        }
        body.push('\n');
        body.push_str(match self.reason {
            NoticeReason::Cancelled => {
                "Återkallelsen finns i er inkorg i varsel: kör `varsel inbox`.\n"
            }
            _ => "Öppna varslet i er inkorg i varsel: kör `varsel inbox`.\n",
        });
        body.push_str(
            "Av sekretesskäl innehåller detta e-postmeddelande inga uppgifter om eleven.\n\n",
        );
        body.push_str("-- \nSkickat automatiskt av varsel. Svara inte på detta meddelande.\n");
        (subject, body)
    }
}

/// Sends notices through one SMTP relay. Each send opens its own connection, so a relay that
/// was down comes back into use without any reconnect logic here.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    relay: String,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("relay", &self.relay)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

// RFC 3834: tells vacation responders and ticket systems not to answer a machine.
const AUTO_SUBMITTED: HeaderName = HeaderName::new_from_ascii_str("Auto-Submitted");

impl Mailer {
    /// Validates the settings and prepares the transport; no connection is made yet.
    pub fn new(config: &Config) -> Result<Mailer, Error> {
        config.validate()?;
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| Error::Config(format!("from: {e}")))?;
        let relay = format!("{}:{}", config.host, config.port);
        let tls = match config.tls {
            TlsMode::Plain => Tls::None,
            TlsMode::StartTls => {
                let mut params = TlsParameters::builder(config.host.clone());
                if let Some(path) = &config.ca_file {
                    let pem = std::fs::read(path)
                        .map_err(|e| Error::Config(format!("ca_file {}: {e}", path.display())))?;
                    let cert = Certificate::from_pem(&pem)
                        .map_err(|e| Error::Config(format!("ca_file {}: {e}", path.display())))?;
                    params = params.add_root_certificate(cert);
                }
                let params = params
                    .build_rustls()
                    .map_err(|e| Error::Config(format!("TLS settings: {e}")))?;
                Tls::Required(params)
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().clone()));
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
            relay,
        })
    }

    /// Sends one notice (or alarm) to one functional mailbox.
    pub async fn send<M: Clone + Into<Mail>>(&self, to: &str, mail: &M) -> Result<(), Error> {
        let message = self.message(to, &mail.clone().into())?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| Error::from_smtp(&self.relay, e))
    }

    fn message(&self, to: &str, mail: &Mail) -> Result<Message, Error> {
        let to: Mailbox = to
            .trim()
            .parse()
            .map_err(|_| Error::BadAddress(to.to_owned()))?;
        let (subject, body) = mail.render();
        // Some relays refuse mail without a Message-ID; the sender's own domain names it.
        let message_id = format!("<{}@{}>", Uuid::now_v7().simple(), self.from.email.domain());
        Message::builder()
            .message_id(Some(message_id))
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .raw_header(HeaderValue::new(
                AUTO_SUBMITTED,
                "auto-generated".to_owned(),
            ))
            .body(body)
            .map_err(|e| Error::Protocol {
                relay: self.relay.clone(),
                detail: format!("could not build the message: {e}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn config() -> Config {
        Config {
            host: "127.0.0.1".to_owned(),
            port: 2525,
            tls: TlsMode::Plain,
            from: "varsel <varsel@kommun.example>".to_owned(),
            username: None,
            password: None,
            ca_file: None,
            timeout: Duration::from_secs(5),
        }
    }

    fn notice() -> Notice {
        Notice {
            alert: Uuid::parse_str("0190a5e4-0000-7000-8000-000000000001").unwrap(),
            category: Category::DepartureImminent,
            urgency: Urgency::Immediate,
            status: Status::Actual,
            school_name: "Ektorpsskolan".to_owned(),
            // 15:30 UTC on a summer Friday is 17:30 in Stockholm (CEST).
            deadline: Some(Utc.with_ymd_and_hms(2025, 6, 13, 15, 30, 0).unwrap()),
            reason: NoticeReason::NewAlert,
        }
    }

    #[test]
    fn plain_is_refused_for_a_remote_relay() {
        let mut c = config();
        c.host = "smtp.kommun.example".to_owned();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("loopback"), "{err}");
        for host in ["127.0.0.1", "localhost", "::1", "[::1]"] {
            c.host = host.to_owned();
            assert!(c.validate().is_ok(), "{host} refused");
        }
        c.host = "smtp.kommun.example".to_owned();
        c.tls = TlsMode::StartTls;
        assert!(c.validate().is_ok());
    }

    #[test]
    fn validation_reports_every_problem_at_once() {
        let mut c = config();
        c.host = "relay.example".to_owned();
        c.from = "not a mailbox".to_owned();
        c.username = Some("varsel".to_owned());
        c.timeout = Duration::ZERO;
        let err = c.validate().unwrap_err().to_string();
        for needle in ["loopback", "from", "password is not", "timeout"] {
            assert!(err.contains(needle), "{needle:?} missing in {err}");
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let mut c = config();
        c.username = Some("varsel".to_owned());
        c.password = Some("hemligt-lösen".into());
        let debug = format!("{c:?}");
        assert!(!debug.contains("hemligt"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn subject_matches_the_agreed_form() {
        let (subject, _) = notice().render();
        assert_eq!(
            subject,
            "[varsel] Brådskande varsel från Ektorpsskolan – avresa nära förestående"
        );
    }

    #[test]
    fn body_names_id_category_urgency_school_and_local_deadline() {
        let (_, body) = notice().render();
        assert!(body.contains("0190a5e4-0000-7000-8000-000000000001"));
        assert!(body.contains("avresa nära förestående"));
        assert!(body.contains("omedelbar"));
        assert!(body.contains("Ektorpsskolan"));
        assert!(body.contains("fredag 13 juni 2025 kl. 17:30"), "{body}");
        assert!(body.contains("varsel inbox"));
        assert!(!body.contains("ÖVNING"));
    }

    #[test]
    fn winter_deadline_uses_cet() {
        // 16:30 UTC in January is 17:30 in Stockholm (CET, UTC+1).
        let t = Utc.with_ymd_and_hms(2026, 1, 9, 16, 30, 0).unwrap();
        assert_eq!(stockholm_time(t), "fredag 9 januari 2026 kl. 17:30");
    }

    #[test]
    fn exercise_and_test_are_marked_in_subject_and_body() {
        for (status, mark) in [(Status::Exercise, "ÖVNING"), (Status::Test, "TEST")] {
            let mut n = notice();
            n.status = status;
            let (subject, body) = n.render();
            assert!(
                subject.starts_with(&format!("[varsel] {mark}: ")),
                "{subject}"
            );
            assert!(body.starts_with(mark), "{body}");
            assert!(body.contains(&format!("Status:         {mark}")));
        }
    }

    #[test]
    fn each_reason_has_its_own_wording() {
        let subjects: Vec<String> = [
            NoticeReason::NewAlert,
            NoticeReason::Overdue,
            NoticeReason::Escalated,
            NoticeReason::Cancelled,
        ]
        .into_iter()
        .map(|reason| {
            let mut n = notice();
            n.reason = reason;
            n.render().0
        })
        .collect();
        assert!(subjects[1].contains("Påminnelse"));
        assert!(subjects[2].contains("Eskalerat"));
        assert!(subjects[3].contains("Återkallat"));
        let unique: std::collections::HashSet<&String> = subjects.iter().collect();
        assert_eq!(unique.len(), 4);
    }

    #[test]
    fn control_characters_in_the_school_name_cannot_split_headers() {
        let mut n = notice();
        n.school_name = "Ektorpsskolan\r\nBcc: someone@example.org".to_owned();
        let (subject, _) = n.render();
        assert!(!subject.contains('\n') && !subject.contains('\r'));
    }

    #[test]
    fn message_has_plain_text_and_auto_submitted_headers() {
        let mailer = Mailer::new(&config()).unwrap();
        let message = mailer
            .message("socialtjansten@kommun.example", &notice().into())
            .unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(raw.contains("Auto-Submitted: auto-generated"), "{raw}");
        assert!(
            raw.contains("Content-Type: text/plain; charset=utf-8"),
            "{raw}"
        );
        assert!(raw.contains("To: socialtjansten@kommun.example"), "{raw}");
        let message_id = raw
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .expect("a Message-ID header");
        assert!(
            message_id.starts_with('<') && message_id.ends_with("@kommun.example>"),
            "{message_id}"
        );
    }

    #[test]
    fn starttls_transport_builds_with_rustls() {
        let mut c = config();
        c.host = "smtp.kommun.example".to_owned();
        c.port = 587;
        c.tls = TlsMode::StartTls;
        let mailer = Mailer::new(&c).unwrap();
        assert_eq!(mailer.relay, "smtp.kommun.example:587");
    }

    #[test]
    fn a_missing_ca_file_is_a_configuration_error() {
        let mut c = config();
        c.tls = TlsMode::StartTls;
        c.ca_file = Some(PathBuf::from("/nonexistent/varsel-relay-ca.pem"));
        let err = Mailer::new(&c).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
        assert!(!err.is_transient());
    }

    #[test]
    fn a_bad_recipient_address_is_permanent() {
        let mailer = Mailer::new(&config()).unwrap();
        let err = mailer
            .message("inte en adress", &notice().into())
            .unwrap_err();
        assert!(matches!(err, Error::BadAddress(_)));
        assert!(!err.is_transient());
    }
}
