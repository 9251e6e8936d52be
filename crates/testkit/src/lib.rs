//! What varsel's tests, `varsel demo` and `varsel bench` share, so each exists once:
//! [`world`] (the demo's participants, keys, registry, routing table and configurations),
//! [`harness`] (a real broker on a RabbitMQ virtual host of its own), [`smtp`] (a real SMTP
//! server on loopback that keeps what it receives), [`certs`] (a small certificate authority for
//! mutual TLS), [`rabbitmq`] (virtual hosts and `rabbitmqctl`), [`wait`] (polling with a
//! deadline that says what it waited for), [`process`] (child processes with a deadline),
//! [`http`] (a GET with chosen headers, for the ops server's tests), [`browser`] (Chromium,
//! chromedriver and the tests' output directory), and for the fault tests [`fleet`]
//! (`varsel serve` as child processes, a PostgreSQL database per test), [`accounting`] (a burst
//! of alerts and the check every fault test ends with) and [`cluster`] (the local three-node
//! RabbitMQ cluster of `deploy/dev/cluster.sh` and its faults).
#![forbid(unsafe_code)]

pub mod accounting;
pub mod browser;
pub mod certs;
pub mod cluster;
pub mod fleet;
pub mod harness;
pub mod http;
pub mod process;
pub mod rabbitmq;
pub mod smtp;
pub mod wait;
pub mod world;

/// A fresh scratch directory, removed when the returned guard is dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("varsel-test-")
        .tempdir()
        .expect("create a scratch directory")
}
