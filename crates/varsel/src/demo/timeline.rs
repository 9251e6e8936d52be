//! What the demo prints: story lines on the broker's clock, and each alert's timeline from the
//! audit log.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use anyhow::bail;
use varsel_broker::store::Store;
use varsel_transport::clock::Clock;

pub(super) fn say(clock: &Clock, start: DateTime<Utc>, text: &str) {
    println!("[+{}] {text}", hms(clock.now() - start));
}

pub(super) fn hms(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

pub(super) fn human(d: Duration) -> String {
    let s = d.num_seconds();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s / 60) % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Prints one alert's timeline from the audit log and each recipient's final state.
pub(super) async fn print_timeline(store: &Store, alert: Uuid, title: &str) -> anyhow::Result<()> {
    let Some(a) = store.alert(alert).await? else {
        bail!("alert {alert} is not in the store");
    };
    println!(
        "{title} {alert}: {} ({}, {}, {})",
        a.state, a.category, a.urgency, a.status
    );
    let entries = store.audit_entries(Some(alert)).await?;
    let start = entries.first().map(|e| e.at).unwrap_or(a.created_at);
    for e in &entries {
        let who = e
            .delivery
            .map(|d| format!(" delivery {}", &d.to_string()[..8]))
            .unwrap_or_default();
        println!(
            "  +{}  {:<28} {:<26}{who}",
            hms(e.at - start),
            e.action,
            e.actor
        );
    }
    let deliveries = store.deliveries_of(alert).await?;
    println!(
        "  {:<28} {:<7} {:<9} {:<13} {:<9} {:<9} av",
        "mottagare", "typ", "roll", "läge", "mottaget", "kvitterat"
    );
    for d in deliveries {
        let rel = |t: Option<DateTime<Utc>>| {
            t.map(|t| format!("+{}", hms(t - start)))
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "  {:<28} {:<7} {:<9} {:<13} {:<9} {:<9} {}",
            d.recipient.as_str(),
            d.kind.code(),
            d.role.code(),
            d.state.code(),
            rel(d.received_at),
            rel(d.acked_at),
            d.officer.unwrap_or_default()
        );
    }
    println!();
    Ok(())
}
