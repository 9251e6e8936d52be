//! Against guessing: an account is locked for a while after a number of failed sign-ins in a row
//! (a wrong password or a wrong code alike), and each client address may try only so many
//! sign-ins a minute, whichever account it names.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// When an account is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures in a row that lock the account.
    pub after: u32,
    /// How long it stays locked.
    pub duration: Duration,
}

impl Policy {
    /// After one more failure: the new count, and the time (unix ms) the account is locked
    /// until if this failure locks it. The count starts again once it locks.
    pub fn fail(&self, failed_before: u32, now: i64) -> (u32, Option<i64>) {
        let failed = failed_before.saturating_add(1);
        if failed >= self.after {
            let ms = i64::try_from(self.duration.as_millis()).unwrap_or(i64::MAX);
            (0, Some(now.saturating_add(ms)))
        } else {
            (failed, None)
        }
    }
}

/// Whether an account locked until `locked_until` is locked at `now`.
pub fn locked(locked_until: Option<i64>, now: i64) -> bool {
    locked_until.is_some_and(|until| now < until)
}

/// Sign-in attempts per client address per minute.
#[derive(Debug)]
pub struct Throttle {
    per_minute: u32,
    seen: Mutex<HashMap<IpAddr, (i64, u32)>>,
}

impl Throttle {
    pub fn new(per_minute: u32) -> Throttle {
        Throttle {
            per_minute,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt from `ip` at `now` (unix ms); false when it is one too many this minute.
    pub fn allow(&self, ip: IpAddr, now: i64) -> bool {
        let minute = now.div_euclid(60_000);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        // Forget the minutes gone by, so the map does not grow without end.
        seen.retain(|_, (m, _)| *m == minute);
        let entry = seen.entry(ip).or_insert((minute, 0));
        entry.1 = entry.1.saturating_add(1);
        entry.1 <= self.per_minute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fifth_failure_in_a_row_locks_for_the_duration() {
        let p = Policy {
            after: 5,
            duration: Duration::from_secs(900),
        };
        let now = 1_800_000_000_000;
        let mut failed = 0;
        for i in 1..5 {
            let (f, until) = p.fail(failed, now);
            assert_eq!((f, until), (i, None));
            failed = f;
        }
        let (f, until) = p.fail(failed, now);
        assert_eq!(f, 0);
        assert_eq!(until, Some(now + 900_000));
        assert!(locked(until, now));
        assert!(locked(until, now + 899_999));
        assert!(!locked(until, now + 900_000));
        assert!(!locked(None, now));
    }

    #[test]
    fn an_address_gets_so_many_attempts_a_minute() {
        let t = Throttle::new(3);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let now = 1_800_000_000_000;
        assert!(t.allow(a, now) && t.allow(a, now + 1) && t.allow(a, now + 2));
        assert!(!t.allow(a, now + 3));
        assert!(t.allow(b, now + 3));
        assert!(t.allow(a, now + 60_000));
    }
}
