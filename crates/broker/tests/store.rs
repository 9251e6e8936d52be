//! The store's behaviour, checked on both backends: every test body is written once and runs
//! against a fresh SQLite file and a fresh PostgreSQL database (see `common`).

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::Connection;
use tokio::sync::Barrier;
use uuid::Uuid;

use varsel_broker::audit;
use varsel_broker::store::{
    self, AlertCount, AlertFilter, AlertState, Channel, DeliveryCount, Inserted, MessageLabel,
    NewAlert, NewAudit, NewDelivery, NewMessage, NewOutbox, NewTimer, OutboxOutcome, OutboxState,
    Stats, Store, TimerState, Tx,
};
use varsel_protocol::message::{
    Category, DeliveryState, Kind, Outcome, RecipientRole, SectionLabel, Status, Urgency,
};

use common::{on_postgres, on_sqlite, participant, raw_sql, t, Ctx};

on_both!(
    messages_are_stored_once,
    intake_commits_whole_or_not_at_all,
    delivery_transitions_are_idempotent_and_race_safe,
    outbox_and_timer_claims_never_overlap,
    audit_chain_detects_tampering,
    a_large_commit_chains_its_entries_in_order,
    stats_and_overdue_count_what_is_there,
    savepoints_undo_only_their_part_audit_included,
    intake_batch_commits_exactly_the_right_rows,
    urgent_sends_are_claimed_first,
    error_replies_once_per_bytes_and_within_budget,
    email_is_claimed_apart_and_a_renewed_lease_keeps_others_out,
);

fn message(id: Uuid, raw: &[u8]) -> NewMessage {
    NewMessage::new(id, Kind::Alert, participant("skola-a"), t(0), raw.to_vec())
}

fn new_alert(id: Uuid, category: Category, status: Status, at: DateTime<Utc>) -> NewAlert {
    NewAlert {
        id,
        sender: participant("skola-a"),
        municipality: "0581".parse().expect("kommunkod"),
        category,
        urgency: Urgency::Immediate,
        status,
        planned_departure: Some(t(86_400_000)),
        table_version: "2025-01".into(),
        policy: Some(json!({ "receipt_within_s": 300 })),
        created_at: at,
    }
}

fn new_delivery(alert: Uuid, recipient: &str, state: DeliveryState) -> NewDelivery {
    NewDelivery {
        id: Uuid::now_v7(),
        alert,
        message: alert,
        kind: Kind::Alert,
        policy: Some("departure".into()),
        recipient: participant(recipient),
        role: RecipientRole::Required,
        sections: vec![SectionLabel::Core, SectionLabel::Travel],
        state,
        created_at: t(0),
        receipt_due: None,
        ack_due: None,
    }
}

/// Stores a message and its alert in one committed transaction; returns the alert id.
async fn stored_alert(
    store: &Store,
    category: Category,
    status: Status,
    at: DateTime<Utc>,
) -> Uuid {
    let id = Uuid::now_v7();
    let mut tx = store.begin().await.expect("begin");
    tx.insert_message(&message(id, id.as_bytes()))
        .await
        .expect("insert message");
    tx.insert_alert(&new_alert(id, category, status, at))
        .await
        .expect("insert alert");
    tx.commit().await.expect("commit");
    id
}

async fn stored_delivery(store: &Store, d: &NewDelivery) {
    let mut tx = store.begin().await.expect("begin");
    tx.insert_delivery(d).await.expect("insert delivery");
    tx.commit().await.expect("commit");
}

fn outbox(alert: Uuid, delivery: Option<Uuid>, not_before: DateTime<Utc>) -> NewOutbox {
    NewOutbox {
        channel: Channel::Amqp,
        message: Some(MessageLabel {
            kind: Kind::Delivery,
            id: Some(Uuid::now_v7()),
        }),
        destination: "inbox.polisen".into(),
        payload: b"sealed jws bytes".to_vec(),
        delivery,
        alert: Some(alert),
        not_before,
        created_at: not_before,
        urgent: false,
    }
}

fn timer(alert: Uuid, due_at: DateTime<Utc>) -> NewTimer {
    NewTimer {
        alert,
        delivery: None,
        action: json!({ "step": "email" }),
        due_at,
        created_at: t(0),
    }
}

fn entry(alert: Uuid, action: &str, n: i64) -> NewAudit {
    NewAudit {
        at: t(n),
        actor: "broker".into(),
        action: action.into(),
        alert: Some(alert),
        delivery: None,
        detail: json!({ "n": n, "note": "metadata only" }),
    }
}

async fn messages_are_stored_once(ctx: Ctx) {
    let store = ctx.store;
    let id = Uuid::now_v7();
    let raw = b"header.payload.signature".to_vec();

    let mut tx = store.begin().await.expect("begin");
    assert_eq!(
        tx.insert_message(&message(id, &raw)).await.expect("insert"),
        Inserted::New
    );
    tx.commit().await.expect("commit");
    assert_eq!(
        store.message_digest(id).await.expect("digest"),
        Some(store::digest(&raw))
    );
    let stored = store.message(id).await.expect("read").expect("stored");
    assert_eq!(stored.raw, raw);
    assert_eq!(stored.kind, Kind::Alert);
    assert_eq!(stored.received_at, t(0));

    // The same id again, even with other bytes (a replay), reports the first digest and the
    // transaction stays usable.
    let mut tx = store.begin().await.expect("begin");
    let again = tx
        .insert_message(&message(id, b"other.bytes.entirely"))
        .await
        .expect("insert again");
    assert_eq!(
        again,
        Inserted::Exists {
            digest: store::digest(&raw)
        }
    );
    let other = Uuid::now_v7();
    assert_eq!(
        tx.insert_message(&message(other, b"x"))
            .await
            .expect("insert"),
        Inserted::New
    );
    tx.commit().await.expect("commit after a duplicate");
    assert!(store.message_digest(other).await.expect("digest").is_some());
    assert_eq!(
        store.message_digest(Uuid::now_v7()).await.expect("digest"),
        None
    );

    // A second handle on the same database, as a second broker instance would have.
    let second = Store::connect(&ctx.url).await.expect("second handle");
    let mut tx = second.begin().await.expect("begin");
    assert!(matches!(
        tx.insert_message(&message(id, &raw)).await.expect("insert"),
        Inserted::Exists { .. }
    ));
    tx.commit().await.expect("commit");

    // Both instances receive the same new message at once: exactly one stores it.
    for round in 0..5 {
        let id = Uuid::now_v7();
        let barrier = Arc::new(Barrier::new(2));
        let tasks: Vec<_> = [store.clone(), second.clone()]
            .into_iter()
            .map(|s| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    let mut tx = s.begin().await.expect("begin");
                    let r = tx
                        .insert_message(&message(id, b"same.message.bytes"))
                        .await
                        .expect("insert");
                    tx.commit().await.expect("commit");
                    r
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("task"));
        }
        let new = results.iter().filter(|r| **r == Inserted::New).count();
        assert_eq!(new, 1, "round {round}: {results:?}");
        assert!(results.contains(&Inserted::Exists {
            digest: store::digest(b"same.message.bytes")
        }));
    }
    second.close().await;
}

/// Writes what intake writes for one alert: message, alert, three deliveries, three outbox rows,
/// two timers and two audit entries. Returns the delivery ids.
async fn intake(tx: &mut Tx, id: Uuid) -> Vec<Uuid> {
    tx.insert_message(&message(id, id.as_bytes()))
        .await
        .expect("message");
    tx.insert_alert(&new_alert(
        id,
        Category::DepartureImminent,
        Status::Actual,
        t(0),
    ))
    .await
    .expect("alert");
    let mut ids = Vec::new();
    for recipient in ["socialtjansten-0581", "polisen", "forsakringskassan"] {
        let mut d = new_delivery(id, recipient, DeliveryState::Pending);
        d.receipt_due = Some(t(300_000));
        d.ack_due = Some(t(3_600_000));
        tx.insert_delivery(&d).await.expect("delivery");
        tx.enqueue(&NewOutbox {
            destination: format!("inbox.{recipient}"),
            ..outbox(id, Some(d.id), t(0))
        })
        .await
        .expect("outbox");
        ids.push(d.id);
    }
    tx.schedule(&timer(id, t(300_000))).await.expect("timer");
    tx.schedule(&NewTimer {
        delivery: Some(ids[1]),
        ..timer(id, t(3_600_000))
    })
    .await
    .expect("timer");
    tx.audit(&entry(id, "alert.accepted", 1))
        .await
        .expect("audit");
    tx.audit(&entry(id, "alert.routed", 2))
        .await
        .expect("audit");
    ids
}

async fn intake_commits_whole_or_not_at_all(ctx: Ctx) {
    let store = ctx.store;
    let id = Uuid::now_v7();
    let mut tx = store.begin().await.expect("begin");
    let deliveries = intake(&mut tx, id).await;
    tx.commit().await.expect("commit");

    let alert = store.alert(id).await.expect("read").expect("alert stored");
    assert_eq!(alert.state, AlertState::Open);
    assert_eq!(alert.category, Category::DepartureImminent);
    assert_eq!(alert.municipality.as_str(), "0581");
    assert_eq!(alert.planned_departure, Some(t(86_400_000)));
    assert_eq!(alert.policy, Some(json!({ "receipt_within_s": 300 })));
    assert_eq!(alert.table_version, "2025-01");
    assert_eq!(alert.last_message_id, None);
    let stored: Vec<Uuid> = store
        .deliveries_of(id)
        .await
        .expect("deliveries")
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(stored.len(), 3);
    assert_eq!(
        stored.iter().collect::<BTreeSet<_>>(),
        deliveries.iter().collect::<BTreeSet<_>>()
    );
    let d = store
        .delivery(deliveries[0])
        .await
        .expect("read")
        .expect("delivery");
    assert_eq!(d.sections, vec![SectionLabel::Core, SectionLabel::Travel]);
    assert_eq!(
        (d.state, d.role, d.attempts),
        (DeliveryState::Pending, RecipientRole::Required, 0)
    );
    assert_eq!(
        (d.receipt_due, d.ack_due),
        (Some(t(300_000)), Some(t(3_600_000)))
    );
    let rows = store.outbox_of(id).await.expect("outbox");
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .all(|r| r.state == OutboxState::Pending && r.payload == b"sealed jws bytes"));
    assert_eq!(rows[1].destination, "inbox.polisen");
    let timers = store.timers_of(id).await.expect("timers");
    assert_eq!(timers.len(), 2);
    assert_eq!(timers[1].delivery, Some(deliveries[1]));
    assert_eq!(timers[0].action, json!({ "step": "email" }));
    let entries = store.audit_entries(Some(id)).await.expect("audit");
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(entries[1].action, "alert.routed");

    // The same intake, dropped before commit, leaves nothing behind.
    let lost = Uuid::now_v7();
    let mut tx = store.begin().await.expect("begin");
    let lost_deliveries = intake(&mut tx, lost).await;
    drop(tx);
    assert_eq!(store.message_digest(lost).await.expect("read"), None);
    assert_eq!(store.alert(lost).await.expect("read"), None);
    assert!(store.deliveries_of(lost).await.expect("read").is_empty());
    assert_eq!(
        store.delivery(lost_deliveries[0]).await.expect("read"),
        None
    );
    assert!(store.outbox_of(lost).await.expect("read").is_empty());
    assert!(store.timers_of(lost).await.expect("read").is_empty());
    assert!(store
        .audit_entries(Some(lost))
        .await
        .expect("read")
        .is_empty());
    let chain = store.audit_entries(None).await.expect("read");
    assert_eq!(audit::verify(&chain), Ok(2));

    // An explicit rollback, and a failing statement, do the same; the chain goes on at 3.
    let mut tx = store.begin().await.expect("begin");
    intake(&mut tx, Uuid::now_v7()).await;
    tx.rollback().await.expect("rollback");
    let mut tx = store.begin().await.expect("begin");
    tx.audit(&entry(id, "delivery.orphan", 3))
        .await
        .expect("audit");
    let orphan = new_delivery(Uuid::now_v7(), "polisen", DeliveryState::Pending);
    assert!(
        tx.insert_delivery(&orphan).await.is_err(),
        "a delivery of an unknown alert must be refused (foreign keys)"
    );
    drop(tx);
    let mut tx = store.begin().await.expect("begin");
    tx.audit(&entry(id, "alert.updated", 4))
        .await
        .expect("audit");
    tx.commit().await.expect("commit");
    let chain = store.audit_entries(None).await.expect("read");
    assert_eq!(
        chain.last().map(|e| (e.seq, e.action.as_str())),
        Some((3, "alert.updated"))
    );
    assert_eq!(audit::verify(&chain), Ok(3));
}

async fn delivery_transitions_are_idempotent_and_race_safe(ctx: Ctx) {
    use DeliveryState::*;
    let store = ctx.store;
    let alert = stored_alert(&store, Category::SuspectedAbroad, Status::Actual, t(0)).await;
    let d = new_delivery(alert, "polisen", Pending);
    stored_delivery(&store, &d).await;

    let mut tx = store.begin().await.expect("begin");
    assert!(tx
        .transition_delivery(d.id, &[Pending], Sent, t(10), None, None)
        .await
        .expect("sent"));
    assert!(!tx
        .transition_delivery(d.id, &[Pending], Sent, t(11), None, None)
        .await
        .expect("again"));
    assert!(tx
        .note_delivery_attempt(d.id, t(10))
        .await
        .expect("attempt"));
    tx.commit().await.expect("commit");

    let mut tx = store.begin().await.expect("begin");
    assert!(tx
        .transition_delivery(d.id, &[Pending, Sent], Received, t(20), None, None)
        .await
        .expect("receipt"));
    assert!(tx
        .transition_delivery(
            d.id,
            &[Pending, Sent, Received],
            Acknowledged,
            t(30),
            Some("Officer Berg"),
            Some(Outcome::CaseOpened)
        )
        .await
        .expect("ack"));
    // A receipt that arrives late, after the ack, changes nothing.
    assert!(!tx
        .transition_delivery(d.id, &[Pending, Sent], Received, t(40), None, None)
        .await
        .expect("late receipt"));
    let locked = tx
        .delivery_for_update(d.id)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(locked.state, Acknowledged);
    tx.commit().await.expect("commit");

    let row = store.delivery(d.id).await.expect("read").expect("row");
    assert_eq!(row.state, Acknowledged);
    assert_eq!(
        (row.sent_at, row.received_at, row.acked_at),
        (Some(t(10)), Some(t(20)), Some(t(30)))
    );
    assert_eq!(row.officer.as_deref(), Some("Officer Berg"));
    assert_eq!(row.outcome, Some(Outcome::CaseOpened));
    assert_eq!(row.attempts, 1);
    assert_eq!(row.updated_at, t(30));

    // An ack without a receipt also records arrival.
    let quick = new_delivery(alert, "forsakringskassan", Sent);
    stored_delivery(&store, &quick).await;
    let mut tx = store.begin().await.expect("begin");
    assert!(tx
        .transition_delivery(
            quick.id,
            &[Sent, Received],
            Declined,
            t(50),
            Some("Handläggare"),
            Some(Outcome::NotOurJurisdiction)
        )
        .await
        .expect("decline"));
    tx.commit().await.expect("commit");
    let row = store.delivery(quick.id).await.expect("read").expect("row");
    assert_eq!((row.received_at, row.acked_at), (Some(t(50)), Some(t(50))));

    // Alert state changes are conditional too.
    let mut tx = store.begin().await.expect("begin");
    assert!(tx
        .set_alert_state(alert, &[AlertState::Open], AlertState::Acknowledged, t(60))
        .await
        .expect("state"));
    assert!(!tx
        .set_alert_state(alert, &["open"], "cancelled", t(61))
        .await
        .expect("state"));
    assert!(tx
        .set_alert_state(alert, &["acknowledged"], "cancelled", t(62))
        .await
        .expect("state"));
    assert!(tx
        .set_alert_state(alert, &["open"], "archived", t(63))
        .await
        .is_err());
    let update = Uuid::now_v7();
    tx.insert_message(&message(update, b"update"))
        .await
        .expect("message");
    tx.touch_alert(alert, update, None, t(64))
        .await
        .expect("touch");
    tx.commit().await.expect("commit");
    let a = store.alert(alert).await.expect("read").expect("alert");
    assert_eq!(
        (a.state, a.last_message_id, a.updated_at),
        (AlertState::Cancelled, Some(update), t(64))
    );
    assert_eq!(
        a.planned_departure,
        Some(t(86_400_000)),
        "an update without a departure keeps it"
    );

    // Two instances answer the same delivery at the same moment: exactly one wins.
    let second = Store::connect(&ctx.url).await.expect("second handle");
    for round in 0..8 {
        let d = new_delivery(alert, "socialtjansten-0581", Sent);
        stored_delivery(&store, &d).await;
        let barrier = Arc::new(Barrier::new(2));
        let tasks: Vec<_> = [(store.clone(), Acknowledged), (second.clone(), Declined)]
            .into_iter()
            .map(|(s, to)| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    let mut tx = s.begin().await.expect("begin");
                    let applied = tx
                        .transition_delivery(
                            d.id,
                            &[Sent, Received],
                            to,
                            t(100),
                            Some("Jour"),
                            None,
                        )
                        .await
                        .expect("transition");
                    tx.commit().await.expect("commit");
                    (applied, to)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            let (applied, to) = task.await.expect("task");
            if applied {
                winners.push(to);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let row = store.delivery(d.id).await.expect("read").expect("row");
        assert_eq!(row.state, winners[0]);
    }
    second.close().await;
}

/// In a flood, an `immediate` alert's deliveries do not wait behind routine rows that fell due
/// earlier: the claim takes urgent rows first, then the rest by due time.
async fn urgent_sends_are_claimed_first(ctx: Ctx) {
    let store = ctx.store;
    let alert = stored_alert(&store, Category::DepartureImminent, Status::Actual, t(0)).await;
    let mut tx = store.begin().await.expect("begin");
    let mut routine = Vec::new();
    for i in 0..5 {
        routine.push(
            tx.enqueue(&outbox(alert, None, t(i)))
                .await
                .expect("enqueue"),
        );
    }
    let urgent = tx
        .enqueue(&outbox(alert, None, t(100)).with_urgent(true))
        .await
        .expect("enqueue");
    // Not due yet: urgency does not make a row due early.
    tx.enqueue(&outbox(alert, None, t(5_000)).with_urgent(true))
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");
    let lease = Duration::from_secs(30);
    let first = store
        .claim_outbox(Channel::Amqp, "a", t(1_000), lease, 2)
        .await
        .expect("claim");
    assert_eq!(
        first.iter().map(|r| (r.id, r.urgent)).collect::<Vec<_>>(),
        vec![(urgent, true), (routine[0], false)]
    );
    let rest = store
        .claim_outbox(Channel::Amqp, "a", t(1_000), lease, 10)
        .await
        .expect("claim");
    assert_eq!(
        rest.iter().map(|r| r.id).collect::<Vec<_>>(),
        routine[1..].to_vec()
    );
}

async fn outbox_and_timer_claims_never_overlap(ctx: Ctx) {
    let store = ctx.store;
    let alert = stored_alert(&store, Category::DepartureImminent, Status::Actual, t(0)).await;
    let now = t(1_000);
    let mut due_outbox = BTreeSet::new();
    let mut due_timers = BTreeSet::new();
    let mut tx = store.begin().await.expect("begin");
    for i in 0..60 {
        due_outbox.insert(
            tx.enqueue(&outbox(alert, None, t(i)))
                .await
                .expect("enqueue"),
        );
        due_timers.insert(tx.schedule(&timer(alert, t(i))).await.expect("schedule"));
    }
    for i in 0..5 {
        tx.enqueue(&outbox(alert, None, t(100_000_000 + i)))
            .await
            .expect("enqueue later");
        tx.schedule(&timer(alert, t(100_000_000 + i)))
            .await
            .expect("schedule later");
    }
    tx.commit().await.expect("commit");

    // Two instances claim at once, in small batches, until nothing is left.
    let second = Store::connect(&ctx.url).await.expect("second handle");
    let lease = Duration::from_secs(60);
    let barrier = Arc::new(Barrier::new(2));
    let tasks: Vec<_> = [
        (store.clone(), "instance-a"),
        (second.clone(), "instance-b"),
    ]
    .into_iter()
    .map(|(s, owner)| {
        let barrier = barrier.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            let (mut outbox_ids, mut timer_ids) = (Vec::new(), Vec::new());
            loop {
                let rows = s
                    .claim_outbox(Channel::Amqp, owner, now, lease, 7)
                    .await
                    .expect("claim outbox");
                let timers = s
                    .claim_timers(owner, now, lease, 7)
                    .await
                    .expect("claim timers");
                if rows.is_empty() && timers.is_empty() {
                    break;
                }
                for r in rows {
                    assert_eq!(r.claimed_by.as_deref(), Some(owner));
                    assert_eq!(r.claimed_until, Some(now + lease));
                    assert_eq!(r.attempts, 1);
                    outbox_ids.push(r.id);
                }
                for tm in timers {
                    assert_eq!(tm.claimed_by.as_deref(), Some(owner));
                    timer_ids.push(tm.id);
                }
            }
            (outbox_ids, timer_ids)
        })
    })
    .collect();
    let mut all_outbox = Vec::new();
    let mut all_timers = Vec::new();
    let mut claimed_by_a = BTreeSet::new();
    for (i, task) in tasks.into_iter().enumerate() {
        let (o, tm) = task.await.expect("claimer");
        if i == 0 {
            claimed_by_a.extend(o.iter().copied());
        }
        all_outbox.extend(o);
        all_timers.extend(tm);
    }
    let outbox_set: BTreeSet<i64> = all_outbox.iter().copied().collect();
    let timer_set: BTreeSet<i64> = all_timers.iter().copied().collect();
    assert_eq!(
        all_outbox.len(),
        outbox_set.len(),
        "an outbox row was claimed twice"
    );
    assert_eq!(
        all_timers.len(),
        timer_set.len(),
        "a timer was claimed twice"
    );
    assert_eq!(outbox_set, due_outbox, "exactly the due rows are claimed");
    assert_eq!(timer_set, due_timers, "exactly the due timers are claimed");

    // A live lease keeps others out; an expired one (the instance died) can be taken over,
    // and then the first owner can no longer finish.
    assert!(second
        .claim_outbox(
            Channel::Amqp,
            "instance-b",
            now + Duration::from_secs(59),
            lease,
            100
        )
        .await
        .expect("claim")
        .is_empty());
    let taken = second
        .claim_outbox(Channel::Amqp, "instance-b", now + lease, lease, 1)
        .await
        .expect("claim");
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].attempts, 2);
    let taken_id = taken[0].id;
    assert!(due_outbox.contains(&taken_id));
    let mut tx = store.begin().await.expect("begin");
    assert!(!tx
        .finish_outbox(taken_id, "instance-c", OutboxOutcome::Sent { at: now })
        .await
        .expect("finish"));
    if claimed_by_a.contains(&taken_id) {
        assert!(!tx
            .finish_outbox(taken_id, "instance-a", OutboxOutcome::Sent { at: now })
            .await
            .expect("finish"));
    }
    assert!(tx
        .finish_outbox(
            taken_id,
            "instance-b",
            OutboxOutcome::Sent { at: now + lease }
        )
        .await
        .expect("finish"));
    assert!(!tx
        .finish_outbox(
            taken_id,
            "instance-b",
            OutboxOutcome::Sent { at: now + lease }
        )
        .await
        .expect("finish twice"));
    tx.commit().await.expect("commit");
    let sent = store
        .outbox_of(alert)
        .await
        .expect("read")
        .into_iter()
        .find(|r| r.id == taken_id)
        .expect("row");
    assert_eq!(
        (sent.state, sent.sent_at, sent.claimed_by),
        (OutboxState::Sent, Some(now + lease), None)
    );

    // A retry waits for its time; unroutable and failed rows are never claimed again.
    let later = now + Duration::from_secs(3_600);
    let rows = store
        .claim_outbox(Channel::Amqp, "instance-a", later, lease, 3)
        .await
        .expect("claim");
    assert_eq!(rows.len(), 3);
    let mut tx = store.begin().await.expect("begin");
    assert!(tx
        .finish_outbox(
            rows[0].id,
            "instance-a",
            OutboxOutcome::Retry {
                at: later + lease * 2,
                error: "no confirm".into()
            }
        )
        .await
        .expect("retry"));
    assert!(tx
        .finish_outbox(
            rows[1].id,
            "instance-a",
            OutboxOutcome::Unroutable {
                at: later,
                error: "no queue".into()
            }
        )
        .await
        .expect("unroutable"));
    assert!(tx
        .finish_outbox(
            rows[2].id,
            "instance-a",
            OutboxOutcome::Failed {
                at: later,
                error: "gave up".into()
            }
        )
        .await
        .expect("failed"));
    tx.commit().await.expect("commit");
    let still =
        |rows: Vec<store::OutboxRow>, id: i64| rows.into_iter().find(|r| r.id == id).expect("row");
    let retry = still(store.outbox_of(alert).await.expect("read"), rows[0].id);
    assert_eq!(
        (
            retry.state,
            retry.next_attempt_at,
            retry.last_error.as_deref()
        ),
        (OutboxState::Pending, later + lease * 2, Some("no confirm"))
    );
    assert_eq!(
        still(store.outbox_of(alert).await.expect("read"), rows[1].id).state,
        OutboxState::Unroutable
    );
    let between = store
        .claim_outbox(Channel::Amqp, "instance-a", later + lease, lease, 1_000)
        .await
        .expect("claim");
    assert!(between
        .iter()
        .all(|r| r.id != rows[0].id && r.id != rows[1].id && r.id != rows[2].id));
    let after = store
        .claim_outbox(Channel::Amqp, "instance-b", later + lease * 3, lease, 1_000)
        .await
        .expect("claim");
    assert!(after.iter().any(|r| r.id == rows[0].id));
    assert!(after
        .iter()
        .all(|r| r.id != rows[1].id && r.id != rows[2].id));

    // Timers: only the claimer fires; a cancel wins over a claim.
    let tid = *due_timers.first().expect("timer");
    let owner = store
        .timers_of(alert)
        .await
        .expect("read")
        .into_iter()
        .find(|tm| tm.id == tid)
        .and_then(|tm| tm.claimed_by)
        .expect("claimed");
    let mut tx = store.begin().await.expect("begin");
    assert!(!tx
        .finish_timer(tid, "instance-c", now)
        .await
        .expect("finish"));
    assert!(tx.finish_timer(tid, &owner, now).await.expect("finish"));
    assert!(!tx
        .finish_timer(tid, &owner, now)
        .await
        .expect("finish twice"));
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    let cancelled = tx.cancel_timers(alert, None).await.expect("cancel");
    tx.commit().await.expect("commit");
    assert_eq!(
        cancelled,
        60 - 1 + 5,
        "every pending timer but the fired one"
    );
    let other = *due_timers.iter().nth(1).expect("timer");
    let other_owner = store
        .timers_of(alert)
        .await
        .expect("read")
        .into_iter()
        .find(|tm| tm.id == other)
        .and_then(|tm| tm.claimed_by)
        .expect("claimed");
    let mut tx = store.begin().await.expect("begin");
    assert!(!tx
        .finish_timer(other, &other_owner, now)
        .await
        .expect("finish cancelled"));
    tx.commit().await.expect("commit");
    assert!(store
        .claim_timers("instance-a", later, lease, 100)
        .await
        .expect("claim")
        .is_empty());
    let states: Vec<TimerState> = store
        .timers_of(alert)
        .await
        .expect("read")
        .into_iter()
        .map(|tm| tm.state)
        .collect();
    assert_eq!(
        states.iter().filter(|s| **s == TimerState::Fired).count(),
        1
    );
    assert_eq!(
        states
            .iter()
            .filter(|s| **s == TimerState::Cancelled)
            .count(),
        64
    );

    // Cancelling one delivery's timers leaves the others.
    let d = new_delivery(alert, "polisen", DeliveryState::Sent);
    stored_delivery(&store, &d).await;
    let mut tx = store.begin().await.expect("begin");
    tx.schedule(&NewTimer {
        delivery: Some(d.id),
        ..timer(alert, later)
    })
    .await
    .expect("schedule");
    tx.schedule(&timer(alert, later)).await.expect("schedule");
    assert_eq!(
        tx.cancel_timers(alert, Some(d.id)).await.expect("cancel"),
        1
    );
    tx.commit().await.expect("commit");
    assert_eq!(
        store
            .claim_timers("instance-a", later, lease, 10)
            .await
            .expect("claim")
            .len(),
        1
    );
    second.close().await;
}

/// A transaction's entries are written several rows per INSERT (100 at most): 250 entries in one
/// commit, then 3 in the next, chain in the order they were added, without a gap.
async fn a_large_commit_chains_its_entries_in_order(ctx: Ctx) {
    let store = ctx.store;
    let alert = Uuid::now_v7();
    for (count, base) in [(250, 0), (3, 1000)] {
        let mut tx = store.begin().await.expect("begin");
        for n in 0..count {
            tx.audit(&entry(alert, "delivery.sent", base + n))
                .await
                .expect("audit");
        }
        tx.commit().await.expect("commit");
    }
    let chain = store.audit_entries(None).await.expect("read");
    assert_eq!(audit::verify(&chain), Ok(253));
    assert_eq!(
        chain.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=253).collect::<Vec<_>>()
    );
    let added: Vec<i64> = chain
        .iter()
        .map(|e| e.detail["n"].as_i64().expect("n"))
        .collect();
    let expected: Vec<i64> = (0..250).chain(1000..1003).collect();
    assert_eq!(added, expected);
}

async fn audit_chain_detects_tampering(ctx: Ctx) {
    let store = ctx.store;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    // 4 tasks x 10 transactions x 2 entries, alternating between two alerts, from two handles.
    let second = Store::connect(&ctx.url).await.expect("second handle");
    let tasks: Vec<_> = (0..4)
        .map(|task| {
            let s = if task % 2 == 0 {
                store.clone()
            } else {
                second.clone()
            };
            tokio::spawn(async move {
                for i in 0..10 {
                    let alert = if (task + i) % 2 == 0 { a } else { b };
                    let mut tx = s.begin().await.expect("begin");
                    tx.audit(&entry(alert, "delivery.sent", task * 100 + i))
                        .await
                        .expect("audit");
                    tx.audit(&NewAudit {
                        delivery: Some(Uuid::now_v7()),
                        ..entry(alert, "delivery.received", task * 100 + i)
                    })
                    .await
                    .expect("audit");
                    tx.commit().await.expect("commit");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer");
    }
    second.close().await;

    let chain = store.audit_entries(None).await.expect("read");
    assert_eq!(audit::verify(&chain), Ok(80));
    assert_eq!(
        chain.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=80).collect::<Vec<_>>()
    );
    // The two entries of one transaction are adjacent.
    for pair in chain.chunks(2) {
        assert_eq!(
            (pair[0].action.as_str(), pair[1].action.as_str()),
            ("delivery.sent", "delivery.received")
        );
        assert_eq!(pair[0].alert, pair[1].alert);
    }
    assert_eq!(
        store.audit_head().await.expect("head"),
        Some((80, chain[79].hash.clone()))
    );

    // One alert's export verifies on its own; a changed export does not.
    let export = audit::export(&store, a).await.expect("export");
    let exported = export["entries"].as_array().expect("entries").len();
    assert_eq!(exported, 40);
    assert_eq!(audit::verify_export(&export), Ok(()));
    let mut changed = export.clone();
    changed["entries"][3]["actor"] = json!("someone-else");
    let seq = changed["entries"][3]["seq"].as_i64().expect("seq");
    assert_eq!(audit::verify_export(&changed).map_err(|b| b.seq), Err(seq));
    let mut relinked = export.clone();
    relinked["entries"][5]["prev_hash"] = json!("00".repeat(32));
    let seq = relinked["entries"][5]["seq"].as_i64().expect("seq");
    assert_eq!(audit::verify_export(&relinked).map_err(|b| b.seq), Err(seq));
    let mut foreign = export.clone();
    foreign["alert"] = json!(b.to_string());
    assert!(audit::verify_export(&foreign).is_err());

    // Tampering with the table directly: each change is found at its seq. Changes are made
    // from the end backwards so each new one is the first break.
    raw_sql(&ctx.url, "UPDATE audit SET seq = -1 WHERE seq = 60").await;
    raw_sql(&ctx.url, "UPDATE audit SET seq = 60 WHERE seq = 70").await;
    raw_sql(&ctx.url, "UPDATE audit SET seq = 70 WHERE seq = -1").await;
    let chain = store.audit_entries(None).await.expect("read");
    assert_eq!(
        audit::verify(&chain).map_err(|b| b.seq),
        Err(60),
        "swapped seqs"
    );

    raw_sql(&ctx.url, "DELETE FROM audit WHERE seq = 40").await;
    let chain = store.audit_entries(None).await.expect("read");
    assert_eq!(
        audit::verify(&chain).map_err(|b| b.seq),
        Err(40),
        "deleted row"
    );

    raw_sql(
        &ctx.url,
        r#"UPDATE audit SET detail = '{"n":999}' WHERE seq = 20"#,
    )
    .await;
    let chain = store.audit_entries(None).await.expect("read");
    assert_eq!(
        audit::verify(&chain).map_err(|b| b.seq),
        Err(20),
        "changed detail"
    );

    raw_sql(&ctx.url, "UPDATE audit SET seq = 1000 WHERE seq = 5").await;
    raw_sql(&ctx.url, "UPDATE audit SET seq = 5 WHERE seq = 1000").await;
    let chain = store.audit_entries(None).await.expect("read");
    assert_eq!(
        audit::verify(&chain).map_err(|b| b.seq),
        Err(20),
        "a no-op round trip changes nothing"
    );
}

async fn stats_and_overdue_count_what_is_there(ctx: Ctx) {
    use DeliveryState::*;
    let store = ctx.store;
    let now = t(10_000_000);
    let open = stored_alert(&store, Category::DepartureImminent, Status::Actual, t(1)).await;
    let closed = stored_alert(&store, Category::SuspectedAbroad, Status::Exercise, t(2)).await;
    let mut tx = store.begin().await.expect("begin");
    assert!(tx
        .set_alert_state(closed, &[AlertState::Open], AlertState::Cancelled, t(3))
        .await
        .expect("cancel"));
    tx.commit().await.expect("commit");

    let ms = chrono::Duration::milliseconds;
    let mk = |alert,
              recipient: &str,
              state,
              role,
              receipt_due: Option<DateTime<Utc>>,
              ack_due: Option<DateTime<Utc>>,
              n: i64| NewDelivery {
        role,
        receipt_due,
        ack_due,
        created_at: t(n),
        ..new_delivery(alert, recipient, state)
    };
    use RecipientRole::{Informed, Required};
    let d = [
        // 0: receipt overdue
        mk(
            open,
            "socialtjansten-0581",
            Sent,
            Required,
            Some(now - ms(1_000)),
            Some(now + ms(1_000)),
            10,
        ),
        // 1: received in time, ack not yet due
        mk(
            open,
            "polisen",
            Received,
            Required,
            Some(now - ms(1_000)),
            Some(now + ms(1_000)),
            11,
        ),
        // 2: ack overdue
        mk(
            open,
            "forsakringskassan",
            Received,
            Required,
            None,
            Some(now - ms(1)),
            12,
        ),
        // 3: informed recipients need not ack
        mk(
            open,
            "skatteverket",
            Received,
            Informed,
            None,
            Some(now - ms(1)),
            13,
        ),
        // 4: acknowledged, nothing overdue
        mk(
            open,
            "polisen",
            Acknowledged,
            Required,
            Some(now - ms(5)),
            Some(now - ms(5)),
            14,
        ),
        // 5: receipt due exactly now: overdue
        mk(
            open,
            "socialjouren-0581",
            Pending,
            Required,
            Some(now),
            None,
            15,
        ),
        // 6: the alert was cancelled, so not overdue
        mk(
            closed,
            "polisen",
            Sent,
            Required,
            Some(now - ms(1_000)),
            None,
            16,
        ),
        // 7: no deadlines at all
        mk(open, "polisen", Pending, Required, None, None, 17),
    ];
    for x in &d {
        stored_delivery(&store, x).await;
    }
    let overdue: Vec<Uuid> = store
        .overdue(now)
        .await
        .expect("overdue")
        .iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(overdue, vec![d[0].id, d[2].id, d[5].id]);
    assert!(store.overdue(t(0)).await.expect("overdue").is_empty());

    let mut tx = store.begin().await.expect("begin");
    let first = tx
        .enqueue(&outbox(open, None, t(100)))
        .await
        .expect("enqueue");
    tx.enqueue(&outbox(open, None, t(200)))
        .await
        .expect("enqueue");
    tx.enqueue(&outbox(open, None, t(300)))
        .await
        .expect("enqueue");
    tx.schedule(&timer(open, t(500))).await.expect("schedule");
    tx.schedule(&timer(open, t(600))).await.expect("schedule");
    tx.schedule(&timer(closed, t(700))).await.expect("schedule");
    assert_eq!(tx.cancel_timers(closed, None).await.expect("cancel"), 1);
    tx.commit().await.expect("commit");
    // Send the oldest, so the oldest pending is the second.
    let claimed = store
        .claim_outbox(
            Channel::Amqp,
            "instance-a",
            t(100),
            Duration::from_secs(1),
            1,
        )
        .await
        .expect("claim");
    assert_eq!(
        claimed.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![first]
    );
    let mut tx = store.begin().await.expect("begin");
    assert!(tx
        .finish_outbox(first, "instance-a", OutboxOutcome::Sent { at: t(150) })
        .await
        .expect("finish"));
    tx.commit().await.expect("commit");

    let stats = store.stats(now).await.expect("stats");
    let count = |recipient: &str, state, count| DeliveryCount {
        recipient: participant(recipient),
        state,
        count,
    };
    let mut deliveries = vec![
        count("socialtjansten-0581", Sent, 1),
        count("polisen", Received, 1),
        count("forsakringskassan", Received, 1),
        count("skatteverket", Received, 1),
        count("polisen", Acknowledged, 1),
        count("socialjouren-0581", Pending, 1),
        count("polisen", Sent, 1),
        count("polisen", Pending, 1),
    ];
    deliveries.sort();
    let expected = Stats {
        alerts: vec![
            AlertCount {
                state: AlertState::Open,
                category: Category::DepartureImminent,
                status: Status::Actual,
                count: 1,
            },
            AlertCount {
                state: AlertState::Cancelled,
                category: Category::SuspectedAbroad,
                status: Status::Exercise,
                count: 1,
            },
        ],
        deliveries,
        outbox_pending: 2,
        outbox_oldest_pending: Some(Duration::from_millis((10_000_000 - 200) as u64)),
        timers_pending: 2,
        overdue: 3,
    };
    assert_eq!(stats, expected);

    // The alert list filters and orders newest first.
    let all = store.alerts(&AlertFilter::default()).await.expect("alerts");
    assert_eq!(
        all.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![closed, open]
    );
    let f = |state, category, status, since, limit| AlertFilter {
        state,
        category,
        status,
        since,
        limit,
    };
    let ids = |rows: Vec<store::AlertRow>| rows.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .alerts(&f(Some(AlertState::Open), None, None, None, None))
            .await
            .expect("alerts")),
        vec![open]
    );
    assert_eq!(
        ids(store
            .alerts(&f(None, Some(Category::SuspectedAbroad), None, None, None))
            .await
            .expect("alerts")),
        vec![closed]
    );
    assert_eq!(
        ids(store
            .alerts(&f(None, None, Some(Status::Actual), None, None))
            .await
            .expect("alerts")),
        vec![open]
    );
    assert_eq!(
        ids(store
            .alerts(&f(None, None, None, Some(t(2)), None))
            .await
            .expect("alerts")),
        vec![closed]
    );
    assert_eq!(
        ids(store
            .alerts(&f(None, None, None, None, Some(1)))
            .await
            .expect("alerts")),
        vec![closed]
    );
    assert!(store
        .alerts(&f(Some(AlertState::Escalated), None, None, None, None))
        .await
        .expect("alerts")
        .is_empty());

    let empty = Stats {
        alerts: vec![],
        deliveries: vec![],
        outbox_pending: 0,
        outbox_oldest_pending: None,
        timers_pending: 0,
        overdue: 0,
    };
    assert_ne!(stats, empty);
    store.ping().await.expect("ping");
}

/// Several messages in one transaction, each under its own savepoint: rolling one back undoes its
/// rows and drops the audit entries it buffered, and keeps everything before and after it.
async fn savepoints_undo_only_their_part_audit_included(ctx: Ctx) {
    let store = ctx.store;
    let (kept, undone, after) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut tx = store.begin().await.expect("begin");
    assert!(tx.release().await.is_err(), "no savepoint to release");
    assert!(
        tx.rollback_to().await.is_err(),
        "no savepoint to roll back to"
    );

    tx.savepoint().await.expect("savepoint");
    tx.insert_message(&message(kept, b"kept"))
        .await
        .expect("insert");
    tx.insert_alert(&new_alert(
        kept,
        Category::SuspectedAbroad,
        Status::Actual,
        t(0),
    ))
    .await
    .expect("alert");
    tx.audit(&entry(kept, "kept", 1)).await.expect("audit");
    tx.release().await.expect("release");

    tx.savepoint().await.expect("savepoint");
    tx.insert_message(&message(undone, b"undone"))
        .await
        .expect("insert");
    tx.insert_alert(&new_alert(
        undone,
        Category::SuspectedAbroad,
        Status::Actual,
        t(0),
    ))
    .await
    .expect("alert");
    tx.audit(&entry(undone, "undone", 2)).await.expect("audit");
    tx.audit(&entry(undone, "undone", 3)).await.expect("audit");
    // A second copy of the first message in the same transaction sees the first one.
    assert_eq!(
        tx.insert_message(&message(kept, b"kept"))
            .await
            .expect("again"),
        Inserted::Exists {
            digest: store::digest(b"kept")
        }
    );
    assert_eq!(
        tx.message_digest(undone).await.expect("digest"),
        Some(store::digest(b"undone"))
    );
    tx.rollback_to().await.expect("rollback to");
    assert_eq!(tx.message_digest(undone).await.expect("digest"), None);
    tx.release().await.expect("release after rollback");

    // Nested: the inner part is undone, the outer part kept.
    tx.savepoint().await.expect("outer savepoint");
    tx.insert_message(&message(after, b"after"))
        .await
        .expect("insert");
    tx.audit(&entry(after, "after", 4)).await.expect("audit");
    tx.savepoint().await.expect("inner savepoint");
    tx.audit(&entry(after, "inner", 5)).await.expect("audit");
    tx.insert_alert(&new_alert(
        after,
        Category::SuspectedAbroad,
        Status::Actual,
        t(0),
    ))
    .await
    .expect("alert");
    tx.rollback_to().await.expect("rollback to inner");
    tx.release().await.expect("release inner");
    tx.audit(&entry(after, "after", 6)).await.expect("audit");
    tx.release().await.expect("release outer");
    tx.commit().await.expect("commit");

    assert!(store.message(kept).await.expect("read").is_some());
    assert!(store.alert(kept).await.expect("read").is_some());
    assert!(store.message(undone).await.expect("read").is_none());
    assert!(store.alert(undone).await.expect("read").is_none());
    assert!(store.message(after).await.expect("read").is_some());
    assert!(store.alert(after).await.expect("read").is_none());
    let chain = store.audit_entries(None).await.expect("audit");
    assert_eq!(
        chain.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        vec!["kept", "after", "after"]
    );
    assert_eq!(audit::verify(&chain), Ok(3));
    assert!(store
        .audit_entries(Some(undone))
        .await
        .expect("audit")
        .is_empty());
}

/// Intake writing several messages into one transaction: a good alert, the same id reused for
/// different bytes, the very same bytes again, a receipt refused after its message row was written,
/// and a second good alert. One commit keeps exactly the accepted messages and what they caused.
async fn intake_batch_commits_exactly_the_right_rows(ctx: Ctx) {
    use varsel_broker::intake::{Input, Intake, Outcome as Verdict};
    use varsel_participant::client::Client;
    use varsel_protocol::envelope::{self, KeySet};
    use varsel_protocol::refusal::Reason;
    use varsel_protocol::registry::Registry;

    let store = ctx.store;
    let dir = tempfile::tempdir().expect("temporary directory");
    varsel_testkit::world::write_world(dir.path()).expect("world");
    let config = varsel_testkit::world::broker_config(
        dir.path(),
        "amqp://127.0.0.1:1/none",
        1,
        None,
        "127.0.0.1:0",
    )
    .expect("config");
    let world = varsel_broker::daemon::load_world(&config).expect("load world");
    let intake = Intake::new(
        Arc::new(KeySet::load(&config.keys_dir, &config.broker_id).expect("broker keys")),
        config.broker_id.clone(),
        config.intake.clone(),
        varsel_broker::metrics::Metrics::new(),
    );
    let client = |id: &str| {
        let id = participant(id);
        let keys = KeySet::load(&config.keys_dir, &id).expect("keys");
        Client::offline(
            Registry::load(&config.registry).expect("registry"),
            id,
            keys,
        )
    };
    let school = client("norrkoping-ektorpsskolan");
    let agency = client("norrkoping-socialtjansten");
    let school_keys =
        KeySet::load(&config.keys_dir, &participant("norrkoping-ektorpsskolan")).expect("keys");

    let now = Utc::now();
    let mut doc: varsel_protocol::alert::Document =
        serde_json::from_str(varsel_testkit::world::ALERT_EXAMPLE).expect("example alert");
    let departure = now + chrono::Duration::hours(12);
    doc.header.planned_departure = Some(departure);
    if let Some(t) = doc.body.travel.as_mut() {
        t.planned_departure = Some(departure);
    }
    let (first, first_bytes) = school.seal(&doc, now).expect("seal");
    let mut reused = first.clone();
    reused.sent_at = now - chrono::Duration::seconds(1);
    let reused_bytes = envelope::sign(&reused, &school_keys.signing);
    let (second, second_bytes) = school.seal(&doc, now).expect("seal");
    let (receipt, receipt_bytes) = agency.receipt(Uuid::now_v7(), Some(first.id));

    let alert_key = varsel_transport::amqp::routing_key(Kind::Alert, school.me());
    let receipt_key = varsel_transport::amqp::routing_key(Kind::Receipt, agency.me());
    let batch: Vec<(&str, &str)> = vec![
        (first_bytes.as_str(), alert_key.as_str()),
        (reused_bytes.as_str(), alert_key.as_str()),
        (first_bytes.as_str(), alert_key.as_str()),
        (receipt_bytes.as_str(), receipt_key.as_str()),
        (second_bytes.as_str(), alert_key.as_str()),
    ];
    let mut tx = store.begin().await.expect("begin");
    let mut outcomes = Vec::new();
    for (body, routing_key) in batch {
        let input = Input {
            body: body.as_bytes(),
            routing_key,
            user_id: None,
        };
        outcomes.push(
            intake
                .handle_in(&mut tx, &world, input, now)
                .await
                .expect("a verdict"),
        );
    }
    tx.commit().await.expect("one commit");

    let mut delivered = Vec::new();
    match &outcomes[0] {
        Verdict::Accepted { id, deliveries, .. } => {
            assert_eq!(*id, first.id);
            delivered.push(*deliveries);
        }
        other => panic!("the first alert was not accepted: {other:?}"),
    }
    match &outcomes[1] {
        Verdict::Refused { refusal, id, .. } => {
            assert_eq!(refusal.reason, Reason::ReusedId);
            assert_eq!(*id, Some(first.id));
        }
        other => panic!("a reused id was not refused: {other:?}"),
    }
    assert!(matches!(&outcomes[2], Verdict::Duplicate { id } if *id == first.id));
    match &outcomes[3] {
        Verdict::Refused { refusal, id, .. } => {
            assert_eq!(refusal.reason, Reason::UnknownReference);
            assert_eq!(*id, Some(receipt.id));
        }
        other => panic!("a receipt for no delivery was not refused: {other:?}"),
    }
    match &outcomes[4] {
        Verdict::Accepted { id, deliveries, .. } => {
            assert_eq!(*id, second.id);
            delivered.push(*deliveries);
        }
        other => panic!("the second alert was not accepted: {other:?}"),
    }

    // The first bytes are what is stored under the first id; the refused receipt left nothing.
    let stored = store
        .message(first.id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.raw, first_bytes.as_bytes());
    assert!(store.message(second.id).await.expect("read").is_some());
    assert!(store.message(receipt.id).await.expect("read").is_none());
    for (alert, n) in [(first.id, delivered[0]), (second.id, delivered[1])] {
        assert!(n > 0, "the example alert has recipients");
        assert!(store.alert(alert).await.expect("read").is_some());
        assert_eq!(store.deliveries_of(alert).await.expect("read").len(), n);
        assert_eq!(store.outbox_of(alert).await.expect("read").len(), n);
        let actions: Vec<String> = store
            .audit_entries(Some(alert))
            .await
            .expect("audit")
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(actions.iter().filter(|a| *a == "alert_received").count(), 1);
        assert_eq!(
            actions.iter().filter(|a| *a == "delivery_created").count(),
            n
        );
    }
    let chain = store.audit_entries(None).await.expect("audit");
    // Per alert: received, routed, one delivery_created per recipient; nothing for refusals.
    assert_eq!(chain.len(), (2 + delivered[0]) + (2 + delivered[1]));
    assert!(audit::verify(&chain).is_ok());
}

/// `reply_to_refusal`: the same bytes are answered once; distinct ones up to the budget per
/// window; a new window's first answer carries what the last one left unanswered; signers are
/// counted apart; refused bytes are forgotten after a day.
async fn error_replies_once_per_bytes_and_within_budget(ctx: Ctx) {
    use varsel_broker::store::Reply;
    let store = ctx.store;
    let window = std::time::Duration::from_secs(600);
    let (a, b) = (participant("skola-a"), participant("skola-b"));
    let ask = |who: &varsel_protocol::message::ParticipantId, bytes: &[u8], at: i64| {
        let (store, who, digest) = (
            store.clone(),
            who.clone(),
            varsel_broker::store::digest(bytes),
        );
        async move {
            let mut tx = store.begin().await.expect("begin");
            let r = tx
                .reply_to_refusal(&who, &digest, t(at), window, 3)
                .await
                .expect("reply_to_refusal");
            tx.commit().await.expect("commit");
            r
        }
    };
    let send = |n| Reply::Send {
        unanswered_before: n,
    };
    assert_eq!(ask(&a, b"one", 0).await, send(0));
    assert_eq!(ask(&a, b"one", 1).await, Reply::Repeat);
    assert_eq!(ask(&b, b"one", 2).await, send(0), "another signer");
    assert_eq!(ask(&a, b"two", 3).await, send(0));
    assert_eq!(ask(&a, b"three", 4).await, send(0));
    assert_eq!(ask(&a, b"four", 5).await, Reply::OverBudget);
    assert_eq!(ask(&a, b"five", 6).await, Reply::OverBudget);
    assert_eq!(ask(&a, b"five", 7).await, Reply::Repeat);
    // The next window: two went unanswered in the last one.
    assert_eq!(ask(&a, b"six", 600_000).await, send(2));
    assert_eq!(ask(&a, b"seven", 600_001).await, send(0));
    assert_eq!(ask(&a, b"one", 600_002).await, Reply::Repeat);
    // A day later (a new window starts and prunes): the first bytes are answered again.
    let day = 24 * 3_600_000;
    assert_eq!(ask(&a, b"eight", day + 700_000).await, send(0));
    assert_eq!(ask(&a, b"one", day + 700_001).await, send(0));
}

/// Outbox rows written before migration 0003 (which records what each AMQP row publishes) keep
/// working after it: each AMQP row gets its message kind from the ids it carries (a delivery, a
/// feedback message, an error reply), its message id stays unknown (published without one), and
/// an email row has no label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_rows_from_before_migration_0003_get_their_kind() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("varsel.db").display());
    // The schema as it was before 0003: the earlier migrations, exactly as shipped.
    let old = dir.path().join("migrations");
    std::fs::create_dir(&old).expect("migrations directory");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for file in ["0001_store.sql", "0002_outbox_urgency_and_indexes.sql"] {
        std::fs::copy(shipped.join(file), old.join(file)).expect("copy a migration");
    }
    let mut c = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc"))
        .await
        .expect("raw SQLite");
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .expect("read the earlier migrations")
        .run(&mut c)
        .await
        .expect("the schema before 0003");
    // Only the outbox matters here: no alert or delivery rows behind the ids.
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut c)
        .await
        .expect("pragma");
    let (alert, delivery) = (Uuid::now_v7(), Uuid::now_v7());
    let rows = [
        ("amqp", Some(delivery), Some(alert)),
        ("amqp", None, Some(alert)),
        ("amqp", None, None),
        ("email", Some(delivery), Some(alert)),
    ];
    for (channel, delivery, alert) in rows {
        sqlx::query(
            "INSERT INTO outbox (channel, destination, payload, delivery_id, alert_id, state, \
             attempts, next_attempt_at, created_at) VALUES ($1, 'inbox.x', x'00', $2, $3, \
             'pending', 0, $4, $4)",
        )
        .bind(channel)
        .bind(delivery.map(|d| d.to_string()))
        .bind(alert.map(|a| a.to_string()))
        .bind(t(0).timestamp_millis())
        .execute(&mut c)
        .await
        .expect("a row as written before 0003");
    }
    c.close().await.expect("close");

    let store = Store::connect(&url)
        .await
        .expect("the store migrates to the current schema");
    let mut claimed = Vec::new();
    for channel in [Channel::Amqp, Channel::Email] {
        claimed.extend(
            store
                .claim_outbox(channel, "instance-a", t(1_000), Duration::from_secs(30), 10)
                .await
                .expect("the rows read back"),
        );
    }
    let mut claimed: Vec<_> = claimed.into_iter().map(|r| (r.id, r.message)).collect();
    claimed.sort_by_key(|(id, _)| *id);
    let label = |kind| Some(MessageLabel { kind, id: None });
    assert_eq!(
        claimed.into_iter().map(|(_, m)| m).collect::<Vec<_>>(),
        vec![
            label(Kind::Delivery),
            label(Kind::Feedback),
            label(Kind::Error),
            None
        ]
    );
    store.close().await;
}

/// AMQP and email rows are claimed apart (each by a task of its own), and an email's lease,
/// renewed while a slow relay takes its time, keeps another instance from claiming it; once
/// renewals stop and the lease runs out, the other instance takes it over and the first can
/// neither renew nor finish it.
async fn email_is_claimed_apart_and_a_renewed_lease_keeps_others_out(ctx: Ctx) {
    let store = ctx.store;
    let alert = stored_alert(&store, Category::SuspectedAbroad, Status::Actual, t(0)).await;
    let mut tx = store.begin().await.expect("begin");
    let mut publishes = BTreeSet::new();
    for i in 0..2 {
        publishes.insert(
            tx.enqueue(&outbox(alert, None, t(i)))
                .await
                .expect("enqueue"),
        );
    }
    let notice = tx
        .enqueue(&NewOutbox::email(
            "barn.unga@norrkoping.example".into(),
            b"{}".to_vec(),
            None,
            Some(alert),
            t(0),
        ))
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");
    let lease = Duration::from_secs(1);
    let ids = |rows: Vec<store::OutboxRow>| rows.into_iter().map(|r| r.id).collect::<BTreeSet<_>>();
    let amqp = store
        .claim_outbox(Channel::Amqp, "instance-a", t(1_000), lease, 10)
        .await
        .expect("claim");
    assert_eq!(ids(amqp), publishes, "the AMQP claim takes no email");
    let email = store
        .claim_outbox(Channel::Email, "instance-a", t(1_000), lease, 10)
        .await
        .expect("claim");
    assert_eq!(ids(email), BTreeSet::from([notice]));

    // Renewed before it runs out (at 2.0 s), the lease holds past its first end.
    assert!(store
        .renew_outbox(notice, "instance-a", t(1_900), lease)
        .await
        .expect("renew"));
    assert!(store
        .claim_outbox(Channel::Email, "instance-b", t(2_500), lease, 10)
        .await
        .expect("claim")
        .is_empty());
    assert!(!store
        .renew_outbox(notice, "instance-b", t(2_500), lease)
        .await
        .expect("renew"));

    // Not renewed again: after 2.9 s another instance takes it over.
    let taken = store
        .claim_outbox(Channel::Email, "instance-b", t(2_900), lease, 10)
        .await
        .expect("claim");
    assert_eq!(ids(taken), BTreeSet::from([notice]));
    assert!(!store
        .renew_outbox(notice, "instance-a", t(3_000), lease)
        .await
        .expect("renew"));
    let mut tx = store.begin().await.expect("begin");
    assert!(!tx
        .finish_outbox(notice, "instance-a", OutboxOutcome::Sent { at: t(3_000) })
        .await
        .expect("finish"));
    assert!(tx
        .finish_outbox(notice, "instance-b", OutboxOutcome::Sent { at: t(3_000) })
        .await
        .expect("finish"));
    tx.commit().await.expect("commit");
    // Recorded: nobody renews it any more.
    assert!(!store
        .renew_outbox(notice, "instance-b", t(3_100), lease)
        .await
        .expect("renew"));
}
