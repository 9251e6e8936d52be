//! The daemon (`varsel serve`): loads the registry, routing table and keys, opens the store, and
//! runs the workers until told to stop:
//! - the AMQP supervisor ([`session`]): connects (with backoff, logging every attempt), declares
//!   the topology, consumes `varsel.intake` with manual acks and a bounded prefetch, hands each
//!   batch to [`process`], and reconnects when RabbitMQ goes away;
//! - the outbox worker (`outbox`), the escalation scheduler (`escalation`), the retention
//!   worker (`retention`), the audit checkpoint worker (`evidence::anchor`), the heartbeat
//!   worker (`heartbeat`, with a `[heartbeat]` section) and the ops HTTP server (`ops`);
//! - [`supervise`]: every worker runs supervised; one that dies is logged, shown in `/readyz`
//!   and started again with backoff;
//! - [`watch`]: SIGHUP reloads the registry and routing table (a bad file is refused and the old
//!   one stays), and the store's gauges are refreshed for `/metrics`.
//!
//! Each input message is acknowledged on AMQP only after what it caused is committed to the store.
//! On stop, the message in hand is finished, the rest of the prefetch is left unacknowledged and
//! RabbitMQ redelivers it to the next consumer.

mod park;
mod process;
mod refuse;
mod session;
mod supervise;
mod watch;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{watch as channel, Notify};
use uuid::Uuid;

use crate::commit::Writer;
use crate::config::Config;
use crate::escalation;
use crate::health::{Health, Worker};
use crate::intake::{Intake, World};
use crate::mailer;
use crate::metrics::Metrics;
use crate::ops;
use crate::outbox;
use crate::routing;
use crate::store::Store;
use supervise::Supervisor;
use varsel_protocol::envelope::KeySet;
use varsel_protocol::message::ParticipantId;
use varsel_protocol::registry::{Registry, Role};
use varsel_transport::amqp;
use varsel_transport::clock::Clock;
use varsel_transport::shutdown::Signals;

/// Why the daemon could not start (or had to stop).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Registry(#[from] varsel_protocol::registry::Error),
    #[error(transparent)]
    Routing(#[from] crate::routing::Error),
    #[error("the broker's keys: {0}")]
    Keys(String),
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("the ops server: {0}")]
    Ops(std::io::Error),
}

/// State shared by the broker's tasks.
pub struct Shared {
    world: Arc<RwLock<World>>,
    pub intake: Intake,
    pub store: Store,
    pub clock: Clock,
    pub metrics: Metrics,
    pub config: Config,
    /// Wakes the outbox worker after a commit that enqueued something.
    pub outbox_wake: Arc<Notify>,
    pub health: Arc<Health>,
}

impl Shared {
    /// The current registry and routing table.
    pub fn world(&self) -> World {
        read(&self.world)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether the broker is connected to RabbitMQ and consuming its intake.
    pub fn amqp_ready(&self) -> bool {
        self.health.amqp_ready()
    }

    /// Whether intake is holding input because the store refuses to commit it.
    pub fn intake_held(&self) -> bool {
        self.health.intake_held()
    }
}

fn read(world: &RwLock<World>) -> World {
    world.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Reads the registry in force at each call, for a worker that must follow reloads.
fn registries(world: &Arc<RwLock<World>>) -> escalation::Registries {
    let world = world.clone();
    Arc::new(move || read(&world).registry)
}

/// The mailer's settings from the daemon configuration.
fn mailer_config(s: &crate::config::Smtp) -> mailer::Config {
    mailer::Config {
        host: s.host.clone(),
        port: s.port,
        tls: if s.starttls {
            mailer::TlsMode::StartTls
        } else {
            mailer::TlsMode::Plain
        },
        from: s.from.clone(),
        username: s.username.clone(),
        password: s.password.clone(),
        ca_file: None,
        timeout: Duration::from_secs(30),
    }
}

/// Loads and cross-checks the registry and routing table.
pub fn load_world(config: &Config) -> Result<World, Error> {
    let registry = Registry::load(&config.registry)?;
    let table = routing::Table::load(&config.routing)?;
    check_world(config, &registry, &table)?;
    Ok(World {
        registry: Arc::new(registry),
        table: Arc::new(table),
    })
}

fn check_world(config: &Config, registry: &Registry, table: &routing::Table) -> Result<(), Error> {
    match registry.participant(&config.broker_id) {
        Some(p) if p.role == Role::Broker => {}
        Some(_) => {
            return Err(Error::Setup(format!(
                "{} is in the registry but its role is not broker",
                config.broker_id
            )))
        }
        None => {
            return Err(Error::Setup(format!(
                "the broker id {} is not in the registry {}",
                config.broker_id,
                config.registry.display()
            )))
        }
    }
    table.check_against(&|id: &ParticipantId| registry.participant(id).is_some())?;
    table.check_office_hours(&|id: &ParticipantId| {
        registry
            .participant(id)
            .is_some_and(|p| p.office_hours.is_some())
    })?;
    Ok(())
}

/// A started broker, for tests and the demo: where its ops server listens, and how to stop it.
pub struct Running {
    pub shared: Arc<Shared>,
    pub ops_addr: Option<SocketAddr>,
    task: tokio::task::JoinHandle<()>,
    signals: Signals,
}

impl Running {
    /// Stops the broker and waits for its tasks to finish.
    pub async fn stop(self) {
        self.signals.stop();
        let _ = self.task.await;
    }

    pub fn signals(&self) -> &Signals {
        &self.signals
    }
}

/// Starts the broker's tasks and returns once they are running (the AMQP connection may still be
/// on its way). `ops_listener` lets a caller bind port 0 itself; otherwise the configured address
/// is bound.
pub async fn start(
    config: Config,
    signals: Signals,
    clock: Clock,
    ops_listener: Option<tokio::net::TcpListener>,
) -> Result<Running, Error> {
    let world = load_world(&config)?;
    let keys = KeySet::load(&config.keys_dir, &config.broker_id)
        .map_err(|e| Error::Keys(e.to_string()))?;
    let store = Store::connect(&config.store_url).await?;
    let metrics = Metrics::new();
    let owner = format!(
        "{}-{}",
        config.broker_id,
        &Uuid::now_v7().simple().to_string()[20..]
    );
    let mailer = match &config.smtp {
        Some(s) => {
            Some(mailer::Mailer::new(&mailer_config(s)).map_err(|e| Error::Setup(e.to_string()))?)
        }
        None => None,
    };
    let keys = Arc::new(keys);
    let health = Arc::new(Health::default());
    let shared = Arc::new(Shared {
        world: Arc::new(RwLock::new(world)),
        intake: Intake::new(
            keys.clone(),
            config.broker_id.clone(),
            config.intake.clone(),
            metrics.clone(),
        ),
        store: store.clone(),
        clock: clock.clone(),
        metrics: metrics.clone(),
        outbox_wake: Arc::new(Notify::new()),
        health: health.clone(),
        config: config.clone(),
    });
    let world = shared.world.clone();
    let (c, k, o, wake) = (
        config.clone(),
        keys.clone(),
        owner.clone(),
        shared.outbox_wake.clone(),
    );
    let (st, cl, m) = (store.clone(), clock.clone(), metrics.clone());
    let scheduler = move || escalation::Scheduler {
        store: st.clone(),
        clock: cl.clone(),
        metrics: m.clone(),
        writer: Writer::new(c.broker_id.clone(), k.clone()),
        registry: {
            let world = world.clone();
            Arc::new(move || read(&world).registry)
        },
        owner: o.clone(),
        config: c.escalation.clone(),
        outbox_wake: wake.clone(),
    };
    let ops = Arc::new(ops::Context {
        store: store.clone(),
        clock: clock.clone(),
        metrics: metrics.clone(),
        health,
        token: config.ops.as_ref().and_then(|o| o.token.clone()),
    });
    let health = ops.health.clone();

    let listener = match (ops_listener, &config.ops) {
        (Some(l), _) => Some(l),
        (None, Some(o)) => Some(
            tokio::net::TcpListener::bind(o.listen)
                .await
                .map_err(Error::Ops)?,
        ),
        (None, None) => None,
    };
    let ops_addr = listener.as_ref().and_then(|l| l.local_addr().ok());

    let (link_tx, link_rx) = channel::channel::<Option<amqp::Publisher>>(None);
    let link_tx = Arc::new(link_tx);
    let mut supervisor = Supervisor::new(health, metrics.clone(), signals.clone());
    let outbox = outbox::Worker {
        store: store.clone(),
        owner: owner.clone(),
        config: config.outbox.clone(),
        clock: clock.clone(),
        metrics: metrics.clone(),
        wake: shared.outbox_wake.clone(),
        mailer,
        writer: Arc::new(Writer::new(config.broker_id.clone(), keys.clone())),
        registry: registries(&shared.world),
    };
    let (email, s) = (outbox.clone(), signals.clone());
    supervisor.spawn(Worker::Email, move || email.clone().run_email(s.clone()));
    let s = signals.clone();
    supervisor.spawn(Worker::Outbox, move || {
        outbox.clone().run(link_rx.clone(), s.clone())
    });
    let s = signals.clone();
    supervisor.spawn(Worker::Scheduler, move || scheduler().run(s.clone()));
    let (sh, s) = (shared.clone(), signals.clone());
    supervisor.spawn(Worker::Reload, move || {
        watch::reload_watcher(sh.clone(), s.clone())
    });
    let (sh, s) = (shared.clone(), signals.clone());
    supervisor.spawn(Worker::Stats, move || {
        watch::stats_refresher(sh.clone(), s.clone())
    });
    if let Some(l) = listener {
        // A listener cannot be cloned: a restarted ops server binds the address the first one
        // was given (its port is known by then, also when the caller bound port 0).
        let mut first = Some(l);
        let (addr, s) = (ops_addr, signals.clone());
        supervisor.spawn(Worker::Ops, move || {
            let (first, ops, s) = (first.take(), ops.clone(), s.clone());
            async move {
                let listener = match (first, addr) {
                    (Some(l), _) => l,
                    (None, Some(a)) => match tokio::net::TcpListener::bind(a).await {
                        Ok(l) => l,
                        Err(e) => panic!("binding the ops server to {a} again: {e}"),
                    },
                    (None, None) => panic!("the ops server's address is unknown"),
                };
                ops::serve(listener, ops, s).await
            }
        });
    }
    let retention = crate::retention::Retention {
        store: store.clone(),
        clock: clock.clone(),
        metrics: metrics.clone(),
        actor: config.broker_id.to_string(),
        config: config.retention.clone(),
    };
    let s = signals.clone();
    supervisor.spawn(Worker::Retention, move || retention.clone().run(s.clone()));
    let anchor = crate::evidence::anchor::Anchor {
        store: store.clone(),
        clock: clock.clone(),
        metrics: metrics.clone(),
        writer: Arc::new(Writer::new(config.broker_id.clone(), keys.clone())),
        registry: registries(&shared.world),
        config: config.retention.clone(),
        outbox_wake: shared.outbox_wake.clone(),
    };
    let s = signals.clone();
    supervisor.spawn(Worker::Checkpoint, move || anchor.clone().run(s.clone()));
    if let Some(heartbeat) = config.heartbeat.clone() {
        let heartbeats = crate::heartbeat::Heartbeats {
            store: store.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            writer: Arc::new(Writer::new(config.broker_id.clone(), keys.clone())),
            registry: registries(&shared.world),
            config: heartbeat,
            outbox_wake: shared.outbox_wake.clone(),
            health: shared.health.clone(),
        };
        let s = signals.clone();
        supervisor.spawn(Worker::Heartbeat, move || heartbeats.clone().run(s.clone()));
    }
    let (sh, s) = (shared.clone(), signals.clone());
    supervisor.spawn(Worker::Amqp, move || {
        session::supervise_amqp(sh.clone(), link_tx.clone(), s.clone())
    });
    let mut tasks = supervisor.tasks;

    let grace = config.shutdown_grace;
    let stop = signals.clone();
    let task = tokio::spawn(async move {
        stop.stopped().await;
        let drained =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                grace_s = grace.as_secs(),
                "shutdown grace period over, abandoning tasks (unacked input is redelivered)"
            );
            tasks.abort_all();
        }
        tracing::info!("broker stopped");
    });
    Ok(Running {
        shared,
        ops_addr,
        task,
        signals,
    })
}

/// Runs the broker until `signals` asks it to stop (`varsel serve`).
pub async fn run(config: Config, signals: Signals, clock: Clock) -> Result<(), Error> {
    let running = start(config, signals.clone(), clock, None).await?;
    if let Some(a) = running.ops_addr {
        tracing::info!(%a, "ops HTTP server listening");
    }
    signals.stopped().await;
    running.stop().await;
    Ok(())
}
