//! The schools' alerts, sealed and signed before a run starts, so the run measures the broker
//! and not the schools' sealing on the same cores; and what an agency must do with a delivery
//! before it receipts it.

use std::sync::Arc;
use std::time::Instant;

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use varsel_participant::client::Client;
use varsel_protocol::alert::Document;
use varsel_protocol::envelope;
use varsel_protocol::message::{Content, Payload};
use varsel_protocol::registry::{Registry, Role};

/// The broker's freshness window as the bench configures it (`intake.max_age`, the broker's
/// default): an alert sealed longer ago than this when the broker takes it is refused as stale.
pub(super) const MAX_AGE_S: u64 = 15 * 60;

/// A run's alerts, the i-th sealed and signed by school `i % schools`, all dated when sealed.
pub(super) struct Presealed {
    pub(super) alerts: Vec<(Payload, String)>,
    /// When sealing began: no alert is older than this.
    pub(super) since: Instant,
    /// Seconds the sealing took (on every core).
    pub(super) seconds: f64,
}

/// Seals `count` alerts on every core. The paced run's length is bounded (see `Args::options`)
/// and a saturation run's alerts are all taken within the window unless the broker falls more
/// than 15 minutes behind; `Phase::presealed_age_s` tells.
pub(super) fn preseal(
    schools: &[Arc<Client>],
    doc: &Document,
    count: u64,
) -> anyhow::Result<Presealed> {
    let since = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let parts = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..count)
                        .step_by(threads as usize)
                        .map(|i| {
                            let school = &schools[(i as usize) % schools.len()];
                            school
                                .seal(doc, Utc::now())
                                .map(|sealed| (i, sealed))
                                .map_err(|e| anyhow!("sealing alert {i}: {e}"))
                        })
                        .collect::<anyhow::Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow!("a sealing thread panicked"))?)
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let mut alerts: Vec<_> = parts.into_iter().flatten().collect();
    alerts.sort_by_key(|(i, _)| *i);
    Ok(Presealed {
        alerts: alerts.into_iter().map(|(_, a)| a).collect(),
        since,
        seconds: since.elapsed().as_secs_f64(),
    })
}

/// What a receiving system must do before it receipts a delivery: verify the broker's signature
/// and, inside it, the school's. (Opening the sections is the officer's business, later.)
/// Returns the delivery and alert ids.
pub(super) fn verify_delivery(
    registry: &Registry,
    body: &[u8],
    now: DateTime<Utc>,
) -> Option<(Uuid, Uuid)> {
    let outer = envelope::verify(body, registry, now, envelope::DEFAULT_MAX_MESSAGE * 2).ok()?;
    let from_broker = registry
        .participant(&outer.signer)
        .is_some_and(|p| p.role == Role::Broker);
    let Content::Delivery(d) = outer.payload.content else {
        return None;
    };
    if !from_broker {
        return None;
    }
    envelope::verify(
        d.original.as_bytes(),
        registry,
        now,
        envelope::DEFAULT_MAX_MESSAGE,
    )
    .ok()?;
    Some((d.delivery, d.alert))
}
