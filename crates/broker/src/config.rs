//! The broker's configuration in two steps: a serde `Raw…` struct with defaults is read from
//! TOML, then validated into [`Config`], reporting every problem at once with the file, the key
//! and what was expected (`varsel_protocol::problems`). Relative paths are taken relative to the
//! file.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use varsel_protocol::message::ParticipantId;
use varsel_protocol::problems::{parse_toml, read, resolve, Problems};
use varsel_protocol::redacted::Redacted;
use varsel_transport::settings::{amqp_settings, Amqp, RawAmqp};

mod heartbeat;
mod retention;
mod wire;

pub use heartbeat::Heartbeat;
pub use retention::Retention;
pub use varsel_protocol::problems::{Error, Problem};
pub use wire::DEFAULT_ACCEPT_V1_UNTIL;

/// Resolves a `sqlite://relative/path` store URL against the config file's directory.
fn resolve_store_url(base: &Path, url: &str) -> String {
    match url.strip_prefix("sqlite://") {
        Some(rest) if !rest.starts_with('/') && !rest.starts_with(':') => {
            format!("sqlite://{}", base.join(rest).display())
        }
        _ => url.to_owned(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    broker: RawBroker,
    #[serde(default)]
    amqp: RawAmqp,
    store: RawStore,
    #[serde(default)]
    intake: RawIntake,
    #[serde(default)]
    outbox: RawOutbox,
    #[serde(default)]
    escalation: RawEscalation,
    ops: Option<RawOps>,
    smtp: Option<RawSmtp>,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    retention: retention::RawRetention,
    heartbeat: Option<heartbeat::RawHeartbeat>,
    #[serde(default)]
    wire: wire::RawWire,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBroker {
    id: String,
    keys: String,
    registry: String,
    routing: String,
    #[serde(default = "default_grace")]
    shutdown_grace: String,
}

fn default_grace() -> String {
    "10s".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawIntake {
    max_message_bytes: usize,
    max_age: String,
    max_clock_skew: String,
    error_replies: u32,
    error_reply_window: String,
}

impl Default for RawIntake {
    fn default() -> Self {
        RawIntake {
            max_message_bytes: 256 * 1024,
            max_age: "15m".into(),
            max_clock_skew: "2m".into(),
            error_replies: 10,
            error_reply_window: "10m".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawOutbox {
    batch: u32,
    poll: String,
    lease: String,
    retry_min: String,
    retry_max: String,
}

impl Default for RawOutbox {
    fn default() -> Self {
        RawOutbox {
            batch: 64,
            poll: "250ms".into(),
            lease: "30s".into(),
            retry_min: "1s".into(),
            retry_max: "5m".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawEscalation {
    poll: String,
    lease: String,
    /// Demo only: run the broker's clock this many times faster than real time.
    time_scale: u32,
}

impl Default for RawEscalation {
    fn default() -> Self {
        RawEscalation {
            poll: "1s".into(),
            lease: "60s".into(),
            time_scale: 1,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOps {
    listen: String,
    token: Option<String>,
    token_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: String,
    #[serde(default = "default_smtp_port")]
    port: u16,
    #[serde(default = "default_smtp_tls")]
    tls: String,
    from: String,
    username: Option<String>,
    password: Option<String>,
}

fn default_smtp_port() -> u16 {
    587
}

fn default_smtp_tls() -> String {
    "starttls".into()
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    format: Option<String>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Limits applied to every incoming message.
#[derive(Debug, Clone)]
pub struct Intake {
    pub max_message_bytes: usize,
    /// Messages whose `sent_at` is older than this are refused as stale (replays).
    pub max_age: Duration,
    /// Messages dated further in the future than this are refused.
    pub max_clock_skew: Duration,
    /// At most this many `error` replies per signer in each [`Intake::error_reply_window`]; the
    /// rest are counted and told in the next window's first reply.
    pub error_replies: u32,
    pub error_reply_window: Duration,
    /// From this instant a wire format v1 message is refused as `unsupported_version`
    /// (`[wire] accept_v1_until` is the last day it is accepted).
    pub v1_refused_from: chrono::DateTime<chrono::Utc>,
}

/// Outbox worker settings.
#[derive(Debug, Clone)]
pub struct Outbox {
    pub batch: u32,
    pub poll: Duration,
    pub lease: Duration,
    pub retry_min: Duration,
    pub retry_max: Duration,
}

/// Escalation scheduler settings.
#[derive(Debug, Clone)]
pub struct Escalation {
    pub poll: Duration,
    pub lease: Duration,
    pub time_scale: u32,
}

/// Ops HTTP server settings.
#[derive(Clone)]
pub struct Ops {
    pub listen: SocketAddr,
    /// The bearer token for the API, metrics and dashboard.
    pub token: Option<String>,
}

impl fmt::Debug for Ops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ops")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// SMTP settings for email notices.
#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    /// `starttls` (required) or `plain` (only to a relay on loopback).
    pub starttls: bool,
    pub from: String,
    pub username: Option<String>,
    pub password: Option<Redacted<String>>,
}

/// The validated daemon configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub broker_id: ParticipantId,
    pub keys_dir: PathBuf,
    pub registry: PathBuf,
    pub routing: PathBuf,
    pub shutdown_grace: Duration,
    pub amqp: Amqp,
    pub store_url: String,
    pub intake: Intake,
    pub outbox: Outbox,
    pub escalation: Escalation,
    pub ops: Option<Ops>,
    pub smtp: Option<Smtp>,
    pub log_format: LogFormat,
    pub retention: Retention,
    /// `None`: no `[heartbeat]` section, no heartbeats.
    pub heartbeat: Option<Heartbeat>,
}

impl Config {
    /// Reads and validates a daemon configuration file.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = read(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::from_toml_str(&text, &path.display().to_string(), base)
    }

    /// Validates a daemon configuration given as text; relative paths are taken from `base`.
    pub fn from_toml_str(text: &str, origin: &str, base: &Path) -> Result<Config, Error> {
        let raw: RawConfig = parse_toml(text, origin)?;
        let mut p = Problems::default();
        let broker_id = p.participant("broker.id", &raw.broker.id);
        let shutdown_grace = p.duration("broker.shutdown_grace", &raw.broker.shutdown_grace);

        let amqp = amqp_settings(&mut p, &raw.amqp, base);
        if raw.amqp.prefetch == 0 {
            p.add("amqp.prefetch", "a number from 1 to 65535");
        }

        if !(raw.store.url.starts_with("sqlite://") || raw.store.url.starts_with("postgres://")) {
            p.add(
                "store.url",
                "a sqlite://path or postgres://user@host/db URL",
            );
        }

        if raw.intake.max_message_bytes < 1024 {
            p.add("intake.max_message_bytes", "at least 1024 bytes");
        }
        let max_age = p.duration("intake.max_age", &raw.intake.max_age);
        let max_clock_skew = p.duration("intake.max_clock_skew", &raw.intake.max_clock_skew);
        if raw.intake.error_replies == 0 {
            p.add(
                "intake.error_replies",
                "at least 1 (a signer must hear that its messages are refused)",
            );
        }
        let error_reply_window =
            p.duration("intake.error_reply_window", &raw.intake.error_reply_window);
        let v1_refused_from = wire::validate(&mut p, &raw.wire);

        if raw.outbox.batch == 0 {
            p.add("outbox.batch", "at least 1");
        }
        let outbox = Outbox {
            batch: raw.outbox.batch,
            poll: p.duration("outbox.poll", &raw.outbox.poll),
            lease: p.duration("outbox.lease", &raw.outbox.lease),
            retry_min: p.duration("outbox.retry_min", &raw.outbox.retry_min),
            retry_max: p.duration("outbox.retry_max", &raw.outbox.retry_max),
        };
        if outbox.retry_min > outbox.retry_max {
            p.add("outbox.retry_min", "no longer than outbox.retry_max");
        }
        let escalation = Escalation {
            poll: p.duration("escalation.poll", &raw.escalation.poll),
            lease: p.duration("escalation.lease", &raw.escalation.lease),
            time_scale: raw.escalation.time_scale.max(1),
        };

        let ops = raw.ops.and_then(|o| {
            let listen = match o.listen.parse::<SocketAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    p.add("ops.listen", "an address such as 127.0.0.1:9471");
                    None
                }
            };
            let token = match (o.token, o.token_file) {
                (Some(t), None) => Some(t),
                (None, Some(f)) => match std::fs::read_to_string(resolve(base, &f)) {
                    Ok(t) => Some(t.trim().to_owned()),
                    Err(e) => {
                        p.add("ops.token_file", format!("a readable file ({e})"));
                        None
                    }
                },
                (Some(_), Some(_)) => {
                    p.add("ops.token", "either token or token_file, not both");
                    None
                }
                (None, None) => None,
            };
            if let Some(t) = &token {
                if t.len() < 16 {
                    p.add("ops.token", "at least 16 characters");
                }
            }
            listen.map(|listen| Ops { listen, token })
        });

        let smtp = raw.smtp.map(|s| {
            let starttls = match s.tls.as_str() {
                "starttls" => true,
                "plain" => {
                    let loopback = matches!(s.host.as_str(), "localhost" | "127.0.0.1" | "::1");
                    if !loopback {
                        p.add(
                            "smtp.tls",
                            "\"starttls\" (plain is only allowed to a relay on loopback)",
                        );
                    }
                    false
                }
                _ => {
                    p.add("smtp.tls", "\"starttls\" or \"plain\"");
                    true
                }
            };
            Smtp {
                host: s.host,
                port: s.port,
                starttls,
                from: s.from,
                username: s.username,
                password: s.password.map(Redacted::new),
            }
        });

        let log_format = match raw.log.format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(_) => {
                p.add("log.format", "\"text\" or \"json\"");
                LogFormat::Text
            }
        };

        let retention = retention::validate(&mut p, &raw.retention, base);
        let heartbeat = raw
            .heartbeat
            .as_ref()
            .map(|h| heartbeat::validate(&mut p, h));

        p.finish(origin)?;
        Ok(Config {
            broker_id: broker_id.expect("checked above"),
            keys_dir: resolve(base, &raw.broker.keys),
            registry: resolve(base, &raw.broker.registry),
            routing: resolve(base, &raw.broker.routing),
            shutdown_grace,
            amqp,
            store_url: resolve_store_url(base, &raw.store.url),
            intake: Intake {
                max_message_bytes: raw.intake.max_message_bytes,
                max_age,
                max_clock_skew,
                error_replies: raw.intake.error_replies,
                error_reply_window,
                v1_refused_from,
            },
            outbox,
            escalation,
            ops,
            smtp,
            log_format,
            retention,
            heartbeat,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [broker]
        id = "varsel-broker"
        keys = "keys"
        registry = "registry.toml"
        routing = "routing.toml"
        [store]
        url = "sqlite://var/varsel.db"
    "#;

    #[test]
    fn minimal_config_gets_defaults_and_resolved_paths() {
        let c = Config::from_toml_str(MINIMAL, "varsel.toml", Path::new("/etc/varsel")).unwrap();
        assert_eq!(c.registry, Path::new("/etc/varsel/registry.toml"));
        assert_eq!(c.store_url, "sqlite:///etc/varsel/var/varsel.db");
        assert_eq!(c.intake.max_message_bytes, 256 * 1024);
        assert_eq!(c.intake.max_age, Duration::from_secs(15 * 60));
        assert_eq!(c.amqp.prefetch, 64);
        assert!(c.ops.is_none());
        assert_eq!(c.retention.erase_after, Duration::from_secs(30 * 24 * 3600));
        assert_eq!(c.retention.batch, 200);
        assert!(c.retention.checkpoint_file.is_none());
        assert_eq!(
            c.intake.v1_refused_from.to_rfc3339(),
            "2027-07-01T00:00:00+00:00",
            "v1 is accepted through {DEFAULT_ACCEPT_V1_UNTIL}"
        );
    }

    #[test]
    fn the_end_of_v1_is_a_date_or_the_key_is_named() {
        let text = format!("{MINIMAL}\n[wire]\naccept_v1_until = \"2026-12-31\"\n");
        let c = Config::from_toml_str(&text, "w.toml", Path::new(".")).unwrap();
        assert_eq!(
            c.intake.v1_refused_from.to_rfc3339(),
            "2027-01-01T00:00:00+00:00"
        );
        for bad in ["soon", "2026-13-01", "2026-12-31T00:00:00Z", ""] {
            let text = format!("{MINIMAL}\n[wire]\naccept_v1_until = {bad:?}\n");
            let e = Config::from_toml_str(&text, "w.toml", Path::new(".")).unwrap_err();
            assert_eq!(e.problems[0].key, "wire.accept_v1_until", "{bad}: {e}");
            assert!(e.to_string().starts_with("w.toml"), "{e}");
        }
    }

    #[test]
    fn retention_problems_name_their_keys() {
        let text = format!(
            "{MINIMAL}\n[retention]\nerase_after = \"10m\"\nbatch = 0\ncheckpoint_every = 0\n\
             checkpoint_interval = \"often\"\ncheckpoint_file = \"/nonexistent/dir/cp.jsonl\"\n"
        );
        let e = Config::from_toml_str(&text, "r.toml", Path::new(".")).unwrap_err();
        let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "retention.erase_after",
                "retention.batch",
                "retention.checkpoint_every",
                "retention.checkpoint_interval",
                "retention.checkpoint_file"
            ],
            "{e}"
        );
        assert!(e.to_string().starts_with("r.toml"), "{e}");
    }

    #[test]
    fn heartbeats_are_off_without_the_section_and_checked_with_it() {
        let c = Config::from_toml_str(MINIMAL, "v.toml", Path::new(".")).unwrap();
        assert!(c.heartbeat.is_none());
        let text = format!("{MINIMAL}\n[heartbeat]\ninterval = \"15m\"\n");
        let c = Config::from_toml_str(&text, "v.toml", Path::new(".")).unwrap();
        let h = c.heartbeat.unwrap();
        assert_eq!(h.interval, Duration::from_secs(900));
        assert_eq!((h.grace, h.page_after), (Duration::from_secs(120), 2));
        let text = format!(
            "{MINIMAL}\n[heartbeat]\ninterval = \"1m\"\ngrace = \"5m\"\npage_after = 0\npoll = \"0s\"\n"
        );
        let e = Config::from_toml_str(&text, "h.toml", Path::new(".")).unwrap_err();
        let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["heartbeat.grace", "heartbeat.page_after", "heartbeat.poll"],
            "{e}"
        );
        assert!(e.to_string().starts_with("h.toml"), "{e}");
        let text = format!("{MINIMAL}\n[heartbeat]\ninterval = \"often\"\n");
        let e = Config::from_toml_str(&text, "h.toml", Path::new(".")).unwrap_err();
        assert_eq!(e.problems[0].key, "heartbeat.interval", "{e}");
    }

    #[test]
    fn all_problems_are_reported_at_once_with_their_keys() {
        let text = r#"
            [broker]
            id = "Not An Id"
            keys = "k"
            registry = "r"
            routing = "t"
            [amqp]
            url = "http://x"
            [store]
            url = "mysql://x"
            [intake]
            max_age = "soon"
            [smtp]
            host = "mail.example.org"
            tls = "plain"
            from = "varsel@example.org"
        "#;
        let e = Config::from_toml_str(text, "bad.toml", Path::new(".")).unwrap_err();
        let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "broker.id",
                "amqp.url",
                "store.url",
                "intake.max_age",
                "smtp.tls"
            ]
        );
        assert!(e.to_string().starts_with("bad.toml has 5 problem(s):"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = format!("{MINIMAL}\n[intake]\nmax_size = 3\n");
        let e = Config::from_toml_str(&text, "x.toml", Path::new(".")).unwrap_err();
        assert!(e.problems[0].expected.contains("max_size"), "{e}");
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let text = format!(
            "{MINIMAL}\n[ops]\nlisten = \"127.0.0.1:9471\"\ntoken = \"0123456789abcdef-secret\"\n"
        );
        let c = Config::from_toml_str(&text, "x.toml", Path::new(".")).unwrap();
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn amqps_needs_ca_certificate_and_key_and_no_password() {
        let text = format!(
            "{MINIMAL}\n[amqp]\nurl = \"amqps://u:p@localhost:5671/varsel\"\ncert = \"c.pem\"\n"
        );
        let e = Config::from_toml_str(&text, "x.toml", Path::new("/nonexistent")).unwrap_err();
        let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["amqp.ca", "amqp.key", "amqp.url"], "{e}");

        let text = format!("{MINIMAL}\n[amqp]\nurl = \"amqp://localhost\"\nca = \"ca.pem\"\n");
        let e = Config::from_toml_str(&text, "x.toml", Path::new("/d")).unwrap_err();
        assert_eq!(e.problems[0].key, "amqp.url");
    }
}
