//! Heartbeats through the agency lines, on both stores: two broker instances on one store send
//! one heartbeat per line and interval between them, and none is lost when one of them stops;
//! overdue receipts mark a line down, page ops once per outage after `page_after` misses, and the
//! next receipt ends the outage (ops told). Receipts go through intake's receipt handling: the
//! last heartbeat's is not kept as a message, an earlier one is taken without effect, and one
//! naming another line's heartbeat is refused. Rounds run on a manual clock, driven by the test.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use varsel_broker::acknowledgement;
use varsel_broker::commit::{Committed, Writer};
use varsel_broker::config::{self, Config};
use varsel_broker::health::Health;
use varsel_broker::heartbeat::{self, Heartbeats};
use varsel_broker::metrics::Metrics;
use varsel_broker::store::{Channel, LineRow, LineState, NewMessage, Store};
use varsel_protocol::envelope::KeySet;
use varsel_protocol::message::{Content, Kind, ParticipantId, Payload, Receipt};
use varsel_protocol::registry::Registry;
use varsel_transport::clock::Clock;

use common::{on_postgres, on_sqlite, Ctx};

on_both!(
    two_instances_send_one_heartbeat_per_line_and_interval,
    missed_heartbeats_page_ops_once_and_a_receipt_ends_the_outage,
);

const INTERVAL: Duration = Duration::from_secs(15 * 60);
const GRACE: Duration = Duration::from_secs(2 * 60);
const POLICE: &str = "polisen-region-ost";
const SOCIAL: &str = "norrkoping-socialtjansten";

struct World {
    _dir: tempfile::TempDir,
    registry: Arc<Registry>,
    writer: Arc<Writer>,
    clock: Clock,
}

fn world() -> World {
    let dir = tempfile::tempdir().expect("temporary directory");
    let registry_path = varsel_testkit::world::write_world(dir.path()).expect("demo world");
    let registry = Arc::new(Registry::load(&registry_path).expect("registry"));
    let text = "[broker]\nid = \"varsel-broker\"\nkeys = \"keys\"\nregistry = \"registry.toml\"\n\
         routing = \"routing.toml\"\n[store]\nurl = \"sqlite://x.db\"\n";
    let config = Config::from_toml_str(text, "varsel.toml", dir.path()).expect("config");
    let keys = KeySet::load(&config.keys_dir, &config.broker_id).expect("broker keys");
    World {
        _dir: dir,
        registry,
        writer: Arc::new(Writer::new(config.broker_id.clone(), Arc::new(keys))),
        clock: Clock::manual(common::t(0)),
    }
}

fn instance(w: &World, store: Store) -> Heartbeats {
    let r = w.registry.clone();
    Heartbeats {
        store,
        clock: w.clock.clone(),
        metrics: Metrics::new(),
        writer: w.writer.clone(),
        registry: Arc::new(move || r.clone()),
        config: config::Heartbeat {
            interval: INTERVAL,
            grace: GRACE,
            page_after: 2,
            poll: Duration::from_millis(100),
        },
        outbox_wake: Arc::new(tokio::sync::Notify::new()),
        // The tests drive `round` themselves; `run` is what waits for RabbitMQ.
        health: Arc::new(Health::default()),
    }
}

fn pid(id: &str) -> ParticipantId {
    id.parse().expect("participant id")
}

/// Heartbeats in the outbox, by destination.
async fn heartbeats_queued(store: &Store) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for row in store.outbox_without_alert().await.expect("outbox") {
        if row.message.map(|m| m.kind) == Some(Kind::Heartbeat) {
            *by.entry(row.destination).or_default() += 1;
        }
    }
    by
}

async fn line(store: &Store, id: &str) -> LineRow {
    let p = id.parse().expect("participant id");
    let line = store.line(&p).await.expect("lines readable");
    line.unwrap_or_else(|| panic!("no line for {id}"))
}

/// Applies `participant`'s receipt naming `heartbeat` as intake does; answers whether it was
/// taken as a heartbeat receipt, and whether the receipt was kept as a message.
async fn receipt(
    store: &Store,
    writer: &Writer,
    registry: &Registry,
    participant: &str,
    heartbeat: uuid::Uuid,
    now: DateTime<Utc>,
) -> (bool, bool) {
    let payload = Payload::new(
        pid(participant),
        Content::Receipt(Receipt {
            delivery: heartbeat,
        }),
    );
    let message = NewMessage::new(
        payload.id,
        Kind::Receipt,
        pid(participant),
        now,
        b"a signed receipt".to_vec(),
    );
    let mut tx = store.begin().await.unwrap();
    let done = acknowledgement::apply(writer, &mut tx, registry, &message, &payload, now)
        .await
        .expect("applied");
    tx.commit().await.unwrap();
    let kept = store.message(payload.id).await.unwrap().is_some();
    (matches!(done, Committed::Heartbeat { .. }), kept)
}

async fn audited(store: &Store, action: &str) -> usize {
    store
        .audit_entries(None)
        .await
        .expect("audit")
        .iter()
        .filter(|e| e.action == action)
        .count()
}

fn advance(clock: &Clock, by: Duration) -> DateTime<Utc> {
    clock.advance(chrono::Duration::from_std(by).expect("a short duration"));
    clock.now()
}

async fn two_instances_send_one_heartbeat_per_line_and_interval(ctx: Ctx) {
    let w = world();
    let other = Store::connect(&ctx.url).await.expect("second store handle");
    let (a, b) = (instance(&w, ctx.store.clone()), instance(&w, other.clone()));
    let agencies = heartbeat::agencies(&w.registry);
    assert!(agencies.len() >= 4, "{agencies:?}");
    // Both instances start: each makes the lines (the second finds them there).
    for hb in [&a, &b] {
        hb.store
            .ensure_lines(&agencies, w.clock.now())
            .await
            .expect("lines made");
    }
    // Round by round, both at once: every line gets exactly one heartbeat per interval.
    for round in 1..=3usize {
        let (sa, sb) = tokio::join!(a.round(&w.registry), b.round(&w.registry));
        let (sa, sb) = (sa.expect("round a"), sb.expect("round b"));
        assert_eq!(sa + sb, agencies.len(), "round {round}: {sa} + {sb} sent");
        let (sa, sb) = tokio::join!(a.round(&w.registry), b.round(&w.registry));
        assert_eq!((sa.unwrap(), sb.unwrap()), (0, 0), "round {round} again");
        let queued = heartbeats_queued(&ctx.store).await;
        assert_eq!(queued.len(), agencies.len(), "{queued:?}");
        assert!(queued.values().all(|n| *n == round), "{queued:?}");
        advance(&w.clock, INTERVAL);
    }
    // Instance a is gone: b sends alone, and nothing is lost.
    drop(a);
    assert_eq!(b.round(&w.registry).await.unwrap(), agencies.len());
    let queued = heartbeats_queued(&ctx.store).await;
    assert!(queued.values().all(|n| *n == 4), "{queued:?}");
    // A broker that starts checks its lines at once, unless a receipt is still awaited.
    advance(&w.clock, GRACE + Duration::from_secs(1));
    b.round(&w.registry).await.unwrap();
    assert_eq!(
        other.lines_due_now(w.clock.now()).await.unwrap(),
        agencies.len() as u64
    );
    assert_eq!(b.round(&w.registry).await.unwrap(), agencies.len());
    other.close().await;
}

async fn missed_heartbeats_page_ops_once_and_a_receipt_ends_the_outage(ctx: Ctx) {
    let w = world();
    let hb = instance(&w, ctx.store.clone());
    let store = &ctx.store;
    let agencies = heartbeat::agencies(&w.registry);
    store.ensure_lines(&agencies, w.clock.now()).await.unwrap();
    assert_eq!(line(store, SOCIAL).await.state, LineState::Unknown);

    // Socialtjänsten answers every heartbeat; the police never do. Receipts go through intake's
    // receipt handling, as the agency's signed receipt would.
    let answer = |id: &'static str| {
        let (store, writer, registry) = (store.clone(), w.writer.clone(), w.registry.clone());
        let clock = w.clock.clone();
        async move {
            let l = line(&store, id).await;
            receipt(
                &store,
                &writer,
                &registry,
                id,
                l.heartbeat.expect("sent"),
                clock.now(),
            )
            .await
        }
    };
    hb.round(&w.registry).await.unwrap();
    answer(SOCIAL).await;
    let social = line(store, SOCIAL).await;
    assert_eq!((social.state, social.receipts), (LineState::Up, 1));

    // Within the grace nothing is missed; past it, the police line is down (one miss, no page).
    advance(&w.clock, GRACE - Duration::from_secs(1));
    hb.round(&w.registry).await.unwrap();
    assert_eq!(line(store, POLICE).await.state, LineState::Unknown);
    advance(&w.clock, Duration::from_secs(1));
    hb.round(&w.registry).await.unwrap();
    let police = line(store, POLICE).await;
    assert_eq!(
        (police.state, police.misses, police.paged),
        (LineState::Down, 1, false)
    );
    assert_eq!(audited(store, "line_down").await, 0);
    assert_eq!(line(store, SOCIAL).await.state, LineState::Up);

    // Two more intervals: the second miss pages ops, the third does not page again.
    for misses in [2, 3] {
        advance(&w.clock, INTERVAL - GRACE);
        hb.round(&w.registry).await.unwrap();
        answer(SOCIAL).await;
        advance(&w.clock, GRACE);
        hb.round(&w.registry).await.unwrap();
        let police = line(store, POLICE).await;
        assert_eq!(
            (police.state, police.misses, police.paged),
            (LineState::Down, misses, true)
        );
    }
    // One page per line that stayed silent (every agency but socialtjänsten), not one per miss.
    let silent = agencies.len() - 1;
    assert_eq!(audited(store, "line_down").await, silent);
    assert_eq!(audited(store, "heartbeat_missed").await, 3 * silent);
    let social = line(store, SOCIAL).await;
    assert_eq!(
        (social.state, social.receipts, social.misses),
        (LineState::Up, 3, 0)
    );
    // Each page is an email to the ops mailbox.
    let pages = store
        .outbox_without_alert()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| {
            r.channel == Channel::Email && String::from_utf8_lossy(&r.payload).contains(POLICE)
        })
        .count();
    assert_eq!(pages, 1);

    // The police client catches up: a receipt for an earlier heartbeat is known but changes
    // nothing; the one for the last heartbeat ends the outage and tells ops.
    let earliest = store
        .outbox_without_alert()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.destination == format!("inbox.{POLICE}"))
        .find_map(|r| r.message.and_then(|m| m.id))
        .expect("the first heartbeat to the police");
    let now = w.clock.now();
    let (taken, _) = receipt(store, &w.writer, &w.registry, POLICE, earliest, now).await;
    assert!(taken);
    assert_eq!(line(store, POLICE).await.state, LineState::Down);
    // Another agency's heartbeat, or no heartbeat at all, is refused like an unknown delivery.
    assert!(
        !receipt(store, &w.writer, &w.registry, SOCIAL, earliest, now)
            .await
            .0
    );
    let nothing = uuid::Uuid::now_v7();
    assert!(
        !receipt(store, &w.writer, &w.registry, POLICE, nothing, now)
            .await
            .0
    );
    answer(POLICE).await;
    let police = line(store, POLICE).await;
    assert_eq!(
        (police.state, police.misses, police.paged),
        (LineState::Up, 0, false)
    );
    assert_eq!(police.down_since, None);
    assert_eq!(audited(store, "line_up").await, 1);
    assert_eq!(audited(store, "line_restored").await, 1);
}
