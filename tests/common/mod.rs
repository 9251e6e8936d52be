//! Helpers shared by the integration tests: a real broker on the local RabbitMQ (`harness`), a
//! real SMTP server on loopback (`smtp`) and scratch directories. Each test binary uses only some of them.
#![allow(dead_code)]

pub mod harness;
pub mod smtp;

/// A fresh scratch directory, removed when the returned guard is dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("varsel-test-")
        .tempdir()
        .expect("create a scratch directory")
}
