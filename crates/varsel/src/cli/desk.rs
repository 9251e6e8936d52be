//! `varsel desk`: serves the participant desk (`--config desk.toml`), and manages its staff
//! accounts (`varsel desk user add|list|disable`).

use std::io::BufRead;
use std::path::{Path, PathBuf};

use clap::Subcommand;

use varsel_desk::role::Role;
use varsel_desk::{accounts, store, Config, Store};
use varsel_protocol::message::ParticipantId;
use varsel_transport::clock::Clock;
use varsel_transport::shutdown::Signals;

use super::exit::{fail, Failure, EX_CONFIG, EX_DATAERR, EX_SOFTWARE, EX_UNAVAILABLE, EX_USAGE};

/// Run the participant desk (the web application for school staff and agency officers), or
/// manage its accounts.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The desk's configuration file.
    #[arg(long, default_value = "desk.toml", global = true)]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<DeskCommand>,
}

#[derive(Debug, Subcommand)]
enum DeskCommand {
    /// Manage staff accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add an account; the password is read from the first line of standard input. Prints the
    /// TOTP secret to enrol in an authenticator app.
    Add {
        /// The user name to sign in with (a-z, 0-9, '.', '_', '-').
        #[arg(long)]
        username: String,
        /// The person's name, which acknowledgements are signed with.
        #[arg(long)]
        name: String,
        /// The participant the account works for (one the desk serves).
        #[arg(long)]
        participant: String,
        /// school_staff, school_admin, agency_officer or agency_admin.
        #[arg(long)]
        role: String,
    },
    /// List the accounts (no secrets).
    List,
    /// Disable an account and end its sessions.
    Disable { username: String },
}

impl Args {
    /// Whether this runs the desk (rather than managing its accounts).
    pub(super) fn serves(&self) -> bool {
        self.command.is_none()
    }
}

fn load(path: &Path) -> Result<Config, Failure> {
    Config::load(path).map_err(|e| fail(EX_CONFIG)(e.into()))
}

/// Opens the desk's store; `making_key` for the first account, which makes the secrets key when
/// there is none. A missing or wrong key is a configuration problem (it names the file).
async fn open(config: &Config, making_key: bool) -> Result<Store, Failure> {
    let opened = if making_key {
        Store::open_making_key(config).await
    } else {
        Store::open(config).await
    };
    opened.map_err(|e| {
        let code = match e {
            store::Error::Key(_) | store::Error::WrongKey(_) => EX_CONFIG,
            _ => EX_UNAVAILABLE,
        };
        fail(code)(e.into())
    })
}

pub(super) async fn run(args: Args) -> Result<(), Failure> {
    let config = load(&args.config)?;
    let now = chrono::Utc::now().timestamp_millis();
    match args.command {
        None => serve(config).await,
        Some(DeskCommand::User { command }) => {
            match command {
                UserCommand::Add {
                    username,
                    name,
                    participant,
                    role,
                } => {
                    let participant: ParticipantId = participant.parse().map_err(
                        |e: varsel_protocol::message::InvalidValue| fail(EX_USAGE)(e.into()),
                    )?;
                    let role: Role =
                        role.parse()
                            .map_err(|e: varsel_protocol::message::InvalidValue| {
                                fail(EX_USAGE)(e.into())
                            })?;
                    let mut password = String::new();
                    std::io::stdin()
                        .lock()
                        .read_line(&mut password)
                        .map_err(|e| fail(EX_DATAERR)(e.into()))?;
                    let password = password.trim_end_matches(['\r', '\n']);
                    let store = open(&config, true).await?;
                    let new = accounts::Add {
                        username: &username,
                        display_name: &name,
                        participant: &participant,
                        role,
                        password,
                    };
                    let e = accounts::add(&config, &store, &new, now)
                        .await
                        .map_err(|e| fail(EX_DATAERR)(e.into()))?;
                    println!("account {username} added");
                    println!("TOTP secret (base32): {}", e.secret.base32());
                    println!("{}", e.uri);
                    Ok(())
                }
                UserCommand::List => {
                    let store = open(&config, false).await?;
                    let list = store
                        .accounts()
                        .await
                        .map_err(|e| fail(EX_UNAVAILABLE)(e.into()))?;
                    for a in list {
                        let state = if a.disabled_at.is_some() {
                            "disabled"
                        } else if varsel_desk::lockout::locked(a.locked_until, now) {
                            "locked"
                        } else {
                            "active"
                        };
                        println!(
                            "{}\t{}\t{}\t{}\t{state}",
                            a.username, a.display_name, a.participant, a.role
                        );
                    }
                    Ok(())
                }
                UserCommand::Disable { username } => {
                    let store = open(&config, false).await?;
                    accounts::disable(&store, &username, now)
                        .await
                        .map_err(|e| fail(EX_DATAERR)(e.into()))?;
                    println!("account {username} disabled");
                    Ok(())
                }
            }
        }
    }
}

/// Serves the desk until SIGTERM or SIGINT.
async fn serve(config: Config) -> Result<(), Failure> {
    let signals = Signals::from_os().map_err(|e| fail(EX_SOFTWARE)(e.into()))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| fail(EX_UNAVAILABLE)(e.into()))?;
    let running = varsel_desk::start(config, listener, signals, Clock::system())
        .await
        .map_err(|e| fail(EX_CONFIG)(e.into()))?;
    eprintln!("the desk serves on http://{}", running.addr);
    running.wait().await;
    Ok(())
}
