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
    pub(super) fn spawn(mut cmd: Command, log: &Path) -> anyhow::Result<Proc> {
        let log = std::fs::File::create(log)?;
        let child = cmd
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

    /// SIGTERM, then a grace period, then SIGKILL.
    pub(super) async fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        for _ in 0..150 {
            if !self.alive() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
