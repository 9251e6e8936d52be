//! The metrics of retention and the anchored audit head: what was erased, how much space came
//! back, and the checkpoints made. Labels are fixed codes.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::{Registry, Unit};

use varsel_protocol::message::code_enum;

code_enum!(
    /// What retention erased or deleted.
    Erased {
        /// An alert whose content was erased.
        Alert = "alert",
        /// A message whose sealed bytes were emptied.
        Message = "message",
        /// An outbox row deleted or emptied.
        OutboxRow = "outbox_row",
        /// A sent error reply deleted.
        ErrorReply = "error_reply",
    }
);

/// Retention and checkpoint counters.
#[derive(Debug, Default)]
pub struct Evidence {
    erased: Family<[(&'static str, String); 1], Counter>,
    erased_bytes: Counter,
    reclaimed_bytes: Counter,
    checkpoints: Counter,
    checkpoint_file_failures: Counter,
}

impl Evidence {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "varsel_erased",
            "Content erased by retention, by what it was",
            self.erased.clone(),
        );
        registry.register_with_unit(
            "varsel_erased",
            "Bytes of sealed content and payloads erased by retention",
            Unit::Bytes,
            self.erased_bytes.clone(),
        );
        registry.register_with_unit(
            "varsel_store_reclaimed",
            "Bytes the store file shrank by after pruning (SQLite incremental vacuum)",
            Unit::Bytes,
            self.reclaimed_bytes.clone(),
        );
        registry.register(
            "varsel_audit_checkpoints",
            "Signed checkpoints of the audit chain's head made by this broker",
            self.checkpoints.clone(),
        );
        registry.register(
            "varsel_audit_checkpoint_file_failures",
            "Failed appends of a checkpoint to the checkpoint file (retried)",
            self.checkpoint_file_failures.clone(),
        );
        for what in Erased::ALL {
            let _ = self
                .erased
                .get_or_create(&[("what", what.code().to_owned())]);
        }
    }

    /// `n` things of `what` were erased.
    pub fn erased(&self, what: Erased, n: u64) {
        self.erased
            .get_or_create(&[("what", what.code().to_owned())])
            .inc_by(n);
    }

    /// `n` bytes of content were erased.
    pub fn erased_bytes(&self, n: u64) {
        self.erased_bytes.inc_by(n);
    }

    /// The store file shrank by `n` bytes.
    pub fn reclaimed(&self, n: u64) {
        self.reclaimed_bytes.inc_by(n);
    }

    /// A checkpoint was made.
    pub fn checkpoint(&self) {
        self.checkpoints.inc();
    }

    /// Appending a checkpoint to the file failed.
    pub fn checkpoint_file_failed(&self) {
        self.checkpoint_file_failures.inc();
    }
}
