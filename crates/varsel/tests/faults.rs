//! Scale-out and fault injection against the real services: `varsel serve` runs as child
//! processes (two of them side by side on one PostgreSQL database and one RabbitMQ virtual host,
//! or one on SQLite), a school publishes a burst of alerts, and a fault is injected while the
//! burst goes through:
//!
//! - `sigkill_one_of_two_during_burst`: one instance is killed with SIGKILL a third of the way
//!   into a burst of alerts (each with two required recipients and a redelivery timer each); the other takes over its unacked input and, when the leases run
//!   out, its claimed outbox rows and timers;
//! - `postgres_down_for_20_seconds`: the database (a private PostgreSQL cluster started by the
//!   test, so no other test loses its database) stops for 20 s during a burst: both instances
//!   hold their input unacked, report not ready, stay up and catch up when it is back;
//! - `rabbitmq_restart`: the RabbitMQ application is stopped and started again during a burst;
//! - `smtp_down`: email steps fire while the SMTP relay refuses connections; the notices are
//!   retried until it comes up, and alerts are routed and delivered meanwhile;
//! - `slow_smtp_sends_each_notice_once_and_holds_up_no_delivery`: the relay answers each
//!   notice seconds late, longer than the outbox lease; every notice still goes out once, and
//!   urgent deliveries do not wait behind the notices;
//! - `sqlite_disk_full_and_read_only`: one instance on SQLite whose disk fills up (a small tmpfs)
//!   and, separately, whose files become immutable: it refuses to ack, stays alive, reports not
//!   ready and recovers. Mounting and `chattr` need root (directly or through `sudo -n`); where
//!   neither is possible the test fails and says why: it never passes without having run.
//!
//! Every test ends with the same check, read from the store and the agencies' inboxes: every
//! alert was routed once, reached every required recipient at least once (received), was
//! processed exactly once per delivery id by each agency's client, every due timer fired once
//! (one `escalation_*` audit entry per timer), nothing was refused, and the audit log is one
//! valid hash chain although several instances wrote it.
//!
//! The brokers as child processes, the per-test database, the burst and the final check live
//! in `varsel_testkit::{fleet, accounting}`, shared with `tests/cluster.rs`.
//!
//! The tests disturb shared services, so they live in this binary of their own and take a lock
//! to run one at a time; every disturbance is undone by a guard, also when a test fails.
//! `VARSEL_FAULT_BURST` changes the burst size of the SIGKILL test: 300 by default, to keep the
//! debug-build suite within a few minutes on two cores; `VARSEL_FAULT_BURST=1000` runs the full
//! 1,000-alert burst.

// Each test holds the lock across its awaits on purpose: the tests must not overlap.
#![allow(clippy::await_holding_lock)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;
use varsel_broker::store::Store;
use varsel_protocol::message::Category;

use varsel_testkit::accounting::{
    count_alerts, expect, publish, publish_through, settle_and_check, wait_for, ROUTING,
};
use varsel_testkit::fleet::{admin_pg, free_port, Broker, Database, World};
use varsel_testkit::harness::drain;
use varsel_testkit::process::output_within;
use varsel_testkit::rabbitmq::{self, as_root, is_root};
use varsel_testkit::wait;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

const SCHOOL: &str = "norrkoping-ektorpsskolan";
const SOCIAL: &str = "norrkoping-socialtjansten";
const POLICE: &str = "polisen-region-ost";

fn run(cmd: &mut Command) -> std::process::Output {
    let out = output_within(cmd, Duration::from_secs(300))
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn log(what: impl std::fmt::Display) {
    eprintln!("[faults] {what}");
}

/// A world of `varsel serve` processes on a fresh virtual host of the local RabbitMQ node.
fn world(name: &str, store_url: &str, smtp_port: Option<u16>) -> World {
    World::new(
        Path::new(env!("CARGO_BIN_EXE_varsel")),
        name,
        store_url,
        smtp_port,
        ROUTING,
    )
}

/// A PostgreSQL cluster of the test's own (initdb in a scratch directory, a free port, trust
/// authentication on loopback), so stopping it disturbs nobody else. Stopped and removed on drop.
struct PrivatePg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivatePg {
    fn bin_dir() -> PathBuf {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path().join("bin"))
                    .filter(|p| p.join("initdb").exists())
                    .collect()
            })
            .unwrap_or_default();
        found.sort_by_key(|p| {
            p.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
        });
        found.pop().unwrap_or_else(|| {
            let out = Command::new("pg_config").arg("--bindir").output();
            out.ok()
                .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
                .filter(|p| p.join("initdb").exists())
                .expect("PostgreSQL server binaries (initdb, pg_ctl): deploy/dev/services.sh installs them")
        })
    }

    fn start() -> PrivatePg {
        let bin = PrivatePg::bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("varsel-pg-")
            .tempdir()
            .expect("scratch directory");
        // PostgreSQL refuses to run as root: then it runs as the postgres user.
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(dir.path()));
        }
        let pg = PrivatePg {
            dir,
            bin,
            port: free_port(),
            as_postgres,
        };
        let data = pg.data();
        pg.run(&[
            "initdb",
            "-D",
            &data,
            "-U",
            "varsel",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        pg.start_server();
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(&self, args: &[&str]) {
        let mut c = self.command(args[0]);
        c.args(&args[1..]).current_dir(self.dir.path());
        run(&mut c);
    }

    fn start_server(&self) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=100",
            self.port,
            self.dir.path().display()
        );
        let logfile = self.dir.path().join("postgres.log").display().to_string();
        self.run(&[
            "pg_ctl",
            "-D",
            &self.data(),
            "-l",
            &logfile,
            "-o",
            &opts,
            "-w",
            "start",
        ]);
    }

    fn stop_server(&self) {
        self.run(&["pg_ctl", "-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    fn admin_url(&self) -> String {
        format!("postgres://varsel@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let mut c = self.command("pg_ctl");
        c.args(["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
        let _ = c.stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

/// Stops PostgreSQL on entry to the guarded section; starts it again when dropped.
struct PgStopped<'a>(&'a PrivatePg);

impl<'a> PgStopped<'a> {
    fn stop(pg: &'a PrivatePg) -> PgStopped<'a> {
        pg.stop_server();
        PgStopped(pg)
    }
}

impl Drop for PgStopped<'_> {
    fn drop(&mut self) {
        self.0.start_server();
    }
}

// ---------------------------------------------------------------------------------------------
// RabbitMQ: stop and start the application of the local node.

/// Runs `rabbitmqctl`; a failure fails the test.
fn rabbitmqctl(args: &[&str]) -> std::process::Output {
    rabbitmq::ctl(args).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The RabbitMQ application, stopped; started again when dropped (also when a test fails).
struct RabbitStopped;

impl RabbitStopped {
    fn stop() -> RabbitStopped {
        rabbitmqctl(&["-q", "stop_app"]);
        RabbitStopped
    }
}

impl Drop for RabbitStopped {
    fn drop(&mut self) {
        rabbitmqctl(&["-q", "start_app"]);
        let _ = rabbitmqctl(&["-q", "await_startup"]);
    }
}

/// Messages ready and unacknowledged in one queue of a vhost.
fn queue_depth(vhost: &str, queue: &str) -> (u64, u64) {
    let out = rabbitmqctl(&[
        "-q",
        "list_queues",
        "-p",
        vhost,
        "--no-table-headers",
        "name",
        "messages_ready",
        "messages_unacknowledged",
    ]);
    assert!(
        out.status.success(),
        "rabbitmqctl list_queues failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 3 && f[0] == queue {
            return (f[1].parse().unwrap_or(0), f[2].parse().unwrap_or(0));
        }
    }
    panic!(
        "queue {queue} not listed in vhost {vhost}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
// ---------------------------------------------------------------------------------------------
// The tests.

/// Two instances share the burst; one dies by SIGKILL a third of the way in. Nothing is routed
/// twice, nothing is lost, every timer fires once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_one_of_two_during_burst() {
    let _serial = serial();
    let n: usize = std::env::var("VARSEL_FAULT_BURST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let db = Database::create(&admin_pg()).await;
    let world = world("sigkill", &db.url, None);
    let mut a = world.broker("a");
    let mut b = world.broker("b");
    a.wait_ready(Duration::from_secs(60)).await;
    b.wait_ready(Duration::from_secs(60)).await;
    let store = world.store().await;

    let school = world.client(SCHOOL);
    let started = Instant::now();
    let burst = tokio::spawn(async move {
        let ids = publish(&school, n, Category::DepartureImminent).await;
        (ids, Instant::now())
    });
    wait_for(
        Duration::from_secs(300),
        "a third of the burst to be routed",
        || async { count_alerts(&store).await >= n / 3 },
    )
    .await;
    let cpu_a = a.cpu_seconds().unwrap_or(0.0);
    a.kill();
    let killed = Instant::now();
    log(format!(
        "SIGKILL to instance a after {:?}, {} alerts routed",
        started.elapsed(),
        count_alerts(&store).await
    ));
    let (ids, published) = burst.await.unwrap();
    log(format!("{n} alerts published in {:?}", published - started));
    wait_for(
        Duration::from_secs(300),
        "the whole burst to be routed",
        || async { count_alerts(&store).await >= n },
    )
    .await;
    let routed = started.elapsed();
    log(format!(
        "all {n} alerts routed {routed:?} after the first publish ({:.1} alerts/s); {:?} after the kill",
        n as f64 / routed.as_secs_f64(),
        killed.elapsed()
    ));
    assert!(b.alive(), "instance b survived");
    let settled = settle_and_check(
        &world,
        &expect(&ids, &[SOCIAL, POLICE]),
        Duration::from_secs(300),
    )
    .await;
    log(format!(
        "settled: {settled:?}, {:?} in all",
        started.elapsed()
    ));
    assert_eq!(settled.deliveries, 2 * n);
    assert_eq!(settled.timers, 2 * n, "one redelivery timer per delivery");
    assert!(b.alive(), "instance b survived");
    let cpu = cpu_a + b.cpu_seconds().unwrap_or(0.0);
    log(format!(
        "broker CPU (both instances, user+system): {cpu:.1} s for {n} alerts, {:.1} ms per alert \
         end to end (routing, 2 deliveries, 2 redeliveries, 2 receipts, feedback)",
        cpu * 1000.0 / n as f64
    ));
    b.kill();
    store.close().await;
}

/// PostgreSQL stops for 20 s during a burst: input stays unacked, both instances report not
/// ready and stay up, and they catch up when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_for_20_seconds() {
    let _serial = serial();
    let pg = PrivatePg::start();
    let db = Database::create(&pg.admin_url()).await;
    let world = world("pgdown", &db.url, None);
    let mut a = world.broker("a");
    let mut b = world.broker("b");
    a.wait_ready(Duration::from_secs(60)).await;
    b.wait_ready(Duration::from_secs(60)).await;
    let school = world.client(SCHOOL);

    let mut ids = publish(&school, 40, Category::DepartureImminent).await;
    let store = world.store().await;
    wait_for(
        Duration::from_secs(120),
        "the first alerts to be routed",
        || async { count_alerts(&store).await >= 40 },
    )
    .await;
    store.close().await;

    let recovered;
    {
        let stopped = PgStopped::stop(&pg);
        let down = Instant::now();
        log("PostgreSQL stopped");
        // Alerts keep coming while the database is away.
        let during = publish(&school, 40, Category::DepartureImminent).await;
        ids.extend(&during);
        wait_for(
            Duration::from_secs(15),
            "both instances to report not ready",
            || async { a.readyz().await != Some(200) && b.readyz().await != Some(200) },
        )
        .await;
        // RabbitMQ refreshes a quorum queue's counters every few seconds.
        wait_for(
            Duration::from_secs(15),
            "RabbitMQ to show the input published during the outage",
            || async {
                let (ready, unacked) = queue_depth(&world.vhost, "varsel.intake");
                ready + unacked > 0
            },
        )
        .await;
        let (ready, unacked) = queue_depth(&world.vhost, "varsel.intake");
        log(format!(
            "during the outage: intake holds {ready} ready + {unacked} unacked, readyz a={:?} b={:?}",
            a.readyz().await,
            b.readyz().await
        ));
        assert!(
            ready + unacked > 0,
            "input published during the outage is not acknowledged"
        );
        while down.elapsed() < Duration::from_secs(20) {
            assert!(a.alive() && b.alive(), "both instances stay up");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        drop(stopped);
        recovered = Instant::now();
        log("PostgreSQL started again");
    }
    let ready_a = a.wait_ready(Duration::from_secs(120)).await;
    let ready_b = b.wait_ready(Duration::from_secs(120)).await;
    let store = world.store().await;
    wait_for(
        Duration::from_secs(120),
        "the held alerts to be routed",
        || async { count_alerts(&store).await >= ids.len() },
    )
    .await;
    store.close().await;
    log(format!(
        "recovery: ready again after {:?} (a) / {:?} (b); every held alert routed {:?} after the restart",
        ready_a,
        ready_b,
        recovered.elapsed()
    ));
    let settled = settle_and_check(
        &world,
        &expect(&ids, &[SOCIAL, POLICE]),
        Duration::from_secs(180),
    )
    .await;
    log(format!("settled: {settled:?}"));
    assert!(a.alive() && b.alive(), "both instances stay up");
}

/// The RabbitMQ application stops and starts again during a burst: both instances reconnect,
/// report ready again, and nothing is lost or processed twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_restart() {
    let _serial = serial();
    let db = Database::create(&admin_pg()).await;
    let world = world("rmqrestart", &db.url, None);
    let mut a = world.broker("a");
    let mut b = world.broker("b");
    a.wait_ready(Duration::from_secs(60)).await;
    b.wait_ready(Duration::from_secs(60)).await;
    let school = world.client(SCHOOL);
    let mut ids = publish(&school, 40, Category::DepartureImminent).await;

    let restarted;
    {
        let stopped = RabbitStopped::stop();
        let down = Instant::now();
        log("RabbitMQ application stopped");
        wait_for(
            Duration::from_secs(30),
            "both instances to report not ready",
            || async { a.readyz().await != Some(200) && b.readyz().await != Some(200) },
        )
        .await;
        while down.elapsed() < Duration::from_secs(10) {
            assert!(a.alive() && b.alive(), "both instances stay up");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        drop(stopped);
        restarted = Instant::now();
        log("RabbitMQ application started again");
    }
    let ready_a = a.wait_ready(Duration::from_secs(120)).await;
    let ready_b = b.wait_ready(Duration::from_secs(120)).await;
    log(format!(
        "recovery: ready again {:?} (a) / {:?} (b) after the restart, {:?} in all",
        ready_a,
        ready_b,
        restarted.elapsed()
    ));
    ids.extend(
        publish_through(&school, 40, Duration::from_secs(120))
            .await
            .confirmed,
    );
    let settled = settle_and_check(
        &world,
        &expect(&ids, &[SOCIAL, POLICE]),
        Duration::from_secs(180),
    )
    .await;
    log(format!(
        "settled {:?} after the restart: {settled:?}",
        restarted.elapsed()
    ));
    assert!(a.alive() && b.alive(), "both instances stay up");
}

/// The email notices of `alerts` in the outbox (an empty list while the store is unreachable).
async fn emails(store: Store, alerts: Vec<Uuid>) -> Vec<varsel_broker::store::OutboxRow> {
    let mut rows = Vec::new();
    for id in alerts {
        rows.extend(
            store
                .outbox_of(id)
                .await
                .unwrap_or_default()
                .into_iter()
                .filter(|o| o.channel == varsel_broker::store::Channel::Email),
        );
    }
    rows
}

/// The SMTP relay is down while email steps fire: the notices wait in the outbox and are
/// retried; alerts are routed and received meanwhile; when the relay comes up every notice
/// goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down() {
    let _serial = serial();
    let db = Database::create(&admin_pg()).await;
    let relay: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let world = world("smtpdown", &db.url, Some(relay.port()));
    let mut a = world.broker("a");
    let mut b = world.broker("b");
    a.wait_ready(Duration::from_secs(60)).await;
    b.wait_ready(Duration::from_secs(60)).await;
    let school = world.client(SCHOOL);
    let n = 20;
    let ids = publish(&school, n, Category::SuspectedAbroad).await;
    let store = world.store().await;

    // Every email step fires and its notice is tried more than once, in vain.
    wait_for(
        Duration::from_secs(120),
        "every email notice to be retried",
        || {
            let (store, ids) = (store.clone(), ids.clone());
            async move {
                let rows = emails(store, ids).await;
                rows.len() == n && rows.iter().all(|o| o.attempts >= 2)
            }
        },
    )
    .await;
    // Meanwhile the alerts went through: social services receives every one.
    let social = world.client(SOCIAL);
    wait_for(
        Duration::from_secs(120),
        "every delivery to be received",
        || async {
            drain(&social).await;
            let mut all = true;
            for id in &ids {
                let ds = store.deliveries_of(*id).await.unwrap_or_default();
                all &= ds.len() == 1 && ds.iter().all(|d| d.received_at.is_some());
            }
            all
        },
    )
    .await;
    let pending = emails(store.clone(), ids.clone()).await;
    assert!(
        pending
            .iter()
            .all(|o| o.state == varsel_broker::store::OutboxState::Pending),
        "no notice was given up while the relay was down"
    );
    log(format!(
        "relay down: {n} alerts routed and received; {n} notices pending after {}..{} attempts",
        pending.iter().map(|o| o.attempts).min().unwrap_or(0),
        pending.iter().map(|o| o.attempts).max().unwrap_or(0)
    ));

    let sink = varsel_testkit::smtp::SmtpSink::start_on(relay).await;
    let up = Instant::now();
    let got = sink.wait_for(n, Duration::from_secs(120)).await;
    log(format!(
        "relay up: {} notices arrived within {:?}",
        got.len(),
        up.elapsed()
    ));
    assert!(
        got.len() >= n,
        "every notice went out once the relay was up"
    );
    assert!(got
        .iter()
        .all(|m| m.to.iter().any(|t| t == "barn.unga@norrkoping.example")));
    let settled =
        settle_and_check(&world, &expect(&ids, &[SOCIAL]), Duration::from_secs(120)).await;
    let sent = emails(store.clone(), ids.clone()).await;
    assert!(sent
        .iter()
        .all(|o| o.state == varsel_broker::store::OutboxState::Sent));
    log(format!("settled: {settled:?}"));
    sink.stop().await;
    store.close().await;
}

/// How long each delivery of `alerts` waited in the outbox, from the commit of its first row to
/// the record of its confirmed publish (both on the brokers' clocks), once every one is sent.
async fn outbox_waits(store: &Store, alerts: &[Uuid], limit: Duration) -> Vec<Duration> {
    wait::value(limit, "every delivery to be published", || async {
        let mut waits = Vec::new();
        for id in alerts {
            let rows = store.outbox_of(*id).await.ok()?;
            let mut first: BTreeMap<Uuid, &varsel_broker::store::OutboxRow> = BTreeMap::new();
            for r in &rows {
                if let Some(d) = r.delivery {
                    first.entry(d).or_insert(r);
                }
            }
            if first.is_empty() {
                return None;
            }
            for r in first.values() {
                waits.push((r.sent_at? - r.created_at).to_std().ok()?);
            }
        }
        Some(waits)
    })
    .await
}

/// The median and the longest of some waits.
fn median_max(waits: &[Duration]) -> (Duration, Duration) {
    let mut sorted = waits.to_vec();
    sorted.sort();
    (
        sorted.get(sorted.len() / 2).copied().unwrap_or_default(),
        sorted.last().copied().unwrap_or_default(),
    )
}

/// A slow mail relay (each notice's data answered 4 s late) and two instances on one PostgreSQL
/// database whose outbox lease (1 s) is shorter than that (issue 13, defect 5): every email step
/// sends its notice exactly once, and the urgent deliveries of alerts raised while the notices
/// crawl out leave the outbox about as fast as with nothing to mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_smtp_sends_each_notice_once_and_holds_up_no_delivery() {
    const DELAY: Duration = Duration::from_secs(4);
    const MAILED: usize = 12;
    const URGENT: usize = 10;
    let _serial = serial();
    let db = Database::create(&admin_pg()).await;
    let sink = varsel_testkit::smtp::SmtpSink::start().await;
    let mut world = world("slowsmtp", &db.url, Some(sink.port()));
    // Shorter than the relay's delay: only a renewed lease keeps the other instance from taking
    // over a notice that is being sent.
    world.config = world
        .config
        .replace("[outbox]\nlease = \"5s\"", "[outbox]\nlease = \"1s\"");
    assert!(world.config.contains("[outbox]\nlease = \"1s\""));
    let mut a = world.broker("a");
    let mut b = world.broker("b");
    a.wait_ready(Duration::from_secs(60)).await;
    b.wait_ready(Duration::from_secs(60)).await;
    let school = world.client(SCHOOL);
    let store = world.store().await;

    // Nothing to mail: how long urgent deliveries wait in the outbox.
    let quick = publish(&school, URGENT, Category::DepartureImminent).await;
    let quick_waits = outbox_waits(&store, &quick, Duration::from_secs(120)).await;

    // The relay slows down; notices fall due one second after their alerts.
    sink.set_data_delay(DELAY);
    let mailed = publish(&school, MAILED, Category::SuspectedAbroad).await;
    wait_for(
        Duration::from_secs(60),
        "the first notice's data to reach the slow relay",
        || async { !sink.messages().is_empty() },
    )
    .await;
    let slow = publish(&school, URGENT, Category::DepartureImminent).await;
    let slow_waits = outbox_waits(&store, &slow, Duration::from_secs(120)).await;
    let ((quick_median, quick_max), (slow_median, slow_max)) =
        (median_max(&quick_waits), median_max(&slow_waits));
    log(format!(
        "urgent deliveries' outbox wait: median {quick_median:?} (longest {quick_max:?}) with \
         nothing to mail, median {slow_median:?} (longest {slow_max:?}) while notices go to a \
         relay answering {DELAY:?} late: {:.1}x",
        slow_median.as_secs_f64() / quick_median.as_secs_f64().max(0.001)
    ));

    // Every notice is recorded sent; then long enough for a late second copy to arrive.
    let recorded = wait::holds(
        Duration::from_secs(120),
        Duration::from_millis(200),
        "every notice to be recorded sent",
        || {
            let (store, ids) = (store.clone(), mailed.clone());
            async move {
                let rows = emails(store, ids).await;
                rows.len() == MAILED
                    && rows
                        .iter()
                        .all(|o| o.state == varsel_broker::store::OutboxState::Sent)
            }
        },
    )
    .await;
    tokio::time::sleep(DELAY + Duration::from_secs(2)).await;
    let rows = emails(store.clone(), mailed.clone()).await;
    let got = sink.messages();
    let copies: Vec<usize> = mailed
        .iter()
        .map(|id| {
            got.iter()
                .filter(|m| m.body().contains(&id.to_string()))
                .count()
        })
        .collect();
    log(format!(
        "{} notices arrived for {MAILED} email steps (copies per step {copies:?}); outbox \
         attempts per notice {:?}; recorded: {recorded:?}",
        got.len(),
        rows.iter().map(|o| o.attempts).collect::<Vec<_>>()
    ));
    assert!(recorded.is_ok(), "every notice was recorded sent");
    assert_eq!(got.len(), MAILED, "one notice per email step, no more");
    assert!(copies.iter().all(|n| *n == 1), "each step's notice once");
    // The urgent alerts were raised while notices were still going out, and did not wait for
    // them: every one left the outbox sooner than a single notice took.
    let last_notice = rows.iter().filter_map(|o| o.sent_at).max().expect("sent");
    let mut slow_created = Vec::new();
    for id in &slow {
        slow_created.extend(
            store
                .outbox_of(*id)
                .await
                .unwrap()
                .into_iter()
                .map(|o| o.created_at),
        );
    }
    assert!(slow_created.iter().min().expect("rows") < &last_notice);
    assert!(
        slow_max < DELAY,
        "urgent deliveries waited up to {slow_max:?} behind notices taking {DELAY:?} each"
    );

    let mut expected = expect(&quick, &[SOCIAL, POLICE]);
    expected.extend(expect(&slow, &[SOCIAL, POLICE]));
    expected.extend(expect(&mailed, &[SOCIAL]));
    let settled = settle_and_check(&world, &expected, Duration::from_secs(120)).await;
    log(format!("settled: {settled:?}"));
    assert!(a.alive() && b.alive(), "both instances stayed up");
    sink.stop().await;
    store.close().await;
}

/// A small tmpfs mounted over a directory, owned by this process's user; unmounted when dropped.
/// Mounting needs root: as root directly, otherwise through `sudo -n`.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(at).map_err(|e| format!("creating {}: {e}", at.display()))?;
        let id = |flag: &str| {
            Command::new("id")
                .arg(flag)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default()
        };
        let options = format!("size={size},uid={},gid={}", id("-u"), id("-g"));
        root_command(
            as_root("mount")
                .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
                .arg(at),
        )?;
        Ok(Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = as_root("umount").arg("-l").arg(&self.0).status();
    }
}

/// Runs a command that needs root; an error carries what it printed.
fn root_command(c: &mut Command) -> Result<(), String> {
    let out = output_within(c, Duration::from_secs(60)).map_err(|e| format!("{c:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{c:?} exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Files made immutable (`chattr +i`: even root cannot write them, through open descriptors
/// too); made writable again when dropped.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    fn set(paths: Vec<PathBuf>) -> Result<Immutable, String> {
        root_command(as_root("chattr").arg("+i").args(&paths))?;
        Ok(Immutable(paths))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = as_root("chattr").arg("-i").args(&self.0).status();
    }
}

/// Fills the file system holding `dir` with one file; returns it.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("create the filler");
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    path
}

/// Removes the file that filled a disk when dropped.
struct Filler(PathBuf);

impl Drop for Filler {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One instance on SQLite: 20 alerts go through; then `break_store` makes the store unwritable
/// and more are published, 20 at a time until the instance holds them. The instance must hold them (not acked), report not ready and
/// stay up; when the guard `break_store` returned is dropped it must catch up.
async fn sqlite_outage<G>(world: &World, broker: &mut Broker, break_store: impl FnOnce() -> G) {
    broker.wait_ready(Duration::from_secs(60)).await;
    let school = world.client(SCHOOL);
    let mut ids = publish(&school, 20, Category::DepartureImminent).await;
    let store = world.store().await;
    wait_for(
        Duration::from_secs(120),
        "the first alerts to be routed",
        || async { count_alerts(&store).await >= 20 },
    )
    .await;
    let guard = break_store();
    // Files made immutable fail the first commit. A full disk fails one only once the WAL
    // outgrows the blocks it already holds (how far it grew before depends on how the first
    // alerts' writes interleaved), so alerts go out 20 at a time until one is held.
    let broken = Instant::now();
    loop {
        ids.extend(publish(&school, 20, Category::DepartureImminent).await);
        let held = wait::holds(
            Duration::from_secs(5),
            Duration::from_millis(200),
            "the instance to hold its input",
            || async {
                broker
                    .log_text()
                    .contains("cannot commit, holding the message")
            },
        )
        .await;
        if held.is_ok() {
            break;
        }
        assert!(
            broken.elapsed() < Duration::from_secs(90),
            "the instance never held its input: {} alerts published since the store broke, {} stored",
            ids.len() - 20,
            count_alerts(&store).await
        );
    }
    log(format!(
        "held after {} alerts published to the broken store",
        ids.len() - 20
    ));
    wait_for(
        Duration::from_secs(30),
        "the instance to report not ready",
        || async { broker.readyz().await == Some(503) },
    )
    .await;
    // RabbitMQ refreshes a quorum queue's counters every few seconds: wait for them to show
    // the held input rather than read them once.
    wait_for(
        Duration::from_secs(30),
        "RabbitMQ to show the held input as not acknowledged",
        || async {
            let (ready, unacked) = queue_depth(&world.vhost, "varsel.intake");
            ready + unacked > 0
        },
    )
    .await;
    let (ready, unacked) = queue_depth(&world.vhost, "varsel.intake");
    log(format!(
        "store unwritable: intake holds {ready} ready + {unacked} unacked; {} of {} alerts stored",
        count_alerts(&store).await,
        ids.len()
    ));
    assert!(count_alerts(&store).await < ids.len());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(broker.alive(), "the instance stays up");
    assert_eq!(broker.readyz().await, Some(503), "still not ready");
    drop(guard);
    let restored = Instant::now();
    let ready_after = broker.wait_ready(Duration::from_secs(120)).await;
    wait_for(
        Duration::from_secs(120),
        "the held alerts to be routed",
        || async { count_alerts(&store).await >= ids.len() },
    )
    .await;
    log(format!(
        "store writable again: ready after {ready_after:?}, all held alerts routed after {:?}",
        restored.elapsed()
    ));
    store.close().await;
    let settled = settle_and_check(
        world,
        &expect(&ids, &[SOCIAL, POLICE]),
        Duration::from_secs(180),
    )
    .await;
    log(format!("settled: {settled:?}"));
    assert!(broker.alive(), "the instance stays up");
}

/// SQLite on a full disk (a 32 MB tmpfs filled to the brim), then SQLite whose files are
/// immutable (read-only even for root).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_disk_full_and_read_only() {
    let _serial = serial();
    {
        let world = world("diskfull", "sqlite://store/varsel.db", None);
        let store_dir = world.path().join("store");
        // Never skipped: a machine where this cannot run fails the test and says why.
        let _mount = Tmpfs::mount(&store_dir, "32m").unwrap_or_else(|e| {
            panic!("this test mounts a tmpfs, which needs root or passwordless sudo: {e}")
        });
        let mut broker = world.broker("a");
        sqlite_outage(&world, &mut broker, || {
            let f = Filler(fill(&store_dir));
            log("disk full");
            f
        })
        .await;
        broker.kill();
    }
    {
        let world = world("readonly", "sqlite://store/varsel.db", None);
        let store_dir = world.path().join("store");
        std::fs::create_dir_all(&store_dir).unwrap();
        let mut broker = world.broker("a");
        sqlite_outage(&world, &mut broker, || {
            let files = vec![store_dir.join("varsel.db"), store_dir.join("varsel.db-wal")];
            let guard = Immutable::set(files)
                .unwrap_or_else(|e| panic!("chattr +i on the store's files: {e}"));
            log("store files immutable");
            guard
        })
        .await;
        broker.kill();
    }
}
