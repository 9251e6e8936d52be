//! `varsel bench`: an end-to-end benchmark on the local RabbitMQ, measured against a bare relay
//! in the same run, so the figures are ratios on one machine at one moment.
//!
//! - **relay**: persistent messages the size of a sealed alert are published with confirms into
//!   a quorum queue; a relay (a child process) consumes them with manual acks, republishes each
//!   to a second quorum queue with a confirm and only then acks; a consumer takes them off the
//!   end. No crypto, no store: the ceiling RabbitMQ sets here.
//! - **crypto floor**: the cryptography the broker does per alert, timed in-process by calling the
//!   functions the broker calls (see `floor`), between the two systems' runs.
//! - **varsel**: simulated schools publish real alerts, sealed and signed before each run starts;
//!   the broker (a child process, `varsel serve`, the release build under test) verifies, routes
//!   each to `--recipients` agencies, commits to the store and delivers; simulated agencies
//!   verify their deliveries and send signed receipts; the schools take their feedback.
//!
//! The relay's saturation run gives the queue-bound ceiling (see `targets::Ceiling`), and the
//! report evaluates the targets on the run's own figures.
//!
//! Each is run twice: paced at `--rate` (latency at a fixed load) and as fast as it goes
//! (saturation). Latency is school publish to agency inbox (publish to the end consumer for the
//! relay), on one clock. The broker's (or relay's) CPU time and memory come from
//! `/proc/<pid>/stat` and `/proc/<pid>/status`. Everything runs in a RabbitMQ virtual host of its
//! own (made with `rabbitmqctl`, deleted afterwards).

mod args;
mod end_to_end;
mod floor;
mod load;
mod postgres;
mod presealed;
mod process;
mod queues;
mod relay;
mod report;
mod table;
mod targets;
mod world;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use varsel_protocol::message::Suite;
use varsel_testkit::rabbitmq::{short_id, Vhost};

pub use args::Args;
pub use relay::serve_relay;
pub use report::{Floor, Latency, Machine, Phase, Ratios, Report, Settings, System};
pub use table::table;
pub use targets::{memory_growth, queue_writes_per_alert, Ceiling, Target, Targets};

use end_to_end::run_varsel;
use load::note;
use postgres::PgDatabase;
use relay::run_relay;
use report::ratios;
use world::World;

/// Which store the broker runs on.
#[derive(Debug, Clone)]
pub enum StoreChoice {
    Sqlite,
    /// A PostgreSQL server URL; the bench makes a fresh database on it and drops it afterwards.
    Postgres(String),
}

/// Which systems to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    Both,
    Relay,
    Varsel,
}

/// How `varsel bench` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Alerts (relay: messages) in the saturation run.
    pub alerts: u64,
    /// Alerts in the paced run (0 skips it).
    pub paced_alerts: u64,
    /// The paced rate, alerts per second.
    pub rate: u32,
    pub recipients: usize,
    pub schools: usize,
    pub suite: Suite,
    pub store: StoreChoice,
    /// The RabbitMQ server, without a virtual host: `amqp://guest:guest@127.0.0.1:5672`.
    pub amqp: String,
    /// The broker's intake prefetch (also the relay's).
    pub prefetch: u16,
    pub only: Only,
    /// Where the run's files go (default: a new temporary directory).
    pub dir: Option<PathBuf>,
    /// The `varsel` executable the broker and relay run as (default: this one).
    pub exe: Option<PathBuf>,
    /// How often memory is sampled.
    pub sample_every: Duration,
    /// Print progress to standard error.
    pub verbose: bool,
    /// A command (and its arguments) the broker runs under, e.g. a profiler; empty: none.
    pub broker_wrapper: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            alerts: 5000,
            paced_alerts: 3000,
            rate: 200,
            recipients: 3,
            schools: 16,
            suite: Suite::X25519,
            store: StoreChoice::Sqlite,
            amqp: "amqp://guest:guest@127.0.0.1:5672".into(),
            prefetch: 64,
            only: Only::Both,
            dir: None,
            exe: None,
            sample_every: Duration::from_secs(1),
            verbose: false,
            broker_wrapper: Vec::new(),
        }
    }
}

/// `varsel bench`: runs, prints the table (or the JSON), writes the JSON report.
pub async fn main(args: Args) -> anyhow::Result<()> {
    if let Some(url) = &args.serve_relay {
        return serve_relay(url, args.prefetch).await;
    }
    let report = run(args.options()?).await?;
    let json = serde_json::to_string_pretty(&report)?;
    match args.json.as_deref() {
        Some(p) if p == Path::new("-") => println!("{json}"),
        Some(p) => {
            std::fs::write(p, &json).with_context(|| format!("writing {}", p.display()))?;
            print!("{}", table(&report));
        }
        None => print!("{}", table(&report)),
    }
    Ok(())
}

/// Runs the benchmark and returns its report.
pub async fn run(o: Options) -> anyhow::Result<Report> {
    if o.recipients == 0 || o.schools == 0 || o.rate == 0 {
        bail!("--recipients, --schools and --rate must be at least 1");
    }
    let dir = match &o.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("varsel-bench-{}", short_id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let exe = match &o.exe {
        Some(e) => e.clone(),
        None => std::env::current_exe().context("finding the varsel executable")?,
    };
    let vhost = Vhost::named(&format!("varsel-bench-{}", short_id()))?;
    let url = format!("{}/{}", o.amqp.trim_end_matches('/'), vhost.name);
    let world = World::write(&dir, &o)?;
    let alert_bytes = world.sample_alert_bytes(&o)?;
    let mut report = Report {
        machine: Machine::probe(),
        settings: Settings {
            alerts: o.alerts,
            paced_alerts: o.paced_alerts,
            rate: o.rate,
            recipients: o.recipients,
            schools: o.schools,
            suite: o.suite.code().to_owned(),
            store: match &o.store {
                StoreChoice::Sqlite => "sqlite".into(),
                StoreChoice::Postgres(_) => "postgres".into(),
            },
            prefetch: o.prefetch,
            alert_bytes,
        },
        relay: None,
        varsel: None,
        ratios: Ratios::default(),
        floor: None,
        ceiling: None,
        targets: targets::evaluate_nothing(),
    };
    if o.only != Only::Varsel {
        let relay = run_relay(&o, &exe, &dir, &url, alert_bytes).await?;
        report.ceiling = relay
            .saturation
            .as_ref()
            .map(|p| Ceiling::of(p.messages_per_s, o.recipients));
        report.relay = Some(relay);
    }
    if o.only != Only::Relay {
        // Between the two systems' runs, while no child process is working.
        let floor = floor::measure(&world, &o, (o.alerts / 5).clamp(10, 200)).await?;
        note(&o, &format!("crypto floor: {floor:?}"));
        report.floor = Some(floor);
    }
    if o.only != Only::Relay {
        let pg = match &o.store {
            StoreChoice::Sqlite => None,
            StoreChoice::Postgres(u) => Some(PgDatabase::create(u).await?),
        };
        let store_url = match &pg {
            None => "sqlite://varsel.db".to_owned(),
            Some(p) => p.url.clone(),
        };
        let result = run_varsel(&o, &exe, &dir, &url, &world, &store_url).await;
        if let Some(p) = pg {
            p.drop_it().await;
        }
        report.varsel = Some(result?);
    }
    report.ratios = ratios(report.relay.as_ref(), report.varsel.as_ref());
    report.targets = report.evaluate_targets();
    drop(vhost);
    Ok(report)
}
