//! The configuration file of a participant client (`varsel send`, `inbox`, `ack`), read and
//! validated like every other file (`varsel_protocol::problems`).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use varsel_protocol::message::{ParticipantId, Suite};
use varsel_protocol::problems::{parse_toml, read, resolve, Error, Problems};
use varsel_transport::settings::{amqp_settings, amqp_user_of, Amqp, RawAmqp};

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
            None => amqp_user_of(self.amqp.url()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amqps_takes_the_user_from_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        varsel_testkit::certs::init(dir.path(), &["norrkoping-ektorpsskolan".to_owned()]).unwrap();
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
