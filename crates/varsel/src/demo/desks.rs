//! `varsel demo --desk`: after the story, two desks beside the broker that stays, on loopback:
//! Ektorpsskolan's, with a counsellor's account, and one for the agencies that must acknowledge
//! an alert from it (socialtjänsten, socialjouren after office hours, and the police), with an
//! officer's account for each. The accounts are made with the desk's own code (the same as
//! `varsel desk user add`) and printed once. So that the demo can be tried without an
//! authenticator app, the current code of each account's second factor is printed every 30
//! seconds in the demo's terminal; that is the demo's doing, a desk itself never shows a code.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::task::JoinHandle;

use varsel_desk::accounts::{self, Add};
use varsel_desk::role::Role;
use varsel_desk::totp::Secret;
use varsel_desk::{Config, Running, Store};
use varsel_transport::clock::Clock;
use varsel_transport::shutdown::Signals;

/// One desk of the demo.
struct Plan {
    /// Its directory in the demo's files (desk.toml, desk.sqlite).
    dir: &'static str,
    name: &'static str,
    /// The loopback port it takes if free (else any).
    port: u16,
    /// The host name its address is printed with. The two desks have different ones because a
    /// browser keeps cookies per host, not per port: with one name, signing in to one desk would
    /// replace the session cookie of the other.
    host: &'static str,
    participants: &'static [&'static str],
    /// User name, display name, participant, role, and who that is, for the printout.
    accounts: &'static [(&'static str, &'static str, &'static str, Role, &'static str)],
}

const DESKS: &[Plan] = &[
    Plan {
        dir: "desk-ektorpsskolan",
        name: "Ektorpsskolan",
        port: 8480,
        host: "127.0.0.1",
        participants: &["norrkoping-ektorpsskolan"],
        accounts: &[(
            "kurator",
            "Karin Berg",
            "norrkoping-ektorpsskolan",
            Role::SchoolStaff,
            "counsellor at Ektorpsskolan",
        )],
    },
    Plan {
        dir: "desk-myndigheter",
        name: "Socialtjänsten, socialjouren och Polisen i Norrköping",
        port: 8481,
        host: "localhost",
        // Every required recipient of the demo's route, so every delivery has someone to take
        // it: after office hours the alert goes to socialjouren too.
        participants: &[
            "norrkoping-socialtjansten",
            "norrkoping-socialjouren",
            "polisen-region-ost",
        ],
        accounts: &[
            (
                "socialsekreterare",
                "Ali Hassan",
                "norrkoping-socialtjansten",
                Role::AgencyOfficer,
                "social worker at socialtjänsten",
            ),
            (
                "jour",
                "Sara Nilsson",
                "norrkoping-socialjouren",
                Role::AgencyOfficer,
                "social worker on duty at socialjouren",
            ),
            (
                "polis",
                "Insp. Karin Lund",
                "polisen-region-ost",
                Role::AgencyOfficer,
                "police officer, region Öst",
            ),
        ],
    },
];

/// The demo's running desks, their accounts' secrets, and the task that prints the codes.
pub(super) struct Desks {
    running: Vec<Running>,
    secrets: Vec<(String, Secret)>,
    printer: Option<JoinHandle<()>>,
}

impl Desks {
    /// Prints each account's current code now and at the start of every 30-second step, until
    /// `signals` stop.
    pub(super) fn print_codes(&mut self, signals: &Signals) {
        let secrets = std::mem::take(&mut self.secrets);
        self.printer = Some(tokio::spawn(print_codes(secrets, signals.clone())));
    }

    /// Waits until the signals have stopped every desk (their web servers and inboxes).
    pub(super) async fn wait(self) {
        for r in self.running {
            r.wait().await;
        }
        if let Some(p) = self.printer {
            let _ = p.await;
        }
    }
}

/// A password to type, from the system's random source: 16 hex digits in groups of four.
fn password() -> String {
    let mut b = [0u8; 8];
    SystemRandom::new()
        .fill(&mut b)
        .expect("the system's random source works");
    b.chunks(2)
        .map(|c| format!("{:02x}{:02x}", c[0], c[1]))
        .collect::<Vec<_>>()
        .join("-")
}

/// Starts the desks in new directories in `dir` (the demo's files, where the participants'
/// client configurations are) until `signals` stop; prints their addresses and accounts.
pub(super) async fn start(dir: &Path, signals: &Signals) -> anyhow::Result<Desks> {
    let mut running = Vec::new();
    let mut secrets = Vec::new();
    println!("\nDesks (demo accounts; the passwords and TOTP secrets are printed only here):");
    for plan in DESKS {
        let home = dir.join(plan.dir);
        std::fs::create_dir(&home).with_context(|| format!("creating {}", home.display()))?;
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", plan.port)).await {
            Ok(l) => l,
            Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0").await?,
        };
        let addr = listener.local_addr()?;
        let participants: Vec<String> = plan
            .participants
            .iter()
            .map(|p| format!("\"../{p}.client.toml\""))
            .collect();
        let file = home.join("desk.toml");
        std::fs::write(
            &file,
            format!(
                "listen = \"{addr}\"\nstore = \"desk.sqlite\"\nname = \"{}\"\nparticipants = [{}]\n",
                plan.name,
                participants.join(", ")
            ),
        )?;
        let config = Config::load(&file).map_err(|e| anyhow::anyhow!("{e}"))?;
        let store = Store::open_making_key(&config).await?;
        println!("\n  {}: http://{}:{}/", plan.name, plan.host, addr.port());
        for (username, display_name, participant, role, who) in plan.accounts {
            let password = password();
            let participant = participant.parse()?;
            let new = Add {
                username,
                display_name,
                participant: &participant,
                role: *role,
                password: &password,
            };
            let now = chrono::Utc::now().timestamp_millis();
            let enrolment = accounts::add(&config, &store, &new, now)
                .await
                .with_context(|| format!("adding the demo account {username}"))?;
            println!("    user name: {username}   password: {password}   ({display_name}, {who})");
            println!("      TOTP secret: {}", enrolment.secret.base32());
            println!("      {}", enrolment.uri);
            secrets.push((username.to_string(), enrolment.secret));
        }
        let desk = varsel_desk::start(config, listener, signals.clone(), Clock::system())
            .await
            .with_context(|| format!("starting the desk {}", plan.name))?;
        running.push(desk);
    }
    println!(
        "\nFor the demo only, the current sign-in code of each account is printed here every 30 s\n\
         (use it, or add the secret above to an authenticator app; a desk never shows codes)."
    );
    Ok(Desks {
        running,
        secrets,
        printer: None,
    })
}

async fn print_codes(codes: Vec<(String, Secret)>, signals: Signals) {
    loop {
        let now = chrono::Utc::now();
        let seconds = u64::try_from(now.timestamp()).unwrap_or_default();
        let line: Vec<String> = codes
            .iter()
            .map(|(user, secret)| format!("{user} {}", secret.code_at(seconds)))
            .collect();
        println!(
            "  {} UTC  codes now: {}",
            now.format("%H:%M:%S"),
            line.join("   ")
        );
        let left = 30_000 - now.timestamp_millis().rem_euclid(30_000);
        tokio::select! {
            _ = signals.stopped() => break,
            _ = tokio::time::sleep(Duration::from_millis(left as u64)) => {}
        }
    }
}
