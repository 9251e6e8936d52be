//! Time as a dependency: the system clock in production, a manual clock in tests (so deadlines
//! and escalation ladders are tested without sleeping), and a scaled clock for the demo, which
//! compresses minutes into seconds and says so.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

/// A source of the current time. Cheap to clone; clones share the same time.
#[derive(Clone, Debug)]
pub struct Clock(Inner);

#[derive(Clone, Debug)]
enum Inner {
    System,
    Manual(Arc<Mutex<DateTime<Utc>>>),
    Scaled {
        real_start: Instant,
        virtual_start: DateTime<Utc>,
        factor: u32,
    },
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Clock {
        Clock(Inner::System)
    }

    /// A clock that stands still until [`Clock::advance`] or [`Clock::set`] moves it.
    pub fn manual(start: DateTime<Utc>) -> Clock {
        Clock(Inner::Manual(Arc::new(Mutex::new(start))))
    }

    /// A clock that starts now and runs `factor` times faster than real time (demo only).
    pub fn scaled(factor: u32) -> Clock {
        Clock(Inner::Scaled {
            real_start: Instant::now(),
            virtual_start: Utc::now(),
            factor: factor.max(1),
        })
    }

    /// How many times faster than real time this clock runs (1 for system and manual clocks).
    pub fn factor(&self) -> u32 {
        match &self.0 {
            Inner::Scaled { factor, .. } => *factor,
            _ => 1,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            Inner::System => Utc::now(),
            Inner::Manual(t) => *t.lock().unwrap_or_else(|p| p.into_inner()),
            Inner::Scaled {
                real_start,
                virtual_start,
                factor,
            } => {
                let real = real_start.elapsed();
                let scaled = real.saturating_mul(*factor);
                *virtual_start + Duration::from_std(scaled).unwrap_or(Duration::MAX)
            }
        }
    }

    /// Moves a manual clock forward. Has no effect on other clocks.
    pub fn advance(&self, by: Duration) {
        if let Inner::Manual(t) = &self.0 {
            let mut t = t.lock().unwrap_or_else(|p| p.into_inner());
            *t += by;
        }
    }

    /// Sets a manual clock. Has no effect on other clocks.
    pub fn set(&self, to: DateTime<Utc>) {
        if let Inner::Manual(t) = &self.0 {
            *t.lock().unwrap_or_else(|p| p.into_inner()) = to;
        }
    }

    /// Whether this clock is driven by a test rather than by real time.
    pub fn is_manual(&self) -> bool {
        matches!(self.0, Inner::Manual(_))
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::system()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_it() {
        let start = "2026-06-19T15:30:00Z".parse().unwrap();
        let c = Clock::manual(start);
        let c2 = c.clone();
        assert_eq!(c.now(), start);
        c.advance(Duration::minutes(90));
        assert_eq!(c2.now(), start + Duration::minutes(90));
        c2.set(start);
        assert_eq!(c.now(), start);
    }

    #[test]
    fn scaled_clock_runs_faster_than_real_time() {
        let c = Clock::scaled(600);
        let a = c.now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = c.now();
        // 20 ms real at 600x is at least 12 s virtual.
        assert!(b - a >= Duration::seconds(12), "{:?}", b - a);
        assert_eq!(c.factor(), 600);
    }
}
