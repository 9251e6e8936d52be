//! The daemon: wires intake, outbox, acknowledgement and escalation workers to AMQP, the store and shutdown.
