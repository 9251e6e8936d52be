//! Daemon and client configuration: raw TOML with defaults, validated in one pass.
