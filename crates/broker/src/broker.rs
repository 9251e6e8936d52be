//! The daemon (`varsel serve`): loads the registry, routing table and keys, opens the store, and
//! runs the workers until told to stop:
//! - the AMQP supervisor: connects (with backoff, logging every attempt), declares the topology,
//!   consumes `varsel.intake` with manual acks and a bounded prefetch, and reconnects when
//!   RabbitMQ goes away;
//! - the outbox worker (`outbox`), the escalation scheduler (`escalation`), and the ops HTTP
//!   server (`ops`);
//! - a reload watcher: SIGHUP reloads the registry and routing table; a bad file is refused and
//!   the old one stays.
//!
//! Each input message is acknowledged on AMQP only after what it caused is committed to the store.
//! On stop, the message in hand is finished, the rest of the prefetch is left unacknowledged and
//! RabbitMQ redelivers it to the next consumer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::Connection;
use serde_json::json;
use tokio::sync::{watch, Notify};
use uuid::Uuid;

use crate::config::Config;
use crate::delivery;
use crate::escalation;
use crate::intake::{Input, Intake, Outcome, World};
use crate::mailer;
use crate::ops;
use crate::ops::Metrics;
use crate::outbox;
use crate::routing;
use crate::store::{NewAudit, NewOutbox, Store, Tx};
use varsel_protocol::envelope::KeySet;
use varsel_protocol::message::{Kind, ParticipantId};
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
    world: RwLock<World>,
    pub intake: Intake,
    pub clock: Clock,
    pub metrics: Metrics,
    pub config: Config,
    /// Wakes the outbox worker after a commit that enqueued something.
    pub outbox_wake: Arc<Notify>,
    amqp_connected: AtomicBool,
    consuming: AtomicBool,
    /// Whether the last store operation succeeded (for readiness).
    pub store_ok: AtomicBool,
    /// Set while intake cannot commit (database away, disk full, store read-only) and holds its
    /// input unacknowledged; a read-only ping would still succeed on a full disk.
    intake_held: AtomicBool,
}

impl Shared {
    /// The current registry and routing table.
    pub fn world(&self) -> World {
        self.world.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn store(&self) -> &Store {
        &self.intake.store
    }

    /// Whether the broker is connected to RabbitMQ and consuming its intake.
    pub fn amqp_ready(&self) -> bool {
        self.amqp_connected.load(Ordering::Relaxed) && self.consuming.load(Ordering::Relaxed)
    }

    /// Whether intake is holding input because the store refuses to commit it.
    pub fn intake_held(&self) -> bool {
        self.intake_held.load(Ordering::Relaxed)
    }
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
    let shared = Arc::new(Shared {
        world: RwLock::new(world),
        intake: Intake::new(
            store.clone(),
            Arc::new(keys),
            config.broker_id.clone(),
            config.intake.clone(),
            metrics.clone(),
        ),
        clock: clock.clone(),
        metrics: metrics.clone(),
        outbox_wake: Arc::new(Notify::new()),
        amqp_connected: AtomicBool::new(false),
        consuming: AtomicBool::new(false),
        store_ok: AtomicBool::new(true),
        intake_held: AtomicBool::new(false),
        config: config.clone(),
    });

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

    let (link_tx, link_rx) = watch::channel::<Option<amqp::Publisher>>(None);
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(
        outbox::Worker {
            store: store.clone(),
            owner: owner.clone(),
            config: config.outbox.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            wake: shared.outbox_wake.clone(),
            mailer,
        }
        .run(link_rx, signals.clone()),
    );
    tasks.spawn(escalation::Scheduler::new(shared.clone(), owner.clone()).run(signals.clone()));
    tasks.spawn(reload_watcher(shared.clone(), signals.clone()));
    tasks.spawn(stats_refresher(shared.clone(), signals.clone()));
    if let Some(l) = listener {
        tasks.spawn(ops::serve(l, shared.clone(), signals.clone()));
    }
    tasks.spawn(supervise_amqp(shared.clone(), link_tx, signals.clone()));

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

/// Keeps one AMQP connection up: connect, declare, consume; on loss, reconnect with backoff.
async fn supervise_amqp(
    shared: Arc<Shared>,
    link: watch::Sender<Option<amqp::Publisher>>,
    signals: Signals,
) {
    let url = shared.config.amqp.url.clone();
    let max_delay = shared.config.amqp.reconnect_max_delay;
    let mut first = true;
    loop {
        let stop = signals.clone();
        let Some(conn) = amqp::connect_with_backoff(
            &shared.config.amqp,
            "varsel-broker",
            max_delay,
            async move { stop.stopped().await },
        )
        .await
        else {
            break;
        };
        if !first {
            shared.metrics.amqp_reconnected();
        }
        first = false;
        tracing::info!(url = %amqp::redact_url(&url), "connected to RabbitMQ");
        let result = session(&shared, &conn, &link, &signals).await;
        let _ = link.send(None);
        shared.amqp_connected.store(false, Ordering::Relaxed);
        shared.consuming.store(false, Ordering::Relaxed);
        shared.metrics.set_amqp_connected(false);
        match result {
            Ok(()) => {
                let _ = conn.close(200, "varsel broker stopping".into()).await;
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, "lost the RabbitMQ connection; reconnecting");
                if signals.is_stopping() {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = signals.stopped() => break,
                }
            }
        }
    }
}

fn participant_ids(world: &World) -> Vec<ParticipantId> {
    world
        .registry
        .participants()
        .iter()
        .map(|p| p.id.clone())
        .collect()
}

/// One connected session: returns Ok on a requested stop, Err when the connection is lost.
async fn session(
    shared: &Arc<Shared>,
    conn: &Connection,
    link: &watch::Sender<Option<amqp::Publisher>>,
    signals: &Signals,
) -> Result<(), amqp::Error> {
    let world = shared.world();
    amqp::declare_topology(conn, &participant_ids(&world)).await?;
    let publisher = amqp::Publisher::open(conn).await?;
    let channel = conn
        .create_channel()
        .await
        .map_err(|source| amqp::Error::Protocol {
            what: "opening the intake channel".into(),
            source,
        })?;
    channel
        .basic_qos(shared.config.amqp.prefetch, BasicQosOptions::default())
        .await
        .map_err(|source| amqp::Error::Protocol {
            what: "setting the prefetch".into(),
            source,
        })?;
    let mut intake = channel
        .basic_consume(
            amqp::INTAKE.into(),
            "varsel-broker-intake".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|source| amqp::Error::Protocol {
            what: format!("consuming {}", amqp::INTAKE),
            source,
        })?;
    let unrouted_channel = conn
        .create_channel()
        .await
        .map_err(|source| amqp::Error::Protocol {
            what: "opening the unrouted channel".into(),
            source,
        })?;
    let mut unrouted = unrouted_channel
        .basic_consume(
            amqp::UNROUTED.into(),
            "varsel-broker-unrouted".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|source| amqp::Error::Protocol {
            what: format!("consuming {}", amqp::UNROUTED),
            source,
        })?;
    let _ = link.send(Some(publisher.clone()));
    shared.amqp_connected.store(true, Ordering::Relaxed);
    shared.consuming.store(true, Ordering::Relaxed);
    shared.metrics.set_amqp_connected(true);
    let mut reloads = signals.reloads();
    let lost = |what: &str| amqp::Error::Protocol {
        what: what.into(),
        source: lapin::Error::from(lapin::ErrorKind::InvalidConnectionState(
            lapin::ConnectionState::Closed,
        )),
    };
    loop {
        tokio::select! {
            biased;
            _ = signals.stopped() => {
                let _ = channel.close(200, "stopping".into()).await;
                let _ = unrouted_channel.close(200, "stopping".into()).await;
                return Ok(());
            }
            next = intake.next() => match next {
                Some(Ok(d)) => {
                    // Take whatever else is already here, without waiting, and commit it together.
                    let mut batch = vec![d];
                    let mut ended = None;
                    while batch.len() < BATCH_MAX {
                        match intake.next().now_or_never() {
                            Some(Some(Ok(d))) => batch.push(d),
                            Some(Some(Err(e))) => {
                                ended = Some(amqp::Error::Protocol { what: "consuming intake".into(), source: e });
                                break;
                            }
                            Some(None) => {
                                ended = Some(lost("the intake consumer ended"));
                                break;
                            }
                            None => break,
                        }
                    }
                    process(shared, &publisher, batch, signals).await?;
                    if let Some(e) = ended {
                        return Err(e);
                    }
                }
                Some(Err(e)) => return Err(amqp::Error::Protocol { what: "consuming intake".into(), source: e }),
                None => return Err(lost("the intake consumer ended")),
            },
            next = unrouted.next() => match next {
                Some(Ok(d)) => unroutable(shared, d).await?,
                Some(Err(e)) => return Err(amqp::Error::Protocol { what: "consuming unrouted".into(), source: e }),
                None => return Err(lost("the unrouted consumer ended")),
            },
            _ = reloads.changed() => {
                // New participants get their inboxes without a restart.
                let world = shared.world();
                amqp::declare_topology(conn, &participant_ids(&world)).await?;
            }
        }
    }
}

/// The most input messages committed in one store transaction.
const BATCH_MAX: usize = 64;

/// Handles the input messages that were waiting together (often just one): each is verified and
/// what it causes written under its own savepoint in **one** store transaction (a refusal undoes
/// only its own message's writes, and its audit entry and error reply join the same transaction);
/// one commit; then each message is acknowledged in order, refused ones after their dead letter is
/// confirmed. If the store fails, nothing was acknowledged: the whole batch is held and retried,
/// and on stop handed back to RabbitMQ.
async fn process(
    shared: &Arc<Shared>,
    publisher: &amqp::Publisher,
    batch: Vec<lapin::message::Delivery>,
    signals: &Signals,
) -> Result<(), amqp::Error> {
    let world = shared.world();
    let mut delay = Duration::from_millis(200);
    let outcomes = loop {
        let started = std::time::Instant::now();
        match commit_batch(shared, &world, &batch).await {
            Ok(o) => {
                shared.metrics.observe_store_commit(started.elapsed());
                break o;
            }
            Err(e) => {
                shared.store_ok.store(false, Ordering::Relaxed);
                shared.intake_held.store(true, Ordering::Relaxed);
                tracing::warn!(error = %e, messages = batch.len(), retry_in_ms = delay.as_millis() as u64, "intake: cannot commit, holding the messages");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = signals.stopped() => {
                        for d in &batch {
                            let _ = d.acker.nack(BasicNackOptions { requeue: true, ..Default::default() }).await;
                        }
                        return Ok(());
                    }
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    };
    shared.store_ok.store(true, Ordering::Relaxed);
    shared.intake_held.store(false, Ordering::Relaxed);
    let mut wake = false;
    for (d, outcome) in batch.iter().zip(outcomes) {
        match outcome {
            Outcome::Accepted {
                id,
                kind,
                alert,
                deliveries,
                defaulted,
                labels,
                ..
            } => {
                note_accepted(shared, id, kind, alert, deliveries, defaulted, labels);
                wake = true;
            }
            Outcome::Duplicate { id } => {
                tracing::info!(message_id = %id, "duplicate of an accepted message, acknowledged without effect");
            }
            Outcome::Refused {
                refusal, id, kind, ..
            } => {
                shared.metrics.refused(refusal.reason);
                tracing::warn!(message_id = ?id, kind = ?kind, reason = refusal.reason.code(), detail = %refusal.detail, "refused");
                wake = true;
                if !dead_letter(publisher, d, &refusal).await? {
                    continue;
                }
            }
        }
        d.acker
            .ack(BasicAckOptions::default())
            .await
            .map_err(|source| amqp::Error::Protocol {
                what: "acknowledging input".into(),
                source,
            })?;
    }
    if wake {
        shared.outbox_wake.notify_one();
    }
    Ok(())
}

/// Verifies and writes a batch in one transaction and commits it; the outcomes are in the
/// batch's order.
async fn commit_batch(
    shared: &Arc<Shared>,
    world: &World,
    batch: &[lapin::message::Delivery],
) -> Result<Vec<Outcome>, crate::intake::Error> {
    let mut tx = shared.store().begin().await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for d in batch {
        let now = shared.clock.now();
        let routing_key = d.routing_key.as_str();
        let user_id = d.properties.user_id().as_ref().map(|u| u.as_str());
        let input = Input {
            body: &d.data,
            routing_key,
            user_id,
        };
        let outcome = shared.intake.handle_in(&mut tx, world, input, now).await?;
        if let Outcome::Refused {
            refusal,
            id,
            kind,
            reply_to,
        } = &outcome
        {
            write_refusal(
                &mut tx,
                shared,
                refusal,
                *id,
                *kind,
                reply_to.as_ref(),
                routing_key,
                now,
            )
            .await?;
        }
        outcomes.push(outcome);
    }
    tx.commit().await?;
    for o in &outcomes {
        shared.intake.committed(o);
    }
    Ok(outcomes)
}

/// Writes a refusal's audit entry and, for a known signer, its error reply into `tx`.
#[allow(clippy::too_many_arguments)]
async fn write_refusal(
    tx: &mut Tx,
    shared: &Arc<Shared>,
    refusal: &varsel_protocol::refusal::Refusal,
    id: Option<Uuid>,
    kind: Option<Kind>,
    reply_to: Option<&ParticipantId>,
    routing_key: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), crate::store::Error> {
    tx.audit(&NewAudit {
        at: now,
        actor: shared.intake.broker.to_string(),
        action: "message_refused".into(),
        alert: None,
        delivery: None,
        detail: json!({
            "message": id,
            "kind": kind,
            "reason": refusal.reason.code(),
            "signer": reply_to,
            "routing_key": routing_key,
        }),
    })
    .await?;
    if let Some(to) = reply_to {
        let (dest, body) = shared.intake.error_reply(to, id, refusal, now);
        tx.enqueue(&NewOutbox::amqp(dest, body, None, None, now))
            .await?;
    }
    Ok(())
}

/// Counts and logs an accepted input message.
fn note_accepted(
    shared: &Shared,
    id: Uuid,
    kind: Kind,
    alert: Uuid,
    deliveries: usize,
    defaulted: bool,
    labels: Option<(
        varsel_protocol::message::Category,
        varsel_protocol::message::Status,
    )>,
) {
    shared.metrics.message_received(kind);
    if kind == Kind::Alert {
        if let Some((category, status)) = labels {
            shared.metrics.alert_received(category, status);
        }
        if defaulted {
            shared.metrics.unrouted_alert();
        }
    }
    tracing::info!(message_id = %id, %kind, %alert, deliveries, "accepted");
}

/// Publishes a refused input to the dead-letter exchange with its reason, detail and routing key
/// (and the publisher's user id moved to a header). Returns whether RabbitMQ confirmed it; if
/// not, the input has been given back for redelivery and must not be acknowledged.
async fn dead_letter(
    publisher: &amqp::Publisher,
    d: &lapin::message::Delivery,
    refusal: &varsel_protocol::refusal::Refusal,
) -> Result<bool, amqp::Error> {
    let props = amqp::with_headers(
        amqp::republished(&d.properties),
        &[
            (amqp::H_REASON, refusal.reason.code().to_owned()),
            (amqp::H_DETAIL, refusal.detail.clone()),
            (amqp::H_ROUTING_KEY, d.routing_key.as_str().to_owned()),
        ],
    );
    let key = format!("refused.{}", refusal.reason.code());
    match publisher
        .publish(amqp::DEAD, &key, &d.data, props, false)
        .await?
    {
        amqp::Published::Confirmed => Ok(true),
        other => {
            tracing::warn!(
                ?other,
                "dead-lettering not confirmed; input left for redelivery"
            );
            let _ = d
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await;
            Ok(false)
        }
    }
}

/// A message the alternate exchange caught: no inbox queue took it. The delivery is marked
/// unroutable for ops to see; the message itself stays recorded in the outbox.
async fn unroutable(shared: &Arc<Shared>, d: lapin::message::Delivery) -> Result<(), amqp::Error> {
    let now = shared.clock.now();
    let delivery_id =
        amqp::header(&d.properties, amqp::H_DELIVERY).and_then(|s| s.parse::<Uuid>().ok());
    let result = async {
        let mut tx = shared.store().begin().await?;
        let mut alert = None;
        if let Some(id) = delivery_id {
            let (from, to) = delivery::on_unroutable();
            tx.transition_delivery(id, from, to, now, None, None).await?;
            alert = tx.delivery_for_update(id).await?.map(|d| d.alert);
        }
        tx.audit(&NewAudit {
            at: now,
            actor: shared.intake.broker.to_string(),
            action: "delivery_unroutable".into(),
            alert,
            delivery: delivery_id,
            detail: json!({ "routing_key": d.routing_key.as_str(), "outbox": amqp::header(&d.properties, amqp::H_OUTBOX) }),
        })
        .await?;
        tx.commit().await
    }
    .await;
    match result {
        Ok(()) => {
            shared
                .metrics
                .delivery_published(crate::ops::metrics::PublishResult::Returned);
            tracing::error!(delivery = ?delivery_id, routing_key = d.routing_key.as_str(), "no inbox took a delivery; marked unroutable");
            d.acker
                .ack(BasicAckOptions::default())
                .await
                .map(|_| ())
                .map_err(|source| amqp::Error::Protocol {
                    what: "acknowledging unrouted".into(),
                    source,
                })
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not record an unroutable delivery; left for redelivery");
            let _ = d
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await;
            Ok(())
        }
    }
}

/// Reloads the registry and routing table on SIGHUP; a bad file is refused and the old one stays.
async fn reload_watcher(shared: Arc<Shared>, signals: Signals) {
    let mut reloads = signals.reloads();
    loop {
        tokio::select! {
            _ = signals.stopped() => break,
            r = reloads.changed() => if r.is_err() { break },
        }
        match load_world(&shared.config) {
            Ok(world) => {
                let detail = json!({
                    "registry_version": world.registry.version(),
                    "table_version": world.table.version(),
                });
                *shared.world.write().unwrap_or_else(|p| p.into_inner()) = world;
                tracing::info!(%detail, "registry and routing table reloaded");
                let now = shared.clock.now();
                let audit = async {
                    let mut tx = shared.store().begin().await?;
                    tx.audit(&NewAudit {
                        at: now,
                        actor: shared.intake.broker.to_string(),
                        action: "config_reloaded".into(),
                        alert: None,
                        delivery: None,
                        detail,
                    })
                    .await?;
                    tx.commit().await
                };
                if let Err(e) = audit.await {
                    tracing::warn!(error = %e, "could not audit a reload");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "reload refused; keeping the registry and routing table in force")
            }
        }
    }
}

/// Refreshes the store-derived gauges for /metrics.
async fn stats_refresher(shared: Arc<Shared>, signals: Signals) {
    loop {
        match shared.store().stats(shared.clock.now()).await {
            Ok(stats) => {
                shared.store_ok.store(true, Ordering::Relaxed);
                shared.metrics.set_store_stats(&ops::store_stats(&stats));
            }
            Err(e) => {
                shared.store_ok.store(false, Ordering::Relaxed);
                tracing::warn!(error = %e, "store unavailable for statistics");
            }
        }
        tokio::select! {
            _ = signals.stopped() => break,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}
