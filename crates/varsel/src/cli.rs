//! The command line: argument definitions, tracing set-up, and dispatch to the library. Failures
//! map to exit codes in the sysexits style: 64 bad usage, 65 refused input, 69 a service (RabbitMQ,
//! the store) unavailable, 78 bad configuration.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use uuid::Uuid;

use crate::demo;
use varsel_broker::audit;
use varsel_broker::daemon;
use varsel_broker::config::{Config, LogFormat};
use varsel_broker::routing;
use varsel_broker::store;
use varsel_participant::client::Client;
use varsel_participant::config::ClientConfig;
use varsel_protocol::alert::Document;
use varsel_protocol::envelope::{self, KeySet};
use varsel_protocol::message::{Header, Outcome, ParticipantId};
use varsel_protocol::registry::Registry;
use varsel_testkit::world;
use varsel_transport::clock;
use varsel_transport::shutdown::Signals;

/// varsel: a secure inter-agency alert broker.
#[derive(Debug, Parser)]
#[command(name = "varsel", version, about)]
pub struct Cli {
    /// Log format: text or json.
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the broker daemon.
    Serve {
        #[arg(long, default_value = "varsel.toml")]
        config: PathBuf,
    },
    /// Check a daemon configuration, its registry and routing table, without starting anything.
    Check {
        #[arg(long, default_value = "varsel.toml")]
        config: PathBuf,
    },
    /// Make a participant's signing and sealing keys and print its registry entry.
    Keygen {
        /// The participant id, e.g. norrkoping-ektorpsskolan.
        #[arg(long)]
        id: String,
        /// The directory to write the private key files to (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Seal and sign a document offline (no broker needed); writes the JWS to standard output.
    Seal {
        #[arg(long)]
        registry: PathBuf,
        /// The sender's signing key file (<id>.signing.pem; its sealing keys lie beside it).
        #[arg(long)]
        key: PathBuf,
        /// The participant whose sealing key the sections are wrapped to.
        #[arg(long)]
        to: String,
        /// The alert, update or cancel document (JSON).
        document: PathBuf,
    },
    /// Verify a message offline and open the sections the key may read; prints JSON.
    Open {
        #[arg(long)]
        registry: PathBuf,
        /// The reader's signing key file (<id>.signing.pem; its sealing keys lie beside it).
        #[arg(long)]
        key: PathBuf,
        /// The message (JWS compact serialization).
        message: PathBuf,
    },
    /// Send an alert, update or cancel (participant client).
    Send {
        #[arg(long, default_value = "client.toml")]
        config: PathBuf,
        document: PathBuf,
    },
    /// Read your inbox, open what you are granted and send receipts (participant client).
    Inbox {
        #[arg(long, default_value = "client.toml")]
        config: PathBuf,
        /// Keep reading until interrupted.
        #[arg(long)]
        follow: bool,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge a delivery as a named officer (participant client).
    Ack {
        #[arg(long, default_value = "client.toml")]
        config: PathBuf,
        delivery: Uuid,
        #[arg(long)]
        officer: String,
        /// case_opened, already_known, not_our_jurisdiction, forwarded or no_action_needed.
        #[arg(long)]
        outcome: String,
    },
    /// Show alerts and deliveries from the ops API.
    Status {
        /// The ops API, e.g. http://127.0.0.1:9471
        #[arg(long, env = "VARSEL_OPS_URL", default_value = "http://127.0.0.1:9471")]
        url: String,
        #[arg(long, env = "VARSEL_OPS_TOKEN")]
        token: Option<String>,
        #[arg(long)]
        alert: Option<Uuid>,
        #[arg(long)]
        overdue: bool,
    },
    /// Check or explain a routing table.
    Routes {
        #[command(subcommand)]
        command: RoutesCommand,
    },
    /// Verify or export the hash-chained audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// RabbitMQ set-up generated from the registry.
    Rabbitmq {
        #[command(subcommand)]
        command: RabbitmqCommand,
    },
    /// Client and server certificates for AMQPS (a demo CA for trying varsel).
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// Run the whole story: keys, registry, routing, broker, a school, agencies. By default over
    /// mutual TLS on the dev TLS node (deploy/dev/rabbitmq-tls.sh, certs-example/make.sh).
    Demo {
        /// Where the demo keeps its files (default: a new temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// AMQP URL of the RabbitMQ to use: amqps:// (client certificates from --certs) or
        /// amqp:// with user and password.
        #[arg(long, env = "VARSEL_AMQP_URL", default_value = world::TLS_URL)]
        amqp: String,
        /// The directory with ca.pem and each participant's <id>.pem and <id>.key.
        #[arg(long, default_value = world::CERTS_DIR)]
        certs: PathBuf,
        /// Run on the plain local RabbitMQ as guest (amqp://127.0.0.1:5672/varsel-demo).
        #[arg(long, conflicts_with = "amqp")]
        plain: bool,
        /// How many times faster than real time the escalation ladder runs.
        #[arg(long, default_value_t = 120)]
        time_scale: u32,
        /// Keep the broker and its dashboard running after the story, until interrupted.
        #[arg(long)]
        stay: bool,
    },
    /// Write the demo's keys, registry and routing table to a directory, without running
    /// anything: for trying `seal`, `open`, `routes explain` and `check` offline.
    World {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Benchmark varsel end to end against a bare RabbitMQ relay on the local RabbitMQ.
    Bench(crate::bench::Args),
}

#[derive(Debug, Subcommand)]
pub enum RabbitmqCommand {
    /// Print RabbitMQ definitions (JSON) for the registry: vhost, users without passwords
    /// (certificate login), topology, policies and least-privilege permissions.
    Definitions {
        /// The registry; or --demo for the demo's participants.
        #[arg(long, required_unless_present = "demo")]
        registry: Option<PathBuf>,
        /// Use the demo's participants instead of a registry.
        #[arg(long, conflicts_with = "registry")]
        demo: bool,
        #[arg(long, default_value = "varsel")]
        vhost: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Make a demo CA (ca.pem, ca.key) in DIR if there is none, a RabbitMQ server certificate
    /// for localhost, and a client certificate for every participant that lacks one.
    /// For trying varsel only: production certificates come from your own PKI.
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// The registry whose participants get certificates (common name = amqp_user or id).
        #[arg(long, required_unless_present = "demo")]
        registry: Option<PathBuf>,
        /// Use the demo's participants instead of a registry.
        #[arg(long, conflicts_with = "registry")]
        demo: bool,
    },
    /// Issue a client certificate for one participant from the CA in --ca (writes <cn>.pem and
    /// <cn>.key to --out).
    Issue {
        /// The directory with ca.pem and ca.key.
        #[arg(long)]
        ca: PathBuf,
        /// The common name: the participant's amqp_user (normally its id).
        #[arg(long)]
        cn: String,
        #[arg(long)]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoutesCommand {
    /// Validate a routing table (and, with --registry, that every participant it names exists).
    Check {
        table: PathBuf,
        #[arg(long)]
        registry: Option<PathBuf>,
    },
    /// Show which rules fire for a header and why, and the resulting recipients.
    Explain {
        #[arg(long)]
        table: PathBuf,
        /// The routing header as JSON (inline, or @file).
        #[arg(long)]
        header: String,
        /// The instant to route at (RFC 3339; default now), for office hours.
        #[arg(long)]
        at: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long)]
        registry: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the whole chain and report the first broken link.
    Verify {
        #[arg(long, default_value = "varsel.toml")]
        config: PathBuf,
    },
    /// Write a self-contained, verifiable record of one alert's history (JSON).
    Export {
        #[arg(long, default_value = "varsel.toml")]
        config: PathBuf,
        #[arg(long)]
        alert: Uuid,
    },
    /// Verify an exported record.
    VerifyExport { file: PathBuf },
}

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

fn fail(code: u8) -> impl FnOnce(anyhow::Error) -> Failure {
    move |error| Failure { code, error }
}

const EX_USAGE: u8 = 64;
const EX_DATAERR: u8 = 65;
const EX_UNAVAILABLE: u8 = 69;
const EX_SOFTWARE: u8 = 70;
const EX_CONFIG: u8 = 78;

/// Parses the process's arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EX_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let format = match cli.log_format.as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            eprintln!("--log-format: expected text or json, not {other:?}");
            return ExitCode::from(EX_USAGE);
        }
    };
    // The demo tells its own story on standard output; its broker logs only warnings.
    init_tracing(format, matches!(cli.command, Command::Serve { .. }));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(EX_SOFTWARE);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("varsel: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}

/// Sets up logging to standard error. Log lines carry ids and codes only, never personal data.
pub fn init_tracing(format: LogFormat, verbose: bool) {
    // The quiet commands (demo, client, offline tools) report AMQP failures as errors of their
    // own; lapin's internal log lines about the same failures would only repeat them.
    let default = if verbose { "info" } else { "warn,lapin=off" };
    let directives = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let filter = tracing_subscriber::EnvFilter::new(directives.as_deref().unwrap_or(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn load_config(path: &Path) -> Result<Config, Failure> {
    Config::load(path).map_err(|e| fail(EX_CONFIG)(e.into()))
}

fn client(config: &Path) -> Result<Client, Failure> {
    let c = ClientConfig::load(config).map_err(|e| fail(EX_CONFIG)(e.into()))?;
    Client::load(c).map_err(|e| fail(EX_CONFIG)(e.into()))
}

fn read_document(path: &Path) -> Result<Document, Failure> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {}", path.display()))
        .map_err(fail(EX_USAGE))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid document", path.display()))
        .map_err(fail(EX_DATAERR))
}

/// Loads a participant's keys from its signing key file and finds its id in the registry.
fn keys_from_file(registry: &Registry, key: &Path) -> Result<(ParticipantId, KeySet), Failure> {
    let name = key
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".signing.pem"))
        .ok_or_else(|| {
            fail(EX_USAGE)(anyhow::anyhow!(
                "--key must name a <participant>.signing.pem file"
            ))
        })?;
    let id: ParticipantId = name
        .parse()
        .map_err(|e: varsel_protocol::message::InvalidValue| fail(EX_USAGE)(e.into()))?;
    let dir = key.parent().unwrap_or(Path::new("."));
    let keys = KeySet::load(dir, &id).map_err(|e| fail(EX_CONFIG)(anyhow::anyhow!("{e}")))?;
    if registry.participant(&id).is_none() {
        return Err(fail(EX_CONFIG)(anyhow::anyhow!(
            "{id} is not in the registry"
        )));
    }
    Ok((id, keys))
}

async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Serve { config } => {
            let config = load_config(&config)?;
            init_tracing(config.log_format, true);
            let signals = Signals::from_os().map_err(|e| fail(EX_SOFTWARE)(e.into()))?;
            let clock = if config.escalation.time_scale > 1 {
                clock::Clock::scaled(config.escalation.time_scale)
            } else {
                clock::Clock::system()
            };
            daemon::run(config, signals, clock).await.map_err(|e| {
                let code = match e {
                    broker::Error::Store(_) => EX_UNAVAILABLE,
                    _ => EX_CONFIG,
                };
                fail(code)(e.into())
            })
        }
        Command::Check { config } => {
            let c = load_config(&config)?;
            let world = daemon::load_world(&c).map_err(|e| fail(EX_CONFIG)(e.into()))?;
            println!(
                "{}: ok (registry {} with {} participants, routing table {})",
                config.display(),
                world.registry.version(),
                world.registry.participants().len(),
                world.table.version()
            );
            Ok(())
        }
        Command::Keygen { id, out } => {
            let id: ParticipantId = id
                .parse()
                .map_err(|e: varsel_protocol::message::InvalidValue| fail(EX_USAGE)(e.into()))?;
            let made = envelope::keygen(&id, &out, chrono::Utc::now())
                .map_err(|e| fail(EX_CANTCREAT)(anyhow::anyhow!("{e}")))?;
            eprintln!(
                "wrote the private keys of {id} to {} (mode 0600)",
                out.display()
            );
            println!("{}", made.registry_entry);
            Ok(())
        }
        Command::Seal {
            registry,
            key,
            to,
            document,
        } => {
            let registry = Registry::load(&registry).map_err(|e| fail(EX_CONFIG)(e.into()))?;
            let (me, keys) = keys_from_file(&registry, &key)?;
            let to: ParticipantId = to
                .parse()
                .map_err(|e: varsel_protocol::message::InvalidValue| fail(EX_USAGE)(e.into()))?;
            let doc = read_document(&document)?;
            let c = Client::offline(registry, me, keys);
            let (_, compact) = c
                .seal_to(&doc, &to, chrono::Utc::now())
                .map_err(|e| match e {
                    varsel_participant::client::Error::Invalid(_) => fail(EX_DATAERR)(e.into()),
                    _ => fail(EX_CONFIG)(e.into()),
                })?;
            println!("{compact}");
            Ok(())
        }
        Command::Open {
            registry,
            key,
            message,
        } => {
            let registry = Registry::load(&registry).map_err(|e| fail(EX_CONFIG)(e.into()))?;
            let (me, keys) = keys_from_file(&registry, &key)?;
            let bytes = std::fs::read(&message)
                .with_context(|| format!("reading {}", message.display()))
                .map_err(fail(EX_USAGE))?;
            let trimmed = bytes.trim_ascii();
            let c = Client::offline(registry, me, keys);
            let opened = c
                .open_offline(trimmed, chrono::Utc::now())
                .map_err(|r| fail(EX_DATAERR)(anyhow::anyhow!("{r}")))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&opened).unwrap_or_default()
            );
            Ok(())
        }
        Command::Send { config, document } => {
            let c = client(&config)?;
            let doc = read_document(&document)?;
            let id = c.send(&doc).await.map_err(|e| match e {
                varsel_participant::client::Error::Invalid(_) => fail(EX_DATAERR)(e.into()),
                varsel_participant::client::Error::Amqp(_)
                | varsel_participant::client::Error::NotConfirmed(_) => {
                    fail(EX_UNAVAILABLE)(e.into())
                }
                _ => fail(EX_CONFIG)(e.into()),
            })?;
            println!("{id}");
            Ok(())
        }
        Command::Inbox {
            config,
            follow,
            json,
        } => {
            let c = client(&config)?;
            let signals = Signals::from_os().map_err(|e| fail(EX_SOFTWARE)(e.into()))?;
            let n = c
                .inbox(follow, &signals, |item| {
                    if json {
                        println!("{}", serde_json::to_string(item).unwrap_or_default());
                    } else {
                        print!("{item}");
                    }
                })
                .await
                .map_err(|e| fail(EX_UNAVAILABLE)(e.into()))?;
            if !json {
                eprintln!("{n} nya meddelanden behandlade");
            }
            Ok(())
        }
        Command::Ack {
            config,
            delivery,
            officer,
            outcome,
        } => {
            let outcome: Outcome = outcome
                .parse()
                .map_err(|e: varsel_protocol::message::InvalidValue| fail(EX_USAGE)(e.into()))?;
            let c = client(&config)?;
            let id = c
                .ack(delivery, &officer, outcome)
                .await
                .map_err(|e| fail(EX_UNAVAILABLE)(e.into()))?;
            println!("{id}");
            Ok(())
        }
        Command::Status {
            url,
            token,
            alert,
            overdue,
        } => {
            let text = crate::status::status(&url, token.as_deref(), alert, overdue)
                .await
                .map_err(|e| fail(EX_UNAVAILABLE)(anyhow::anyhow!("{e}")))?;
            print!("{text}");
            Ok(())
        }
        Command::Routes { command } => routes(command),
        Command::Rabbitmq { command } => rabbitmq_command(command),
        Command::Certs { command } => certs_command(command),
        Command::Audit { command } => audit_command(command).await,
        Command::World { dir } => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating {}", dir.display()))
                .map_err(fail(EX_CANTCREAT))?;
            let registry = world::write_world(&dir).map_err(fail(EX_CANTCREAT))?;
            println!("registry:      {}", registry.display());
            println!("routing table: {}", dir.join("routing.toml").display());
            println!("private keys:  {} (mode 0600)", dir.join("keys").display());
            Ok(())
        }
        Command::Demo {
            dir,
            amqp,
            certs,
            plain,
            time_scale,
            stay,
        } => {
            let transport = if plain {
                world::Transport::Plain {
                    url: "amqp://guest:guest@127.0.0.1:5672/varsel-demo".into(),
                }
            } else if amqp.starts_with("amqps://") {
                let certs = std::path::absolute(&certs).unwrap_or(certs);
                world::Transport::Tls { url: amqp, certs }
            } else {
                world::Transport::Plain { url: amqp }
            };
            let options = demo::Options {
                dir,
                transport,
                time_scale,
                stay,
            };
            demo::run(options).await.map_err(fail(EX_UNAVAILABLE))
        }
        Command::Bench(args) => crate::bench::main(args).await.map_err(fail(EX_UNAVAILABLE)),
    }
}

const EX_CANTCREAT: u8 = 73;

fn accounts_of(
    registry: Option<PathBuf>,
) -> Result<Vec<varsel_broker::rabbitmq::Account>, Failure> {
    match registry {
        Some(r) => {
            let r = Registry::load(&r).map_err(|e| fail(EX_CONFIG)(e.into()))?;
            Ok(varsel_broker::rabbitmq::accounts(&r))
        }
        None => Ok(world::accounts()),
    }
}

fn rabbitmq_command(command: RabbitmqCommand) -> Result<(), Failure> {
    match command {
        RabbitmqCommand::Definitions {
            registry, vhost, ..
        } => {
            let accounts = accounts_of(registry)?;
            let d = varsel_broker::rabbitmq::definitions(&accounts, &vhost);
            println!(
                "{}",
                serde_json::to_string_pretty(&d).map_err(|e| fail(EX_SOFTWARE)(e.into()))?
            );
            Ok(())
        }
    }
}

fn certs_command(command: CertsCommand) -> Result<(), Failure> {
    match command {
        CertsCommand::Init { dir, registry, .. } => {
            let users: Vec<String> = accounts_of(registry)?.into_iter().map(|a| a.user).collect();
            let made = varsel_testkit::certs::init(&dir, &users)
                .map_err(|e| fail(EX_CANTCREAT)(e.into()))?;
            for m in &made {
                eprintln!("made {}", m.display());
            }
            println!(
                "{}: CA, server certificate and {} client certificate(s) ready ({} new); for trying varsel only",
                dir.display(),
                users.len(),
                made.len()
            );
            Ok(())
        }
        CertsCommand::Issue { ca, cn, out, days } => {
            let id = varsel_testkit::certs::issue(
                &ca,
                &out,
                &cn,
                &cn,
                varsel_testkit::certs::Purpose::Client,
                &[],
                varsel_testkit::certs::Validity::For(std::time::Duration::from_secs(
                    days * 24 * 3600,
                )),
            )
            .map_err(|e| fail(EX_CANTCREAT)(e.into()))?;
            println!(
                "issued {} (key {}, mode 0600) for AMQP user {cn}",
                id.cert.display(),
                id.key.display()
            );
            Ok(())
        }
    }
}

fn routes(command: RoutesCommand) -> Result<(), Failure> {
    match command {
        RoutesCommand::Check { table, registry } => {
            let t = routing::Table::load(&table).map_err(|e| fail(EX_CONFIG)(e.into()))?;
            if let Some(r) = registry {
                let r = Registry::load(&r).map_err(|e| fail(EX_CONFIG)(e.into()))?;
                t.check_against(&|id: &ParticipantId| r.participant(id).is_some())
                    .map_err(|e| fail(EX_CONFIG)(e.into()))?;
            }
            println!("{}: ok (version {})", table.display(), t.version());
            Ok(())
        }
        RoutesCommand::Explain {
            table,
            header,
            at,
            registry,
        } => {
            let t = routing::Table::load(&table).map_err(|e| fail(EX_CONFIG)(e.into()))?;
            let text = match header.strip_prefix('@') {
                Some(file) => std::fs::read_to_string(file)
                    .with_context(|| format!("reading {file}"))
                    .map_err(fail(EX_USAGE))?,
                None => header,
            };
            let header: Header = serde_json::from_str(&text)
                .context("--header is not a valid routing header")
                .map_err(fail(EX_DATAERR))?;
            let registry = match registry {
                Some(r) => Some(Registry::load(&r).map_err(|e| fail(EX_CONFIG)(e.into()))?),
                None => None,
            };
            let at = at.unwrap_or_else(chrono::Utc::now);
            let hours = |id: &ParticipantId| {
                registry
                    .as_ref()
                    .and_then(|r| r.participant(id))
                    .and_then(|p| p.office_hours.as_deref())
                    .and_then(|s| s.parse().ok())
            };
            print!("{}", t.explain(&header, at, &hours));
            Ok(())
        }
    }
}

async fn audit_command(command: AuditCommand) -> Result<(), Failure> {
    match command {
        AuditCommand::Verify { config } => {
            let c = load_config(&config)?;
            let store = store::Store::connect(&c.store_url)
                .await
                .map_err(|e| fail(EX_UNAVAILABLE)(e.into()))?;
            let entries = store
                .audit_entries(None)
                .await
                .map_err(|e| fail(EX_UNAVAILABLE)(e.into()))?;
            match audit::verify(&entries) {
                Ok(n) => {
                    println!("audit chain intact: {n} entries");
                    Ok(())
                }
                Err(broken) => Err(fail(EX_DATAERR)(anyhow::anyhow!(
                    "audit chain broken: {broken}"
                ))),
            }
        }
        AuditCommand::Export { config, alert } => {
            let c = load_config(&config)?;
            let store = store::Store::connect(&c.store_url)
                .await
                .map_err(|e| fail(EX_UNAVAILABLE)(e.into()))?;
            let record = audit::export(&store, alert)
                .await
                .map_err(|e| fail(EX_UNAVAILABLE)(anyhow::anyhow!("{e}")))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&record).unwrap_or_default()
            );
            Ok(())
        }
        AuditCommand::VerifyExport { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))
                .map_err(fail(EX_USAGE))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .context("not JSON")
                .map_err(fail(EX_DATAERR))?;
            audit::verify_export(&value)
                .map_err(|b| fail(EX_DATAERR)(anyhow::anyhow!("export does not verify: {b}")))?;
            println!("{}: the exported record verifies", file.display());
            Ok(())
        }
    }
}
