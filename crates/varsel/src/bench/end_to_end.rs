//! varsel end to end: the broker as a child process (`varsel serve`), simulated schools
//! publishing alerts sealed before each run, simulated agencies verifying their deliveries and
//! sending receipts.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use chrono::Utc;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;

use varsel_transport::amqp;

use super::load::{drive, finish, lock, note, phase_line, settle, warm_up, Pace, Progress};
use super::presealed::{preseal, verify_delivery};
use super::process::{clock_ticks, sample_rss, self_cpu_s, thread_cpu_s, Proc};
use super::queues::wait_for_consumer;
use super::report::{Phase, System};
use super::world::{document, World};
use super::Options;

pub(super) async fn run_varsel(
    o: &Options,
    exe: &Path,
    dir: &Path,
    url: &str,
    world: &World,
    store_url: &str,
) -> anyhow::Result<System> {
    note(o, "varsel: starting the broker");
    let config = world.broker_config(url, store_url, o.prefetch)?;
    let mut cmd = match o.broker_wrapper.split_first() {
        Some((wrapper, args)) => {
            let mut c = Command::new(wrapper);
            c.args(args).arg(exe);
            c
        }
        None => Command::new(exe),
    };
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

    // Agencies: verify each delivery, send a signed receipt, then ack.
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
                    let cpu0 = thread_cpu_s();
                    let ids = verify_delivery(&client.registry, &d.data, Utc::now());
                    let receipt =
                        ids.map(|(delivery, alert)| (alert, client.receipt(delivery, Some(alert))));
                    p.agency_cpu_ns
                        .fetch_add(((thread_cpu_s() - cpu0) * 1e9) as u64, Ordering::Relaxed);
                    if let Some((alert, (payload, compact))) = receipt {
                        let latency = {
                            let mut sent = lock(&p.sent);
                            let l = sent.get_mut(&alert).map(|(t, left)| {
                                *left -= 1;
                                (
                                    arrived.saturating_duration_since(*t).as_secs_f64() * 1e3,
                                    *left,
                                )
                            });
                            if let Some((_, 0)) = l {
                                sent.remove(&alert);
                            }
                            l.map(|(ms, _)| ms)
                        };
                        p.arrived(latency);
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
            let clients: Vec<_> = schools.iter().map(|(c, _, _)| c.clone()).collect();
            let d = doc.clone();
            let sealed =
                tokio::task::spawn_blocking(move || preseal(&clients, &d, count)).await??;
            let (since, preseal_s) = (sealed.since, sealed.seconds);
            let sealed = Arc::new(sealed.alerts);
            let cpu0 = proc.cpu_s();
            let load0 = self_cpu_s(tick);
            let t0 = Instant::now();
            let p = progress.clone();
            let s = schools.clone();
            drive(count, pace, s.len(), move |i| {
                let s = s.clone();
                let p = p.clone();
                let sealed = sealed.clone();
                async move {
                    let (client, publisher, _) = &s[(i as usize) % s.len()];
                    let (payload, compact) = &sealed[i as usize];
                    lock(&p.sent).insert(payload.id, (Instant::now(), recipients));
                    if client.publish(publisher, payload, compact).await.is_ok() {
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
            let mut phase = finish(
                &progress,
                count,
                t0,
                proc.cpu_s() - cpu0,
                self_cpu_s(tick) - load0,
                proc.status("VmRSS"),
                complete,
                recipients as u64,
            );
            phase.agency_cpu_s = progress.agency_cpu_ns.load(Ordering::Relaxed) as f64 / 1e9;
            phase.preseal_s = preseal_s;
            phase.presealed_age_s = since.elapsed().as_secs_f64();
            note(o, &format!("varsel {label}: {}", phase_line(&phase)));
            Ok::<Phase, anyhow::Error>(phase)
        }
    };
    // Whatever happens to the runs, the broker is stopped below.
    let runs = async {
        phase(Pace::Saturate, warm_up(o), "warm-up").await?;
        let paced = if o.paced_alerts > 0 {
            Some(phase(Pace::Rate(o.rate), o.paced_alerts, "paced").await?)
        } else {
            None
        };
        let saturation = if o.alerts > 0 {
            Some(phase(Pace::Saturate, o.alerts, "saturation").await?)
        } else {
            None
        };
        anyhow::Ok((paced, saturation))
    }
    .await;
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
    let (paced, saturation) = runs?;
    Ok(System {
        paced,
        saturation,
        peak_rss_kib: peak,
        rss,
    })
}
