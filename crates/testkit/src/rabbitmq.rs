//! The local RabbitMQ node as tests, the demo and the bench drive it: `rabbitmqctl` (as root, or
//! through `sudo -n` when not) and virtual hosts that exist for one test or one run.

use std::process::{Command, Output};

use anyhow::{bail, Context};

/// Whether this process runs as root, where `rabbitmqctl` can be run directly; otherwise it goes
/// through `sudo -n`, which fails at once rather than waiting for a password.
pub fn is_root() -> bool {
    std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false)
}

/// A command that runs `program` as root: directly when this process is root, otherwise through
/// `sudo -n` (which fails at once rather than waiting for a password).
pub fn as_root(program: &str) -> Command {
    if is_root() {
        Command::new(program)
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", program]);
        c
    }
}

/// Runs `rabbitmqctl` with `args` and returns what it printed, whether it succeeded or not.
pub fn rabbitmqctl(args: &[&str]) -> std::io::Result<Output> {
    // rabbitmqctl can hang on a node that is starting or stopping: bounded, with its output.
    crate::process::output_within(
        as_root("rabbitmqctl").args(args),
        std::time::Duration::from_secs(180),
    )
}

/// Runs `rabbitmqctl` with `args`; an error names the command and carries its standard error.
pub fn ctl(args: &[&str]) -> anyhow::Result<Output> {
    let out = rabbitmqctl(args)
        .context("running rabbitmqctl (deploy/dev/services.sh installs RabbitMQ)")?;
    if !out.status.success() {
        bail!(
            "rabbitmqctl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

/// A RabbitMQ virtual host on the local node, open to `guest`, deleted when dropped.
#[derive(Debug)]
pub struct Vhost {
    pub name: String,
}

impl Vhost {
    /// A fresh virtual host for one test, named `varsel-test-<prefix>-<random>`; panics when
    /// RabbitMQ cannot make it (a test cannot run without it).
    pub fn create(prefix: &str) -> Vhost {
        let name = format!("varsel-test-{prefix}-{}", short_id());
        Vhost::named(&name).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// A virtual host called exactly `name`, with all permissions for `guest`.
    pub fn named(name: &str) -> anyhow::Result<Vhost> {
        ctl(&["-q", "add_vhost", name])?;
        // Made before the permissions, so a failure there still deletes the virtual host.
        let v = Vhost {
            name: name.to_owned(),
        };
        ctl(&[
            "-q",
            "set_permissions",
            "-p",
            name,
            "guest",
            ".*",
            ".*",
            ".*",
        ])?;
        Ok(v)
    }

    /// The AMQP URL of this virtual host on the local node as `guest`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = rabbitmqctl(&["-q", "delete_vhost", &self.name]);
    }
}

/// The last twelve hex digits of a fresh UUIDv7: unique enough for one machine's names.
pub fn short_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()[20..].to_owned()
}
