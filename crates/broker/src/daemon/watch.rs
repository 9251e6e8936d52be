//! The daemon's housekeeping: reloads on SIGHUP (a bad file is refused, the old one stays and ops
//! are alarmed), and the store's gauges refreshed for `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{load_world, Shared};
use crate::mailer::{Alarm, AlarmReason};
use crate::ops;
use crate::store::NewAudit;
use varsel_transport::shutdown::Signals;

/// Reloads the registry and routing table on SIGHUP. A file that does not load (a typo in an
/// office-hours value as much as broken TOML) is refused whole: the registry and table in force
/// stay, and ops are alarmed with the file, key paths and problems (audited as `config_refused`,
/// emailed to the ops mailboxes of the registry in force).
pub(super) async fn reload_watcher(shared: Arc<Shared>, signals: Signals) {
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
                        actor: shared.intake.broker().to_string(),
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
                tracing::error!(error = %e, "reload refused; keeping the registry and routing table in force");
                if let Err(why) = alarm_refused(&shared, e.to_string()).await {
                    tracing::error!(error = %why, "could not alarm ops about the refused reload");
                }
            }
        }
    }
}

/// Audits a refused reload and emails ops about it, in one transaction.
async fn alarm_refused(shared: &Shared, detail: String) -> Result<(), crate::store::Error> {
    let registry = shared.world().registry;
    let alarm = Alarm {
        reason: AlarmReason::ConfigRefused,
        alert: None,
        detail,
        at: shared.clock.now(),
    };
    let mut tx = shared.store().begin().await?;
    shared
        .intake
        .writer
        .alarm_ops(&mut tx, &registry, &alarm, None)
        .await?;
    tx.commit().await?;
    shared.outbox_wake.notify_one();
    Ok(())
}

/// Refreshes the store-derived gauges for /metrics.
pub(super) async fn stats_refresher(shared: Arc<Shared>, signals: Signals) {
    loop {
        match shared.store().stats(shared.clock.now()).await {
            Ok(stats) => {
                shared.health.set_store_ok(true);
                shared.metrics.set_store_stats(&ops::store_stats(&stats));
                match shared.store().lines().await {
                    Ok(rows) => shared
                        .metrics
                        .set_lines(&ops::lines::statuses(&rows, shared.clock.now())),
                    Err(e) => tracing::warn!(error = %e, "store unavailable for line statistics"),
                }
            }
            Err(e) => {
                shared.health.set_store_ok(false);
                tracing::warn!(error = %e, "store unavailable for statistics");
            }
        }
        tokio::select! {
            _ = signals.stopped() => break,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}
