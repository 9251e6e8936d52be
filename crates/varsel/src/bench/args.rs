//! `varsel bench` on the command line: the flags and their validation into [`Options`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use varsel_protocol::message::Suite;

use super::presealed::MAX_AGE_S;
use super::{Only, Options, StoreChoice};

/// `varsel bench` on the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Alerts in the saturation run (the relay gets as many messages).
    #[arg(long, default_value_t = 5000)]
    pub alerts: u64,
    /// Alerts in the paced run (default: 15 seconds' worth at --rate; 0 skips it).
    #[arg(long)]
    pub paced_alerts: Option<u64>,
    /// The paced rate, alerts per second.
    #[arg(long, default_value_t = 200)]
    pub rate: u32,
    /// Recipients per alert.
    #[arg(long, default_value_t = 3)]
    pub recipients: usize,
    /// Simulated schools (each publishes over its own connection).
    #[arg(long, default_value_t = 16)]
    pub schools: usize,
    /// The HPKE suite the schools seal with: x25519 or x-wing.
    #[arg(long, default_value = "x25519")]
    pub suite: String,
    /// The broker's store: sqlite, or a PostgreSQL server URL (postgres://…; the bench makes and
    /// drops a database of its own there).
    #[arg(long, default_value = "sqlite")]
    pub store: String,
    /// The RabbitMQ server without a virtual host (the bench makes one with rabbitmqctl).
    #[arg(
        long,
        env = "VARSEL_BENCH_AMQP",
        default_value = "amqp://guest:guest@127.0.0.1:5672"
    )]
    pub amqp: String,
    /// The broker's (and the relay's) prefetch.
    #[arg(long, default_value_t = 64)]
    pub prefetch: u16,
    /// Measure only one side: relay or varsel.
    #[arg(long)]
    pub only: Option<String>,
    /// Where the run's files go (default: a new temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Write the JSON report here ("-" prints it instead of the table).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Seconds between memory samples.
    #[arg(long, default_value_t = 1.0)]
    pub sample_every: f64,
    /// Print progress to standard error.
    #[arg(long, short)]
    pub verbose: bool,
    /// Run the broker under this command, split at spaces (to profile it, e.g. "valgrind
    /// --tool=callgrind --callgrind-out-file=broker.callgrind"); its figures are then the
    /// profiler's, not the broker's.
    #[arg(long)]
    pub broker_wrapper: Option<String>,
    /// Internal: run the bare relay against this AMQP URL (the bench starts it as a child).
    #[arg(long, hide = true)]
    pub serve_relay: Option<String>,
}

impl Args {
    /// The validated options.
    pub fn options(&self) -> anyhow::Result<Options> {
        let suite = match self.suite.to_ascii_lowercase().as_str() {
            "x25519" => Suite::X25519,
            "x-wing" | "xwing" => Suite::XWing,
            other => bail!("--suite: expected x25519 or x-wing, not {other:?}"),
        };
        let store = match self.store.as_str() {
            "sqlite" => StoreChoice::Sqlite,
            u if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                StoreChoice::Postgres(u.to_owned())
            }
            other => bail!("--store: expected sqlite or a postgres:// URL, not {other:?}"),
        };
        let only = match self.only.as_deref() {
            None | Some("both") => Only::Both,
            Some("relay") => Only::Relay,
            Some("varsel") => Only::Varsel,
            Some(other) => bail!("--only: expected relay or varsel, not {other:?}"),
        };
        let paced_alerts = self
            .paced_alerts
            .unwrap_or(u64::from(self.rate).saturating_mul(15));
        // Every paced alert is sealed before the run: the last must still be fresh when the
        // broker takes it, with minutes to spare for a broker that falls behind.
        let paced_s = paced_alerts as f64 / f64::from(self.rate.max(1));
        if paced_s > (MAX_AGE_S - 5 * 60) as f64 {
            bail!(
                "--paced-alerts/--rate: the paced run would take {paced_s:.0}s, but its alerts \
                 are sealed before it starts and the broker refuses alerts older than {}s",
                MAX_AGE_S
            );
        }
        if !(self.sample_every > 0.0 && self.sample_every.is_finite()) {
            bail!("--sample-every: expected a positive number of seconds");
        }
        Ok(Options {
            alerts: self.alerts,
            paced_alerts,
            rate: self.rate,
            recipients: self.recipients,
            schools: self.schools,
            suite,
            store,
            amqp: self.amqp.clone(),
            prefetch: self.prefetch,
            only,
            dir: self.dir.clone(),
            exe: None,
            sample_every: Duration::from_secs_f64(self.sample_every),
            verbose: self.verbose,
            broker_wrapper: self
                .broker_wrapper
                .as_deref()
                .map(|w| w.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
        })
    }
}
