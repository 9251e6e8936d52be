//! Waiting for an asynchronous outcome with a deadline, and saying what was waited for when the
//! deadline passes. The limit bounds a hung wait; it is not an assertion on speed.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How often [`until`] and [`value`] check.
pub const EVERY: Duration = Duration::from_millis(50);

/// The deadline passed before the outcome came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedOut {
    /// What was waited for, e.g. "the broker to consume".
    pub what: String,
    pub limit: Duration,
}

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "timed out waiting for {}", self.what)
    }
}

impl std::error::Error for TimedOut {}

/// Calls `check` every `every` until it yields a value, or fails with [`TimedOut`] once `limit`
/// has passed. `check` runs at least once, and once more after the deadline is reached.
pub async fn poll<T, F, Fut>(
    limit: Duration,
    every: Duration,
    what: &str,
    mut check: F,
) -> Result<T, TimedOut>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(TimedOut {
                what: what.to_owned(),
                limit,
            });
        }
        tokio::time::sleep(every).await;
    }
}

/// Calls `check` every `every` until it holds and returns how long that took, or fails with
/// [`TimedOut`] once `limit` has passed.
pub async fn holds<F, Fut>(
    limit: Duration,
    every: Duration,
    what: &str,
    mut check: F,
) -> Result<Duration, TimedOut>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    poll(limit, every, what, || {
        let f = check();
        async move { f.await.then_some(()) }
    })
    .await?;
    Ok(start.elapsed())
}

/// Polls until `check` holds and returns how long that took; panics with "timed out waiting for
/// `what`" after `limit`.
pub async fn until<F, Fut>(limit: Duration, what: &str, check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    holds(limit, EVERY, what, check)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Polls until `check` yields a value and returns it; panics with "timed out waiting for `what`"
/// after `limit`.
pub async fn value<T, F, Fut>(limit: Duration, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    poll(limit, EVERY, what, check)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_timeout_says_what_it_waited_for() {
        let e = poll(Duration::ZERO, EVERY, "the moon", || async { None::<()> })
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "timed out waiting for the moon");
    }

    #[tokio::test]
    async fn the_value_comes_back() {
        let mut n = 0;
        let got = value(Duration::from_secs(5), "three polls", || {
            n += 1;
            let now = n;
            async move { (now >= 3).then_some(now) }
        })
        .await;
        assert_eq!(got, 3);
    }
}
