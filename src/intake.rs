//! Verifying incoming messages: signature, registry, rights, freshness and replay.
