//! Daemon and client configuration in two steps: a serde `Raw…` struct with defaults is read from
//! TOML, then validated into [`Config`] / [`ClientConfig`], reporting every problem at once with
//! the file, the key and what was expected. Relative paths are taken relative to the file.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::message::{ParticipantId, Suite};

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub expected: String,
}

/// Every problem found in one configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub origin: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} has {} problem(s):", self.origin, self.problems.len())?;
        for p in &self.problems {
            writeln!(f, "  {}: {}", p.key, p.expected)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Collects problems while validating.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, key: &str, expected: impl Into<String>) {
        self.0.push(Problem {
            key: key.to_owned(),
            expected: expected.into(),
        });
    }

    fn duration(&mut self, key: &str, text: &str) -> Duration {
        match humantime::parse_duration(text) {
            Ok(d) => d,
            Err(e) => {
                self.add(
                    key,
                    format!("a duration such as \"90s\", \"15m\" or \"2h\" ({e})"),
                );
                Duration::ZERO
            }
        }
    }

    fn participant(&mut self, key: &str, text: &str) -> Option<ParticipantId> {
        match text.parse() {
            Ok(p) => Some(p),
            Err(e) => {
                self.add(key, e.to_string());
                None
            }
        }
    }

    fn finish(self, origin: &str) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error {
                origin: origin.to_owned(),
                problems: self.0,
            })
        }
    }
}

/// Validates `[amqp]`: the URL's scheme, and for `amqps://` the CA, certificate and key (all
/// three, readable, the certificate naming a user). There is no way to skip verifying the server.
fn amqp_settings(p: &mut Problems, raw: &RawAmqp, base: &Path) -> Amqp {
    let tls_url = raw.url.starts_with("amqps://");
    if !(raw.url.starts_with("amqp://") || tls_url) {
        p.add("amqp.url", "an amqp:// or amqps:// URL");
    }
    let reconnect_max_delay = p.duration("amqp.reconnect_max_delay", &raw.reconnect_max_delay);
    let files = [
        ("amqp.ca", &raw.ca),
        ("amqp.cert", &raw.cert),
        ("amqp.key", &raw.key),
    ];
    let given = files.iter().filter(|(_, f)| f.is_some()).count();
    let mut tls = None;
    if tls_url {
        for (key, f) in &files {
            if f.is_none() {
                p.add(
                    key,
                    "a PEM file: amqps:// needs the CA, our certificate and our key",
                );
            }
        }
        if let (Some(ca), Some(cert), Some(key)) = (&raw.ca, &raw.cert, &raw.key) {
            let identity = crate::tls::Identity {
                ca: resolve(base, ca),
                cert: resolve(base, cert),
                key: resolve(base, key),
            };
            if let Err(e) = identity.check() {
                p.add(
                    "amqp.cert",
                    format!("a usable CA, certificate and key ({e})"),
                );
            }
            tls = Some(identity);
        }
        if amqp_user_of(&raw.url).is_some() {
            p.add(
                "amqp.url",
                "no user or password in an amqps:// URL; the certificate names the user",
            );
        }
    } else if given > 0 {
        p.add(
            "amqp.url",
            "an amqps:// URL when amqp.ca, amqp.cert and amqp.key are given",
        );
    }
    Amqp {
        url: raw.url.clone(),
        prefetch: raw.prefetch,
        reconnect_max_delay,
        tls,
    }
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error {
        origin: path.display().to_string(),
        problems: vec![Problem {
            key: "(file)".into(),
            expected: format!("a readable TOML file ({e})"),
        }],
    })
}

fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, origin: &str) -> Result<T, Error> {
    toml::from_str(text).map_err(|e| Error {
        origin: origin.to_owned(),
        problems: vec![Problem {
            key: e
                .span()
                .map(|s| format!("(at byte {})", s.start))
                .unwrap_or_else(|| "(file)".into()),
            expected: e.message().to_owned(),
        }],
    })
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

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
#[serde(deny_unknown_fields, default)]
struct RawAmqp {
    url: String,
    prefetch: u16,
    reconnect_max_delay: String,
    /// TLS: the CA the server's certificate must be signed by.
    ca: Option<String>,
    /// TLS: our client certificate (its subject CN is our AMQP user) and key, both PEM.
    cert: Option<String>,
    key: Option<String>,
}

impl Default for RawAmqp {
    fn default() -> Self {
        RawAmqp {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            prefetch: 64,
            reconnect_max_delay: "10s".into(),
            ca: None,
            cert: None,
            key: None,
        }
    }
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
}

impl Default for RawIntake {
    fn default() -> Self {
        RawIntake {
            max_message_bytes: 256 * 1024,
            max_age: "15m".into(),
            max_clock_skew: "2m".into(),
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

/// AMQP settings.
#[derive(Debug, Clone)]
pub struct Amqp {
    pub url: String,
    /// How many unacknowledged input messages the broker holds at once.
    pub prefetch: u16,
    pub reconnect_max_delay: Duration,
    /// Mutual TLS with EXTERNAL authentication (`amqps://` URLs); `None` for plain `amqp://`.
    pub tls: Option<crate::tls::Identity>,
}

/// Limits applied to every incoming message.
#[derive(Debug, Clone)]
pub struct Intake {
    pub max_message_bytes: usize,
    /// Messages whose `sent_at` is older than this are refused as stale (replays).
    pub max_age: Duration,
    /// Messages dated further in the future than this are refused.
    pub max_clock_skew: Duration,
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
#[derive(Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    /// `starttls` (required) or `plain` (only to a relay on loopback).
    pub starttls: bool,
    pub from: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for Smtp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Smtp")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("starttls", &self.starttls)
            .field("from", &self.from)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
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
                password: s.password,
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
            },
            outbox,
            escalation,
            ops,
            smtp,
            log_format,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClientConfig {
    participant: String,
    keys: String,
    registry: String,
    /// Where the client remembers which deliveries it has processed.
    state: Option<String>,
    suite: Option<String>,
    #[serde(default)]
    amqp: RawAmqp,
}

/// The validated configuration of a participant client (`varsel send`, `inbox`, `ack`).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub participant: ParticipantId,
    pub keys_dir: PathBuf,
    pub registry: PathBuf,
    pub state_dir: PathBuf,
    /// The HPKE suite to wrap section keys with.
    pub suite: Suite,
    pub amqp: Amqp,
}

impl ClientConfig {
    pub fn load(path: &Path) -> Result<ClientConfig, Error> {
        let text = read(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        ClientConfig::from_toml_str(&text, &path.display().to_string(), base)
    }

    pub fn from_toml_str(text: &str, origin: &str, base: &Path) -> Result<ClientConfig, Error> {
        let raw: RawClientConfig = parse_toml(text, origin)?;
        let mut p = Problems::default();
        let participant = p.participant("participant", &raw.participant);
        let suite = match raw.suite.as_deref() {
            None | Some("x25519") => Suite::X25519,
            Some("x-wing") | Some("xwing") => Suite::XWing,
            Some(_) => {
                p.add("suite", "\"x25519\" or \"x-wing\"");
                Suite::X25519
            }
        };
        let amqp = amqp_settings(&mut p, &raw.amqp, base);
        p.finish(origin)?;
        let participant = participant.expect("checked above");
        let state_dir = resolve(
            base,
            raw.state
                .as_deref()
                .unwrap_or(&format!("{participant}.state")),
        );
        Ok(ClientConfig {
            participant,
            keys_dir: resolve(base, &raw.keys),
            registry: resolve(base, &raw.registry),
            state_dir,
            suite,
            amqp,
        })
    }

    /// The AMQP user, which the client puts in every message's `user_id` so RabbitMQ vouches
    /// for it: the certificate's common name over TLS, the URL's user name otherwise.
    pub fn amqp_user(&self) -> Option<String> {
        match &self.amqp.tls {
            Some(identity) => identity.user().ok(),
            None => amqp_user_of(&self.amqp.url),
        }
    }
}

/// The user name part of an AMQP URL.
pub fn amqp_user_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let (userinfo, _) = rest.rsplit_once('@')?;
    let user = userinfo.split(':').next()?;
    (!user.is_empty()).then(|| user.to_owned())
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

    #[test]
    fn amqps_takes_the_user_from_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        crate::tls::init(dir.path(), &["norrkoping-ektorpsskolan".to_owned()]).unwrap();
        let text = r#"
            participant = "norrkoping-ektorpsskolan"
            keys = "keys"
            registry = "registry.toml"
            [amqp]
            url = "amqps://localhost:5671/varsel"
            ca = "ca.pem"
            cert = "norrkoping-ektorpsskolan.pem"
            key = "norrkoping-ektorpsskolan.key"
        "#;
        let c = ClientConfig::from_toml_str(text, "c.toml", dir.path()).unwrap();
        assert_eq!(c.amqp_user().as_deref(), Some("norrkoping-ektorpsskolan"));
        let broken = text.replace("norrkoping-ektorpsskolan.pem", "ca.key");
        let e = ClientConfig::from_toml_str(&broken, "c.toml", dir.path()).unwrap_err();
        assert_eq!(e.problems[0].key, "amqp.cert", "{e}");
    }

    #[test]
    fn client_config_reads_the_amqp_user() {
        let text = r#"
            participant = "norrkoping-ektorpsskolan"
            keys = "keys"
            registry = "registry.toml"
            [amqp]
            url = "amqp://skola:pw@127.0.0.1:5672/varsel"
        "#;
        let c = ClientConfig::from_toml_str(text, "c.toml", Path::new("/d")).unwrap();
        assert_eq!(c.amqp_user().as_deref(), Some("skola"));
        assert_eq!(c.state_dir, Path::new("/d/norrkoping-ektorpsskolan.state"));
        assert_eq!(c.suite, Suite::X25519);
    }
}
