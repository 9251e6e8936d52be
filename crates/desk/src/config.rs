//! The desk's configuration file (`desk.toml`), read in two steps like every varsel file: a serde
//! `Raw…` struct, then a validated [`Config`], with every problem reported at once naming the file
//! and the key.
//!
//! ```toml
//! listen = "127.0.0.1:8480"
//! store = "desk.sqlite"            # a path, relative to this file; or postgres://user@host/db
//! # The key that seals the TOTP secrets in the store; made (0600) by `varsel desk user add` if
//! # missing. Keep it outside the store: a copy of the store without it reveals no secret.
//! secrets_key = "secrets.key"      # the default, relative to this file
//! name = "Norrköpings kommun"      # shown on the pages and in authenticator apps
//! # Served behind a TLS proxy at this address: cookies are then marked Secure.
//! public_url = "https://desk.example.org"
//! # The participants the desk works for: each a participant client configuration.
//! participants = ["norrkoping-socialtjansten.client.toml"]
//! [session]
//! idle_timeout = "15m"
//! lifetime = "8h"
//! [login]
//! lockout_after = 5
//! lockout_for = "15m"
//! attempts_per_minute = 20
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use varsel_participant::ClientConfig;
use varsel_protocol::message::ParticipantId;
use varsel_protocol::problems::{parse_toml, read, resolve, Error, Problems};
use varsel_protocol::redacted::Redacted;

use crate::lockout;
use crate::session;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: String,
    store: String,
    #[serde(default = "default_secrets_key")]
    secrets_key: String,
    name: String,
    public_url: Option<String>,
    participants: Vec<String>,
    #[serde(default)]
    session: RawSession,
    #[serde(default)]
    login: RawLogin,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSession {
    #[serde(default = "default_idle")]
    idle_timeout: String,
    #[serde(default = "default_lifetime")]
    lifetime: String,
}

impl Default for RawSession {
    fn default() -> Self {
        RawSession {
            idle_timeout: default_idle(),
            lifetime: default_lifetime(),
        }
    }
}

fn default_secrets_key() -> String {
    "secrets.key".into()
}

fn default_idle() -> String {
    "15m".into()
}

fn default_lifetime() -> String {
    "8h".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogin {
    #[serde(default = "default_lockout_after")]
    lockout_after: u32,
    #[serde(default = "default_lockout_for")]
    lockout_for: String,
    #[serde(default = "default_attempts")]
    attempts_per_minute: u32,
}

impl Default for RawLogin {
    fn default() -> Self {
        RawLogin {
            lockout_after: default_lockout_after(),
            lockout_for: default_lockout_for(),
            attempts_per_minute: default_attempts(),
        }
    }
}

fn default_lockout_after() -> u32 {
    5
}

fn default_lockout_for() -> String {
    "15m".into()
}

fn default_attempts() -> u32 {
    20
}

/// Where the desk's store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreAt {
    /// A SQLite file (the default: one desk process).
    Sqlite(PathBuf),
    /// A PostgreSQL database (several desk processes may share it); the URL may hold a password.
    Postgres(Redacted<String>),
}

impl StoreAt {
    /// The URL the store is opened with.
    pub fn url(&self) -> String {
        match self {
            StoreAt::Sqlite(path) => format!("sqlite://{}", path.display()),
            StoreAt::Postgres(url) => url.expose().clone(),
        }
    }

    fn parse(p: &mut Problems, base: &Path, text: &str) -> StoreAt {
        const WHAT: &str =
            "the path of the desk's SQLite file, or a postgres://user@host/database URL";
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return StoreAt::Postgres(Redacted::new(text.to_owned()));
        }
        // A path goes into a sqlite:// URL, where `?` and `#` would start its options.
        if text.trim().is_empty() || text.contains("://") || text.contains(['?', '#']) {
            p.add("store", WHAT);
        }
        StoreAt::Sqlite(resolve(base, text))
    }
}

/// The validated configuration of a desk.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// The desk's store.
    pub store: StoreAt,
    /// The file of the key that seals secrets kept in the store.
    pub secrets_key: PathBuf,
    /// The organisation's name, shown on the pages.
    pub name: String,
    /// Whether cookies are marked Secure (the desk is reached over https).
    pub secure_cookies: bool,
    pub participants: Vec<ClientConfig>,
    pub session: session::Policy,
    pub lockout: lockout::Policy,
    pub attempts_per_minute: u32,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = read(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::from_toml_str(&text, &path.display().to_string(), base)
    }

    pub fn from_toml_str(text: &str, origin: &str, base: &Path) -> Result<Config, Error> {
        let raw: RawConfig = parse_toml(text, origin)?;
        let mut p = Problems::default();
        let listen = raw.listen.parse().unwrap_or_else(|e| {
            p.add(
                "listen",
                format!("an address and port such as \"127.0.0.1:8480\" ({e})"),
            );
            SocketAddr::from(([127, 0, 0, 1], 0))
        });
        let store = StoreAt::parse(&mut p, base, &raw.store);
        if raw.secrets_key.trim().is_empty() {
            p.add(
                "secrets_key",
                "the path of the file with the key that seals secrets",
            );
        }
        if raw.name.trim().is_empty() {
            p.add("name", "the organisation's name");
        }
        let secure_cookies = match raw.public_url.as_deref() {
            None => false,
            Some(u) if u.starts_with("https://") => true,
            Some(u) if u.starts_with("http://") => false,
            Some(_) => {
                p.add("public_url", "an http:// or https:// address");
                false
            }
        };
        if raw.participants.is_empty() {
            p.add(
                "participants",
                "at least one participant client configuration",
            );
        }
        let mut participants: Vec<ClientConfig> = Vec::new();
        for (i, file) in raw.participants.iter().enumerate() {
            let key = format!("participants[{i}]");
            match ClientConfig::load(&resolve(base, file)) {
                Ok(c) if participants.iter().any(|o| o.participant == c.participant) => {
                    p.add(
                        &key,
                        format!("a participant not named before ({} is)", c.participant),
                    );
                }
                Ok(c) => participants.push(c),
                Err(e) => p.add(
                    &key,
                    format!(
                        "a valid participant client configuration: {}",
                        e.to_string().trim_end().replace('\n', "; ")
                    ),
                ),
            }
        }
        let idle = p.duration("session.idle_timeout", &raw.session.idle_timeout);
        let lifetime = p.duration("session.lifetime", &raw.session.lifetime);
        if !idle.is_zero() && !lifetime.is_zero() && idle > lifetime {
            p.add("session.idle_timeout", "at most the session's lifetime");
        }
        let lockout_for = p.duration("login.lockout_for", &raw.login.lockout_for);
        if raw.login.lockout_after == 0 {
            p.add("login.lockout_after", "a number of failures of at least 1");
        }
        if raw.login.attempts_per_minute == 0 {
            p.add("login.attempts_per_minute", "a number of at least 1");
        }
        p.finish(origin)?;
        Ok(Config {
            listen,
            store,
            secrets_key: resolve(base, &raw.secrets_key),
            name: raw.name,
            secure_cookies,
            participants,
            session: session::Policy { idle, lifetime },
            lockout: lockout::Policy {
                after: raw.login.lockout_after,
                duration: lockout_for,
            },
            attempts_per_minute: raw.login.attempts_per_minute,
        })
    }

    /// Whether the desk works for `participant`.
    pub fn serves(&self, participant: &ParticipantId) -> bool {
        self.participants
            .iter()
            .any(|c| &c.participant == participant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with_client() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("social.client.toml"),
            "participant = \"norrkoping-socialtjansten\"\nkeys = \"keys\"\nregistry = \"registry.toml\"\n[amqp]\nurl = \"amqp://guest:guest@127.0.0.1:5672/varsel\"\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn a_good_file_is_read_with_defaults() {
        let dir = dir_with_client();
        let text = "listen = \"127.0.0.1:8480\"\nstore = \"desk.sqlite\"\nname = \"Norrköpings kommun\"\npublic_url = \"https://desk.example.org\"\nparticipants = [\"social.client.toml\"]\n";
        let c = Config::from_toml_str(text, "desk.toml", dir.path()).unwrap();
        assert_eq!(c.store, StoreAt::Sqlite(dir.path().join("desk.sqlite")));
        assert_eq!(c.secrets_key, dir.path().join("secrets.key"));
        assert!(c.secure_cookies);
        assert_eq!(
            c.participants[0].participant.as_str(),
            "norrkoping-socialtjansten"
        );
        assert_eq!(c.session.idle, std::time::Duration::from_secs(900));
        assert_eq!(c.session.lifetime, std::time::Duration::from_secs(8 * 3600));
        assert_eq!(c.lockout.after, 5);
        assert_eq!(c.lockout.duration, std::time::Duration::from_secs(900));
        assert_eq!(c.attempts_per_minute, 20);
    }

    #[test]
    fn a_postgres_url_selects_postgres_and_its_password_does_not_print() {
        let dir = dir_with_client();
        let text = "listen = \"127.0.0.1:8480\"\nstore = \"postgres://desk:hemligt@db.example.org/desk\"\nsecrets_key = \"/etc/varsel/desk.key\"\nname = \"n\"\nparticipants = [\"social.client.toml\"]\n";
        let c = Config::from_toml_str(text, "desk.toml", dir.path()).unwrap();
        assert_eq!(c.store.url(), "postgres://desk:hemligt@db.example.org/desk");
        assert_eq!(c.secrets_key, Path::new("/etc/varsel/desk.key"));
        assert!(!format!("{c:?}").contains("hemligt"), "{c:?}");
        let e = Config::from_toml_str(
            &text.replace(
                "postgres://desk:hemligt@db.example.org/desk",
                "mysql://db/desk",
            ),
            "desk.toml",
            dir.path(),
        )
        .unwrap_err();
        assert_eq!(e.problems[0].key, "store", "{e}");
    }

    #[test]
    fn every_problem_is_named_by_file_and_key() {
        let dir = dir_with_client();
        let text = "listen = \"here\"\nstore = \"\"\nname = \"x\"\npublic_url = \"ftp://x\"\nparticipants = [\"social.client.toml\", \"missing.toml\", \"social.client.toml\"]\n[session]\nidle_timeout = \"soon\"\n[login]\nlockout_after = 0\n";
        let e = Config::from_toml_str(text, "desk.toml", dir.path()).unwrap_err();
        assert_eq!(e.origin, "desk.toml");
        let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "listen",
                "store",
                "public_url",
                "participants[1]",
                "participants[2]",
                "session.idle_timeout",
                "login.lockout_after"
            ],
            "{e}"
        );
        // A wrongly typed value is not turned into a default.
        let e = Config::from_toml_str("listen = \"127.0.0.1:1\"\nstore = \"s\"\nname = \"n\"\nparticipants = []\n[login]\nlockout_after = \"five\"\n", "desk.toml", dir.path()).unwrap_err();
        assert_eq!(e.problems[0].key, "login.lockout_after", "{e}");
    }
}
