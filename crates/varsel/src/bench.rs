//! `varsel bench`: an end-to-end benchmark on the local RabbitMQ, measured against a bare relay
//! in the same run, so the figures are ratios on one machine at one moment.
//!
//! - **relay**: persistent messages the size of a sealed alert are published with confirms into
//!   a quorum queue; a relay (a child process) consumes them with manual acks, republishes each
//!   to a second quorum queue with a confirm and only then acks; a consumer takes them off the
//!   end. No crypto, no store: the ceiling RabbitMQ sets here.
//! - **varsel**: simulated schools seal and sign real alerts and publish them; the broker (a child
//!   process, `varsel serve`, the release build under test) verifies, routes each to
//!   `--recipients` agencies, commits to the store and delivers; simulated agencies verify and
//!   open their deliveries and send signed receipts; the schools take their feedback.
//!
//! Each is run twice: paced at `--rate` (latency at a fixed load) and as fast as it goes
//! (saturation). Latency is school publish to agency inbox (publish to the end consumer for the
//! relay), on one clock. The broker's (or relay's) CPU time and memory come from
//! `/proc/<pid>/stat` and `/proc/<pid>/status`. Everything runs in a RabbitMQ virtual host of its
//! own (made with `rabbitmqctl`, deleted afterwards).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::Utc;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection};
use serde::Serialize;
use uuid::Uuid;

use varsel_participant::client::{Client, Item};
use varsel_participant::config::ClientConfig;
use varsel_protocol::alert::Document;
use varsel_protocol::envelope;
use varsel_protocol::message::{ParticipantId, Suite};
use varsel_transport::amqp;
use varsel_transport::settings::Amqp;

/// The relay's queues.
const RELAY_IN: &str = "bench.relay.in";
const RELAY_OUT: &str = "bench.relay.out";
const MUNICIPALITY: &str = "0581";

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
        }
    }
}

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub samples: usize,
}

impl Latency {
    fn of(mut v: Vec<f64>) -> Latency {
        if v.is_empty() {
            return Latency::default();
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
        Latency {
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: *v.last().unwrap_or(&0.0),
            samples: v.len(),
        }
    }
}

/// One measured run of one system.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phase {
    /// Alerts published (relay: messages).
    pub alerts: u64,
    /// Messages that reached their end consumer (varsel: deliveries in agency inboxes).
    pub delivered: u64,
    /// varsel: feedback messages the schools received (one per receipt); relay: 0.
    pub feedback: u64,
    /// From the first publish to the last message of the run taken off its queue.
    pub seconds: f64,
    pub alerts_per_s: f64,
    /// Delivered messages per second (varsel: deliveries/s; relay: messages/s).
    pub messages_per_s: f64,
    pub latency: Latency,
    /// CPU time (user + system) of the broker (relay) process during the run.
    pub cpu_s: f64,
    pub cpu_ms_per_alert: f64,
    /// CPU time of the load generators (schools, agencies, publisher and end consumer).
    pub load_cpu_s: f64,
    /// The broker's (relay's) resident memory at the end of the run, KiB.
    pub rss_kib: u64,
    pub complete: bool,
}

/// One system's runs and its memory.
#[derive(Debug, Clone, Default, Serialize)]
pub struct System {
    pub paced: Option<Phase>,
    pub saturation: Option<Phase>,
    /// VmHWM of the broker (relay) process.
    pub peak_rss_kib: u64,
    /// (seconds since the process started, VmRSS KiB) at every sample.
    pub rss: Vec<(f64, u64)>,
}

/// varsel / relay for each figure (lower is better for latency, CPU and memory; higher for
/// throughput).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ratios {
    pub paced_p50: Option<f64>,
    pub paced_p99: Option<f64>,
    pub paced_max: Option<f64>,
    pub saturation_p50: Option<f64>,
    pub saturation_p99: Option<f64>,
    pub saturation_max: Option<f64>,
    /// varsel alerts/s over relay messages/s at saturation.
    pub saturation_throughput: Option<f64>,
    pub cpu_per_alert: Option<f64>,
    pub peak_memory: Option<f64>,
}

/// The whole report (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub settings: Settings,
    pub relay: Option<System>,
    pub varsel: Option<System>,
    pub ratios: Ratios,
    pub targets: Targets,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub rabbitmq: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub alerts: u64,
    pub paced_alerts: u64,
    pub rate: u32,
    pub recipients: usize,
    pub schools: usize,
    pub suite: String,
    pub store: String,
    pub prefetch: u16,
    /// Bytes of one sealed, signed alert (the relay's message size).
    pub alert_bytes: usize,
}

/// The targets, evaluated on this run's ratios.
#[derive(Debug, Clone, Serialize)]
pub struct Targets {
    /// Paced p99 at most 3x the relay's.
    pub paced_p99_within_3x: Option<bool>,
    /// Saturation alerts/s at least 40% of the relay's messages/s.
    pub saturation_at_least_40pct: Option<bool>,
}

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
        if !(self.sample_every > 0.0 && self.sample_every.is_finite()) {
            bail!("--sample-every: expected a positive number of seconds");
        }
        Ok(Options {
            alerts: self.alerts,
            paced_alerts: self
                .paced_alerts
                .unwrap_or(u64::from(self.rate).saturating_mul(15)),
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
        })
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
    let vhost = Vhost::create(&format!("varsel-bench-{}", short_id()))?;
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
        targets: Targets {
            paced_p99_within_3x: None,
            saturation_at_least_40pct: None,
        },
    };
    if o.only != Only::Varsel {
        report.relay = Some(run_relay(&o, &exe, &dir, &url, alert_bytes).await?);
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
    report.targets = Targets {
        paced_p99_within_3x: report.ratios.paced_p99.map(|r| r <= 3.0),
        saturation_at_least_40pct: report.ratios.saturation_throughput.map(|r| r >= 0.4),
    };
    drop(vhost);
    Ok(report)
}

fn short_id() -> String {
    Uuid::now_v7().simple().to_string()[20..].to_owned()
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn ratios(relay: Option<&System>, varsel: Option<&System>) -> Ratios {
    let (Some(r), Some(v)) = (relay, varsel) else {
        return Ratios::default();
    };
    let f = |s: &System, paced: bool, g: &dyn Fn(&Phase) -> f64| {
        if paced {
            s.paced.as_ref()
        } else {
            s.saturation.as_ref()
        }
        .map(g)
    };
    Ratios {
        paced_p50: ratio(
            f(v, true, &|p| p.latency.p50_ms),
            f(r, true, &|p| p.latency.p50_ms),
        ),
        paced_p99: ratio(
            f(v, true, &|p| p.latency.p99_ms),
            f(r, true, &|p| p.latency.p99_ms),
        ),
        paced_max: ratio(
            f(v, true, &|p| p.latency.max_ms),
            f(r, true, &|p| p.latency.max_ms),
        ),
        saturation_p50: ratio(
            f(v, false, &|p| p.latency.p50_ms),
            f(r, false, &|p| p.latency.p50_ms),
        ),
        saturation_p99: ratio(
            f(v, false, &|p| p.latency.p99_ms),
            f(r, false, &|p| p.latency.p99_ms),
        ),
        saturation_max: ratio(
            f(v, false, &|p| p.latency.max_ms),
            f(r, false, &|p| p.latency.max_ms),
        ),
        saturation_throughput: ratio(
            f(v, false, &|p| p.alerts_per_s),
            f(r, false, &|p| p.messages_per_s),
        ),
        cpu_per_alert: ratio(
            f(v, false, &|p| p.cpu_ms_per_alert),
            f(r, false, &|p| p.cpu_ms_per_alert),
        ),
        peak_memory: ratio(Some(v.peak_rss_kib as f64), Some(r.peak_rss_kib as f64)),
    }
}

// ---------------------------------------------------------------------------------------------
// The world: participants, keys, registry, routing table, broker configuration.

struct World {
    dir: PathBuf,
    schools: Vec<ParticipantId>,
    agencies: Vec<ParticipantId>,
}

impl World {
    fn write(dir: &Path, o: &Options) -> anyhow::Result<World> {
        let keys = dir.join("keys");
        std::fs::create_dir_all(&keys)?;
        let from = Utc::now() - chrono::Duration::minutes(5);
        let mut registry = String::from("# varsel bench registry: fresh keys for one run.\n\n");
        let mut add = |id: &str, role: &str, muni: Option<&str>| -> anyhow::Result<ParticipantId> {
            let pid: ParticipantId = id.parse()?;
            let made = envelope::keygen(&pid, &keys, from)
                .with_context(|| format!("making keys for {id}"))?;
            registry.push_str(&format!(
                "[[participant]]\nid = \"{id}\"\nname = \"{id}\"\nrole = \"{role}\"\n"
            ));
            if let Some(m) = muni {
                registry.push_str(&format!("municipality = \"{m}\"\n"));
            }
            registry.push_str("office_hours = \"always\"\n");
            registry.push_str(&made.registry_entry);
            registry.push('\n');
            Ok(pid)
        };
        add("varsel-broker", "broker", None)?;
        add("bench-ops", "ops", None)?;
        let schools = (1..=o.schools)
            .map(|i| {
                add(
                    &format!("bench-school-{i:03}"),
                    "school",
                    Some(MUNICIPALITY),
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let agencies = (1..=o.recipients)
            .map(|i| {
                add(
                    &format!("bench-agency-{i:03}"),
                    "agency",
                    Some(MUNICIPALITY),
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        std::fs::write(dir.join("registry.toml"), registry)?;

        let mut table = String::from(
            "name = \"bench\"\ndefault_recipient = \"bench-ops\"\ndefault_policy = \"bench\"\n\n\
             [[rule]]\nname = \"every-alert\"\nescalation = \"bench\"\n\n[rule.match]\n",
        );
        table.push_str(&format!("municipality = [\"{MUNICIPALITY}\"]\n\n"));
        for a in &agencies {
            table.push_str(&format!(
                "[[rule.recipient]]\nparticipant = \"{a}\"\nrole = \"required\"\n\
                 sections = [\"core\", \"family\", \"travel\", \"school_actions\"]\n\n"
            ));
        }
        // Deadlines far beyond the run: no escalation step fires while it is measured.
        table.push_str(
            "[policy.bench]\nreceipt_deadline = \"1d\"\nack_deadline = \"7d\"\n\n\
             [[policy.bench.step]]\nafter = \"1d\"\naction = \"page_ops\"\n",
        );
        std::fs::write(dir.join("routing.toml"), table)?;
        Ok(World {
            dir: dir.to_path_buf(),
            schools,
            agencies,
        })
    }

    fn client(&self, id: &ParticipantId, url: &str, suite: Suite) -> anyhow::Result<Client> {
        Ok(Client::load(ClientConfig {
            participant: id.clone(),
            keys_dir: self.dir.join("keys"),
            registry: self.dir.join("registry.toml"),
            state_dir: self.dir.join("state").join(id.as_str()),
            suite,
            amqp: Amqp {
                url: url.to_owned(),
                prefetch: 64,
                reconnect_max_delay: Duration::from_secs(5),
                tls: None,
            },
        })?)
    }

    fn sample_alert_bytes(&self, o: &Options) -> anyhow::Result<usize> {
        let c = self.client(&self.schools[0], "amqp://unused", o.suite)?;
        let (_, compact) = c.seal(&document()?, Utc::now())?;
        Ok(compact.len())
    }

    fn broker_config(&self, url: &str, store_url: &str, prefetch: u16) -> anyhow::Result<PathBuf> {
        let text = format!(
            "[broker]\nid = \"varsel-broker\"\nkeys = \"keys\"\nregistry = \"registry.toml\"\n\
             routing = \"routing.toml\"\nshutdown_grace = \"10s\"\n\n\
             [amqp]\nurl = \"{url}\"\nprefetch = {prefetch}\n\n\
             [store]\nurl = \"{store_url}\"\n"
        );
        let path = self.dir.join("varsel.toml");
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

/// The school's example alert, with the departure moved into the future.
fn document() -> anyhow::Result<Document> {
    let mut doc: Document = serde_json::from_str(varsel_testkit::world::ALERT_EXAMPLE)?;
    let departure = Utc::now() + chrono::Duration::hours(12);
    doc.header.planned_departure = Some(departure);
    if let Some(t) = doc.body.travel.as_mut() {
        t.planned_departure = Some(departure);
    }
    Ok(doc)
}

// ---------------------------------------------------------------------------------------------
// RabbitMQ set-up.

fn rabbitmqctl(args: &[&str]) -> anyhow::Result<()> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    let mut c = if root {
        Command::new("rabbitmqctl")
    } else {
        let mut c = Command::new("sudo");
        c.arg("-n").arg("rabbitmqctl");
        c
    };
    let out = c
        .args(args)
        .output()
        .context("running rabbitmqctl (the bench makes its own virtual host)")?;
    if !out.status.success() {
        bail!(
            "rabbitmqctl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A RabbitMQ virtual host for one run.
struct Vhost {
    name: String,
}

impl Vhost {
    fn create(name: &str) -> anyhow::Result<Vhost> {
        rabbitmqctl(&["-q", "add_vhost", name])?;
        let v = Vhost {
            name: name.to_owned(),
        };
        rabbitmqctl(&[
            "-q",
            "set_permissions",
            "-p",
            name,
            "guest",
            ".*",
            ".*",
            ".*",
        ])?;
        Ok(v)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = rabbitmqctl(&["-q", "delete_vhost", &self.name]);
    }
}

/// A fresh PostgreSQL database for one run.
struct PgDatabase {
    admin: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create(admin: &str) -> anyhow::Result<PgDatabase> {
        use sqlx::Connection as _;
        let name = format!("varsel_bench_{}", short_id());
        let mut c = sqlx::PgConnection::connect(admin)
            .await
            .context("connecting to PostgreSQL")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut c)
            .await
            .context("creating the bench database")?;
        let _ = c.close().await;
        let base = match admin.rfind('/') {
            Some(i) if i > admin.find("://").map(|s| s + 2).unwrap_or(0) => &admin[..i],
            _ => admin,
        };
        Ok(PgDatabase {
            admin: admin.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }

    async fn drop_it(self) {
        use sqlx::Connection as _;
        if let Ok(mut c) = sqlx::PgConnection::connect(&self.admin).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut c)
            .await;
            let _ = c.close().await;
        }
    }
}

fn quorum() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args
}

async fn declare_quorum(conn: &Connection, name: &str) -> anyhow::Result<()> {
    let ch = conn.create_channel().await?;
    ch.queue_declare(name.into(), QueueDeclareOptions::durable(), quorum())
        .await?;
    let _ = ch.close(200, "declared".into()).await;
    Ok(())
}

/// Waits until `queue` exists and has a consumer.
async fn wait_for_consumer(conn: &Connection, queue: &str, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let ch = conn.create_channel().await?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        if let Ok(q) = ch
            .queue_declare(queue.into(), passive, FieldTable::default())
            .await
        {
            let _ = ch.close(200, "checked".into()).await;
            if q.consumer_count() > 0 {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("nothing consumed {queue} within {}s", limit.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn confirming(conn: &Connection) -> anyhow::Result<lapin::Channel> {
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    Ok(ch)
}

/// Publishes persistently and waits for the confirm.
async fn publish_confirmed(
    ch: &lapin::Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
) -> anyhow::Result<()> {
    let confirm = ch
        .basic_publish(
            exchange.into(),
            key.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await?
        .await?;
    if confirm.is_nack() {
        bail!("RabbitMQ nacked a publish");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The child process (broker or relay) and its CPU and memory.

struct Proc {
    child: Child,
    started: Instant,
    tick: f64,
}

impl Proc {
    fn spawn(mut cmd: Command, log: &Path) -> anyhow::Result<Proc> {
        let log = std::fs::File::create(log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting the child process")?;
        Ok(Proc {
            child,
            started: Instant::now(),
            tick: clock_ticks(),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn cpu_s(&self) -> f64 {
        cpu_seconds(self.pid(), self.tick).unwrap_or(0.0)
    }

    fn status(&self, field: &str) -> u64 {
        status_kib(self.pid(), field).unwrap_or(0)
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then a grace period, then SIGKILL.
    async fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        for _ in 0..150 {
            if !self.alive() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32, tick: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields after the closing parenthesis are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / tick)
}

/// A `kB` field of `/proc/<pid>/status` (VmRSS, VmHWM).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn self_cpu_s(tick: f64) -> f64 {
    cpu_seconds(std::process::id(), tick).unwrap_or(0.0)
}

/// Samples a process's resident memory until stopped.
fn sample_rss(
    pid: u32,
    started: Instant,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<(f64, u64)>> {
    tokio::spawn(async move {
        let mut out = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            if let Some(kib) = status_kib(pid, "VmRSS") {
                out.push(((started.elapsed().as_secs_f64() * 10.0).round() / 10.0, kib));
            }
            tokio::time::sleep(every).await;
        }
        out
    })
}

// ---------------------------------------------------------------------------------------------
// Progress shared between load generators and the end consumers.

#[derive(Default)]
struct Progress {
    published: AtomicU64,
    delivered: AtomicU64,
    feedback: AtomicU64,
    latencies: Mutex<Vec<f64>>,
    /// varsel: publish instant per alert id and how many deliveries of it are still to come.
    sent: Mutex<HashMap<Uuid, (Instant, usize)>>,
    last: Mutex<Option<Instant>>,
}

impl Progress {
    fn reset(&self) {
        self.published.store(0, Ordering::SeqCst);
        self.delivered.store(0, Ordering::SeqCst);
        self.feedback.store(0, Ordering::SeqCst);
        lock(&self.latencies).clear();
        lock(&self.sent).clear();
        *lock(&self.last) = None;
    }

    fn arrived(&self, latency_ms: Option<f64>) {
        if let Some(l) = latency_ms {
            lock(&self.latencies).push(l);
        }
        self.delivered.fetch_add(1, Ordering::SeqCst);
        *lock(&self.last) = Some(Instant::now());
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits until `done` holds or nothing has moved for `stall`.
async fn settle(done: impl Fn() -> bool, moved: impl Fn() -> u64, stall: Duration) -> bool {
    let mut last = moved();
    let mut since = Instant::now();
    loop {
        if done() {
            return true;
        }
        let now = moved();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() > stall {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How a run is driven: paced at a rate, or as fast as the publishers go.
#[derive(Clone, Copy)]
enum Pace {
    Rate(u32),
    Saturate,
}

/// Publishes `count` items with `publish(i)`: paced from a ticker, or from `workers` loops.
async fn drive<F, Fut>(count: u64, pace: Pace, workers: usize, publish: F)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let publish = Arc::new(publish);
    match pace {
        Pace::Rate(rate) => {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..count {
                tick.tick().await;
                tasks.spawn(publish(i));
                while tasks.try_join_next().is_some() {}
            }
            while tasks.join_next().await.is_some() {}
        }
        Pace::Saturate => {
            let next = Arc::new(AtomicU64::new(0));
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..workers {
                let next = next.clone();
                let publish = publish.clone();
                tasks.spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= count {
                            break;
                        }
                        publish(i).await;
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The bare relay.

/// `varsel bench --serve-relay`: consume `bench.relay.in`, republish each message to
/// `bench.relay.out` with a confirm, then ack. Runs until killed.
pub async fn serve_relay(url: &str, prefetch: u16) -> anyhow::Result<()> {
    let conn = amqp::connect(url, "varsel-bench-relay").await?;
    declare_quorum(&conn, RELAY_IN).await?;
    declare_quorum(&conn, RELAY_OUT).await?;
    let out = confirming(&conn).await?;
    let ch = conn.create_channel().await?;
    ch.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let mut consumer = ch
        .basic_consume(
            RELAY_IN.into(),
            "relay".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    while let Some(d) = consumer.next().await {
        let d = d?;
        let out = out.clone();
        // Confirms are pipelined: each message is republished and acked on its own confirm.
        tokio::spawn(async move {
            if publish_confirmed(&out, "", RELAY_OUT, &d.data)
                .await
                .is_ok()
            {
                let _ = d.acker.ack(BasicAckOptions::default()).await;
            }
        });
    }
    Ok(())
}

async fn run_relay(
    o: &Options,
    exe: &Path,
    dir: &Path,
    url: &str,
    size: usize,
) -> anyhow::Result<System> {
    note(o, "relay: starting");
    let mut cmd = Command::new(exe);
    cmd.args(["bench", "--serve-relay", url, "--prefetch"])
        .arg(o.prefetch.to_string());
    let proc = Proc::spawn(cmd, &dir.join("relay.log"))?;
    let conn = amqp::connect(url, "varsel-bench-load").await?;
    wait_for_consumer(&conn, RELAY_IN, Duration::from_secs(30)).await?;

    let epoch = Instant::now();
    let progress = Arc::new(Progress::default());
    // The end consumer: latency from the publish instant carried in the first 8 bytes.
    let end = conn.create_channel().await?;
    end.basic_qos(o.prefetch.max(64), BasicQosOptions::default())
        .await?;
    let mut consumer = end
        .basic_consume(
            RELAY_OUT.into(),
            "end".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let p = progress.clone();
    let end_task = tokio::spawn(async move {
        while let Some(Ok(d)) = consumer.next().await {
            let now = epoch.elapsed().as_nanos() as u64;
            let sent = d
                .data
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes);
            p.arrived(sent.map(|s| now.saturating_sub(s) as f64 / 1e6));
            let _ = d.acker.ack(BasicAckOptions::default()).await;
        }
    });

    let mut publishers = Vec::new();
    for _ in 0..o.schools {
        publishers.push(confirming(&conn).await?);
    }
    let publishers = Arc::new(publishers);
    let tick = clock_ticks();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(proc.pid(), proc.started, o.sample_every, stop.clone());

    let phase = |pace: Pace, count: u64, label: &'static str| {
        let progress = progress.clone();
        let publishers = publishers.clone();
        let proc = &proc;
        async move {
            progress.reset();
            let cpu0 = proc.cpu_s();
            let load0 = self_cpu_s(tick);
            let t0 = Instant::now();
            let p = progress.clone();
            let pubs = publishers.clone();
            drive(count, pace, pubs.len(), move |i| {
                let ch = pubs[(i as usize) % pubs.len()].clone();
                let p = p.clone();
                async move {
                    let mut body = vec![0x2a_u8; size.max(8)];
                    body[..8].copy_from_slice(&(epoch.elapsed().as_nanos() as u64).to_be_bytes());
                    if publish_confirmed(&ch, "", RELAY_IN, &body).await.is_ok() {
                        p.published.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
            .await;
            let complete = settle(
                || progress.delivered.load(Ordering::SeqCst) >= count,
                || progress.delivered.load(Ordering::SeqCst),
                Duration::from_secs(30),
            )
            .await;
            let phase = finish(
                &progress,
                count,
                t0,
                proc.cpu_s() - cpu0,
                self_cpu_s(tick) - load0,
                proc.status("VmRSS"),
                complete,
                1,
            );
            note(o, &format!("relay {label}: {}", phase_line(&phase)));
            phase
        }
    };
    let _ = phase(Pace::Saturate, warm_up(o), "warm-up").await;
    let paced = if o.paced_alerts > 0 {
        Some(phase(Pace::Rate(o.rate), o.paced_alerts, "paced").await)
    } else {
        None
    };
    let saturation = if o.alerts > 0 {
        Some(phase(Pace::Saturate, o.alerts, "saturation").await)
    } else {
        None
    };
    stop.store(true, Ordering::Relaxed);
    let rss = sampler.await.unwrap_or_default();
    let peak = proc.status("VmHWM");
    end_task.abort();
    proc.stop().await;
    let _ = conn.close(200, "relay done".into()).await;
    Ok(System {
        paced,
        saturation,
        peak_rss_kib: peak,
        rss,
    })
}

#[allow(clippy::too_many_arguments)]
fn finish(
    progress: &Progress,
    count: u64,
    t0: Instant,
    cpu_s: f64,
    load_cpu_s: f64,
    rss_kib: u64,
    complete: bool,
    per_alert: u64,
) -> Phase {
    let end = lock(&progress.last).unwrap_or_else(Instant::now);
    let seconds = end.saturating_duration_since(t0).as_secs_f64().max(1e-9);
    let delivered = progress.delivered.load(Ordering::SeqCst);
    let feedback = progress.feedback.load(Ordering::SeqCst);
    let alerts_done = (delivered / per_alert).min(count);
    Phase {
        alerts: progress.published.load(Ordering::SeqCst),
        delivered,
        feedback,
        seconds,
        alerts_per_s: alerts_done as f64 / seconds,
        messages_per_s: delivered as f64 / seconds,
        latency: Latency::of(std::mem::take(&mut *lock(&progress.latencies))),
        cpu_s,
        cpu_ms_per_alert: if count > 0 {
            cpu_s * 1000.0 / count as f64
        } else {
            0.0
        },
        load_cpu_s,
        rss_kib,
        complete,
    }
}

/// Alerts sent (and not measured) before the runs, so connections and caches are warm.
fn warm_up(o: &Options) -> u64 {
    (o.alerts.max(o.paced_alerts) / 20).clamp(1, 100)
}

fn note(o: &Options, what: &str) {
    if o.verbose {
        eprintln!("[bench] {what}");
    }
}

fn phase_line(p: &Phase) -> String {
    format!(
        "{} alerts, {} delivered, {} feedback in {:.1}s: {:.0} alerts/s, {:.0} msg/s, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, cpu {:.2} ms/alert{}",
        p.alerts,
        p.delivered,
        p.feedback,
        p.seconds,
        p.alerts_per_s,
        p.messages_per_s,
        p.latency.p50_ms,
        p.latency.p99_ms,
        p.latency.max_ms,
        p.cpu_ms_per_alert,
        if p.complete { "" } else { " (INCOMPLETE)" }
    )
}

// ---------------------------------------------------------------------------------------------
// varsel end to end.

async fn run_varsel(
    o: &Options,
    exe: &Path,
    dir: &Path,
    url: &str,
    world: &World,
    store_url: &str,
) -> anyhow::Result<System> {
    note(o, "varsel: starting the broker");
    let config = world.broker_config(url, store_url, o.prefetch)?;
    let mut cmd = Command::new(exe);
    cmd.arg("serve")
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn");
    let mut proc = Proc::spawn(cmd, &dir.join("broker.log"))?;
    let conn = amqp::connect(url, "varsel-bench-load").await?;
    if let Err(e) = wait_for_consumer(&conn, amqp::INTAKE, Duration::from_secs(60)).await {
        let alive = proc.alive();
        proc.stop().await;
        bail!(
            "{e} (broker {}; see {})",
            if alive { "running" } else { "exited" },
            dir.join("broker.log").display()
        );
    }
    let progress = Arc::new(Progress::default());
    let recipients = world.agencies.len();

    // Agencies: verify and open each delivery, send a signed receipt, then ack.
    let mut consumers = Vec::new();
    for id in &world.agencies {
        let client = Arc::new(world.client(id, url, o.suite)?);
        let aconn = amqp::connect(url, &format!("varsel-bench-{id}")).await?;
        let publisher = amqp::Publisher::open(&aconn).await?;
        let ch = aconn.create_channel().await?;
        ch.basic_qos(256, BasicQosOptions::default()).await?;
        let mut consumer = ch
            .basic_consume(
                amqp::inbox(id).as_str().into(),
                "agency".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let p = progress.clone();
        consumers.push(tokio::spawn(async move {
            while let Some(Ok(d)) = consumer.next().await {
                let arrived = Instant::now();
                let (client, publisher, p) = (client.clone(), publisher.clone(), p.clone());
                tokio::spawn(async move {
                    let item = client.open(&d.data, Utc::now());
                    if let Ok(Item::Delivery(del)) = item {
                        let latency = {
                            let mut sent = lock(&p.sent);
                            let l = sent.get_mut(&del.alert).map(|(t, left)| {
                                *left -= 1;
                                (
                                    arrived.saturating_duration_since(*t).as_secs_f64() * 1e3,
                                    *left,
                                )
                            });
                            if let Some((_, 0)) = l {
                                sent.remove(&del.alert);
                            }
                            l.map(|(ms, _)| ms)
                        };
                        p.arrived(latency);
                        let (payload, compact) = client.receipt(del.delivery, Some(del.alert));
                        let _ = client.publish(&publisher, &payload, &compact).await;
                    }
                    let _ = d.acker.ack(BasicAckOptions::default()).await;
                });
            }
            drop(aconn);
        }));
    }
    // Schools: take their feedback off their inboxes.
    for id in &world.schools {
        let ch = conn.create_channel().await?;
        let mut consumer = ch
            .basic_consume(
                amqp::inbox(id).as_str().into(),
                "school".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        let p = progress.clone();
        consumers.push(tokio::spawn(async move {
            while let Some(Ok(_)) = consumer.next().await {
                p.feedback.fetch_add(1, Ordering::SeqCst);
                *lock(&p.last) = Some(Instant::now());
            }
            drop(ch);
        }));
    }
    let mut schools = Vec::new();
    for id in &world.schools {
        let client = world.client(id, url, o.suite)?;
        let (sconn, publisher) = client.connect().await?;
        schools.push((Arc::new(client), publisher, sconn));
    }
    let schools = Arc::new(schools);
    let doc = Arc::new(document()?);
    let tick = clock_ticks();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(proc.pid(), proc.started, o.sample_every, stop.clone());

    let phase = |pace: Pace, count: u64, label: &'static str| {
        let progress = progress.clone();
        let schools = schools.clone();
        let doc = doc.clone();
        let proc = &proc;
        async move {
            progress.reset();
            let cpu0 = proc.cpu_s();
            let load0 = self_cpu_s(tick);
            let t0 = Instant::now();
            let p = progress.clone();
            let s = schools.clone();
            drive(count, pace, s.len(), move |i| {
                let s = s.clone();
                let p = p.clone();
                let doc = doc.clone();
                async move {
                    let (client, publisher, _) = &s[(i as usize) % s.len()];
                    let Ok((payload, compact)) = client.seal(&doc, Utc::now()) else {
                        return;
                    };
                    lock(&p.sent).insert(payload.id, (Instant::now(), recipients));
                    if client.publish(publisher, &payload, &compact).await.is_ok() {
                        p.published.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
            .await;
            let want = count * recipients as u64;
            let complete = settle(
                || {
                    progress.delivered.load(Ordering::SeqCst) >= want
                        && progress.feedback.load(Ordering::SeqCst) >= want
                },
                || {
                    progress.delivered.load(Ordering::SeqCst)
                        + progress.feedback.load(Ordering::SeqCst)
                },
                Duration::from_secs(60),
            )
            .await;
            let phase = finish(
                &progress,
                count,
                t0,
                proc.cpu_s() - cpu0,
                self_cpu_s(tick) - load0,
                proc.status("VmRSS"),
                complete,
                recipients as u64,
            );
            note(o, &format!("varsel {label}: {}", phase_line(&phase)));
            phase
        }
    };
    let _ = phase(Pace::Saturate, warm_up(o), "warm-up").await;
    let paced = if o.paced_alerts > 0 {
        Some(phase(Pace::Rate(o.rate), o.paced_alerts, "paced").await)
    } else {
        None
    };
    let saturation = if o.alerts > 0 {
        Some(phase(Pace::Saturate, o.alerts, "saturation").await)
    } else {
        None
    };
    stop.store(true, Ordering::Relaxed);
    let rss = sampler.await.unwrap_or_default();
    let peak = proc.status("VmHWM");
    for c in consumers {
        c.abort();
    }
    for (_, _, c) in schools.iter() {
        let _ = c.close(200, "bench done".into()).await;
    }
    proc.stop().await;
    let _ = conn.close(200, "bench done".into()).await;
    Ok(System {
        paced,
        saturation,
        peak_rss_kib: peak,
        rss,
    })
}

// ---------------------------------------------------------------------------------------------
// Output.

impl Machine {
    fn probe() -> Machine {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let rabbitmq = Command::new("rabbitmqctl")
            .args(["-q", "version"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            cpu_model,
            kernel,
            rabbitmq,
        }
    }
}

fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) => format!("{v:.digits$}"),
        None => "-".into(),
    }
}

/// One row of the table: label, paced (or saturation), the figure, decimals, the ratio.
type Row<'a> = (&'a str, bool, &'a dyn Fn(&Phase) -> f64, usize, Option<f64>);

/// The report as a readable table.
pub fn table(r: &Report) -> String {
    let s = &r.settings;
    let mut out = format!(
        "varsel bench: {} alerts at saturation, {} paced at {}/s, {} recipients each, {} schools, \
         suite {}, store {}, prefetch {}, alert {} bytes\nmachine: {} CPUs ({}), Linux {}, RabbitMQ {}\n\n",
        s.alerts,
        s.paced_alerts,
        s.rate,
        s.recipients,
        s.schools,
        if s.suite.starts_with("X-WING") { "X-Wing" } else { "X25519" },
        s.store,
        s.prefetch,
        s.alert_bytes,
        r.machine.cpus,
        r.machine.cpu_model,
        r.machine.kernel,
        r.machine.rabbitmq,
    );
    let get = |sys: Option<&System>, paced: bool, f: &dyn Fn(&Phase) -> f64| {
        sys.and_then(|x| {
            if paced {
                x.paced.as_ref()
            } else {
                x.saturation.as_ref()
            }
        })
        .map(f)
    };
    let (rl, vs) = (r.relay.as_ref(), r.varsel.as_ref());
    let rows: Vec<Row> = vec![
        (
            "paced: latency p50 (ms)",
            true,
            &|p| p.latency.p50_ms,
            1,
            r.ratios.paced_p50,
        ),
        (
            "paced: latency p99 (ms)",
            true,
            &|p| p.latency.p99_ms,
            1,
            r.ratios.paced_p99,
        ),
        (
            "paced: latency max (ms)",
            true,
            &|p| p.latency.max_ms,
            1,
            r.ratios.paced_max,
        ),
        (
            "paced: CPU per alert (ms)",
            true,
            &|p| p.cpu_ms_per_alert,
            3,
            None,
        ),
        (
            "saturation: alerts/s",
            false,
            &|p| p.alerts_per_s,
            0,
            r.ratios.saturation_throughput,
        ),
        (
            "saturation: messages/s",
            false,
            &|p| p.messages_per_s,
            0,
            None,
        ),
        (
            "saturation: latency p50 (ms)",
            false,
            &|p| p.latency.p50_ms,
            1,
            r.ratios.saturation_p50,
        ),
        (
            "saturation: latency p99 (ms)",
            false,
            &|p| p.latency.p99_ms,
            1,
            r.ratios.saturation_p99,
        ),
        (
            "saturation: latency max (ms)",
            false,
            &|p| p.latency.max_ms,
            1,
            r.ratios.saturation_max,
        ),
        (
            "saturation: CPU per alert (ms)",
            false,
            &|p| p.cpu_ms_per_alert,
            3,
            r.ratios.cpu_per_alert,
        ),
        (
            "saturation: load generators' CPU (s)",
            false,
            &|p| p.load_cpu_s,
            1,
            None,
        ),
    ];
    out.push_str(&format!(
        "{:<38} {:>12} {:>12} {:>14}\n",
        "figure", "relay", "varsel", "varsel/relay"
    ));
    for (label, paced, f, digits, ratio) in rows {
        out.push_str(&format!(
            "{:<38} {:>12} {:>12} {:>14}\n",
            label,
            num(get(rl, paced, f), digits),
            num(get(vs, paced, f), digits),
            num(ratio, 2)
        ));
    }
    out.push_str(&format!(
        "{:<38} {:>12} {:>12} {:>14}\n",
        "peak memory (MiB)",
        num(rl.map(|x| x.peak_rss_kib as f64 / 1024.0), 1),
        num(vs.map(|x| x.peak_rss_kib as f64 / 1024.0), 1),
        num(r.ratios.peak_memory, 2)
    ));
    if let Some(v) = vs {
        let n = v.rss.len();
        if n > 1 {
            let picks: Vec<String> = (0..=8)
                .map(|k| &v.rss[(n - 1) * k / 8])
                .map(|(t, kib)| format!("{t:.0}s {:.1}", *kib as f64 / 1024.0))
                .collect();
            out.push_str(&format!(
                "varsel broker RSS (MiB) over the run: {}\n",
                picks.join(", ")
            ));
        }
    }
    let mark = |b: Option<bool>| match b {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "-",
    };
    out.push_str(&format!(
        "\ntargets: paced p99 <= 3x relay: {}; saturation alerts/s >= 40% of relay messages/s: {}\n",
        mark(r.targets.paced_p99_within_3x),
        mark(r.targets.saturation_at_least_40pct)
    ));
    for (name, sys) in [("relay", rl), ("varsel", vs)] {
        for p in sys
            .iter()
            .flat_map(|x| x.paced.iter().chain(x.saturation.iter()))
        {
            if !p.complete {
                out.push_str(&format!(
                    "warning: a {name} run did not complete ({} of {} delivered)\n",
                    p.delivered, p.alerts
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let l = Latency::of((1..=100).map(f64::from).collect());
        assert_eq!(l.p50_ms, 51.0);
        assert_eq!(l.p99_ms, 99.0);
        assert_eq!(l.max_ms, 100.0);
        assert_eq!(l.samples, 100);
        assert_eq!(Latency::of(Vec::new()).samples, 0);
    }

    #[test]
    fn proc_figures_are_read_for_this_process() {
        assert!(cpu_seconds(std::process::id(), clock_ticks()).is_some());
        assert!(status_kib(std::process::id(), "VmRSS").unwrap_or(0) > 0);
    }
}
