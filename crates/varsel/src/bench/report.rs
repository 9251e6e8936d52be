//! What a bench run found: the figures of each system's runs, their ratios, the machine and the
//! settings; serialized as the `--json` report.

use std::process::Command;

use serde::Serialize;

pub use super::targets::{Ceiling, Targets};

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub samples: usize,
}

impl Latency {
    pub(super) fn of(mut v: Vec<f64>) -> Latency {
        if v.is_empty() {
            return Latency::default();
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
        Latency {
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: *v.last().unwrap_or(&0.0),
            samples: v.len(),
        }
    }
}

/// One measured run of one system.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phase {
    /// Alerts published (relay: messages).
    pub alerts: u64,
    /// Messages that reached their end consumer (varsel: deliveries in agency inboxes).
    pub delivered: u64,
    /// varsel: feedback messages the schools received (one per receipt); relay: 0.
    pub feedback: u64,
    /// From the first publish to the last message of the run taken off its queue.
    pub seconds: f64,
    pub alerts_per_s: f64,
    /// Delivered messages per second (varsel: deliveries/s; relay: messages/s).
    pub messages_per_s: f64,
    pub latency: Latency,
    /// CPU time (user + system) of the broker (relay) process during the run.
    pub cpu_s: f64,
    pub cpu_ms_per_alert: f64,
    /// CPU time of the whole load generator during the run (varsel: the schools publishing
    /// alerts sealed before the run, the agencies, the end consumers and the bookkeeping).
    pub load_cpu_s: f64,
    /// varsel: the agencies' share of `load_cpu_s`: verifying each delivery (the broker's and
    /// the school's signatures) and signing its receipt, on each thread's own CPU clock.
    pub agency_cpu_s: f64,
    /// varsel: seconds spent sealing and signing the run's alerts before it started (untimed).
    pub preseal_s: f64,
    /// varsel: how old the oldest pre-sealed alert was when the run ended; above the broker's
    /// freshness window (`intake.max_age`) alerts were refused as stale.
    pub presealed_age_s: f64,
    /// The broker's (relay's) resident memory at the end of the run, KiB.
    pub rss_kib: u64,
    pub complete: bool,
}

/// One system's runs and its memory.
#[derive(Debug, Clone, Default, Serialize)]
pub struct System {
    pub paced: Option<Phase>,
    pub saturation: Option<Phase>,
    /// VmHWM of the broker (relay) process.
    pub peak_rss_kib: u64,
    /// (seconds since the process started, VmRSS KiB) at every sample.
    pub rss: Vec<(f64, u64)>,
}

/// varsel / relay for each figure (lower is better for latency, CPU and memory; higher for
/// throughput).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ratios {
    pub paced_p50: Option<f64>,
    pub paced_p99: Option<f64>,
    pub paced_max: Option<f64>,
    pub saturation_p50: Option<f64>,
    pub saturation_p99: Option<f64>,
    pub saturation_max: Option<f64>,
    /// varsel alerts/s over relay messages/s at saturation.
    pub saturation_throughput: Option<f64>,
    pub cpu_per_alert: Option<f64>,
    pub peak_memory: Option<f64>,
}

/// The whole report (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub settings: Settings,
    pub relay: Option<System>,
    pub varsel: Option<System>,
    pub ratios: Ratios,
    /// The crypto floor, measured in-process between the relay's and varsel's runs.
    pub floor: Option<Floor>,
    /// The queue-bound ceiling the relay's saturation run sets.
    pub ceiling: Option<Ceiling>,
    pub targets: Targets,
}

/// The cryptographic work the broker does per alert, timed in-process by calling the functions
/// the broker calls (see `floor.rs`), on one thread while nothing else of the bench runs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Floor {
    pub alerts: u64,
    pub recipients: usize,
    /// The measuring thread's CPU time per alert.
    pub cpu_ms_per_alert: f64,
    pub wall_ms_per_alert: f64,
    /// Wall time per alert of each step: verifying the school's alert.
    pub verify_alert_ms: f64,
    /// Unwrapping the content keys and wrapping them for every recipient.
    pub rewrap_ms: f64,
    /// Signing every recipient's delivery.
    pub sign_deliveries_ms: f64,
    /// Verifying every recipient's receipt.
    pub verify_receipts_ms: f64,
    /// Signing the school's feedback for every receipt.
    pub sign_feedback_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub rabbitmq: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub alerts: u64,
    pub paced_alerts: u64,
    pub rate: u32,
    pub recipients: usize,
    pub schools: usize,
    pub suite: String,
    pub store: String,
    pub prefetch: u16,
    /// Bytes of one sealed, signed alert (the relay's message size).
    pub alert_bytes: usize,
}

pub(super) fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

pub(super) fn ratios(relay: Option<&System>, varsel: Option<&System>) -> Ratios {
    let (Some(r), Some(v)) = (relay, varsel) else {
        return Ratios::default();
    };
    let f = |s: &System, paced: bool, g: &dyn Fn(&Phase) -> f64| {
        if paced {
            s.paced.as_ref()
        } else {
            s.saturation.as_ref()
        }
        .map(g)
    };
    Ratios {
        paced_p50: ratio(
            f(v, true, &|p| p.latency.p50_ms),
            f(r, true, &|p| p.latency.p50_ms),
        ),
        paced_p99: ratio(
            f(v, true, &|p| p.latency.p99_ms),
            f(r, true, &|p| p.latency.p99_ms),
        ),
        paced_max: ratio(
            f(v, true, &|p| p.latency.max_ms),
            f(r, true, &|p| p.latency.max_ms),
        ),
        saturation_p50: ratio(
            f(v, false, &|p| p.latency.p50_ms),
            f(r, false, &|p| p.latency.p50_ms),
        ),
        saturation_p99: ratio(
            f(v, false, &|p| p.latency.p99_ms),
            f(r, false, &|p| p.latency.p99_ms),
        ),
        saturation_max: ratio(
            f(v, false, &|p| p.latency.max_ms),
            f(r, false, &|p| p.latency.max_ms),
        ),
        saturation_throughput: ratio(
            f(v, false, &|p| p.alerts_per_s),
            f(r, false, &|p| p.messages_per_s),
        ),
        cpu_per_alert: ratio(
            f(v, false, &|p| p.cpu_ms_per_alert),
            f(r, false, &|p| p.cpu_ms_per_alert),
        ),
        peak_memory: ratio(Some(v.peak_rss_kib as f64), Some(r.peak_rss_kib as f64)),
    }
}

impl Machine {
    pub(super) fn probe() -> Machine {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let rabbitmq = Command::new("rabbitmqctl")
            .args(["-q", "version"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            cpu_model,
            kernel,
            rabbitmq,
        }
    }
}

impl Report {
    /// The targets, from the run's own figures (see [`Targets`]).
    pub(super) fn evaluate_targets(&self) -> Targets {
        let saturation = self.varsel.as_ref().and_then(|v| v.saturation.as_ref());
        let over_floor = match (saturation, &self.floor) {
            (
                Some(p),
                Some(Floor {
                    cpu_ms_per_alert, ..
                }),
            ) => super::targets::ratio(p.cpu_ms_per_alert, *cpu_ms_per_alert),
            _ => None,
        };
        let over_ceiling = match (saturation, &self.ceiling) {
            (Some(p), Some(c)) if c.alerts_per_s > 0.0 => Some(p.alerts_per_s / c.alerts_per_s),
            _ => None,
        };
        Targets::of(
            over_floor,
            over_ceiling,
            self.ratios.paced_p99,
            self.varsel
                .as_ref()
                .and_then(|v| super::targets::memory_growth(&v.rss)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let l = Latency::of((1..=100).map(f64::from).collect());
        assert_eq!(l.p50_ms, 51.0);
        assert_eq!(l.p99_ms, 99.0);
        assert_eq!(l.max_ms, 100.0);
        assert_eq!(l.samples, 100);
        assert_eq!(Latency::of(Vec::new()).samples, 0);
    }
}
