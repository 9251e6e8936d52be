//! The targets, each evaluated on one run: the queue-bound ceiling the relay sets for
//! varsel, and for every target the figure, its limit and whether it was met.

use serde::Serialize;

/// The most alerts/s RabbitMQ lets varsel carry here, if queue writes were all it cost: the relay
/// writes every message twice (its two queues), so it shows what queue writes/s this RabbitMQ
/// takes; varsel writes `queue_writes_per_alert` per alert.
#[derive(Debug, Clone, Serialize)]
pub struct Ceiling {
    pub relay_messages_per_s: f64,
    pub queue_writes_per_alert: u64,
    pub alerts_per_s: f64,
}

/// Persistent queue writes one alert causes with `recipients` recipients, as the broker works
/// (crates/broker/src: intake commits the alert and a delivery per recipient; the outbox
/// publishes each delivery to `inbox.<agency>`; each agency's receipt comes back through
/// `varsel.intake`, and acknowledgement writes one feedback per receipt to `inbox.<school>`):
/// the alert into the intake queue, then per recipient its delivery, its receipt and the
/// school's feedback.
pub fn queue_writes_per_alert(recipients: usize) -> u64 {
    1 + 3 * recipients as u64
}

impl Ceiling {
    pub(super) fn of(relay_messages_per_s: f64, recipients: usize) -> Ceiling {
        let writes = queue_writes_per_alert(recipients);
        Ceiling {
            relay_messages_per_s,
            queue_writes_per_alert: writes,
            alerts_per_s: relay_messages_per_s * 2.0 / writes as f64,
        }
    }
}

/// One target: the figure this run gave (absent when the run did not measure what it needs),
/// the limit, and whether the figure is within it (never met without a figure).
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub value: Option<f64>,
    pub limit: f64,
    pub met: bool,
}

impl Target {
    fn at_most(value: Option<f64>, limit: f64) -> Target {
        Target {
            value,
            limit,
            met: value.is_some_and(|v| v <= limit),
        }
    }

    fn at_least(value: Option<f64>, limit: f64) -> Target {
        Target {
            value,
            limit,
            met: value.is_some_and(|v| v >= limit),
        }
    }
}

/// The targets (ratios from one run).
#[derive(Debug, Clone, Serialize)]
pub struct Targets {
    /// Broker CPU per alert at saturation over the crypto floor: at most 2.
    pub cpu_per_alert_over_floor: Target,
    /// Saturation alerts/s over the queue-bound ceiling: at least 0.5.
    pub saturation_over_ceiling: Target,
    /// Paced p99 (school publish to agency inbox) over the relay's p99: at most 3. The issue
    /// sets it at 200 alerts/s; the run's rate is in `settings.rate`.
    pub paced_p99_over_relay: Target,
    /// The broker's mean RSS over the last half of the samples after the first quarter, over
    /// its mean over the first half: at most 1.1 (flat). The issue asks it of a 100,000-alert run.
    pub memory_growth: Target,
}

/// A measured figure over the figure it is held against; absent when either is zero or not a
/// number, which means it was not measured (a broker under `--broker-wrapper` that forks reports
/// no CPU of its own), never that the target was met.
pub(super) fn ratio(figure: f64, against: f64) -> Option<f64> {
    (figure.is_finite() && against.is_finite() && figure > 0.0 && against > 0.0)
        .then(|| figure / against)
}

/// Mean RSS of the later half over the earlier half of the samples after the first quarter
/// (start-up and warm-up); absent with fewer than eight samples.
pub fn memory_growth(rss: &[(f64, u64)]) -> Option<f64> {
    if rss.len() < 8 {
        return None;
    }
    let steady = &rss[rss.len() / 4..];
    let (early, late) = steady.split_at(steady.len() / 2);
    let mean = |s: &[(f64, u64)]| s.iter().map(|(_, k)| *k as f64).sum::<f64>() / s.len() as f64;
    let e = mean(early);
    (e > 0.0).then(|| mean(late) / e)
}

impl Targets {
    /// The targets with their limits, given the figures.
    pub(super) fn of(
        over_floor: Option<f64>,
        over_ceiling: Option<f64>,
        p99_over_relay: Option<f64>,
        memory_growth: Option<f64>,
    ) -> Targets {
        Targets {
            cpu_per_alert_over_floor: Target::at_most(over_floor, 2.0),
            saturation_over_ceiling: Target::at_least(over_ceiling, 0.5),
            paced_p99_over_relay: Target::at_most(p99_over_relay, 3.0),
            memory_growth: Target::at_most(memory_growth, 1.1),
        }
    }
}

/// Targets before anything was measured: no figures, none met.
pub(super) fn evaluate_nothing() -> Targets {
    Targets::of(None, None, None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_divides_the_relays_queue_writes_by_varsels() {
        let c = Ceiling::of(1000.0, 3);
        assert_eq!(c.queue_writes_per_alert, 10);
        assert_eq!(c.alerts_per_s, 200.0);
    }

    #[test]
    fn memory_growth_compares_the_later_steady_half_with_the_earlier() {
        let flat: Vec<(f64, u64)> = (0..12).map(|i| (f64::from(i), 100)).collect();
        assert_eq!(memory_growth(&flat), Some(1.0));
        let growing: Vec<(f64, u64)> = (0..12u32)
            .map(|i| (f64::from(i), u64::from(100 + i * 10)))
            .collect();
        assert!(memory_growth(&growing).is_some_and(|g| g > 1.1));
        assert_eq!(memory_growth(&flat[..7]), None);
    }

    #[test]
    fn a_figure_of_zero_is_no_figure() {
        assert_eq!(ratio(0.0, 1.3), None);
        assert_eq!(ratio(5.8, 0.0), None);
        assert_eq!(ratio(f64::NAN, 1.3), None);
        assert_eq!(ratio(2.6, 1.3), Some(2.0));
        assert!(!Target::at_most(ratio(0.0, 1.3), 2.0).met);
    }

    #[test]
    fn a_target_without_a_figure_is_not_met() {
        assert!(!Target::at_most(None, 2.0).met);
        assert!(Target::at_most(Some(2.0), 2.0).met);
        assert!(!Target::at_least(Some(0.4), 0.5).met);
    }
}
