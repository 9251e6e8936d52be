//! `varsel demo`: the whole story on the local RabbitMQ, with the embedded SQLite store.
//!
//! By default it runs over mutual TLS on the dev TLS node (`deploy/dev/rabbitmq-tls.sh`, port
//! 25671, certificates from `certs-example/make.sh`): every participant and the broker log in
//! with their client certificate (EXTERNAL) and RabbitMQ's permissions are those generated from
//! the registry. `--plain` runs it on the local RabbitMQ with guest instead.
//!
//! It makes keys, a registry and (from `deploy/routing.example.toml`) a routing table for
//! Norrköping (0581): Ektorpsskolan, social services, socialjouren, the police region,
//! Försäkringskassan and Skatteverket. It starts the broker with a compressed clock (clearly
//! labelled), and then: the school raises a departure-imminent alert and an exercise alert; the
//! agencies' clients receive them and send receipts; the police acknowledge at once; social
//! services let the ladder climb (redelivery, email to the functional mailbox) before an officer
//! takes the case; social services decide a temporary travel ban, which the police acknowledge;
//! the school closes the case as returned (`case`) and cancels the exercise. It ends with a
//! timeline and each recipient's state, read from the store's audit log. With `--stay` the broker keeps running on real time;
//! with `--desk` two desks start beside it (`desks`).

mod case;
mod desks;
mod queues;
mod timeline;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use anyhow::{bail, Context};
use chrono::Duration;
use uuid::Uuid;

use varsel_broker::daemon;
use varsel_participant::client::{Client, Item};
use varsel_protocol::alert::Document;
use varsel_protocol::message::{Kind, Outcome, Status};
use varsel_testkit::wait;
use varsel_testkit::world::*;
use varsel_transport::clock::Clock;
use varsel_transport::shutdown::Signals;

use queues::{purge_demo_queues, read_inbox};
use timeline::{human, print_timeline, say};

/// How often the story checks whether the broker has got where it waits for.
const POLL: StdDuration = StdDuration::from_millis(100);

/// How `varsel demo` runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub dir: Option<PathBuf>,
    pub transport: Transport,
    pub time_scale: u32,
    pub stay: bool,
    /// After the story, keep running with two desks (implies `stay`).
    pub desk: bool,
}

/// Runs the demo story.
pub async fn run(o: Options) -> anyhow::Result<()> {
    let dir = match &o.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => std::env::temp_dir().join(format!(
            "varsel-demo-{}",
            &Uuid::now_v7().simple().to_string()[20..]
        )),
    };
    std::fs::create_dir_all(&dir)?;
    let real_start = std::time::Instant::now();
    let scale = o.time_scale.max(1);
    println!("varsel demo: Norrköping (0581)");
    println!("  files:      {}", dir.display());
    println!(
        "  RabbitMQ:   {}{}",
        varsel_transport::amqp::redact_url(o.transport.url()),
        if o.transport.is_tls() {
            " (mutual TLS, EXTERNAL: every participant logs in with its certificate)"
        } else {
            " (plain)"
        }
    );
    println!(
        "  TIME SCALE: {scale}x. The broker's clock runs {scale} times faster than real time, so one \
         real second is {} of escalation time. Times below are broker time.\n",
        human(Duration::seconds(scale as i64))
    );
    write_world_for(&dir, o.transport.is_tls())?;
    let sink = varsel_testkit::smtp::SmtpSink::start().await;
    let ops_addr = if std::net::TcpListener::bind("127.0.0.1:9471").is_ok() {
        "127.0.0.1:9471"
    } else {
        "127.0.0.1:0"
    };
    let config = broker_config_via(
        &dir,
        &o.transport,
        scale,
        Some(sink.addr().port()),
        ops_addr,
    )?;
    purge_demo_queues(&dir, &o.transport, &config.amqp).await?;

    let clock = Clock::scaled(scale);
    let signals = Signals::from_os().unwrap_or_default();
    let running = daemon::start(config.clone(), signals.clone(), clock.clone(), None)
        .await
        .context("starting the broker")?;
    if let Some(a) = running.ops_addr {
        println!("  dashboard:  http://{a}/?token=demo-token-0123456789\n");
    }
    let store = running.shared.store().clone();
    wait::holds(
        StdDuration::from_secs(30),
        POLL,
        "the broker to connect",
        || async { running.shared.amqp_ready() },
    )
    .await
    .map_err(|_| anyhow::anyhow!("the broker did not connect to RabbitMQ within 30 s"))?;

    let mut agents = BTreeMap::new();
    for p in PARTICIPANTS
        .iter()
        .filter(|p| matches!(p.role, "school" | "agency"))
    {
        let mut c = Client::load(client_config_via(&dir, p.id, &o.transport)?)?;
        c.clock = clock.clone();
        agents.insert(p.id, c);
    }
    let school = &agents["norrkoping-ektorpsskolan"];
    let started = clock.now();

    // 1. The real alert: departure imminent.
    let mut doc: Document =
        serde_json::from_str(ALERT_EXAMPLE).context("deploy/examples/alert.json")?;
    doc.header.planned_departure = Some(started + Duration::hours(6));
    if let Some(t) = doc.body.travel.as_mut() {
        t.planned_departure = doc.header.planned_departure;
    }
    let alert = school
        .send(&doc)
        .await
        .context("the school sending its alert")?;
    say(
        &clock,
        started,
        &format!("Ektorpsskolan skickar varsel {alert} (avresa nära förestående, avresa om 6 h)"),
    );

    // 2. An exercise alert.
    let exercise_doc: Document =
        serde_json::from_str(EXERCISE_EXAMPLE).context("deploy/examples/exercise-alert.json")?;
    let exercise = school
        .send(&exercise_doc)
        .await
        .context("the school sending an exercise alert")?;
    say(
        &clock,
        started,
        &format!("Ektorpsskolan skickar ÖVNINGSVARSEL {exercise}"),
    );

    // 3. Every agency reads its inbox; receipts go back automatically.
    let routed = wait::holds(
        StdDuration::from_secs(20),
        POLL,
        "the alert to be delivered",
        || async {
            store
                .deliveries_of(alert)
                .await
                .map(|d| {
                    !d.is_empty()
                        && d.iter()
                            .all(|d| d.state != varsel_protocol::message::DeliveryState::Pending)
                })
                .unwrap_or(false)
        },
    )
    .await;
    if routed.is_err() {
        bail!("the alert was not delivered within 20 s; is the broker consuming?");
    }
    let mut deliveries: BTreeMap<(&str, Uuid), Uuid> = BTreeMap::new();
    for (id, c) in &agents {
        if *id == "norrkoping-ektorpsskolan" {
            continue;
        }
        for item in read_inbox(c).await? {
            if let Item::Delivery(d) = &item {
                say(
                    &clock,
                    started,
                    &format!(
                        "{} tar emot {} ({}), öppnar {} och skickar mottagningskvitto",
                        c.registry
                            .participant(c.me())
                            .map(|p| p.name.as_str())
                            .unwrap_or(id),
                        if d.header.status == Status::Exercise {
                            "övningsvarsel"
                        } else {
                            "varsel"
                        },
                        if d.role == varsel_protocol::message::RecipientRole::Required {
                            "måste kvittera"
                        } else {
                            "för kännedom"
                        },
                        d.opened
                            .iter()
                            .map(|l| l.code())
                            .collect::<Vec<_>>()
                            .join("+"),
                    ),
                );
                deliveries.insert((id, d.alert), d.delivery);
            }
        }
    }

    // 4. The police take the case at once.
    if let Some(d) = deliveries.get(&("polisen-region-ost", alert)) {
        agents["polisen-region-ost"]
            .ack(*d, "Insp. Karin Lund", Outcome::CaseOpened)
            .await?;
        say(
            &clock,
            started,
            "Polisen region Öst kvitterar: ärende öppnat (Insp. Karin Lund)",
        );
    }

    // 5. Social services wait; the ladder climbs. Wait (in broker time) for two escalation steps.
    let social = ["norrkoping-socialtjansten", "norrkoping-socialjouren"]
        .into_iter()
        .find(|id| deliveries.contains_key(&(*id, alert)));
    say(
        &clock,
        started,
        "Socialtjänsten har inte kvitterat; eskaleringstrappan löper (komprimerad tid)...",
    );
    let steps_seen = wait::holds(
        StdDuration::from_secs(60),
        POLL,
        "two escalation steps",
        || async {
            store
                .audit_entries(Some(alert))
                .await
                .map(|e| {
                    e.iter()
                        .filter(|a| a.action.starts_with("escalation_"))
                        .count()
                        >= 2
                })
                .unwrap_or(false)
        },
    )
    .await;
    if steps_seen.is_err() {
        println!(
            "  (no escalation step fired within 60 s real time; check the routing table's policy)"
        );
    }
    // The email step goes out through the outbox; give it a moment to reach the relay.
    let _ = sink.wait_for(1, StdDuration::from_secs(5)).await;
    for m in sink.messages() {
        say(
            &clock,
            started,
            &format!("e-post till {}: \"{}\"", m.to.join(", "), m.subject()),
        );
    }
    if let Some(id) = social {
        // A redelivery is deduplicated by the client; then an officer takes the case.
        let _ = read_inbox(&agents[id]).await?;
        if let Some(d) = deliveries.get(&(id, alert)) {
            agents[id]
                .ack(*d, "Socialsekreterare Ali Hassan", Outcome::CaseOpened)
                .await?;
            say(
                &clock,
                started,
                "Socialtjänsten kvitterar: ärende öppnat (Socialsekreterare Ali Hassan)",
            );
        }
    }
    // Outside office hours socialjouren got the alert as well; the officer on duty confirms.
    if let Some(d) = deliveries.get(&("norrkoping-socialjouren", alert)) {
        let _ = read_inbox(&agents["norrkoping-socialjouren"]).await?;
        agents["norrkoping-socialjouren"]
            .ack(*d, "Jourhavande socialsekreterare", Outcome::AlreadyKnown)
            .await?;
        say(
            &clock,
            started,
            "Socialjouren kvitterar: redan känt (Jourhavande socialsekreterare)",
        );
    }

    // 6. The case: a travel ban the police acknowledge, then the school closes it.
    match social {
        Some(id) => case::story(&agents, &store, &clock, started, alert, id).await?,
        None => bail!("neither social services nor socialjouren got the alert"),
    }

    // 7. The school cancels the exercise.
    let cancel = Document {
        kind: Kind::Cancel,
        references: vec![exercise],
        header: exercise_doc.header.clone(),
        body: Default::default(),
    };
    let cancel_id = school
        .send(&cancel)
        .await
        .context("cancelling the exercise")?;
    say(
        &clock,
        started,
        &format!("Ektorpsskolan återkallar övningen ({cancel_id})"),
    );

    let settled = wait::holds(
        StdDuration::from_secs(20),
        POLL,
        "both alerts to settle",
        || async {
            let a = store
                .alert(alert)
                .await
                .ok()
                .flatten()
                .map(|a| a.state == varsel_broker::store::AlertState::Closed)
                .unwrap_or(false);
            let e = store
                .alert(exercise)
                .await
                .ok()
                .flatten()
                .map(|a| a.state == varsel_broker::store::AlertState::Cancelled)
                .unwrap_or(false);
            a && e
        },
    )
    .await;
    // Receipts for the cancel, and the school's feedback.
    let mut feedback = Vec::new();
    for (id, c) in &agents {
        for item in read_inbox(c).await? {
            match &item {
                Item::Feedback(_) if *id == "norrkoping-ektorpsskolan" => {
                    feedback.push(item.clone())
                }
                Item::Delivery(d) if d.kind == Kind::Cancel => {
                    say(
                        &clock,
                        started,
                        &format!("{id} tar emot återkallelsen av {}", d.alert),
                    );
                    if d.role == varsel_protocol::message::RecipientRole::Required {
                        agents[id]
                            .ack(d.delivery, "Jourhavande", Outcome::NoActionNeeded)
                            .await?;
                    }
                }
                _ => {}
            }
        }
    }
    // Feedback to the school goes out through the outbox: wait until it is empty.
    let _ = wait::holds(
        StdDuration::from_secs(10),
        POLL,
        "an empty outbox",
        || async {
            store
                .stats(clock.now())
                .await
                .map(|s| s.outbox_pending == 0)
                .unwrap_or(false)
        },
    )
    .await;
    feedback.extend(read_inbox(school).await?);
    println!();
    println!(
        "Återkoppling till Ektorpsskolan ({} meddelanden):",
        feedback.len()
    );
    for item in &feedback {
        print!("  {item}");
    }

    println!();
    print_timeline(&store, alert, "VARSEL (avresa nära förestående)").await?;
    print_timeline(&store, exercise, "ÖVNINGSVARSEL").await?;
    if settled.is_err() {
        println!("\nnote: not everything settled within 20 s; the tables above show where each recipient stands.");
    }

    let interrupted = signals.is_stopping();
    running.stop().await;
    if (o.stay || o.desk) && !interrupted {
        stay(config, o.desk.then_some(dir.as_path())).await?;
    }
    sink.stop().await;
    println!(
        "\ndemo finished in {} real time; files are in {}",
        human(Duration::from_std(real_start.elapsed()).unwrap_or_default()),
        dir.display()
    );
    Ok(())
}

/// After the story, a broker on real time (the story's clock runs `time_scale` times faster, and
/// every real `varsel send` against it would be refused as stale) on the same files, until
/// interrupted; with the demo's desks when `desks` names the demo's files.
async fn stay(mut config: varsel_broker::Config, desks: Option<&Path>) -> anyhow::Result<()> {
    config.escalation.time_scale = 1;
    let signals = Signals::from_os().context("listening for Ctrl-C")?;
    let running = daemon::start(config, signals.clone(), Clock::system(), None)
        .await
        .context("starting the broker on real time")?;
    println!(
        "\nThe broker keeps running, now on real time (the story's fast clock is stopped), so"
    );
    println!(
        "`varsel send` and `varsel inbox` with the configurations in the files directory work."
    );
    if let Some(a) = running.ops_addr {
        println!("  dashboard:  http://{a}/?token=demo-token-0123456789");
    }
    let mut desks = match desks {
        None => None,
        Some(dir) => match desks::start(dir, &signals).await {
            Ok(d) => Some(d),
            Err(e) => {
                running.stop().await;
                return Err(e.context("starting the demo's desks"));
            }
        },
    };
    println!("Ctrl-C stops it.");
    if let Some(d) = desks.as_mut() {
        d.print_codes(&signals);
    }
    signals.stopped().await;
    if let Some(d) = desks {
        d.wait().await;
    }
    running.stop().await;
    Ok(())
}
