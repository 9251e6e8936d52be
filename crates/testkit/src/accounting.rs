//! What a fault test does around its fault: a school publishing a burst of alerts (retrying
//! on a new connection when RabbitMQ goes away), and the accounting every fault test ends with,
//! read from the store and the agencies' inboxes: every alert routed once, every required
//! recipient reached, each delivery processed once by the agency's client, each timer fired once,
//! nothing refused, and the audit log one valid hash chain although several instances wrote it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::Utc;
use uuid::Uuid;
use varsel_broker::store::{AlertFilter, Store, TimerState};
use varsel_participant::client::Client;
use varsel_protocol::alert::Document;
use varsel_protocol::message::{Category, DeliveryState};

use crate::fleet::World;
use crate::harness::drain;
use crate::wait;

/// Departure alerts go to social services and the police, both required, on a ladder that
/// redelivers after 3 s (one timer per delivery, due while the burst is still going). Alerts
/// "suspected abroad" go to social services with an email to its mailbox after 1 s.
pub const ROUTING: &str = r#"
name = "Fault-injection tests"
default_recipient = "varsel-ops"
default_policy = "ops"

[[rule]]
name = "burst"
escalation = "fast"

[rule.match]
municipality = ["0581"]
category = ["departure_imminent"]
status = ["actual"]

[[rule.recipient]]
participant = "norrkoping-socialtjansten"
role = "required"
sections = ["core", "family", "travel", "school_actions"]

[[rule.recipient]]
participant = "polisen-region-ost"
role = "required"
sections = ["core", "travel"]

[[rule]]
name = "mail"
escalation = "mail"

[rule.match]
municipality = ["0581"]
category = ["suspected_abroad"]
status = ["actual"]

[[rule.recipient]]
participant = "norrkoping-socialtjansten"
role = "required"
sections = ["core"]

[policy.fast]
receipt_deadline = "3s"
ack_deadline = "1h"

[[policy.fast.step]]
after = "3s"
action = "redeliver"

[policy.mail]
receipt_deadline = "1s"
ack_deadline = "1h"

[[policy.mail.step]]
after = "1s"
action = "email"
to = "mailbox"

[policy.ops]
receipt_deadline = "15m"
ack_deadline = "2h"

[[policy.ops.step]]
after = "30m"
action = "page_ops"
"#;

fn log(what: impl std::fmt::Display) {
    eprintln!("[accounting] {what}");
}

/// The school's example alert, leaving in six hours, in `category`.
pub fn document(category: Category) -> Document {
    let mut doc: Document = serde_json::from_str(crate::world::ALERT_EXAMPLE).unwrap();
    let departure = Utc::now() + chrono::Duration::hours(6);
    doc.header.category = category;
    doc.header.planned_departure = Some(departure);
    if let Some(t) = doc.body.travel.as_mut() {
        t.planned_departure = Some(departure);
    }
    doc
}

/// Publishes `n` alerts on one connection (confirm per message); returns their ids.
pub async fn publish(school: &Client, n: usize, category: Category) -> Vec<Uuid> {
    let doc = document(category);
    let (conn, publisher) = school.connect().await.expect("the school connects");
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let (payload, compact) = school.seal(&doc, Utc::now()).expect("seal");
        school
            .publish(&publisher, &payload, &compact)
            .await
            .expect("publish confirmed");
        ids.push(payload.id);
    }
    let _ = conn.close(200, "done".into()).await;
    ids
}

/// The alerts of a burst published through faults.
#[derive(Debug, Default)]
pub struct Burst {
    /// Confirmed by RabbitMQ: accepted, so they must be routed.
    pub confirmed: Vec<Uuid>,
    /// Published but not confirmed (the connection went away first, or RabbitMQ answered with
    /// a nack): RabbitMQ may or may not have taken them, so each may or may not be routed, but
    /// never twice. The school publishes the alert again under a new id, as a sender would.
    pub unconfirmed: Vec<Uuid>,
    /// How many of `unconfirmed` RabbitMQ answered with a nack (or returned), rather than the
    /// connection going away.
    pub nacked: usize,
}

/// Like [`publish`], retrying a message whose publish failed (RabbitMQ going away) on a new
/// connection (to the next node, when the school has several), until `limit` passes.
pub async fn publish_through(school: &Client, n: usize, limit: Duration) -> Burst {
    publish_paced(school, n, Duration::ZERO, limit).await
}

/// [`publish_through`] with `pace` between one publish and the next, so that a burst lasts
/// long enough for a fault to fall into it.
pub async fn publish_paced(school: &Client, n: usize, pace: Duration, limit: Duration) -> Burst {
    let doc = document(Category::DepartureImminent);
    let deadline = Instant::now() + limit;
    let mut burst = Burst::default();
    let ids = &mut burst.confirmed;
    let mut link = None;
    while ids.len() < n {
        assert!(Instant::now() < deadline, "could not publish the burst");
        if link.is_none() {
            match school.connect().await {
                Ok(l) => link = Some(l),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            }
        }
        let (_, publisher) = link.as_ref().unwrap();
        let (payload, compact) = school.seal(&doc, Utc::now()).expect("seal");
        match school.publish(publisher, &payload, &compact).await {
            Ok(()) => {
                ids.push(payload.id);
                tokio::time::sleep(pace).await;
            }
            // Not confirmed: not sent as far as the school knows, though RabbitMQ may have it.
            Err(e) => {
                if matches!(e, varsel_participant::client::Error::NotConfirmed(_)) {
                    burst.nacked += 1;
                }
                burst.unconfirmed.push(payload.id);
                link = None;
                tokio::time::sleep(pace.max(Duration::from_millis(100))).await;
            }
        }
    }
    if let Some((conn, _)) = link {
        let _ = conn.close(200, "done".into()).await;
    }
    burst
}

pub async fn count_alerts(store: &Store) -> usize {
    store
        .alerts(&AlertFilter::default())
        .await
        .map(|a| a.len())
        .unwrap_or(0)
}

/// Polls until `check` holds and returns how long it took; every 200 ms, since each check may
/// query every broker's store while the brokers are being killed and restarted.
pub async fn wait_for<F, Fut>(limit: Duration, what: &str, check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait::holds(limit, Duration::from_millis(200), what, check)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// What the final check found, for the test's log.
#[derive(Debug, Default)]
pub struct Settled {
    pub alerts: usize,
    pub deliveries: usize,
    pub timers: usize,
    pub extra_sends: usize,
    pub inbox_items: BTreeMap<String, usize>,
}

/// Waits until the brokers have routed every alert in `expected` (alert id -> its required
/// recipients), sent everything in the outbox and fired every timer; drains the agencies'
/// inboxes until every delivery is received; then checks the invariants of the whole run.
pub async fn settle_and_check(
    world: &World,
    expected: &BTreeMap<Uuid, Vec<&'static str>>,
    limit: Duration,
) -> Settled {
    settle_and_check_maybe(world, expected, &BTreeMap::new(), limit).await
}

/// [`settle_and_check`] where the alerts in `maybe` were published without a confirm: each of
/// them that the store holds (RabbitMQ had taken it) is held to the same account as `expected`,
/// and none may be routed twice.
pub async fn settle_and_check_maybe(
    world: &World,
    expected: &BTreeMap<Uuid, Vec<&'static str>>,
    maybe: &BTreeMap<Uuid, Vec<&'static str>>,
    limit: Duration,
) -> Settled {
    let store = world.store().await;
    let start = Instant::now();
    wait_for(limit, "every confirmed alert to be routed", || async {
        let stored: BTreeSet<Uuid> = match store.alerts(&AlertFilter::default()).await {
            Ok(a) => a.iter().map(|a| a.id).collect(),
            Err(_) => return false,
        };
        expected.keys().all(|id| stored.contains(id))
    })
    .await;
    wait_for(
        limit,
        "the outbox to empty and every timer to fire",
        || async {
            store
                .stats(Utc::now())
                .await
                .map(|s| s.outbox_pending == 0 && s.timers_pending == 0)
                .unwrap_or(false)
        },
    )
    .await;
    let stored: BTreeSet<Uuid> = store
        .alerts(&AlertFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    let mut expected = expected.clone();
    for (id, recipients) in maybe {
        if stored.contains(id) {
            expected.insert(*id, recipients.clone());
        }
    }
    let expected = &expected;
    log(format!("routed, sent and fired in {:?}", start.elapsed()));

    // The agencies read their inboxes (each receipted at once) until every delivery is received.
    let agencies: BTreeSet<&str> = expected.values().flatten().copied().collect();
    let clients: BTreeMap<&str, Client> = agencies.iter().map(|a| (*a, world.client(a))).collect();
    let mut inbox_items: BTreeMap<String, usize> = BTreeMap::new();
    let deadline = Instant::now() + limit;
    loop {
        let drained = futures_util::future::join_all(clients.values().map(drain)).await;
        for (a, items) in clients.keys().zip(drained) {
            *inbox_items.entry(a.to_string()).or_default() += items.len();
        }
        let mut missing = 0;
        for id in expected.keys() {
            let ds = store.deliveries_of(*id).await.expect("deliveries");
            missing += ds.iter().filter(|d| d.received_at.is_none()).count();
        }
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} deliveries still not received"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    log(format!(
        "inboxes drained and every delivery received after {:?} ({inbox_items:?})",
        start.elapsed()
    ));

    // Routed once: the alert rows are exactly the alerts published, each routed by one entry.
    let alerts = store.alerts(&AlertFilter::default()).await.unwrap();
    let stored: BTreeSet<Uuid> = alerts.iter().map(|a| a.id).collect();
    let wanted: BTreeSet<Uuid> = expected.keys().copied().collect();
    assert_eq!(
        stored, wanted,
        "the store holds exactly the alerts published"
    );
    let audit = store.audit_entries(None).await.unwrap();
    assert_eq!(
        varsel_broker::audit::verify(&audit).map_err(|b| format!("seq {}: {}", b.seq, b.why)),
        Ok(audit.len()),
        "the audit log is one valid chain"
    );
    assert!(
        !audit.iter().any(|e| e.action == "message_refused"),
        "nothing was refused"
    );
    let mut routed: BTreeMap<Uuid, usize> = BTreeMap::new();
    let mut escalations: BTreeMap<Uuid, usize> = BTreeMap::new();
    for e in &audit {
        let Some(a) = e.alert else { continue };
        if e.action == "alert_routed" {
            *routed.entry(a).or_default() += 1;
        }
        if e.action.starts_with("escalation_") {
            *escalations.entry(a).or_default() += 1;
        }
    }

    let mut settled = Settled {
        alerts: alerts.len(),
        inbox_items,
        ..Default::default()
    };
    let mut per_recipient: BTreeMap<String, BTreeSet<Uuid>> = BTreeMap::new();
    for (id, recipients) in expected {
        assert_eq!(routed.get(id), Some(&1), "alert {id} routed exactly once");
        let ds = store.deliveries_of(*id).await.unwrap();
        let names: Vec<&str> = ds.iter().map(|d| d.recipient.as_str()).collect();
        let mut sorted_names = names.clone();
        sorted_names.sort();
        let mut want_names = recipients.clone();
        want_names.sort();
        assert_eq!(
            sorted_names, want_names,
            "alert {id}: one delivery per recipient"
        );
        for d in &ds {
            assert!(
                d.received_at.is_some()
                    && matches!(
                        d.state,
                        DeliveryState::Received | DeliveryState::Acknowledged
                    ),
                "alert {id}: delivery {} to {} is {:?}",
                d.id,
                d.recipient,
                d.state
            );
            per_recipient
                .entry(d.recipient.to_string())
                .or_default()
                .insert(d.id);
        }
        settled.deliveries += ds.len();
        let outbox = store.outbox_of(*id).await.unwrap();
        for d in &ds {
            let sends = outbox.iter().filter(|o| o.delivery == Some(d.id)).count();
            assert!(sends >= 1, "delivery {} was put in the outbox", d.id);
            settled.extra_sends += sends - 1;
        }
        let timers = store.timers_of(*id).await.unwrap();
        assert!(
            timers.iter().all(|t| t.state == TimerState::Fired),
            "alert {id}: every timer fired"
        );
        assert_eq!(
            escalations.get(id).copied().unwrap_or(0),
            timers.len(),
            "alert {id}: one escalation entry per timer, so each fired once"
        );
        settled.timers += timers.len();
    }

    // Each agency's client processed every delivery of its own exactly once.
    for (agency, client) in &clients {
        let processed = client.state().processed();
        let mut seen: BTreeMap<Uuid, usize> = BTreeMap::new();
        for key in &processed {
            if let Some(id) = key.strip_prefix("delivery-") {
                *seen.entry(id.parse().unwrap()).or_default() += 1;
            }
        }
        let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            twice.is_empty(),
            "{agency} processed deliveries twice: {twice:?}"
        );
        let seen: BTreeSet<Uuid> = seen.into_keys().collect();
        assert_eq!(
            Some(&seen),
            per_recipient.get(*agency),
            "{agency} processed exactly its deliveries"
        );
    }
    store.close().await;
    settled
}

/// Each of `ids` with the same required recipients.
pub fn expect(ids: &[Uuid], recipients: &[&'static str]) -> BTreeMap<Uuid, Vec<&'static str>> {
    ids.iter().map(|id| (*id, recipients.to_vec())).collect()
}
