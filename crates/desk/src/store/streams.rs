//! What a live inbox stream asks of the store: its session, looked at without touching it. A
//! stream left open is not use, so it must not keep an idle session alive.

use varsel_sql::Q;

use super::{Error, Store};
use crate::session::Stage;

/// A session as a stream sees it (no CSRF token: a stream posts no form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    pub account: Option<i64>,
    pub stage: Stage,
    pub created_at: i64,
    pub last_seen: i64,
}

impl Store {
    /// The session with this token digest as stored, expired or not; `last_seen` is left alone.
    pub async fn watched_session(&self, digest: &[u8]) -> Result<Option<Watched>, Error> {
        let row: Option<(Option<i64>, String, i64, i64)> = self
            .conn()
            .await?
            .conn()
            .fetch_optional(
                Q::new(
                    "SELECT account, stage, created_at, last_seen FROM sessions \
                     WHERE token_digest = $1",
                )
                .bytes(digest.to_vec()),
            )
            .await?;
        let Some((account, stage, created_at, last_seen)) = row else {
            return Ok(None);
        };
        Ok(Some(Watched {
            account,
            stage: Stage::parse(&stage)
                .ok_or_else(|| Error::Corrupt(format!("session stage {stage:?}")))?,
            created_at,
            last_seen,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::session;

    #[tokio::test]
    async fn watching_a_session_does_not_keep_it_alive() {
        crate::store::testing::on_both(|ctx| watching_does_not_keep_alive(ctx.store)).await;
    }

    async fn watching_does_not_keep_alive(store: Store) {
        let policy = session::Policy {
            idle: Duration::from_secs(60),
            lifetime: Duration::from_secs(3600),
        };
        let t0 = 1_800_000_000_000;
        let (token, _) = store.new_session(None, Stage::Anonymous, t0).await.unwrap();
        let digest = session::digest(&token);
        let w = store.watched_session(&digest).await.unwrap().unwrap();
        assert_eq!(
            w,
            Watched {
                account: None,
                stage: Stage::Anonymous,
                created_at: t0,
                last_seen: t0
            }
        );
        // Watched again and again, the session still ends a minute after its last use.
        for _ in 0..3 {
            store.watched_session(&digest).await.unwrap();
        }
        let w = store.watched_session(&digest).await.unwrap().unwrap();
        assert!(!policy.live(w.created_at, w.last_seen, t0 + 60_000));
        store.end_session(&digest).await.unwrap();
        assert_eq!(store.watched_session(&digest).await.unwrap(), None);
    }
}
