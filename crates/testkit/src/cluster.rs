//! The local three-node RabbitMQ cluster of `deploy/dev/cluster.sh`, as the cluster tests drive
//! it: started once in a scratch directory on ports and node names of the tests' own (so a
//! cluster started by hand keeps running), stopped when the guard drops (also when a test
//! fails), and the faults: SIGKILL to a node, a node stopped and started again, one node cut off
//! from the other two. Every call is bounded in time and fails with what the script printed.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::process::output_within;

/// How many nodes the cluster has.
pub const NODES: usize = 3;
/// The tests' first AMQP and distribution ports, and their node names' prefix; not the ones
/// `deploy/dev/cluster.sh` uses by default.
const PORT: u16 = 25721;
const DIST_PORT: u16 = 25731;
const PREFIX: &str = "varsel-test-c";
/// The longest a script call may take (a start boots three nodes on two shared cores).
const SCRIPT_LIMIT: Duration = Duration::from_secs(300);

/// `deploy/dev/cluster.sh` on the tests' cluster directory, ports and names.
#[derive(Clone)]
struct Script {
    path: PathBuf,
    dir: PathBuf,
}

impl Script {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.args(args)
            .env("VARSEL_CLUSTER_DIR", &self.dir)
            .env("VARSEL_CLUSTER_PORT", PORT.to_string())
            .env("VARSEL_CLUSTER_DIST_PORT", DIST_PORT.to_string())
            .env("VARSEL_CLUSTER_NAME", PREFIX);
        cmd
    }

    /// Runs the script with `args`; returns what it printed on standard output.
    fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = output_within(&mut self.command(args), SCRIPT_LIMIT)
            .with_context(|| format!("running deploy/dev/cluster.sh {}", args.join(" ")))?;
        if !out.status.success() {
            bail!(
                "deploy/dev/cluster.sh {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `rabbitmqctl` against node `i`.
    fn ctl(&self, i: usize, args: &[&str]) -> anyhow::Result<String> {
        let n = i.to_string();
        let mut all = vec!["ctl", n.as_str()];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// `rabbitmqctl` against the first node that answers.
    fn ctl_any(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut last = None;
        for i in 1..=NODES {
            match self.ctl(i, args) {
                Ok(out) => return Ok(out),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("three nodes"))
    }
}

/// A running three-node cluster, stopped when dropped.
pub struct Cluster {
    dir: tempfile::TempDir,
    script: Script,
}

impl Cluster {
    /// Starts the three nodes, joins them and waits until each sees all three running.
    pub fn start() -> anyhow::Result<Cluster> {
        let dir = tempfile::Builder::new()
            .prefix("varsel-cluster-")
            .tempdir()
            .context("a scratch directory for the cluster")?;
        let script = Script {
            path: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
                .join("deploy/dev/cluster.sh"),
            dir: dir.path().to_path_buf(),
        };
        let c = Cluster { dir, script };
        c.run(&["start"])?;
        Ok(c)
    }

    fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        self.script.run(args)
    }

    /// The Erlang node name of node `i` (1 to 3).
    pub fn node(&self, i: usize) -> String {
        format!("{PREFIX}{i}@localhost")
    }

    /// `rabbitmqctl` against node `i`.
    pub fn ctl(&self, i: usize, args: &[&str]) -> anyhow::Result<String> {
        self.script.ctl(i, args)
    }

    /// `rabbitmqctl` against the first node that answers.
    pub fn ctl_any(&self, args: &[&str]) -> anyhow::Result<String> {
        self.script.ctl_any(args)
    }

    /// The AMQP URL of `vhost` on each node, as guest, in node order.
    pub fn urls(&self, vhost: &str) -> Vec<String> {
        (0..NODES as u16)
            .map(|k| format!("amqp://guest:guest@127.0.0.1:{}/{vhost}", PORT + k))
            .collect()
    }

    /// Which node (1 to 3) listens on an AMQP port.
    pub fn node_of_port(&self, port: u16) -> Option<usize> {
        (PORT..PORT + NODES as u16)
            .contains(&port)
            .then(|| usize::from(port - PORT) + 1)
    }

    /// A fresh virtual host for one test on the cluster, with the project's policies
    /// (`deploy/rabbitmq/policies.json`, made for the vhost `varsel`) applied to it; deleted
    /// when dropped.
    pub fn vhost(&self, prefix: &str) -> anyhow::Result<Vhost> {
        let name = format!("varsel-test-{prefix}-{}", crate::rabbitmq::short_id());
        let policies = std::fs::read_to_string(
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
                .join("deploy/rabbitmq/policies.json"),
        )?;
        let mut defs: serde_json::Value = serde_json::from_str(&policies)?;
        defs["vhosts"] = serde_json::json!([{ "name": name }]);
        let Some(list) = defs["policies"].as_array_mut() else {
            bail!("deploy/rabbitmq/policies.json has no policies");
        };
        for p in list {
            p["vhost"] = serde_json::Value::String(name.clone());
        }
        let file = self.dir.path().join(format!("{name}.json"));
        std::fs::write(&file, serde_json::to_string(&defs)?)?;
        let v = Vhost {
            script: self.script.clone(),
            name: name.clone(),
        };
        self.ctl_any(&["import_definitions", &file.display().to_string()])?;
        self.ctl_any(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"])?;
        Ok(v)
    }

    /// The process id of node `i` while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        let path = self.dir.path().join(format!("c{i}/node.pid"));
        let pid: u32 = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
        // Only while that process is node i's VM (started with its node name in the
        // environment): a killed node's pid file stays behind.
        let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        let wanted = format!("RABBITMQ_NODENAME={}", self.node(i));
        environ
            .split(|b| *b == 0)
            .any(|v| v == wanted.as_bytes())
            .then_some(pid)
    }

    /// SIGKILL to node `i`: no clean shutdown of anything, as when its machine dies.
    pub fn kill9(&self, i: usize) -> anyhow::Result<()> {
        let Some(pid) = self.pid(i) else {
            bail!("{} is not running", self.node(i));
        };
        let status = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -9 {pid} ({}) failed", self.node(i));
        }
        // Reaped by nobody here (it was started detached); gone once /proc says so.
        self.gone(i, pid, Duration::from_secs(30))
    }

    /// Stops node `i` cleanly (`rabbitmqctl stop`), waiting until its process has exited.
    pub fn stop_node(&self, i: usize) -> anyhow::Result<()> {
        let Some(pid) = self.pid(i) else {
            bail!("{} is not running", self.node(i));
        };
        self.ctl(i, &["stop"])?;
        self.gone(i, pid, Duration::from_secs(60))
    }

    /// Waits until node `i`'s process `pid` has exited, at most `limit`. (RabbitMQ removes its
    /// pid file before its VM exits, so the pid is read before the node is stopped.)
    fn gone(&self, i: usize, pid: u32, limit: Duration) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + limit;
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            if std::time::Instant::now() >= deadline {
                bail!(
                    "{} still runs {} s after it was stopped",
                    self.node(i),
                    limit.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Starts every node that is not running and waits until all three see each other again.
    pub fn restore(&self) -> anyhow::Result<()> {
        self.run(&["start"]).map(|_| ())
    }

    /// Cuts node `i` off from the other two (see `cluster.sh isolate`) until the returned guard
    /// drops.
    pub fn isolate(&self, i: usize) -> anyhow::Result<Isolated<'_>> {
        self.run(&["isolate", &i.to_string()])?;
        Ok(Isolated {
            cluster: self,
            node: i,
        })
    }

    /// The node (1 to 3) that leads quorum queue `queue` of `vhost`, as the majority sees it.
    pub fn leader(&self, vhost: &str, queue: &str) -> anyhow::Result<usize> {
        let out = self.ctl_any(&[
            "list_queues",
            "-p",
            vhost,
            "name",
            "leader",
            "--no-table-headers",
        ])?;
        for line in out.lines() {
            let mut cols = line.split_whitespace();
            if cols.next() == Some(queue) {
                if let Some(leader) = cols.next() {
                    for i in 1..=NODES {
                        if leader == self.node(i) {
                            return Ok(i);
                        }
                    }
                }
            }
        }
        bail!("no leader of {queue} in vhost {vhost}: {out}")
    }

    /// How many members of quorum queue `queue` of `vhost` are online.
    pub fn online_members(&self, vhost: &str, queue: &str) -> anyhow::Result<usize> {
        let out = self.ctl_any(&[
            "list_queues",
            "-p",
            vhost,
            "name",
            "online",
            "--no-table-headers",
        ])?;
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(queue))
            .with_context(|| format!("{queue} not listed in {vhost}: {out}"))?;
        Ok(line.matches(PREFIX).count())
    }

    /// Which node (1 to 3) the process `pid` has an AMQP connection to, read from `ss`.
    pub fn connected_node(&self, pid: u32) -> Option<usize> {
        let out = output_within(
            Command::new("ss").args(["-tnpH", "state", "established"]),
            Duration::from_secs(10),
        )
        .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let owner = format!("pid={pid},");
        text.lines().filter(|l| l.contains(&owner)).find_map(|l| {
            let peer = l.split_whitespace().nth(3)?;
            let port: u16 = peer.rsplit_once(':')?.1.parse().ok()?;
            self.node_of_port(port)
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.run(&["stop"]) {
            eprintln!("[cluster] could not stop the cluster: {e:#}");
        }
    }
}

/// A virtual host on the cluster, deleted when dropped.
pub struct Vhost {
    script: Script,
    pub name: String,
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = self.script.ctl_any(&["delete_vhost", &self.name]);
    }
}

/// A node cut off from the other two; healed when dropped.
pub struct Isolated<'a> {
    cluster: &'a Cluster,
    node: usize,
}

impl Drop for Isolated<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.cluster.run(&["heal", &self.node.to_string()]) {
            eprintln!("[cluster] could not heal node {}: {e:#}", self.node);
        }
    }
}
