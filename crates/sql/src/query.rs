//! One query text for both backends: values are bound to numbered `$n` placeholders, which
//! PostgreSQL and SQLite both accept, and rows decode through `sqlx::FromRow` derived once.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, FromRow, PgConnection, SqliteConnection};

/// A value to bind. The store only ever binds 64-bit integers, text and bytes (times are unix
/// milliseconds, ids are UUID text), which both backends type the same way.
pub enum Arg {
    I64(Option<i64>),
    Text(Option<String>),
    Bytes(Vec<u8>),
}

/// A query text with its values, built once and run on whichever backend the store has.
pub struct Q {
    sql: String,
    args: Vec<Arg>,
}

impl Q {
    pub fn new(sql: impl Into<String>) -> Q {
        Q {
            sql: sql.into(),
            args: Vec::new(),
        }
    }

    pub fn i64(mut self, v: i64) -> Q {
        self.args.push(Arg::I64(Some(v)));
        self
    }

    pub fn opt_i64(mut self, v: Option<i64>) -> Q {
        self.args.push(Arg::I64(v));
        self
    }

    pub fn text(mut self, v: impl Into<String>) -> Q {
        self.args.push(Arg::Text(Some(v.into())));
        self
    }

    pub fn opt_text(mut self, v: Option<String>) -> Q {
        self.args.push(Arg::Text(v));
        self
    }

    pub fn bytes(mut self, v: Vec<u8>) -> Q {
        self.args.push(Arg::Bytes(v));
        self
    }

    /// The number the next bound value will get (`$n`).
    pub fn next_param(&self) -> usize {
        self.args.len() + 1
    }

    /// Appends SQL text; used to build filters whose parameters are numbered with `next_param`.
    pub fn push_sql(&mut self, s: &str) {
        self.sql.push_str(s);
    }
}

macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                Arg::I64(v) => query.bind(v),
                Arg::Text(v) => query.bind(v),
                Arg::Bytes(v) => query.bind(v),
            };
        }
        query
    }};
}

/// A borrowed connection of either backend: a pooled connection or an open transaction.
pub enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Pg(&'c mut PgConnection),
}

impl Conn<'_> {
    /// Runs a statement and returns the number of rows it changed.
    pub async fn execute(&mut self, q: Q) -> Result<u64, sqlx::Error> {
        match self {
            Conn::Sqlite(c) => {
                let query = bind_all!(sqlx::query(AssertSqlSafe(q.sql)), q.args);
                Ok(query.execute(&mut **c).await?.rows_affected())
            }
            Conn::Pg(c) => {
                let query = bind_all!(sqlx::query(AssertSqlSafe(q.sql)), q.args);
                Ok(query.execute(&mut **c).await?.rows_affected())
            }
        }
    }

    /// Serialises the writers of one chain (an audit log) across processes until the
    /// transaction ends: PostgreSQL's transaction-level advisory lock `key`. Nothing on SQLite,
    /// whose write transactions (`BEGIN IMMEDIATE`) already hold the file's one write lock.
    pub async fn chain_lock(&mut self, key: i64) -> Result<(), sqlx::Error> {
        if let Conn::Pg(_) = self {
            self.execute(Q::new("SELECT pg_advisory_xact_lock($1)").i64(key))
                .await?;
        }
        Ok(())
    }

    pub async fn fetch_all<T>(&mut self, q: Q) -> Result<Vec<T>, sqlx::Error>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        match self {
            Conn::Sqlite(c) => {
                let query = bind_all!(sqlx::query_as::<_, T>(AssertSqlSafe(q.sql)), q.args);
                query.fetch_all(&mut **c).await
            }
            Conn::Pg(c) => {
                let query = bind_all!(sqlx::query_as::<_, T>(AssertSqlSafe(q.sql)), q.args);
                query.fetch_all(&mut **c).await
            }
        }
    }

    pub async fn fetch_optional<T>(&mut self, q: Q) -> Result<Option<T>, sqlx::Error>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        match self {
            Conn::Sqlite(c) => {
                let query = bind_all!(sqlx::query_as::<_, T>(AssertSqlSafe(q.sql)), q.args);
                query.fetch_optional(&mut **c).await
            }
            Conn::Pg(c) => {
                let query = bind_all!(sqlx::query_as::<_, T>(AssertSqlSafe(q.sql)), q.args);
                query.fetch_optional(&mut **c).await
            }
        }
    }

    pub async fn fetch_one<T>(&mut self, q: Q) -> Result<T, sqlx::Error>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        self.fetch_optional(q)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }
}

/// `$first, $first+1, …` for `n` values: the placeholders of an `IN (…)` list.
pub fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_from_the_first() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
        assert_eq!(placeholders(1, 1), "$1");
        assert_eq!(placeholders(1, 0), "");
    }

    #[test]
    fn next_param_counts_bound_values() {
        let q = Q::new("SELECT 1").i64(1).text("a");
        assert_eq!(q.next_param(), 3);
    }
}
