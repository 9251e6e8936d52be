//! The child process under test (broker or relay) and its CPU time and memory, read from
//! `/proc`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

pub(super) struct Proc {
    pub(super) child: Child,
    pub(super) started: Instant,
    pub(super) tick: f64,
}

impl Proc {
    /// Starts `cmd` as the leader of a process group of its own, so that stopping it stops what
    /// it started too: a `--broker-wrapper` (strace, time) runs the broker as its child.
    pub(super) fn spawn(mut cmd: Command, log: &Path) -> anyhow::Result<Proc> {
        use std::os::unix::process::CommandExt;
        let log = std::fs::File::create(log)?;
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting the child process")?;
        Ok(Proc {
            child,
            started: Instant::now(),
            tick: clock_ticks(),
        })
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(super) fn cpu_s(&self) -> f64 {
        cpu_seconds(self.pid(), self.tick).unwrap_or(0.0)
    }

    pub(super) fn status(&self, field: &str) -> u64 {
        status_kib(self.pid(), field).unwrap_or(0)
    }

    pub(super) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `signal` to the child's whole process group.
    fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg("--")
            .arg(format!("-{}", self.pid()))
            .stderr(Stdio::null())
            .status();
    }

    /// SIGTERM to the process group, then a grace period of 15 s for the group's leader, then
    /// SIGKILL to the group.
    pub(super) async fn stop(mut self) {
        self.signal_group("TERM");
        for _ in 0..150 {
            if !self.alive() {
                // A wrapper may end before the broker it started: the group gets its grace too.
                for _ in 0..50 {
                    if !group_alive(self.pid()) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.signal_group("KILL");
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    /// A run that ends early (an error on the way) leaves no process of its group behind.
    fn drop(&mut self) {
        if self.alive() || group_alive(self.pid()) {
            self.signal_group("KILL");
            let _ = self.child.wait();
        }
    }
}

/// Whether any process is left in the process group `pgid` (`kill -0` to the group).
fn group_alive(pgid: u32) -> bool {
    Command::new("kill")
        .arg("-0")
        .arg("--")
        .arg(format!("-{pgid}"))
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub(super) fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in seconds.
pub(super) fn cpu_seconds(pid: u32, tick: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields after the closing parenthesis are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / tick)
}

/// A `kB` field of `/proc/<pid>/status` (VmRSS, VmHWM).
pub(super) fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU time of the calling thread, in seconds, from the scheduler's nanosecond count (the first
/// field of `/proc/thread-self/schedstat`): the 10 ms ticks of `stat` are too coarse to time one
/// delivery.
pub(super) fn thread_cpu_s() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |ns| ns as f64 / 1e9)
}

pub(super) fn self_cpu_s(tick: f64) -> f64 {
    cpu_seconds(std::process::id(), tick).unwrap_or(0.0)
}

/// Samples a process's resident memory until stopped.
pub(super) fn sample_rss(
    pid: u32,
    started: Instant,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<(f64, u64)>> {
    tokio::spawn(async move {
        let mut out = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            if let Some(kib) = status_kib(pid, "VmRSS") {
                out.push(((started.elapsed().as_secs_f64() * 10.0).round() / 10.0, kib));
            }
            tokio::time::sleep(every).await;
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stopping_a_wrapper_stops_the_process_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("grandchild.pid");
        // A wrapper (sh) that starts a long-running child and waits for it, as strace does.
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(format!(
            "sleep 300 & echo $! > {}; wait",
            pid_file.display()
        ));
        let proc = Proc::spawn(cmd, &dir.path().join("log")).unwrap();
        let mut grandchild = None;
        for _ in 0..100 {
            grandchild = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok());
            if grandchild.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let grandchild = grandchild.expect("the wrapper wrote its child's pid within 5 s");
        let leader = proc.pid();
        assert!(group_alive(leader));
        proc.stop().await;
        assert!(!group_alive(leader), "a process of the group is left");
        assert!(
            !std::path::Path::new(&format!("/proc/{grandchild}")).exists()
                || std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
                    .is_ok_and(|s| s.contains(") Z ")),
            "the wrapper's child {grandchild} still runs"
        );
    }

    #[test]
    fn proc_figures_are_read_for_this_process() {
        assert!(cpu_seconds(std::process::id(), clock_ticks()).is_some());
        assert!(status_kib(std::process::id(), "VmRSS").unwrap_or(0) > 0);
        let t0 = thread_cpu_s();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(thread_cpu_s() > t0, "the thread's CPU clock moved ({x})");
    }
}
