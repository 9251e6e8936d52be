//! The command line: argument definitions, tracing set-up, and dispatch to the library. Failures
//! map to exit codes in the sysexits style: 64 bad usage, 65 refused input, 69 a service (RabbitMQ,
//! the store) unavailable, 78 bad configuration.

mod audit;
mod certs;
mod daemon;
mod demo;
mod desk;
mod docs;
mod exit;
mod load;
mod offline;
mod out;
mod participant;
mod rabbitmq;
mod routes;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use uuid::Uuid;

use varsel_broker::config::LogFormat;
use varsel_testkit::world;

pub use exit::Failure;
use exit::{fail, EX_CONFIG, EX_SOFTWARE, EX_UNAVAILABLE, EX_USAGE};
use offline::SuiteArg;

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
        /// The participants whose sealing keys the sections are wrapped to (repeat the option,
        /// or separate ids with commas).
        #[arg(long, required = true, value_delimiter = ',')]
        to: Vec<String>,
        /// The HPKE suite of the recipients' sealing keys to wrap to.
        #[arg(long, value_enum, default_value_t = SuiteArg::X25519)]
        suite: SuiteArg,
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
    /// Run the participant desk (web application), or manage its accounts (`desk user …`).
    Desk(desk::Args),
    /// Send an alert, update or cancel; or, with --note and --alert, a note to a case
    /// (participant client).
    Send {
        #[arg(long, default_value = "client.toml")]
        config: PathBuf,
        /// The document; with --note, the note's body (JSON: text, for travel_ban_decided
        /// decided_at and reference, for case_closed outcome).
        document: PathBuf,
        /// Post a note of this kind: travel_ban_decided, travel_ban_requested, child_located,
        /// case_taken, information_request, information_reply (agencies), case_closed (the
        /// case's school; outcome returned, problematic_absence, moved, abroad_against_will, other).
        #[arg(long, requires = "alert")]
        note: Option<String>,
        /// The alert whose case the note is about (read it with varsel inbox first).
        #[arg(long, requires = "note")]
        alert: Option<Uuid>,
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
        /// The ops API, e.g. http://127.0.0.1:9471, or https://… behind a TLS proxy.
        #[arg(long, env = "VARSEL_OPS_URL", default_value = "http://127.0.0.1:9471")]
        url: String,
        #[arg(long, env = "VARSEL_OPS_TOKEN")]
        token: Option<String>,
        /// For https://: the CA (PEM) the server's certificate must come from; no other is
        /// trusted. Without it, the system's roots are.
        #[arg(long, env = "VARSEL_OPS_CA")]
        ca: Option<PathBuf>,
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
    /// Retention: what pruning would erase, pruning, legal holds, giving space back.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
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
        /// After the story, also serve two desks on loopback (Ektorpsskolan's; socialtjänsten's
        /// and the police's) with demo accounts printed once; implies --stay.
        #[arg(long)]
        desk: bool,
    },
    /// Write the demo's keys, registry and routing table to a directory, without running
    /// anything: for trying `seal`, `open`, `routes explain` and `check` offline.
    World {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Benchmark varsel end to end against a bare RabbitMQ relay on the local RabbitMQ.
    Bench(crate::bench::Args),
    /// Print the completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, or write one page per command into --dir.
    Man {
        /// Write varsel.1 and a page per subcommand (varsel-serve.1, …) into this directory.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
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

/// Whose signature checkpoints must carry: the registry of the configuration unless one of
/// these is given.
#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// A registry whose brokers' keys may sign checkpoints.
    #[arg(long, conflicts_with = "key")]
    pub registry: Option<PathBuf>,
    /// A file holding the broker's Ed25519 public key (base64url, as in the registry).
    #[arg(long)]
    pub key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the whole chain and report the first broken link; with --checkpoints, also check
    /// the chain against the broker's signed checkpoints (a cut-off or recomputed chain).
    Verify {
        #[arg(long, default_value = "varsel.toml")]
        config: PathBuf,
        /// The checkpoint file ([retention] checkpoint_file, or lines kept from the ops inbox).
        #[arg(long)]
        checkpoints: Option<PathBuf>,
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// Write a self-contained, verifiable record of one alert's history (JSON).
    Export {
        #[arg(long, default_value = "varsel.toml")]
        config: PathBuf,
        #[arg(long)]
        alert: Uuid,
    },
    /// Verify an exported record, and the signature of the checkpoint it embeds.
    VerifyExport {
        file: PathBuf,
        #[command(flatten)]
        keys: KeyArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Erase the content of alerts closed longer than [retention] erase_after, as the broker
    /// does; with --dry-run only show what would go.
    Prune {
        #[arg(long, default_value = "varsel.toml")]
        config: PathBuf,
        #[arg(long)]
        dry_run: bool,
    },
    /// Put an alert under a legal hold: its content is kept however old it is.
    Hold {
        #[arg(long, default_value = "varsel.toml")]
        config: PathBuf,
        alert: Uuid,
        /// The ops user setting it (recorded in the audit log).
        #[arg(long)]
        by: String,
    },
    /// Lift an alert's legal hold.
    Release {
        #[arg(long, default_value = "varsel.toml")]
        config: PathBuf,
        alert: Uuid,
        #[arg(long)]
        by: String,
    },
    /// Rewrite the whole store to give free space back (SQLite: VACUUM, which also turns on
    /// incremental vacuum for a file made before it). Run with the broker stopped.
    Vacuum {
        #[arg(long, default_value = "varsel.toml")]
        config: PathBuf,
    },
}

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
    let serves = match &cli.command {
        Command::Serve { .. } => true,
        Command::Desk(args) => args.serves(),
        _ => false,
    };
    init_tracing(format, serves);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(EX_SOFTWARE);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) if f.code == exit::EX_OK => ExitCode::SUCCESS,
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

/// Hands each command to the file of its group.
async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Serve { config } => daemon::serve(config).await,
        Command::Check { config } => daemon::check(config),
        Command::Keygen { id, out } => offline::keygen(id, out),
        Command::Seal {
            registry,
            key,
            to,
            suite,
            document,
        } => offline::seal(registry, key, &to, suite.into(), document),
        Command::Open {
            registry,
            key,
            message,
        } => offline::open(registry, key, message),
        Command::Desk(args) => desk::run(args).await,
        Command::Send {
            config,
            document,
            note: Some(kind),
            alert: Some(alert),
        } => participant::send_note(config, document, kind, alert).await,
        Command::Send {
            config, document, ..
        } => participant::send(config, document).await,
        Command::Inbox {
            config,
            follow,
            json,
        } => participant::inbox(config, follow, json).await,
        Command::Ack {
            config,
            delivery,
            officer,
            outcome,
        } => participant::ack(config, delivery, officer, outcome).await,
        Command::Status {
            url,
            token,
            ca,
            alert,
            overdue,
        } => {
            let ops = crate::status::Ops::new(&url, token.as_deref(), ca.as_deref())
                .map_err(|e| fail(EX_CONFIG)(anyhow::anyhow!("{e}")))?;
            let text = crate::status::status(&ops, alert, overdue)
                .await
                .map_err(|e| fail(EX_UNAVAILABLE)(anyhow::anyhow!("{e}")))?;
            out::text_of(text)
        }
        Command::Routes { command } => routes::run(command),
        Command::Rabbitmq { command } => rabbitmq::run(command),
        Command::Certs { command } => certs::run(command),
        Command::Audit { command } => audit::run(command).await,
        Command::Store { command } => store::run(command).await,
        Command::World { dir } => demo::write_world(dir),
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { dir } => docs::man(dir),
        Command::Demo {
            dir,
            amqp,
            certs,
            plain,
            time_scale,
            stay,
            desk,
        } => demo::run(dir, amqp, certs, plain, time_scale, stay, desk).await,
        Command::Bench(args) => crate::bench::main(args).await.map_err(fail(EX_UNAVAILABLE)),
    }
}
