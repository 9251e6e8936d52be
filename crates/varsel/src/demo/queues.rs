//! The demo's queues: emptied before a run, and a participant's inbox read once.

use std::path::Path;

use varsel_participant::client::{Client, Item};
use varsel_testkit::world::{client_config_via, Transport, PARTICIPANTS};
use varsel_transport::shutdown::Signals;

/// Empties the demo's queues so a run never reads messages signed with an earlier run's keys.
/// Over TLS each participant empties its own inbox (the only queue it may read) and the broker
/// the intake and unrouted queues.
pub(super) async fn purge_demo_queues(
    dir: &Path,
    transport: &Transport,
    broker: &varsel_transport::settings::Amqp,
) -> anyhow::Result<()> {
    let mut jobs: Vec<(&str, Vec<String>)> = vec![(
        "varsel-broker",
        vec![
            varsel_transport::amqp::INTAKE.into(),
            varsel_transport::amqp::UNROUTED.into(),
        ],
    )];
    // Nobody reads the broker's own inbox (not even the broker, under least privilege).
    for p in PARTICIPANTS.iter().filter(|p| p.role != "broker") {
        jobs.push((p.id, vec![format!("inbox.{}", p.id)]));
    }
    if !transport.is_tls() {
        let all = jobs.into_iter().flat_map(|(_, q)| q).collect();
        jobs = vec![("varsel-broker", all)];
    }
    for (who, queues) in jobs {
        let settings = if who == "varsel-broker" {
            broker.clone()
        } else {
            client_config_via(dir, who, transport)?.amqp
        };
        let conn = varsel_transport::amqp::connect_to(&settings, "varsel-demo-setup").await?;
        for q in queues {
            // A queue that does not exist yet closes the channel; open a fresh one for each.
            let ch = conn.create_channel().await?;
            let _ = ch.queue_purge(q.as_str().into(), Default::default()).await;
        }
        let _ = conn.close(200, "ok".into()).await;
    }
    Ok(())
}

pub(super) async fn read_inbox(c: &Client) -> anyhow::Result<Vec<Item>> {
    let mut items = Vec::new();
    let signals = Signals::new();
    c.inbox(false, &signals, |i| items.push(i.clone())).await?;
    Ok(items)
}
