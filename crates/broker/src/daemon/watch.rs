//! The daemon's housekeeping: reloads on SIGHUP (a bad file is refused and the old one stays),
//! and the store's gauges refreshed for `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{load_world, Shared};
use crate::ops;
use crate::store::NewAudit;
use varsel_transport::shutdown::Signals;

/// Reloads the registry and routing table on SIGHUP; a bad file is refused and the old one stays.
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
                tracing::error!(error = %e, "reload refused; keeping the registry and routing table in force")
            }
        }
    }
}

/// Refreshes the store-derived gauges for /metrics.
pub(super) async fn stats_refresher(shared: Arc<Shared>, signals: Signals) {
    loop {
        match shared.store().stats(shared.clock.now()).await {
            Ok(stats) => {
                shared.health.set_store_ok(true);
                shared.metrics.set_store_stats(&ops::store_stats(&stats));
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
