//! The per-recipient delivery state machine.
