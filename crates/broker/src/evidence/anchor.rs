//! The checkpoint worker: when the audit chain has grown by `checkpoint_every` entries since the
//! last checkpoint, or `checkpoint_interval` has passed and it has grown at all, it signs the head,
//! records the checkpoint in the store and, in the same transaction, puts it in the outbox for
//! every ops participant's inbox (so it is published and retried like any message). Then it
//! appends every recorded checkpoint the file does not hold yet to the checkpoint file; a failed
//! append is logged, counted and tried again on the next round. When the broker stops cleanly it
//! checkpoints the head once more if the chain has grown, due or not.
//!
//! With several broker instances on one PostgreSQL store, the first to record a seq publishes it;
//! each instance appends every recorded checkpoint to its own file.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::commit::Writer;
use crate::config::Retention;
use crate::metrics::Metrics;
use crate::store::{self, CheckpointRow, MessageLabel, NewOutbox, Store};
use varsel_protocol::message::{Checkpoint, Content, Payload};
use varsel_protocol::registry::{Registry, Role};
use varsel_transport::amqp;
use varsel_transport::clock::Clock;
use varsel_transport::shutdown::Signals;

/// How often the worker looks at the chain's head (real time).
const POLL: Duration = Duration::from_secs(1);

/// Makes, publishes and files checkpoints of the audit chain's head.
#[derive(Clone)]
pub struct Anchor {
    pub store: Store,
    pub clock: Clock,
    pub metrics: Metrics,
    pub writer: Arc<Writer>,
    pub registry: Arc<dyn Fn() -> Arc<Registry> + Send + Sync>,
    pub config: Retention,
    pub outbox_wake: Arc<Notify>,
}

impl Anchor {
    /// Runs until the broker stops.
    pub async fn run(self, signals: Signals) {
        // The seq of the last checkpoint in the file, once read.
        let mut filed: Option<i64> = None;
        loop {
            if let Err(e) = self.checkpoint_if_due().await {
                tracing::warn!(error = %e, "making an audit checkpoint failed; trying again");
            }
            if let Err(e) = self.append_to_file(&mut filed).await {
                self.metrics.evidence().checkpoint_file_failed();
                tracing::error!(error = %e, "appending to the audit checkpoint file failed; trying again");
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = signals.stopped() => break,
            }
        }
        // A clean stop anchors the head as it stands, so the entries written since the last
        // checkpoint are not left unanchored while the broker is down. Its message to ops
        // stays in the outbox for the next start if the outbox worker has stopped already.
        if let Err(e) = self.checkpoint_if_grown().await {
            tracing::warn!(error = %e, "the audit checkpoint at stop failed");
        }
        if let Err(e) = self.append_to_file(&mut filed).await {
            self.metrics.evidence().checkpoint_file_failed();
            tracing::error!(error = %e, "appending to the audit checkpoint file at stop failed");
        }
    }

    /// Makes a checkpoint if the chain has grown since the last one, due or not.
    pub async fn checkpoint_if_grown(&self) -> Result<Option<CheckpointRow>, store::Error> {
        let Some((seq, _)) = self.store.audit_head().await? else {
            return Ok(None);
        };
        let last = self.store.last_checkpoint().await?;
        if last.is_some_and(|l| l.seq >= seq) {
            return Ok(None);
        }
        self.checkpoint(self.clock.now()).await
    }

    /// Makes a checkpoint if one is due (see the module documentation); returns it if this
    /// instance made it.
    pub async fn checkpoint_if_due(&self) -> Result<Option<CheckpointRow>, store::Error> {
        let now = self.clock.now();
        let Some((seq, _)) = self.store.audit_head().await? else {
            return Ok(None);
        };
        let last = self.store.last_checkpoint().await?;
        let due = match &last {
            None => true,
            Some(l) => {
                let grown = seq - l.seq;
                let interval = chrono::Duration::from_std(self.config.checkpoint_interval)
                    .unwrap_or(chrono::Duration::MAX);
                grown > 0
                    && (grown >= i64::from(self.config.checkpoint_every) || now - l.at >= interval)
            }
        };
        if !due {
            return Ok(None);
        }
        self.checkpoint(now).await
    }

    /// Signs the chain's current head and records and publishes it, whether due or not (for
    /// tests and `varsel audit checkpoint`). `None` if the chain is empty or another instance
    /// recorded this head first.
    pub async fn checkpoint(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<CheckpointRow>, store::Error> {
        let mut tx = self.store.begin().await?;
        // The head as this transaction sees it: on SQLite the write lock is held, so no entry can
        // be appended between reading it and recording the checkpoint.
        let Some((seq, hash)) = tx.audit_head().await? else {
            return Ok(None);
        };
        let mut payload = Payload::new(
            self.writer.broker().clone(),
            Content::Checkpoint(Checkpoint {
                seq,
                hash: hex::encode(&hash),
                at: now,
            }),
        );
        payload.sent_at = now;
        let jws = self.writer.sign(&payload);
        let row = CheckpointRow {
            seq,
            hash,
            at: now,
            jws: jws.clone(),
        };
        if !tx.record_checkpoint(&row).await? {
            return Ok(None);
        }
        let registry = (self.registry)();
        for ops in registry
            .participants()
            .iter()
            .filter(|p| p.role == Role::Ops)
        {
            tx.enqueue(&NewOutbox::amqp(
                amqp::inbox(&ops.id),
                MessageLabel::of(&payload),
                jws.clone().into_bytes(),
                None,
                None,
                now,
            ))
            .await?;
        }
        tx.commit().await?;
        self.outbox_wake.notify_one();
        self.metrics.evidence().checkpoint();
        tracing::info!(seq, "audit checkpoint made");
        Ok(Some(row))
    }

    /// Appends the recorded checkpoints the file lacks (none without a configured file).
    /// `filed` is the seq of the file's last line once known (`None` reads it from the file).
    pub async fn append_to_file(&self, filed: &mut Option<i64>) -> Result<(), String> {
        let Some(path) = &self.config.checkpoint_file else {
            return Ok(());
        };
        let after = match *filed {
            Some(s) => s,
            None => last_filed(path)?,
        };
        let rows = self
            .store
            .checkpoints_after(after)
            .await
            .map_err(|e| e.to_string())?;
        if rows.is_empty() {
            *filed = Some(after);
            return Ok(());
        }
        let lines: Vec<String> = rows.iter().map(super::line).collect();
        let p = path.clone();
        tokio::task::spawn_blocking(move || super::append(&p, &lines))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{}: {e}", path.display()))?;
        *filed = rows.last().map(|r| r.seq);
        Ok(())
    }
}

/// The seq of the last line of a checkpoint file (0 if there is none yet). A last line that
/// does not read is an error: the file is evidence and is not written past something unknown.
fn last_filed(path: &std::path::Path) -> Result<i64, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    match text.lines().rev().find(|l| !l.trim().is_empty()) {
        None => Ok(0),
        Some(l) => serde_json::from_str::<serde_json::Value>(l)
            .ok()
            .and_then(|v| v.get("seq")?.as_i64())
            .ok_or_else(|| format!("{}: the last line is not a checkpoint", path.display())),
    }
}
