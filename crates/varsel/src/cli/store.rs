//! `varsel store`: what retention would erase and erasing it, legal holds, and giving the space
//! back. Reports carry counts, ids and sizes only.

use uuid::Uuid;
use varsel_broker::metrics::Metrics;
use varsel_broker::retention::{self, Retention};
use varsel_broker::store::{Reclaim, Store};
use varsel_transport::clock::Clock;

use super::exit::{fail, Failure, EX_DATAERR, EX_UNAVAILABLE, EX_USAGE};
use super::load::load_config;
use super::StoreCommand;

async fn open(config: &std::path::Path) -> Result<(varsel_broker::config::Config, Store), Failure> {
    let c = load_config(config)?;
    let store = Store::connect(&c.store_url)
        .await
        .map_err(|e| fail(EX_UNAVAILABLE)(e.into()))?;
    Ok((c, store))
}

fn unavailable(e: varsel_broker::store::Error) -> Failure {
    fail(EX_UNAVAILABLE)(e.into())
}

pub(super) async fn run(command: StoreCommand) -> Result<(), Failure> {
    match command {
        StoreCommand::Prune { config, dry_run } => {
            let (c, store) = open(&config).await?;
            let worker = Retention {
                store: store.clone(),
                clock: Clock::system(),
                metrics: Metrics::new(),
                actor: c.broker_id.to_string(),
                config: c.retention.clone(),
            };
            let size = store.size().await.map_err(unavailable)?;
            let mode = store.reclaim_mode().await.map_err(unavailable)?;
            if dry_run {
                let cutoff = worker.cutoff(worker.clock.now());
                let plan = store.prune_plan(cutoff).await.map_err(unavailable)?;
                println!("dry run: nothing is changed");
                println!("closed at or before {}", cutoff.to_rfc3339());
                println!(
                    "would erase: {} alerts ({} messages, {} bytes; {} outbox rows, {} bytes)",
                    plan.alerts,
                    plan.erased.messages,
                    plan.erased.message_bytes,
                    plan.erased.outbox_deleted,
                    plan.erased.outbox_bytes
                );
                println!("would delete: {} sent error replies", plan.error_replies);
                println!(
                    "kept: {} closed alerts under a legal hold, {} alerts not closed",
                    plan.held, plan.open
                );
            } else {
                let p = worker.prune().await.map_err(unavailable)?;
                println!(
                    "erased: {} alerts ({} messages, {} bytes; {} outbox rows deleted, {} emptied, {} bytes); {} error replies deleted; store shrank by {} bytes",
                    p.alerts,
                    p.erased.messages,
                    p.erased.message_bytes,
                    p.erased.outbox_deleted,
                    p.erased.outbox_emptied,
                    p.erased.outbox_bytes,
                    p.error_replies,
                    p.reclaimed
                );
            }
            println!("store size: {size} bytes before");
            if mode == Reclaim::Reuse {
                println!(
                    "note: this SQLite file predates incremental vacuum: erased space is reused \
                     but the file does not shrink until `varsel store vacuum` (broker stopped)"
                );
            }
            Ok(())
        }
        StoreCommand::Hold { config, alert, by } => hold(&config, alert, &by, true).await,
        StoreCommand::Release { config, alert, by } => hold(&config, alert, &by, false).await,
        StoreCommand::Vacuum { config } => {
            let (_, store) = open(&config).await?;
            let shrank = store.vacuum().await.map_err(unavailable)?;
            let size = store.size().await.map_err(unavailable)?;
            println!("store rewritten: {size} bytes, {shrank} bytes given back");
            Ok(())
        }
    }
}

/// Sets or lifts a legal hold, audited with `by` as the actor.
async fn hold(config: &std::path::Path, alert: Uuid, by: &str, on: bool) -> Result<(), Failure> {
    let (_, store) = open(config).await?;
    let changed = retention::set_hold(&store, alert, on, by, Clock::system().now())
        .await
        .map_err(|e| match e {
            varsel_broker::store::Error::Value(_) => fail(EX_USAGE)(e.into()),
            e => unavailable(e),
        })?;
    let what = if on {
        "under a legal hold"
    } else {
        "not under a legal hold"
    };
    match changed {
        None => Err(fail(EX_DATAERR)(anyhow::anyhow!(
            "no alert {alert} in the store"
        ))),
        Some(true) => {
            println!("alert {alert} is now {what}");
            Ok(())
        }
        Some(false) => {
            println!("alert {alert} was already {what}");
            Ok(())
        }
    }
}
