//! One source of stop and reload signals, watched by every consumer, worker and the HTTP server.
//!
//! SIGTERM and SIGINT stop the daemon: consumers stop taking new messages, in-flight work finishes
//! or is left unacked for redelivery, within a grace period. SIGHUP asks for the registry and
//! routing table to be reloaded. Tests create [`Signals`] by hand and trigger them directly.

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The daemon's stop and reload signals. Cheap to clone; clones share the same signals.
#[derive(Clone, Debug)]
pub struct Signals {
    stop: CancellationToken,
    reload: watch::Sender<u64>,
}

impl Default for Signals {
    fn default() -> Self {
        Signals::new()
    }
}

impl Signals {
    /// Signals that only fire when triggered through this value (tests, embedding).
    pub fn new() -> Signals {
        Signals {
            stop: CancellationToken::new(),
            reload: watch::channel(0).0,
        }
    }

    /// Signals wired to the process: SIGTERM/SIGINT stop, SIGHUP reloads. Must be called inside a
    /// tokio runtime.
    pub fn from_os() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        let signals = Signals::new();
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        let s = signals.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = term.recv() => { tracing::info!("SIGTERM received, stopping"); s.stop(); break; }
                    _ = int.recv() => { tracing::info!("SIGINT received, stopping"); s.stop(); break; }
                    _ = hup.recv() => { tracing::info!("SIGHUP received, reloading registry and routing table"); s.reload(); }
                }
            }
        });
        Ok(signals)
    }

    /// Asks everything to stop.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    pub fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Resolves when a stop has been asked for.
    pub async fn stopped(&self) {
        self.stop.cancelled().await
    }

    /// Asks for a reload of the registry and routing table.
    pub fn reload(&self) {
        self.reload.send_modify(|n| *n += 1);
    }

    /// A receiver that changes on every reload request.
    pub fn reloads(&self) -> watch::Receiver<u64> {
        self.reload.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_reaches_every_clone() {
        let s = Signals::new();
        let c = s.clone();
        let waiter = tokio::spawn(async move { c.stopped().await });
        assert!(!s.is_stopping());
        s.stop();
        waiter.await.unwrap();
        assert!(s.is_stopping());
    }

    #[tokio::test]
    async fn reload_is_seen_by_subscribers() {
        let s = Signals::new();
        let mut r = s.reloads();
        s.reload();
        r.changed().await.unwrap();
        assert_eq!(*r.borrow(), 1);
    }
}
