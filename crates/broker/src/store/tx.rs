//! The write transaction, [`Tx`]: beginning it, savepoints, the audit entries it buffers
//! until commit, and commit or rollback. The other store modules add their writes to it.

use std::fmt;

use varsel_sql::{BeginError, Conn, Q};

use super::audit::{self, NewAudit};
use super::connection::Store;
use super::error::Error;

/// One write transaction. Dropping it without [`Tx::commit`] rolls everything back, audit
/// entries included.
pub struct Tx {
    inner: varsel_sql::Tx,
    /// Entries waiting to be chained at commit, so the chain lock is held only at the very end
    /// of the transaction (short, and never while waiting for row locks).
    audit: Vec<(NewAudit, String)>,
    /// For each open savepoint (innermost last), how many audit entries were buffered when it
    /// was set, so rolling back to it drops the entries added since.
    savepoints: Vec<usize>,
}

impl fmt::Debug for Tx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tx")
            .field("pending_audit", &self.audit.len())
            .finish()
    }
}

impl Store {
    /// Starts a write transaction. Dropping it without [`Tx::commit`] rolls it back.
    pub async fn begin(&self) -> Result<Tx, Error> {
        let inner = self.db.begin().await.map_err(|e| match e {
            BeginError::Busy => Error::Conflict(sqlx::Error::PoolTimedOut),
            BeginError::Sql(e) => e.into(),
        })?;
        Ok(Tx {
            inner,
            audit: Vec::new(),
            savepoints: Vec::new(),
        })
    }
}

impl Tx {
    pub(super) fn conn(&mut self) -> Conn<'_> {
        self.inner.conn()
    }

    pub(super) fn is_pg(&self) -> bool {
        self.inner.is_pg()
    }

    /// Adds an entry to the audit chain. It is chained (given its seq and hash) when the
    /// transaction commits, and vanishes with it on rollback.
    pub async fn audit(&mut self, e: &NewAudit) -> Result<(), Error> {
        let detail = varsel_protocol::canonical::to_string(&e.detail);
        self.audit.push((e.clone(), detail));
        Ok(())
    }

    /// Sets a savepoint (`SAVEPOINT m`): a later [`Tx::rollback_to`] undoes what was written
    /// since, buffered audit entries included, and leaves the rest of the transaction intact.
    /// Savepoints nest; each is ended by [`Tx::release`].
    pub async fn savepoint(&mut self) -> Result<(), Error> {
        self.conn().execute(Q::new("SAVEPOINT m")).await?;
        self.savepoints.push(self.audit.len());
        Ok(())
    }

    /// Ends the innermost savepoint, keeping what was written since (`RELEASE SAVEPOINT m`).
    pub async fn release(&mut self) -> Result<(), Error> {
        if self.savepoints.is_empty() {
            return Err(Error::Value("no savepoint to release".into()));
        }
        self.conn().execute(Q::new("RELEASE SAVEPOINT m")).await?;
        self.savepoints.pop();
        Ok(())
    }

    /// Undoes everything written since the innermost savepoint (`ROLLBACK TO SAVEPOINT m`),
    /// and drops the audit entries buffered since. The savepoint stays set: end it with
    /// [`Tx::release`].
    pub async fn rollback_to(&mut self) -> Result<(), Error> {
        let Some(&mark) = self.savepoints.last() else {
            return Err(Error::Value("no savepoint to roll back to".into()));
        };
        self.conn()
            .execute(Q::new("ROLLBACK TO SAVEPOINT m"))
            .await?;
        self.audit.truncate(mark);
        Ok(())
    }

    /// The last audit entry's seq and hash as this transaction sees it.
    pub async fn audit_head(&mut self) -> Result<Option<(i64, Vec<u8>)>, Error> {
        audit::head(self.conn()).await
    }

    /// Chains the pending audit entries under the chain lock.
    async fn append_audit(&mut self) -> Result<(), Error> {
        if self.audit.is_empty() {
            return Ok(());
        }
        let entries = std::mem::take(&mut self.audit);
        audit::append(self.conn(), entries).await
    }

    /// Makes everything in the transaction durable at once, audit entries last.
    pub async fn commit(mut self) -> Result<(), Error> {
        self.append_audit().await?;
        Ok(self.inner.commit().await?)
    }

    /// Abandons the transaction (the same as dropping it, but waits for the rollback).
    pub async fn rollback(self) -> Result<(), Error> {
        Ok(self.inner.rollback().await?)
    }
}
