//! How long to wait before trying again: exponential backoff with jitter, for every retry loop
//! of broker and participant (AMQP reconnects, intake commits, outbox sends, worker restarts).
//!
//! The delays come from `backon`: each doubles the last, starting at `min`, and a random part
//! (jitter) is added so that instances and participants that lost RabbitMQ or the store at the
//! same moment do not all come back at the same moment. backon's jitter adds up to one delay
//! again; the doubling therefore stops at half of `max`, so every wait lies in `[min, max]`.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// After this many doublings the delay has reached its cap for any `min` and `max` we use; the
/// outbox's attempt counter may be far larger.
const MAX_STEPS: u32 = 64;

/// The endless sequence of waits between `min` and `max` (inclusive), doubling with jitter.
pub fn delays(min: Duration, max: Duration) -> impl Iterator<Item = Duration> {
    let max = max.max(min);
    let cap = (max / 2).max(min);
    ExponentialBuilder::new()
        .with_min_delay(min.min(cap))
        .with_max_delay(cap)
        .with_jitter()
        .without_max_times()
        .build()
        .map(move |d| d.clamp(min, max))
}

/// The wait before the retry that follows `attempts` failed ones (0: the first retry).
pub fn after(attempts: u32, min: Duration, max: Duration) -> Duration {
    delays(min, max)
        .nth(attempts.min(MAX_STEPS) as usize)
        .unwrap_or(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(300);

    #[test]
    fn delays_double_within_bounds_and_reach_the_cap() {
        for _ in 0..200 {
            let d: Vec<Duration> = delays(MIN, MAX).take(12).collect();
            // Step n lies in [2^n, 2^(n+1)) seconds until the doubling stops at max / 2.
            for (n, d) in d.iter().enumerate().take(7) {
                let low = MIN * (1 << n);
                assert!(*d >= low && *d < low * 2, "step {n}: {d:?}");
            }
            for d in &d[8..] {
                assert!(*d >= MAX / 2 && *d <= MAX, "{d:?}");
            }
        }
        assert!(after(u32::MAX, MIN, MAX) >= MAX / 2);
        assert!(after(u32::MAX, MIN, MAX) <= MAX);
        assert!(after(0, MIN, MAX) < MIN * 2);
    }

    #[test]
    fn jitter_spreads_the_waits() {
        let waits: std::collections::BTreeSet<Duration> =
            (0..50).map(|_| after(3, MIN, MAX)).collect();
        assert!(
            waits.len() > 10,
            "50 waits took only {} values",
            waits.len()
        );
    }

    #[test]
    fn a_max_below_min_is_min() {
        for d in delays(MIN, Duration::from_millis(10)).take(5) {
            assert_eq!(d, MIN);
        }
    }
}
