//! Sessions: created for the sign-in form, advanced through the two factors (a new token at each
//! step, so a token seen before sign-in is worth nothing after), touched on use, ended.

use varsel_sql::Q;

use super::{Error, Store};
use crate::session::{self, Stage};

/// A session as stored.
#[derive(Debug, Clone)]
pub struct Session {
    pub digest: Vec<u8>,
    pub account: Option<i64>,
    pub stage: Stage,
    pub csrf: String,
    pub created_at: i64,
    pub last_seen: i64,
}

impl Store {
    /// Starts a session at `stage`; returns its token (for the cookie) and CSRF token.
    pub async fn new_session(
        &self,
        account: Option<i64>,
        stage: Stage,
        now: i64,
    ) -> Result<(String, String), Error> {
        let token = session::token();
        let csrf = session::token();
        self.execute(
            Q::new(
                "INSERT INTO sessions (token_digest, account, stage, csrf, created_at, last_seen) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bytes(session::digest(&token))
            .opt_i64(account)
            .text(stage.code())
            .text(&csrf)
            .i64(now)
            .i64(now),
        )
        .await?;
        Ok((token, csrf))
    }

    /// The live session of a token, touched at `now`; an expired one is deleted and not returned.
    pub async fn session(
        &self,
        token: &str,
        policy: &session::Policy,
        now: i64,
    ) -> Result<Option<Session>, Error> {
        let digest = session::digest(token);
        let row: Option<(Option<i64>, String, String, i64, i64)> = self
            .conn()
            .await?
            .conn()
            .fetch_optional(
                Q::new(
                    "SELECT account, stage, csrf, created_at, last_seen FROM sessions \
                     WHERE token_digest = $1",
                )
                .bytes(digest.clone()),
            )
            .await?;
        let Some((account, stage, csrf, created_at, last_seen)) = row else {
            return Ok(None);
        };
        let s = Session {
            digest,
            account,
            stage: Stage::parse(&stage)
                .ok_or_else(|| Error::Corrupt(format!("session stage {stage:?}")))?,
            csrf,
            created_at,
            last_seen,
        };
        if !policy.live(s.created_at, s.last_seen, now) {
            self.end_session(&s.digest).await?;
            return Ok(None);
        }
        self.execute(
            Q::new("UPDATE sessions SET last_seen = $1 WHERE token_digest = $2")
                .i64(now)
                .bytes(s.digest.clone()),
        )
        .await?;
        Ok(Some(Session {
            last_seen: now,
            ..s
        }))
    }

    pub async fn end_session(&self, digest: &[u8]) -> Result<(), Error> {
        self.execute(Q::new("DELETE FROM sessions WHERE token_digest = $1").bytes(digest.to_vec()))
            .await?;
        Ok(())
    }

    /// Deletes the sessions that have expired by `now`.
    pub async fn prune_sessions(&self, policy: &session::Policy, now: i64) -> Result<u64, Error> {
        let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.execute(
            Q::new("DELETE FROM sessions WHERE last_seen <= $1 OR created_at <= $2")
                .i64(now.saturating_sub(ms(policy.idle)))
                .i64(now.saturating_sub(ms(policy.lifetime))),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_session_expires_when_idle_and_is_gone_after() {
        crate::store::testing::on_both(|ctx| a_session_expires(ctx.store)).await;
    }

    async fn a_session_expires(store: Store) {
        let policy = session::Policy {
            idle: Duration::from_secs(60),
            lifetime: Duration::from_secs(3600),
        };
        let t0 = 1_800_000_000_000;
        let (token, csrf) = store.new_session(None, Stage::Anonymous, t0).await.unwrap();
        let s = store
            .session(&token, &policy, t0 + 59_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.stage, s.csrf.as_str()),
            (Stage::Anonymous, csrf.as_str())
        );
        // Used at +59 s, so good until +119 s.
        assert!(store
            .session(&token, &policy, t0 + 118_000)
            .await
            .unwrap()
            .is_some());
        assert!(store
            .session(&token, &policy, t0 + 178_000)
            .await
            .unwrap()
            .is_none());
        // Deleted when found expired: not good again even at an earlier time.
        assert!(store
            .session(&token, &policy, t0 + 1)
            .await
            .unwrap()
            .is_none());
        assert!(store
            .session("no such token", &policy, t0)
            .await
            .unwrap()
            .is_none());
    }
}
