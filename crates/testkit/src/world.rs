//! The demo world: the participants of Norrköping's story (a school, social services,
//! socialjouren, the police region, Försäkringskassan, Skatteverket, ops and the broker) with
//! fresh keys, their registry, the example routing table, and broker and client configurations
//! on a plain or a mutual-TLS AMQP URL. `varsel demo`, `varsel world`, the bench and the tests
//! all build on it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{Duration, Utc};

use varsel_broker::config::Config;
use varsel_participant::config::ClientConfig;
use varsel_protocol::envelope;
use varsel_protocol::message::ParticipantId;

/// The routing table the demo (and a new installation) starts from.
pub const ROUTING_EXAMPLE: &str = include_str!("../../../deploy/routing.example.toml");
/// The school's example documents.
pub const ALERT_EXAMPLE: &str = include_str!("../../../deploy/examples/alert.json");
pub const EXERCISE_EXAMPLE: &str = include_str!("../../../deploy/examples/exercise-alert.json");

/// The AMQPS URL of the dev TLS node the demo uses by default.
pub const TLS_URL: &str = "amqps://localhost:25671/varsel-demo";
/// Where `certs-example/make.sh` puts the demo certificates (relative to the repository).
pub const CERTS_DIR: &str = "certs-example/out";

/// How the demo (and the tests) reach RabbitMQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// User and password in the URL (guest on the local RabbitMQ).
    Plain { url: String },
    /// Mutual TLS: each participant's certificate `<certs>/<id>.pem` with key `<id>.key`, the
    /// server verified against `<certs>/ca.pem`.
    Tls { url: String, certs: PathBuf },
}

impl Transport {
    pub fn url(&self) -> &str {
        match self {
            Transport::Plain { url } | Transport::Tls { url, .. } => url,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls { .. })
    }

    /// The `[amqp]` lines of a configuration file for `user`.
    fn toml(&self, user: &str) -> String {
        match self {
            Transport::Plain { url } => format!("url = \"{url}\"\n"),
            Transport::Tls { url, certs } => {
                let id = varsel_transport::tls::identity_in(certs, user);
                format!(
                    "url = \"{url}\"\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
                    id.ca.display(),
                    id.cert.display(),
                    id.key.display()
                )
            }
        }
    }
}

/// One participant of the demo.
pub struct Demo {
    pub id: &'static str,
    pub name: &'static str,
    pub role: &'static str,
    /// For an agency, its kind in the registry (which notes it may post to a case).
    pub agency: Option<&'static str>,
    pub municipality: Option<&'static str>,
    pub mailbox: Option<&'static str>,
    pub office_hours: Option<&'static str>,
}

pub const PARTICIPANTS: &[Demo] = &[
    Demo {
        id: "varsel-broker",
        name: "varsel broker",
        role: "broker",
        agency: None,
        municipality: None,
        mailbox: None,
        office_hours: None,
    },
    Demo {
        id: "varsel-ops",
        name: "varsel drift",
        role: "ops",
        agency: None,
        municipality: None,
        mailbox: Some("drift@varsel.example"),
        office_hours: Some("always"),
    },
    Demo {
        id: "norrkoping-ektorpsskolan",
        name: "Ektorpsskolan",
        role: "school",
        agency: None,
        municipality: Some("0581"),
        mailbox: Some("elevhalsa@ektorpsskolan.example"),
        office_hours: Some("mon-fri 07:30-16:30"),
    },
    Demo {
        id: "norrkoping-socialtjansten",
        name: "Norrköpings kommun, socialtjänsten",
        role: "agency",
        agency: Some("social_services"),
        municipality: Some("0581"),
        mailbox: Some("barn.unga@norrkoping.example"),
        office_hours: Some("mon-fri 08:00-17:00"),
    },
    Demo {
        id: "norrkoping-socialjouren",
        name: "Socialjouren Norrköping",
        role: "agency",
        agency: Some("social_services"),
        municipality: Some("0581"),
        mailbox: Some("socialjouren@norrkoping.example"),
        office_hours: Some("always"),
    },
    Demo {
        id: "polisen-region-ost",
        name: "Polisen region Öst",
        role: "agency",
        agency: Some("police"),
        municipality: None,
        mailbox: Some("region.ost@polisen.example"),
        office_hours: Some("always"),
    },
    Demo {
        id: "forsakringskassan",
        name: "Försäkringskassan",
        role: "agency",
        agency: Some("forsakringskassan"),
        municipality: None,
        mailbox: Some("varsel@forsakringskassan.example"),
        office_hours: Some("mon-fri 08:00-16:30"),
    },
    Demo {
        id: "skatteverket",
        name: "Skatteverket",
        role: "agency",
        agency: Some("skatteverket"),
        municipality: None,
        mailbox: Some("folkbokforing@skatteverket.example"),
        office_hours: Some("mon-fri 08:00-16:30"),
    },
];

/// The demo participants' RabbitMQ accounts (user = participant id = certificate CN).
pub fn accounts() -> Vec<varsel_broker::rabbitmq::Account> {
    PARTICIPANTS
        .iter()
        .map(|p| varsel_broker::rabbitmq::Account {
            id: p.id.parse().expect("demo ids are valid"),
            role: p.role.parse().expect("demo roles are valid"),
            user: p.id.to_owned(),
        })
        .collect()
}

/// Writes keys, the registry and the routing table into `dir`; returns the registry path.
pub fn write_world(dir: &Path) -> anyhow::Result<PathBuf> {
    write_world_for(dir, false)
}

/// Like [`write_world`]; with `amqp_users` every participant's registry entry names its AMQP
/// user (its id, the common name of its certificate), so the broker checks the `user_id`
/// RabbitMQ validated against the signer. Plain runs share one guest user and leave it out.
pub fn write_world_for(dir: &Path, amqp_users: bool) -> anyhow::Result<PathBuf> {
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys)?;
    let mut registry =
        String::from("# Demo registry for varsel: made by `varsel demo`, with fresh keys.\n\n");
    for p in PARTICIPANTS {
        let id: ParticipantId = p.id.parse()?;
        let made = envelope::keygen(&id, &keys, Utc::now() - Duration::minutes(5))
            .with_context(|| format!("making keys for {id}"))?;
        registry.push_str("[[participant]]\n");
        registry.push_str(&format!(
            "id = \"{}\"\nname = \"{}\"\nrole = \"{}\"\n",
            p.id, p.name, p.role
        ));
        if let Some(a) = p.agency {
            registry.push_str(&format!("agency = \"{a}\"\n"));
        }
        if let Some(m) = p.municipality {
            registry.push_str(&format!("municipality = \"{m}\"\n"));
        }
        if amqp_users {
            registry.push_str(&format!("amqp_user = \"{}\"\n", p.id));
        }
        if let Some(m) = p.mailbox {
            registry.push_str(&format!("mailbox = \"{m}\"\n"));
        }
        if let Some(h) = p.office_hours {
            registry.push_str(&format!("office_hours = \"{h}\"\n"));
        }
        if p.role == "agency" {
            registry.push_str("show_officer_name = true\n");
        }
        registry.push_str(&made.registry_entry);
        registry.push('\n');
    }
    let path = dir.join("registry.toml");
    std::fs::write(&path, registry)?;
    std::fs::write(dir.join("routing.toml"), ROUTING_EXAMPLE)?;
    Ok(path)
}

/// The broker configuration the demo runs with, on a plain AMQP URL.
pub fn broker_config(
    dir: &Path,
    amqp_url: &str,
    time_scale: u32,
    smtp_port: Option<u16>,
    ops: &str,
) -> anyhow::Result<Config> {
    let plain = Transport::Plain {
        url: amqp_url.to_owned(),
    };
    broker_config_via(dir, &plain, time_scale, smtp_port, ops)
}

/// The broker configuration the demo runs with.
pub fn broker_config_via(
    dir: &Path,
    transport: &Transport,
    time_scale: u32,
    smtp_port: Option<u16>,
    ops: &str,
) -> anyhow::Result<Config> {
    let amqp = transport.toml("varsel-broker");
    let smtp = smtp_port
        .map(|port| format!("[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"plain\"\nfrom = \"varsel@varsel.example\"\n"))
        .unwrap_or_default();
    let text = format!(
        r#"
[broker]
id = "varsel-broker"
keys = "keys"
registry = "registry.toml"
routing = "routing.toml"
shutdown_grace = "5s"

[amqp]
{amqp}prefetch = 64

[store]
url = "sqlite://varsel.db"

[outbox]
poll = "100ms"
retry_min = "200ms"
retry_max = "5s"

[escalation]
poll = "100ms"
time_scale = {time_scale}

[ops]
listen = "{ops}"
token = "demo-token-0123456789"

{smtp}
"#
    );
    std::fs::write(dir.join("varsel.toml"), &text)?;
    Config::from_toml_str(&text, "varsel.toml", dir).map_err(Into::into)
}

/// A client configuration for one demo participant on a plain AMQP URL.
pub fn client_config(dir: &Path, id: &str, amqp_url: &str) -> anyhow::Result<ClientConfig> {
    let plain = Transport::Plain {
        url: amqp_url.to_owned(),
    };
    client_config_via(dir, id, &plain)
}

/// A client configuration for one demo participant.
pub fn client_config_via(
    dir: &Path,
    id: &str,
    transport: &Transport,
) -> anyhow::Result<ClientConfig> {
    let text = format!(
        "participant = \"{id}\"\nkeys = \"keys\"\nregistry = \"registry.toml\"\nstate = \"state/{id}\"\n[amqp]\n{}",
        transport.toml(id)
    );
    let path = dir.join(format!("{id}.client.toml"));
    std::fs::write(&path, &text)?;
    ClientConfig::from_toml_str(&text, &path.display().to_string(), dir).map_err(Into::into)
}
