//! The bare relay: the ceiling RabbitMQ sets, measured in the same run as varsel. `varsel bench
//! --serve-relay` is the relay itself (a child process); [`run_relay`] drives and measures it.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;

use varsel_transport::amqp;

use super::load::{drive, finish, note, phase_line, settle, warm_up, Pace, Progress};
use super::process::{clock_ticks, sample_rss, self_cpu_s, Proc};
use super::queues::{confirming, declare_quorum, publish_confirmed, wait_for_consumer};
use super::report::System;
use super::Options;

/// The relay's queues.
pub(super) const RELAY_IN: &str = "bench.relay.in";
pub(super) const RELAY_OUT: &str = "bench.relay.out";

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

pub(super) async fn run_relay(
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
