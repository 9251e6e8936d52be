//! The outbox worker: publishes persisted sends and marks them sent on confirm.
