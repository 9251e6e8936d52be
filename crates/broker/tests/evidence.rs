//! The anchored audit head on both backends: checkpoints signed with the broker's real key
//! (the demo world's), filed and queued for the ops inbox; then the chain is tampered with
//! behind the store's back and checked against the checkpoint file. Each way of tampering is
//! reported with the first seq that no longer matches.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection};
use uuid::Uuid;

use varsel_broker::audit;
use varsel_broker::chain;
use varsel_broker::commit::Writer;
use varsel_broker::config::Config;
use varsel_broker::evidence::{self, anchor::Anchor, Finding, Keys};
use varsel_broker::metrics::Metrics;
use varsel_broker::store::{AuditRow, Channel, NewAudit, Store};
use varsel_protocol::envelope::KeySet;
use varsel_protocol::message::Kind;
use varsel_protocol::registry::Registry;
use varsel_transport::clock::Clock;
use varsel_transport::shutdown::Signals;

use common::{on_postgres, on_sqlite, raw_sql, Ctx};

on_both!(
    checkpoints_are_signed_filed_and_queued_for_ops,
    deleting_the_last_entry_is_found,
    deleting_the_last_ten_entries_is_found,
    deleting_every_entry_is_found,
    a_changed_and_rechained_history_is_found,
    an_export_carries_the_checkpoint_that_covers_it,
    a_clean_stop_anchors_the_head,
);

/// The broker's world (keys, registry) and an anchor on `store` filing to `checkpoints.jsonl`.
struct World {
    _dir: tempfile::TempDir,
    registry: Arc<Registry>,
    anchor: Anchor,
    file: PathBuf,
}

fn world(store: &Store) -> World {
    let dir = tempfile::tempdir().expect("temporary directory");
    let registry_path = varsel_testkit::world::write_world(dir.path()).expect("demo world");
    let registry = Arc::new(Registry::load(&registry_path).expect("registry"));
    let file = dir.path().join("checkpoints.jsonl");
    let text = "[broker]\nid = \"varsel-broker\"\nkeys = \"keys\"\nregistry = \"registry.toml\"\n\
         routing = \"routing.toml\"\n[store]\nurl = \"sqlite://x.db\"\n\
         [retention]\ncheckpoint_every = 10\ncheckpoint_file = \"checkpoints.jsonl\"\n";
    let config = Config::from_toml_str(text, "varsel.toml", dir.path()).expect("config");
    let keys = KeySet::load(&config.keys_dir, &config.broker_id).expect("broker keys");
    let r = registry.clone();
    let anchor = Anchor {
        store: store.clone(),
        clock: Clock::manual(Utc::now()),
        metrics: Metrics::new(),
        writer: Arc::new(Writer::new(config.broker_id.clone(), Arc::new(keys))),
        registry: Arc::new(move || r.clone()),
        config: config.retention.clone(),
        outbox_wake: Arc::new(tokio::sync::Notify::new()),
    };
    World {
        _dir: dir,
        registry,
        anchor,
        file,
    }
}

/// Appends `n` audit entries in transactions of ten.
async fn entries(store: &Store, n: i64) {
    for start in (0..n).step_by(10) {
        let mut tx = store.begin().await.expect("begin");
        for i in start..(start + 10).min(n) {
            tx.audit(&NewAudit {
                at: Utc::now(),
                actor: "varsel-broker".into(),
                action: "alert_received".into(),
                alert: Some(Uuid::now_v7()),
                delivery: None,
                detail: json!({ "n": i }),
            })
            .await
            .expect("audit");
        }
        tx.commit().await.expect("commit");
    }
}

/// A chain of 50 entries with checkpoints of entries 20, 40 and 50 in the file.
async fn anchored_chain(store: &Store) -> World {
    let w = world(store);
    for upto in [20, 40, 50] {
        let have = store.audit_head().await.expect("head").map_or(0, |h| h.0);
        entries(store, upto - have).await;
        let made = w.anchor.checkpoint(Utc::now()).await.expect("checkpoint");
        assert_eq!(made.expect("made").seq, upto);
    }
    w.anchor
        .append_to_file(&mut None)
        .await
        .expect("file appended");
    w
}

/// The stored chain checked against the checkpoint file.
async fn check(store: &Store, w: &World) -> Result<evidence::Checked, Finding> {
    let signed =
        evidence::read_file(&w.file, &Keys::Registry(&w.registry)).expect("checkpoints verify");
    assert_eq!(signed.len(), 3);
    let chain = store.audit_entries(None).await.expect("audit");
    let outcome = evidence::verify_chain(&chain, &signed);
    eprintln!("{outcome:?}");
    outcome
}

async fn checkpoints_are_signed_filed_and_queued_for_ops(ctx: Ctx) {
    let store = ctx.store;
    let w = anchored_chain(&store).await;
    let ok = check(&store, &w).await.expect("an untouched chain matches");
    assert_eq!((ok.entries, ok.checkpoints, ok.anchored), (50, 3, Some(50)));

    // Not due again until the chain grows by checkpoint_every (10) or the interval passes.
    assert_eq!(w.anchor.checkpoint_if_due().await.expect("due?"), None);
    entries(&store, 9).await;
    assert_eq!(w.anchor.checkpoint_if_due().await.expect("due?"), None);
    entries(&store, 1).await;
    let made = w.anchor.checkpoint_if_due().await.expect("due?");
    assert_eq!(made.map(|c| c.seq), Some(60));
    entries(&store, 1).await;
    w.anchor.clock.advance(chrono::Duration::minutes(16));
    let made = w.anchor.checkpoint_if_due().await.expect("due?");
    assert_eq!(made.map(|c| c.seq), Some(61));

    // The file gets only what it lacks, once.
    let mut filed = None;
    w.anchor.append_to_file(&mut filed).await.expect("file");
    w.anchor.append_to_file(&mut filed).await.expect("file");
    let lines = std::fs::read_to_string(&w.file).expect("file");
    assert_eq!(lines.lines().count(), 5);

    // Each checkpoint waits in the outbox for the ops inbox, as the broker signed it.
    let rows = store
        .claim_outbox(
            Channel::Amqp,
            "test",
            Utc::now() + chrono::Duration::hours(1),
            Duration::from_secs(60),
            100,
        )
        .await
        .expect("claim");
    assert_eq!(rows.len(), 5);
    for r in &rows {
        assert_eq!(r.destination, "inbox.varsel-ops");
        assert_eq!(r.message.map(|m| m.kind), Some(Kind::Checkpoint));
        let jws = String::from_utf8(r.payload.clone()).expect("text");
        evidence::verify_jws(&jws, &Keys::Registry(&w.registry)).expect("signed by the broker");
    }

    // A line whose readable seq was changed, or signed by another key, is refused.
    let first = lines.lines().next().expect("a line");
    let edited = first.replacen("\"seq\":20", "\"seq\":21", 1);
    assert!(evidence::verify_line(&edited, &Keys::Registry(&w.registry)).is_err());
    let other = w.registry.participants()[2].signing_keys[0]
        .public_key
        .clone();
    assert!(evidence::verify_line(first, &Keys::Key(&other)).is_err());
    let broker = w
        .registry
        .participant(&"varsel-broker".parse().expect("id"))
        .expect("broker")
        .signing_keys[0]
        .public_key
        .clone();
    assert_eq!(
        evidence::verify_line(first, &Keys::Key(&broker))
            .expect("the broker's key")
            .seq,
        20
    );
}

/// Runs `sql` on an anchored chain of 50 and expects the chain to end at `head`, short of the
/// checkpoint of entry `checkpoint`, reported from the first missing seq.
async fn truncated(ctx: Ctx, sql: &str, head: i64, checkpoint: i64) {
    let w = anchored_chain(&ctx.store).await;
    raw_sql(&ctx.url, sql).await;
    audit::verify(&ctx.store.audit_entries(None).await.expect("audit"))
        .expect("the chain alone does not show it");
    let f = check(&ctx.store, &w).await.expect_err("found");
    assert!(
        matches!(f, Finding::Truncated { head: h, checkpoint: c, .. } if h == head && c == checkpoint),
        "{f}"
    );
    assert_eq!(f.seq(), head + 1);
}

async fn deleting_the_last_entry_is_found(ctx: Ctx) {
    truncated(ctx, "DELETE FROM audit WHERE seq = 50", 49, 50).await
}

async fn deleting_the_last_ten_entries_is_found(ctx: Ctx) {
    truncated(ctx, "DELETE FROM audit WHERE seq > 40", 40, 50).await
}

async fn deleting_every_entry_is_found(ctx: Ctx) {
    truncated(ctx, "DELETE FROM audit", 0, 20).await
}

async fn a_changed_and_rechained_history_is_found(ctx: Ctx) {
    let w = anchored_chain(&ctx.store).await;
    let mut rows = ctx.store.audit_entries(None).await.expect("audit");
    rows[29].detail = json!({ "n": 29, "forged": true });
    rechain(&mut rows[29..]);
    write_back(&ctx.url, &rows[29..]).await;
    let stored = ctx.store.audit_entries(None).await.expect("audit");
    assert_eq!(stored, rows, "the forgery is in the store");
    audit::verify(&stored).expect("the recomputed chain alone verifies");
    let f = check(&ctx.store, &w).await.expect_err("found");
    assert!(matches!(f, Finding::Rechained { since: 20, .. }), "{f}");
    assert_eq!(f.seq(), 40);
}

async fn an_export_carries_the_checkpoint_that_covers_it(ctx: Ctx) {
    let store = ctx.store;
    let w = world(&store);
    let alert = Uuid::now_v7();
    let mut tx = store.begin().await.expect("begin");
    tx.audit(&NewAudit {
        at: Utc::now(),
        actor: "varsel-broker".into(),
        action: "alert_received".into(),
        alert: Some(alert),
        delivery: None,
        detail: json!({}),
    })
    .await
    .expect("audit");
    tx.commit().await.expect("commit");
    // Before any checkpoint: none embedded.
    let bare = evidence::export(&store, alert).await.expect("export");
    assert!(bare.get("checkpoint").is_none());
    assert_eq!(evidence::verify_export(&bare, None), Ok(None));

    entries(&store, 5).await;
    w.anchor
        .checkpoint(Utc::now())
        .await
        .expect("checkpoint")
        .expect("made");
    let record = evidence::export(&store, alert).await.expect("export");
    assert_eq!(record["checkpoint"]["seq"], 6);
    let keys = Keys::Registry(&w.registry);
    let c = evidence::verify_export(&record, Some(&keys))
        .expect("verifies")
        .expect("with its checkpoint");
    assert_eq!(c.seq, 6);
    assert!(
        evidence::verify_export(&record, None).is_err(),
        "a checkpoint needs a key"
    );
    let mut forged = record.clone();
    forged["checkpoint"]["seq"] = json!(7);
    assert!(evidence::verify_export(&forged, Some(&keys)).is_err());
    let mut forged = record;
    forged["chain_head"]["hash"] = json!("00".repeat(32));
    assert!(evidence::verify_export(&forged, Some(&keys)).is_err());
}

/// Recomputes the hashes of `rows` from the first one's `prev_hash` on, as a forger would.
fn rechain(rows: &mut [AuditRow]) {
    let mut prev = rows[0].prev_hash.clone();
    for r in rows {
        r.prev_hash = prev.clone();
        r.hash = chain::entry_hash(&prev, &r.entry()).to_vec();
        prev = r.hash.clone();
    }
}

/// Writes `rows`' detail and hashes over the stored ones, behind the store's back.
async fn write_back(url: &str, rows: &[AuditRow]) {
    macro_rules! update_all {
        ($conn:ty) => {{
            let mut c = <$conn>::connect(url).await.expect("raw connection");
            for r in rows {
                sqlx::query(AssertSqlSafe(
                    "UPDATE audit SET detail = $1, prev_hash = $2, hash = $3 WHERE seq = $4",
                ))
                .bind(varsel_protocol::canonical::to_string(&r.detail))
                .bind(r.prev_hash.clone())
                .bind(r.hash.clone())
                .bind(r.seq)
                .execute(&mut c)
                .await
                .expect("update");
            }
        }};
    }
    if url.starts_with("sqlite:") {
        update_all!(sqlx::SqliteConnection)
    } else {
        update_all!(sqlx::PgConnection)
    }
}

/// Runs the checkpoint worker and stops it at once.
async fn start_and_stop(anchor: &Anchor) {
    let signals = Signals::new();
    let worker = tokio::spawn(anchor.clone().run(signals.clone()));
    signals.stop();
    tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("the checkpoint worker stops within 30 s")
        .expect("the checkpoint worker ran");
}

/// The worker, stopped, checkpoints the head once more if the chain grew since the last
/// checkpoint, due or not, and files it: nothing a clean stop leaves behind is unanchored.
async fn a_clean_stop_anchors_the_head(ctx: Ctx) {
    let store = ctx.store;
    let w = anchored_chain(&store).await;
    entries(&store, 3).await;
    assert_eq!(w.anchor.checkpoint_if_due().await.expect("due?"), None);
    start_and_stop(&w.anchor).await;
    let last = store.last_checkpoint().await.expect("checkpoints");
    assert_eq!(last.map(|c| c.seq), Some(53));
    let filed =
        evidence::read_file(&w.file, &Keys::Registry(&w.registry)).expect("checkpoints verify");
    assert_eq!(filed.last().map(|c| c.seq), Some(53), "filed at stop");

    // Stopped again with nothing new: no further checkpoint.
    start_and_stop(&w.anchor).await;
    let filed =
        evidence::read_file(&w.file, &Keys::Registry(&w.registry)).expect("checkpoints verify");
    assert_eq!(
        filed.len(),
        4,
        "50 entries: 20, 40, 50; then 53 at the stop"
    );
}
