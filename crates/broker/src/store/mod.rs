//! The store: alerts, deliveries, outbox, timers and audit in SQLite or PostgreSQL.
//!
//! One interface over two backends. SQLite (one file, WAL) is the default; PostgreSQL lets
//! several broker instances work side by side. Both run the same SQL text (numbered `$n`
//! placeholders, `ON CONFLICT`, `RETURNING`), except where PostgreSQL needs row locks
//! (`FOR UPDATE`, `FOR UPDATE SKIP LOCKED`) that SQLite gets from its single write lock.
//!
//! Plain columns hold only ids, codes, times and digests; message bodies are stored as the
//! sealed JWS bytes received. Times are unix milliseconds, so a time read back is the time
//! written truncated to the millisecond.
//!
//! Concurrency rules, the same on both backends:
//! - every [`Tx`] is a write transaction; on SQLite it starts with `BEGIN IMMEDIATE`, so
//!   concurrent writers queue on the busy timeout instead of failing on a lock upgrade;
//! - state changes are conditional (`UPDATE … WHERE state IN (…)`) and report whether they
//!   applied, so a duplicate or late message changes nothing and two racing writers cannot both
//!   win;
//! - outbox rows and timers are claimed with a lease (`claimed_by`, `claimed_until`); a claim
//!   whose lease ran out (its instance died) can be taken again, and only the claimer may finish;
//! - audit entries are appended when the transaction commits, under a chain lock (a PostgreSQL
//!   advisory lock; SQLite's write lock), so concurrent transactions extend one valid chain.

mod rows;
mod sql;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Postgres, Sqlite};
use uuid::Uuid;

use rows::{
    convert_all, ms, RawAlert, RawAudit, RawDelivery, RawMessage, RawOutbox, RawTimer, ALERT_COLS,
    AUDIT_COLS, DELIVERY_COLS, MESSAGE_COLS, OUTBOX_COLS, TIMER_COLS,
};
use sql::{placeholders, Conn, Q};
use varsel_protocol::message::{
    code_enum, Category, DeliveryState, Kind, Kommunkod, Outcome, ParticipantId, RecipientRole,
    SectionLabel, Status, Urgency,
};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The advisory lock key that serialises audit appends on PostgreSQL ("varsel-a" in ASCII).
const AUDIT_LOCK_KEY: i64 = 0x7661_7273_656c_2d61;

/// How long a SQLite writer waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a store operation failed. No variant carries message content or personal data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store URL not understood: expected sqlite://<path> or postgres://<host>/<database>")]
    Url,
    #[error("cannot open the store: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot bring the store's schema up to date: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("store query failed: {0}")]
    Query(#[source] sqlx::Error),
    #[error("the store was busy or two transactions collided; the operation can be retried: {0}")]
    Conflict(#[source] sqlx::Error),
    #[error("the store holds an invalid value in {table}.{column}: {why}")]
    Corrupt {
        table: &'static str,
        column: &'static str,
        why: String,
    },
    #[error("not a valid {what} code: {code:?}")]
    Code { what: &'static str, code: String },
    #[error("value does not fit the store: {0}")]
    Value(String),
}

impl Error {
    /// True when running the same transaction again may succeed (deadlock, serialisation
    /// failure, SQLite busy).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Conflict(_))
    }
}

/// When a SQLite connection last failed on its file (read-only, I/O error, disk full, cannot
/// open), in milliseconds since [`sqlite_epoch`]; 0 for never. Pooled connections older than
/// that are replaced before reuse: SQLite opens a file it may not write read-only and keeps it
/// so, and a connection that failed on I/O may keep failing after the cause is gone.
static SQLITE_FILE_FAILED_AT: AtomicU64 = AtomicU64::new(0);

fn sqlite_epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn note_sqlite_failure(db: &dyn sqlx::error::DatabaseError) {
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_none() {
        return;
    }
    // Primary result codes: SQLITE_READONLY 8, SQLITE_IOERR 10, SQLITE_FULL 13,
    // SQLITE_CANTOPEN 14 (the low byte of an extended code).
    let primary = db
        .code()
        .and_then(|c| c.parse::<u32>().ok())
        .map(|c| c & 0xff);
    if matches!(primary, Some(8 | 10 | 13 | 14)) {
        let at = u64::try_from(sqlite_epoch().elapsed().as_millis()).unwrap_or(u64::MAX);
        SQLITE_FILE_FAILED_AT.fetch_max(at.max(1), Ordering::Relaxed);
    }
}

/// Whether a pooled SQLite connection of this age was opened before the last file failure.
fn sqlite_conn_predates_failure(age: Duration) -> bool {
    let failed = SQLITE_FILE_FAILED_AT.load(Ordering::Relaxed);
    if failed == 0 {
        return false;
    }
    let now = sqlite_epoch().elapsed();
    let opened = now.saturating_sub(age);
    opened.as_millis() <= u128::from(failed)
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Error {
        if let sqlx::Error::Database(db) = &e {
            note_sqlite_failure(db.as_ref());
        }
        let conflict = match &e {
            sqlx::Error::Database(db) => matches!(
                db.code().as_deref(),
                // PostgreSQL serialization_failure, deadlock_detected; SQLite BUSY, LOCKED and
                // their extended codes (SQLITE_BUSY_SNAPSHOT = 517, …).
                Some("40001" | "40P01" | "5" | "6" | "261" | "262" | "517" | "773")
            ),
            _ => false,
        };
        if conflict {
            Error::Conflict(e)
        } else {
            Error::Query(e)
        }
    }
}

code_enum!(
    /// Where an alert stands as a whole.
    AlertState {
        /// Deliveries are under way.
        Open = "open",
        /// Every required recipient has acknowledged.
        Acknowledged = "acknowledged",
        /// The school withdrew it.
        Cancelled = "cancelled",
        /// Handed to a human in ops.
        Escalated = "escalated",
    }
);

impl AsRef<str> for AlertState {
    fn as_ref(&self) -> &str {
        self.code()
    }
}

code_enum!(
    /// How an outbox row is sent.
    Channel {
        /// Published to `varsel.out` with the destination as routing key.
        Amqp = "amqp",
        /// Mailed to the destination address.
        Email = "email",
    }
);

code_enum!(
    /// Where an outbox row stands.
    OutboxState {
        Pending = "pending",
        Sent = "sent",
        Failed = "failed",
        Unroutable = "unroutable",
    }
);

code_enum!(
    /// Where a timer stands.
    TimerState {
        Pending = "pending",
        Fired = "fired",
        Cancelled = "cancelled",
    }
);

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SHA-256 of a message's raw bytes, as kept in `messages.digest`.
pub fn digest(raw: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, raw)
        .as_ref()
        .to_vec()
}

/// A received message to keep.
#[derive(Clone)]
pub struct NewMessage {
    pub id: Uuid,
    pub kind: Kind,
    pub sender: ParticipantId,
    pub received_at: DateTime<Utc>,
    /// The JWS exactly as received; its SHA-256 is computed by the store.
    pub raw: Vec<u8>,
}

impl fmt::Debug for NewMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewMessage")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("sender", &self.sender)
            .field("received_at", &self.received_at)
            .field("raw_len", &self.raw.len())
            .finish()
    }
}

/// A stored message.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageRow {
    pub id: Uuid,
    pub kind: Kind,
    pub sender: ParticipantId,
    pub digest: Vec<u8>,
    pub received_at: DateTime<Utc>,
    pub raw: Vec<u8>,
}

impl fmt::Debug for MessageRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageRow")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("sender", &self.sender)
            .field("received_at", &self.received_at)
            .field("raw_len", &self.raw.len())
            .finish()
    }
}

/// What [`Tx::insert_message`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// The message is new and now stored.
    New,
    /// A message with this id is already stored (a redelivery, or a replay if the digest
    /// differs); nothing was written.
    Exists { digest: Vec<u8> },
}

/// A new alert; it starts `open`.
#[derive(Debug, Clone)]
pub struct NewAlert {
    /// The alert message's id.
    pub id: Uuid,
    pub sender: ParticipantId,
    pub municipality: Kommunkod,
    pub category: Category,
    pub urgency: Urgency,
    pub status: Status,
    pub planned_departure: Option<DateTime<Utc>>,
    /// The routing table version that chose the recipients.
    pub table_version: String,
    /// The escalation policy frozen at intake.
    pub policy: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub id: Uuid,
    pub sender: ParticipantId,
    pub municipality: Kommunkod,
    pub category: Category,
    pub urgency: Urgency,
    pub status: Status,
    pub planned_departure: Option<DateTime<Utc>>,
    pub table_version: String,
    pub policy: Option<serde_json::Value>,
    pub state: AlertState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The latest update or cancel message.
    pub last_message_id: Option<Uuid>,
}

/// Which alerts [`Store::alerts`] returns, newest first.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub state: Option<AlertState>,
    pub category: Option<Category>,
    pub status: Option<Status>,
    /// Only alerts created at or after this time.
    pub since: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
}

/// A new delivery of an alert to one recipient.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: Uuid,
    pub alert: Uuid,
    /// The school's message handed over: the alert itself, an update or a cancel.
    pub message: Uuid,
    /// The kind of that message.
    pub kind: Kind,
    /// The escalation policy (frozen on the alert) that gives this delivery its deadlines.
    pub policy: Option<String>,
    pub recipient: ParticipantId,
    pub role: RecipientRole,
    pub sections: Vec<SectionLabel>,
    /// Usually [`DeliveryState::Pending`].
    pub state: DeliveryState,
    pub created_at: DateTime<Utc>,
    pub receipt_due: Option<DateTime<Utc>>,
    pub ack_due: Option<DateTime<Utc>>,
}

/// A stored delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub alert: Uuid,
    /// The school's message handed over: the alert itself, an update or a cancel.
    pub message: Uuid,
    /// The kind of that message.
    pub kind: Kind,
    /// The escalation policy (frozen on the alert) that gives this delivery its deadlines.
    pub policy: Option<String>,
    pub recipient: ParticipantId,
    pub role: RecipientRole,
    pub sections: Vec<SectionLabel>,
    pub state: DeliveryState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub received_at: Option<DateTime<Utc>>,
    pub acked_at: Option<DateTime<Utc>>,
    /// The officer who acknowledged (staff, not pupil data; kept out of logs and metrics).
    pub officer: Option<String>,
    pub outcome: Option<Outcome>,
    pub receipt_due: Option<DateTime<Utc>>,
    pub ack_due: Option<DateTime<Utc>>,
    /// How many times the delivery was published (see [`Tx::note_delivery_attempt`]).
    pub attempts: u32,
}

/// A send to persist in the outbox.
#[derive(Clone)]
pub struct NewOutbox {
    pub channel: Channel,
    /// `inbox.<participant>` for AMQP, an address for email.
    pub destination: String,
    /// The bytes to publish, or the email body.
    pub payload: Vec<u8>,
    pub delivery: Option<Uuid>,
    pub alert: Option<Uuid>,
    /// Not sent before this time (usually now).
    pub not_before: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Claimed before every non-urgent row that is due (the deliveries of an `immediate`
    /// alert), so that in a flood an urgent alert does not wait behind routine traffic.
    pub urgent: bool,
}

impl NewOutbox {
    /// A message to publish on `varsel.out` with `destination` (`inbox.<id>`) as routing key,
    /// due now.
    pub fn amqp(
        destination: String,
        payload: Vec<u8>,
        delivery: Option<Uuid>,
        alert: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> NewOutbox {
        NewOutbox {
            channel: Channel::Amqp,
            destination,
            payload,
            delivery,
            alert,
            not_before: now,
            created_at: now,
            urgent: false,
        }
    }

    /// The same send, marked urgent or not (see [`NewOutbox::urgent`]).
    pub fn with_urgent(self, urgent: bool) -> NewOutbox {
        NewOutbox { urgent, ..self }
    }

    /// An email notice (the payload is the JSON of a `mailer::Notice`) to `address`, due now.
    pub fn email(
        address: String,
        payload: Vec<u8>,
        delivery: Option<Uuid>,
        alert: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> NewOutbox {
        NewOutbox {
            channel: Channel::Email,
            ..NewOutbox::amqp(address, payload, delivery, alert, now)
        }
    }
}

impl fmt::Debug for NewOutbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewOutbox")
            .field("channel", &self.channel)
            .field("destination", &self.destination)
            .field("payload_len", &self.payload.len())
            .field("delivery", &self.delivery)
            .field("alert", &self.alert)
            .field("not_before", &self.not_before)
            .finish()
    }
}

/// A stored outbox row.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub channel: Channel,
    pub destination: String,
    pub payload: Vec<u8>,
    pub delivery: Option<Uuid>,
    pub alert: Option<Uuid>,
    pub state: OutboxState,
    /// How many times the row was claimed for sending (a claim that died counts too).
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub urgent: bool,
}

impl fmt::Debug for OutboxRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxRow")
            .field("id", &self.id)
            .field("channel", &self.channel)
            .field("destination", &self.destination)
            .field("payload_len", &self.payload.len())
            .field("delivery", &self.delivery)
            .field("alert", &self.alert)
            .field("state", &self.state)
            .field("attempts", &self.attempts)
            .field("next_attempt_at", &self.next_attempt_at)
            .field("claimed_by", &self.claimed_by)
            .field("claimed_until", &self.claimed_until)
            .field("last_error", &self.last_error)
            .finish()
    }
}

/// How a claimed outbox row's send ended.
#[derive(Debug, Clone)]
pub enum OutboxOutcome {
    /// Confirmed by the broker or accepted by the mail server.
    Sent { at: DateTime<Utc> },
    /// Try again at `at`; the row stays pending.
    Retry { at: DateTime<Utc>, error: String },
    /// RabbitMQ returned it (no queue bound); the escalation policy takes over.
    Unroutable { at: DateTime<Utc>, error: String },
    /// Given up.
    Failed { at: DateTime<Utc>, error: String },
}

/// A timer to persist.
#[derive(Debug, Clone)]
pub struct NewTimer {
    pub alert: Uuid,
    pub delivery: Option<Uuid>,
    /// What to do when due (the escalation module's JSON).
    pub action: serde_json::Value,
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A stored timer.
#[derive(Debug, Clone, PartialEq)]
pub struct TimerRow {
    pub id: i64,
    pub alert: Uuid,
    pub delivery: Option<Uuid>,
    pub action: serde_json::Value,
    pub due_at: DateTime<Utc>,
    pub state: TimerState,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<DateTime<Utc>>,
    pub fired_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// An audit entry to append. `detail` holds metadata only (codes, ids, counts), never content.
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub at: DateTime<Utc>,
    /// Who did it: a participant id, `broker`, or an ops user.
    pub actor: String,
    /// What happened, as a code such as `alert.accepted`.
    pub action: String,
    pub alert: Option<Uuid>,
    pub delivery: Option<Uuid>,
    pub detail: serde_json::Value,
}

/// A stored audit entry; see [`crate::chain`] for how `hash` is computed.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub alert: Option<Uuid>,
    pub delivery: Option<Uuid>,
    pub detail: serde_json::Value,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

impl AuditRow {
    /// The fields of this entry that its hash covers.
    pub fn entry(&self) -> crate::chain::Entry<'_> {
        crate::chain::Entry {
            seq: self.seq,
            at: ms(self.at),
            actor: &self.actor,
            action: &self.action,
            alert: self.alert,
            delivery: self.delivery,
            detail: &self.detail,
        }
    }
}

/// Alerts counted by state, category and status.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AlertCount {
    pub state: AlertState,
    pub category: Category,
    pub status: Status,
    pub count: u64,
}

/// Deliveries counted by recipient and state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeliveryCount {
    pub recipient: ParticipantId,
    pub state: DeliveryState,
    pub count: u64,
}

/// Figures for metrics, taken at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stats {
    /// Sorted by (state, category, status).
    pub alerts: Vec<AlertCount>,
    /// Sorted by (recipient, state).
    pub deliveries: Vec<DeliveryCount>,
    pub outbox_pending: u64,
    /// Age of the oldest pending outbox row (since it was created), if any.
    pub outbox_oldest_pending: Option<Duration>,
    pub timers_pending: u64,
    /// Deliveries that [`Store::overdue`] would return.
    pub overdue: u64,
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

enum PoolConn {
    Sqlite(PoolConnection<Sqlite>),
    Pg(PoolConnection<Postgres>),
}

impl PoolConn {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            PoolConn::Sqlite(c) => Conn::Sqlite(c),
            PoolConn::Pg(c) => Conn::Pg(c),
        }
    }
}

/// A handle on the store. Cloning is cheap: clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// SQLite has one writer at a time, and a connection that finds the file locked sleeps and
    /// polls (up to 100 ms a try): under load a writer could wait for a long time while others
    /// kept taking the lock. This process's write transactions therefore queue here first, in
    /// the order they asked (tokio's mutex is fair), and take SQLite's lock without polling.
    /// Other processes on the same file still meet the busy timeout. Unused on PostgreSQL.
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish()
    }
}

/// `d` (deliveries) rows that are overdue at `$1` for an open alert `a`.
const OVERDUE_WHERE: &str = "a.state = 'open' AND ( \
       (d.receipt_due IS NOT NULL AND d.receipt_due <= $1 \
        AND d.state IN ('pending', 'sent', 'unroutable')) \
    OR (d.ack_due IS NOT NULL AND d.ack_due <= $1 AND d.role = 'required' \
        AND d.state IN ('pending', 'sent', 'received', 'unroutable')))";

impl Store {
    /// Opens the store at `url` (`sqlite://path/to/file.db`, created if missing, or
    /// `postgres://…`) and brings its schema up to date with the embedded migrations.
    ///
    /// A pooled connection still inside a transaction is closed instead of reused: when SQLite
    /// fails a COMMIT (disk full, read-only file) it rolls the transaction back itself, the
    /// driver's own ROLLBACK then fails, and the connection would refuse every later BEGIN.
    /// SQLite connections opened before the last failure on the file are replaced too.
    pub async fn connect(url: &str) -> Result<Store, Error> {
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|_| Error::Url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: input is acked on AMQP once committed, so a commit must survive power loss.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        Ok(!conn.is_in_transaction() && !sqlite_conn_predates_failure(meta.age))
                    })
                })
                .connect_with(options)
                .await
                .map_err(Error::Connect)?;
            SQLITE_MIGRATIONS.run(&pool).await.map_err(Error::Migrate)?;
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(|_| Error::Url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .before_acquire(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
                .connect_with(options)
                .await
                .map_err(Error::Connect)?;
            POSTGRES_MIGRATIONS
                .run(&pool)
                .await
                .map_err(Error::Migrate)?;
            Pool::Pg(pool)
        } else {
            return Err(Error::Url);
        };
        Ok(Store {
            pool,
            writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Pg(_) => Backend::Postgres,
        }
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Pg(p) => p.close().await,
        }
    }

    async fn acquire(&self) -> Result<PoolConn, Error> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => PoolConn::Sqlite(p.acquire().await?),
            Pool::Pg(p) => PoolConn::Pg(p.acquire().await?),
        })
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), Error> {
        let mut c = self.acquire().await?;
        let (one,): (i64,) = c
            .conn()
            .fetch_one(Q::new("SELECT CAST(1 AS BIGINT)"))
            .await?;
        if one == 1 {
            Ok(())
        } else {
            Err(Error::Value("the database answered a ping wrongly".into()))
        }
    }

    /// Starts a write transaction. Dropping it without [`Tx::commit`] rolls it back.
    pub async fn begin(&self) -> Result<Tx, Error> {
        let (inner, writer) = match &self.pool {
            Pool::Sqlite(p) => {
                let turn =
                    tokio::time::timeout(SQLITE_BUSY_TIMEOUT, self.writer.clone().lock_owned())
                        .await
                        .map_err(|_| Error::Conflict(sqlx::Error::PoolTimedOut))?;
                let tx = p.begin_with("BEGIN IMMEDIATE").await?;
                (TxInner::Sqlite(tx), Some(turn))
            }
            Pool::Pg(p) => (TxInner::Pg(p.begin().await?), None),
        };
        Ok(Tx {
            inner,
            audit: Vec::new(),
            savepoints: Vec::new(),
            _writer: writer,
        })
    }

    /// The digest of the stored message with this id, if any.
    pub async fn message_digest(&self, id: Uuid) -> Result<Option<Vec<u8>>, Error> {
        let mut c = self.acquire().await?;
        let row: Option<(Vec<u8>,)> = c
            .conn()
            .fetch_optional(
                Q::new("SELECT digest FROM messages WHERE id = $1").text(id.to_string()),
            )
            .await?;
        Ok(row.map(|(d,)| d))
    }

    /// The stored message with this id, if any.
    pub async fn message(&self, id: Uuid) -> Result<Option<MessageRow>, Error> {
        let mut c = self.acquire().await?;
        let q = Q::new(format!("SELECT {MESSAGE_COLS} FROM messages WHERE id = $1"))
            .text(id.to_string());
        let row: Option<RawMessage> = c.conn().fetch_optional(q).await?;
        row.map(RawMessage::into_row).transpose()
    }

    pub async fn alert(&self, id: Uuid) -> Result<Option<AlertRow>, Error> {
        let mut c = self.acquire().await?;
        let q = Q::new(format!("SELECT {ALERT_COLS} FROM alerts a WHERE a.id = $1"))
            .text(id.to_string());
        let row: Option<RawAlert> = c.conn().fetch_optional(q).await?;
        row.map(RawAlert::into_row).transpose()
    }

    /// Alerts matching `filter`, newest first.
    pub async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRow>, Error> {
        let mut q = Q::new(format!("SELECT {ALERT_COLS} FROM alerts a WHERE 1 = 1"));
        if let Some(s) = filter.state {
            q.push_sql(&format!(" AND a.state = ${}", q.next_param()));
            q = q.text(s.code());
        }
        if let Some(c) = filter.category {
            q.push_sql(&format!(" AND a.category = ${}", q.next_param()));
            q = q.text(c.code());
        }
        if let Some(s) = filter.status {
            q.push_sql(&format!(" AND a.status = ${}", q.next_param()));
            q = q.text(s.code());
        }
        if let Some(t) = filter.since {
            q.push_sql(&format!(" AND a.created_at >= ${}", q.next_param()));
            q = q.i64(ms(t));
        }
        q.push_sql(" ORDER BY a.created_at DESC, a.id DESC");
        if let Some(n) = filter.limit {
            q.push_sql(&format!(" LIMIT ${}", q.next_param()));
            q = q.i64(i64::from(n));
        }
        let mut c = self.acquire().await?;
        let rows: Vec<RawAlert> = c.conn().fetch_all(q).await?;
        convert_all(rows, RawAlert::into_row)
    }

    /// An alert's deliveries in the order they were created.
    pub async fn deliveries_of(&self, alert: Uuid) -> Result<Vec<DeliveryRow>, Error> {
        let mut c = self.acquire().await?;
        deliveries_of(&mut c.conn(), alert, false).await
    }

    pub async fn delivery(&self, id: Uuid) -> Result<Option<DeliveryRow>, Error> {
        let mut c = self.acquire().await?;
        let q = Q::new(format!(
            "SELECT {DELIVERY_COLS} FROM deliveries d WHERE d.id = $1"
        ))
        .text(id.to_string());
        let row: Option<RawDelivery> = c.conn().fetch_optional(q).await?;
        row.map(RawDelivery::into_row).transpose()
    }

    /// Deliveries of open alerts that missed a deadline at `now`: the receipt deadline passed
    /// and nothing was received (pending, sent or unroutable), or the ack deadline passed and a
    /// required recipient has not answered (pending, sent, received or unroutable). A deadline
    /// equal to `now` counts as passed. Ordered by creation.
    pub async fn overdue(&self, now: DateTime<Utc>) -> Result<Vec<DeliveryRow>, Error> {
        let q = Q::new(format!(
            "SELECT {DELIVERY_COLS} FROM deliveries d JOIN alerts a ON a.id = d.alert_id \
             WHERE {OVERDUE_WHERE} ORDER BY d.created_at, d.id"
        ))
        .i64(ms(now));
        let mut c = self.acquire().await?;
        let rows: Vec<RawDelivery> = c.conn().fetch_all(q).await?;
        convert_all(rows, RawDelivery::into_row)
    }

    /// An alert's outbox rows in the order they were enqueued.
    pub async fn outbox_of(&self, alert: Uuid) -> Result<Vec<OutboxRow>, Error> {
        let q = Q::new(format!(
            "SELECT {OUTBOX_COLS} FROM outbox WHERE alert_id = $1 ORDER BY id"
        ))
        .text(alert.to_string());
        let mut c = self.acquire().await?;
        let rows: Vec<RawOutbox> = c.conn().fetch_all(q).await?;
        convert_all(rows, RawOutbox::into_row)
    }

    /// An alert's timers in the order they were scheduled.
    pub async fn timers_of(&self, alert: Uuid) -> Result<Vec<TimerRow>, Error> {
        let q = Q::new(format!(
            "SELECT {TIMER_COLS} FROM timers WHERE alert_id = $1 ORDER BY id"
        ))
        .text(alert.to_string());
        let mut c = self.acquire().await?;
        let rows: Vec<RawTimer> = c.conn().fetch_all(q).await?;
        convert_all(rows, RawTimer::into_row)
    }

    /// Claims up to `limit` pending outbox rows that are due at `now` and not claimed by a
    /// live lease, for `owner` until `now + lease`. Each claim counts as an attempt. Urgent rows
    /// come first, then the rest; each group in due order.
    pub async fn claim_outbox(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, Error> {
        let sql = format!(
            "UPDATE outbox SET claimed_by = $1, claimed_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' \
                 AND next_attempt_at <= $3 AND (claimed_until IS NULL OR claimed_until <= $3) \
                 ORDER BY urgent DESC, next_attempt_at, id LIMIT $4{}) \
             RETURNING {OUTBOX_COLS}",
            self.skip_locked()
        );
        let q = Q::new(sql)
            .text(owner)
            .i64(until(now, lease)?)
            .i64(ms(now))
            .i64(i64::from(limit));
        let rows: Vec<RawOutbox> = self.claim(q).await?;
        let mut rows = convert_all(rows, RawOutbox::into_row)?;
        rows.sort_by_key(|r| (!r.urgent, r.next_attempt_at, r.id));
        Ok(rows)
    }

    /// Claims up to `limit` pending timers due at `now` whose lease is free or ran out, for
    /// `owner` until `now + lease`. Timers come back in due order.
    pub async fn claim_timers(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<TimerRow>, Error> {
        let sql = format!(
            "UPDATE timers SET claimed_by = $1, claimed_until = $2 \
             WHERE id IN (SELECT id FROM timers WHERE state = 'pending' AND due_at <= $3 \
                 AND (claimed_until IS NULL OR claimed_until <= $3) \
                 ORDER BY due_at, id LIMIT $4{}) \
             RETURNING {TIMER_COLS}",
            self.skip_locked()
        );
        let q = Q::new(sql)
            .text(owner)
            .i64(until(now, lease)?)
            .i64(ms(now))
            .i64(i64::from(limit));
        let rows: Vec<RawTimer> = self.claim(q).await?;
        let mut rows = convert_all(rows, RawTimer::into_row)?;
        rows.sort_by_key(|r| (r.due_at, r.id));
        Ok(rows)
    }

    fn skip_locked(&self) -> &'static str {
        match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// Runs a claiming `UPDATE … RETURNING` in its own write transaction.
    async fn claim<T>(&self, q: Q) -> Result<Vec<T>, Error>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        let mut tx = self.begin().await?;
        let rows = tx.conn().fetch_all(q).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Figures for metrics at `now`.
    pub async fn stats(&self, now: DateTime<Utc>) -> Result<Stats, Error> {
        let mut c = self.acquire().await?;
        let mut conn = c.conn();
        let alert_rows: Vec<(String, String, String, i64)> = conn
            .fetch_all(Q::new(
                "SELECT state, category, status, COUNT(*) FROM alerts \
                 GROUP BY state, category, status",
            ))
            .await?;
        let mut alerts = Vec::with_capacity(alert_rows.len());
        for (state, category, status, n) in alert_rows {
            alerts.push(AlertCount {
                state: parse_code("alerts", "state", &state)?,
                category: parse_code("alerts", "category", &category)?,
                status: parse_code("alerts", "status", &status)?,
                count: to_count(n)?,
            });
        }
        alerts.sort();
        let delivery_rows: Vec<(String, String, i64)> = conn
            .fetch_all(Q::new(
                "SELECT recipient, state, COUNT(*) FROM deliveries GROUP BY recipient, state",
            ))
            .await?;
        let mut deliveries = Vec::with_capacity(delivery_rows.len());
        for (recipient, state, n) in delivery_rows {
            deliveries.push(DeliveryCount {
                recipient: parse_code("deliveries", "recipient", &recipient)?,
                state: parse_code("deliveries", "state", &state)?,
                count: to_count(n)?,
            });
        }
        deliveries.sort();
        let (outbox_pending, oldest): (i64, Option<i64>) = conn
            .fetch_one(Q::new(
                "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE state = 'pending'",
            ))
            .await?;
        let outbox_oldest_pending = oldest
            .map(|t| Duration::from_millis(u64::try_from(ms(now).saturating_sub(t)).unwrap_or(0)));
        let (timers_pending,): (i64,) = conn
            .fetch_one(Q::new(
                "SELECT COUNT(*) FROM timers WHERE state = 'pending'",
            ))
            .await?;
        let (overdue,): (i64,) = conn
            .fetch_one(
                Q::new(format!(
                    "SELECT COUNT(*) FROM deliveries d JOIN alerts a ON a.id = d.alert_id \
                     WHERE {OVERDUE_WHERE}"
                ))
                .i64(ms(now)),
            )
            .await?;
        Ok(Stats {
            alerts,
            deliveries,
            outbox_pending: to_count(outbox_pending)?,
            outbox_oldest_pending,
            timers_pending: to_count(timers_pending)?,
            overdue: to_count(overdue)?,
        })
    }

    /// Audit entries ordered by seq: the whole chain, or only those naming `alert`.
    pub async fn audit_entries(&self, alert: Option<Uuid>) -> Result<Vec<AuditRow>, Error> {
        let q = match alert {
            None => Q::new(format!("SELECT {AUDIT_COLS} FROM audit ORDER BY seq")),
            Some(a) => Q::new(format!(
                "SELECT {AUDIT_COLS} FROM audit WHERE alert_id = $1 ORDER BY seq"
            ))
            .text(a.to_string()),
        };
        let mut c = self.acquire().await?;
        let rows: Vec<RawAudit> = c.conn().fetch_all(q).await?;
        convert_all(rows, RawAudit::into_row)
    }

    /// The last audit entry's seq and hash, if the log is not empty.
    pub async fn audit_head(&self) -> Result<Option<(i64, Vec<u8>)>, Error> {
        let mut c = self.acquire().await?;
        Ok(c.conn()
            .fetch_optional(Q::new(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            ))
            .await?)
    }
}

fn until(now: DateTime<Utc>, lease: Duration) -> Result<i64, Error> {
    let lease =
        i64::try_from(lease.as_millis()).map_err(|_| Error::Value("lease too long".into()))?;
    ms(now)
        .checked_add(lease)
        .ok_or_else(|| Error::Value("lease too long".into()))
}

fn to_count(n: i64) -> Result<u64, Error> {
    u64::try_from(n).map_err(|_| Error::Value("negative count".into()))
}

fn parse_code<T: FromStr<Err = varsel_protocol::message::InvalidValue>>(
    table: &'static str,
    column: &'static str,
    v: &str,
) -> Result<T, Error> {
    v.parse()
        .map_err(|e: varsel_protocol::message::InvalidValue| Error::Corrupt {
            table,
            column,
            why: e.why,
        })
}

fn json_text(v: &serde_json::Value) -> Result<String, Error> {
    serde_json::to_string(v).map_err(|e| Error::Value(format!("cannot encode JSON: {e}")))
}

async fn deliveries_of(
    conn: &mut Conn<'_>,
    alert: Uuid,
    for_update: bool,
) -> Result<Vec<DeliveryRow>, Error> {
    let lock = if for_update && matches!(conn, Conn::Pg(_)) {
        " FOR UPDATE"
    } else {
        ""
    };
    let q = Q::new(format!(
        "SELECT {DELIVERY_COLS} FROM deliveries d WHERE d.alert_id = $1 \
         ORDER BY d.created_at, d.id{lock}"
    ))
    .text(alert.to_string());
    let rows: Vec<RawDelivery> = conn.fetch_all(q).await?;
    convert_all(rows, RawDelivery::into_row)
}

enum TxInner {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Pg(sqlx::Transaction<'static, Postgres>),
}

/// One write transaction. Dropping it without [`Tx::commit`] rolls everything back, audit
/// entries included.
pub struct Tx {
    inner: TxInner,
    /// Entries waiting to be chained at commit, so the chain lock is held only at the very end
    /// of the transaction (short, and never while waiting for row locks).
    audit: Vec<(NewAudit, String)>,
    /// For each open savepoint (innermost last), how many audit entries were buffered when it
    /// was set, so rolling back to it drops the entries added since.
    savepoints: Vec<usize>,
    /// This process's turn to write (SQLite); given up after the transaction ends. Declared
    /// after `inner` so that it is dropped after it.
    _writer: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl fmt::Debug for Tx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tx")
            .field("pending_audit", &self.audit.len())
            .finish()
    }
}

impl Tx {
    fn conn(&mut self) -> Conn<'_> {
        match &mut self.inner {
            TxInner::Sqlite(t) => Conn::Sqlite(t),
            TxInner::Pg(t) => Conn::Pg(t),
        }
    }

    fn is_pg(&self) -> bool {
        matches!(self.inner, TxInner::Pg(_))
    }

    /// Stores a message unless its id is already there; then reports the stored digest and
    /// writes nothing (the transaction stays usable).
    pub async fn insert_message(&mut self, m: &NewMessage) -> Result<Inserted, Error> {
        let q = Q::new(
            "INSERT INTO messages (id, kind, sender, digest, received_at, raw) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .text(m.id.to_string())
        .text(m.kind.code())
        .text(m.sender.as_str())
        .bytes(digest(&m.raw))
        .i64(ms(m.received_at))
        .bytes(m.raw.clone());
        if self.conn().execute(q).await? == 1 {
            return Ok(Inserted::New);
        }
        let (digest,): (Vec<u8>,) = self
            .conn()
            .fetch_one(Q::new("SELECT digest FROM messages WHERE id = $1").text(m.id.to_string()))
            .await?;
        Ok(Inserted::Exists { digest })
    }

    /// Stores a new alert in state `open`.
    pub async fn insert_alert(&mut self, a: &NewAlert) -> Result<(), Error> {
        let policy = a.policy.as_ref().map(json_text).transpose()?;
        let q = Q::new(
            "INSERT INTO alerts (id, sender, municipality, category, urgency, status, \
             planned_departure, table_version, policy, state, created_at, updated_at, \
             last_message_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10, $10, NULL)",
        )
        .text(a.id.to_string())
        .text(a.sender.as_str())
        .text(a.municipality.as_str())
        .text(a.category.code())
        .text(a.urgency.code())
        .text(a.status.code())
        .opt_i64(a.planned_departure.map(ms))
        .text(a.table_version.clone())
        .opt_text(policy)
        .i64(ms(a.created_at));
        self.conn().execute(q).await?;
        Ok(())
    }

    /// Moves an alert to `to` if it is in one of the `from` states (codes of [`AlertState`]);
    /// true if it moved.
    pub async fn set_alert_state<S: AsRef<str>>(
        &mut self,
        id: Uuid,
        from: &[S],
        to: impl AsRef<str>,
        at: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let to = alert_state(to.as_ref())?;
        if from.is_empty() {
            return Ok(false);
        }
        let mut q = Q::new(format!(
            "UPDATE alerts SET state = $1, updated_at = $2 WHERE id = $3 AND state IN ({})",
            placeholders(4, from.len())
        ))
        .text(to.code())
        .i64(ms(at))
        .text(id.to_string());
        for f in from {
            q = q.text(alert_state(f.as_ref())?.code());
        }
        Ok(self.conn().execute(q).await? == 1)
    }

    /// Records an update or cancel on an alert. A `planned_departure` of `None` keeps the
    /// known one (an update that does not mention it does not erase it).
    pub async fn touch_alert(
        &mut self,
        id: Uuid,
        last_message_id: Uuid,
        planned_departure: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        let q = Q::new(
            "UPDATE alerts SET last_message_id = $1, \
             planned_departure = COALESCE($2, planned_departure), updated_at = $3 WHERE id = $4",
        )
        .text(last_message_id.to_string())
        .opt_i64(planned_departure.map(ms))
        .i64(ms(at))
        .text(id.to_string());
        self.conn().execute(q).await?;
        Ok(())
    }

    pub async fn insert_delivery(&mut self, d: &NewDelivery) -> Result<(), Error> {
        let sections = serde_json::to_string(&d.sections)
            .map_err(|e| Error::Value(format!("cannot encode sections: {e}")))?;
        let q = Q::new(
            "INSERT INTO deliveries (id, alert_id, message_id, kind, policy, recipient, role, \
             sections, state, created_at, updated_at, receipt_due, ack_due, attempts) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, 0)",
        )
        .text(d.id.to_string())
        .text(d.alert.to_string())
        .text(d.message.to_string())
        .text(d.kind.code())
        .opt_text(d.policy.clone())
        .text(d.recipient.as_str())
        .text(d.role.code())
        .text(sections)
        .text(d.state.code())
        .i64(ms(d.created_at))
        .opt_i64(d.receipt_due.map(ms))
        .opt_i64(d.ack_due.map(ms));
        self.conn().execute(q).await?;
        Ok(())
    }

    /// Moves a delivery to `to` if it is in one of the `from` states; true if it moved.
    /// Conditional, so a duplicate or late message (a receipt after the ack) changes nothing,
    /// and of two racing transitions exactly one applies.
    ///
    /// Sets `sent_at` for `sent`, `received_at` for `received`, and `acked_at` for
    /// `acknowledged` and `declined` (which also fill `received_at` if it was empty: an
    /// answer proves arrival). `officer` and `outcome` are written when given.
    pub async fn transition_delivery(
        &mut self,
        id: Uuid,
        from: &[DeliveryState],
        to: DeliveryState,
        at: DateTime<Utc>,
        officer: Option<&str>,
        outcome: Option<Outcome>,
    ) -> Result<bool, Error> {
        if from.is_empty() {
            return Ok(false);
        }
        let stamp = match to {
            DeliveryState::Sent => ", sent_at = $2",
            DeliveryState::Received => ", received_at = $2",
            DeliveryState::Acknowledged | DeliveryState::Declined => {
                ", acked_at = $2, received_at = COALESCE(received_at, $2)"
            }
            _ => "",
        };
        let mut q = Q::new(format!(
            "UPDATE deliveries SET state = $1, updated_at = $2{stamp}, \
             officer = COALESCE($3, officer), outcome = COALESCE($4, outcome) \
             WHERE id = $5 AND state IN ({})",
            placeholders(6, from.len())
        ))
        .text(to.code())
        .i64(ms(at))
        .opt_text(officer.map(str::to_owned))
        .opt_text(outcome.map(|o| o.code().to_owned()))
        .text(id.to_string());
        for f in from {
            q = q.text(f.code());
        }
        Ok(self.conn().execute(q).await? == 1)
    }

    /// Counts one more publication of a delivery (a first send or a redelivery).
    pub async fn note_delivery_attempt(
        &mut self,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let q =
            Q::new("UPDATE deliveries SET attempts = attempts + 1, updated_at = $1 WHERE id = $2")
                .i64(ms(at))
                .text(id.to_string());
        Ok(self.conn().execute(q).await? == 1)
    }

    /// Sets (or clears) a delivery's receipt and ack deadlines.
    pub async fn set_deadlines(
        &mut self,
        id: Uuid,
        receipt_due: Option<DateTime<Utc>>,
        ack_due: Option<DateTime<Utc>>,
    ) -> Result<(), Error> {
        let q = Q::new("UPDATE deliveries SET receipt_due = $1, ack_due = $2 WHERE id = $3")
            .opt_i64(receipt_due.map(ms))
            .opt_i64(ack_due.map(ms))
            .text(id.to_string());
        self.conn().execute(q).await?;
        Ok(())
    }

    /// Reads a delivery and, on PostgreSQL, locks it until the transaction ends (SQLite's
    /// write transaction already excludes other writers).
    pub async fn delivery_for_update(&mut self, id: Uuid) -> Result<Option<DeliveryRow>, Error> {
        let lock = if self.is_pg() { " FOR UPDATE" } else { "" };
        let q = Q::new(format!(
            "SELECT {DELIVERY_COLS} FROM deliveries d WHERE d.id = $1{lock}"
        ))
        .text(id.to_string());
        let row: Option<RawDelivery> = self.conn().fetch_optional(q).await?;
        row.map(RawDelivery::into_row).transpose()
    }

    /// An alert's deliveries as this transaction sees them, locked on PostgreSQL.
    pub async fn deliveries_of(&mut self, alert: Uuid) -> Result<Vec<DeliveryRow>, Error> {
        deliveries_of(&mut self.conn(), alert, true).await
    }

    /// The alert as this transaction sees it, locked on PostgreSQL.
    pub async fn alert_for_update(&mut self, id: Uuid) -> Result<Option<AlertRow>, Error> {
        let lock = if self.is_pg() { " FOR UPDATE" } else { "" };
        let q = Q::new(format!(
            "SELECT {ALERT_COLS} FROM alerts a WHERE a.id = $1{lock}"
        ))
        .text(id.to_string());
        let row: Option<RawAlert> = self.conn().fetch_optional(q).await?;
        row.map(RawAlert::into_row).transpose()
    }

    /// The last message published to a delivery's recipient over AMQP, as this transaction sees
    /// it: what a redelivery step publishes again.
    pub async fn last_publication(&mut self, delivery: Uuid) -> Result<Option<OutboxRow>, Error> {
        let q = Q::new(format!(
            "SELECT {OUTBOX_COLS} FROM outbox WHERE delivery_id = $1 AND channel = $2 \
             ORDER BY id DESC LIMIT 1"
        ))
        .text(delivery.to_string())
        .text(Channel::Amqp.code());
        let row: Option<RawOutbox> = self.conn().fetch_optional(q).await?;
        row.map(RawOutbox::into_row).transpose()
    }

    /// Persists a send; returns the outbox row id.
    pub async fn enqueue(&mut self, o: &NewOutbox) -> Result<i64, Error> {
        let q = Q::new(
            "INSERT INTO outbox (channel, destination, payload, delivery_id, alert_id, state, \
             attempts, next_attempt_at, created_at, urgent) \
             VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $8) RETURNING id",
        )
        .text(o.channel.code())
        .text(o.destination.clone())
        .bytes(o.payload.clone())
        .opt_text(o.delivery.map(|d| d.to_string()))
        .opt_text(o.alert.map(|a| a.to_string()))
        .i64(ms(o.not_before))
        .i64(ms(o.created_at))
        .i64(i64::from(o.urgent));
        let (id,): (i64,) = self.conn().fetch_one(q).await?;
        Ok(id)
    }

    /// Records how a claimed send ended, only if `owner` still holds the claim (nobody took it
    /// over after the lease ran out); true if recorded. The claim is released.
    pub async fn finish_outbox(
        &mut self,
        id: i64,
        owner: &str,
        outcome: OutboxOutcome,
    ) -> Result<bool, Error> {
        // $1 state, $2 error, $3 id, $4 owner, then the time column the outcome sets.
        let (state, error, time) = match outcome {
            OutboxOutcome::Sent { at } => (OutboxState::Sent, None, Some(("sent_at", at))),
            OutboxOutcome::Retry { at, error } => (
                OutboxState::Pending,
                Some(error),
                Some(("next_attempt_at", at)),
            ),
            // The failure time is kept in the audit log; the row keeps when it was last due.
            OutboxOutcome::Unroutable { error, .. } => (OutboxState::Unroutable, Some(error), None),
            OutboxOutcome::Failed { error, .. } => (OutboxState::Failed, Some(error), None),
        };
        let set_time = time
            .map(|(col, _)| format!(", {col} = $5"))
            .unwrap_or_default();
        let mut q = Q::new(format!(
            "UPDATE outbox SET state = $1, last_error = COALESCE($2, last_error), \
             claimed_by = NULL, claimed_until = NULL{set_time} \
             WHERE id = $3 AND claimed_by = $4 AND state = 'pending'"
        ))
        .text(state.code())
        .opt_text(error)
        .i64(id)
        .text(owner);
        if let Some((_, at)) = time {
            q = q.i64(ms(at));
        }
        Ok(self.conn().execute(q).await? == 1)
    }

    /// Persists a timer; returns its id.
    pub async fn schedule(&mut self, t: &NewTimer) -> Result<i64, Error> {
        let q = Q::new(
            "INSERT INTO timers (alert_id, delivery_id, action, due_at, state, created_at) \
             VALUES ($1, $2, $3, $4, 'pending', $5) RETURNING id",
        )
        .text(t.alert.to_string())
        .opt_text(t.delivery.map(|d| d.to_string()))
        .text(json_text(&t.action)?)
        .i64(ms(t.due_at))
        .i64(ms(t.created_at));
        let (id,): (i64,) = self.conn().fetch_one(q).await?;
        Ok(id)
    }

    /// Cancels an alert's pending timers (only those of one delivery if given); returns how
    /// many.
    pub async fn cancel_timers(
        &mut self,
        alert: Uuid,
        delivery: Option<Uuid>,
    ) -> Result<u64, Error> {
        let q = match delivery {
            None => Q::new(
                "UPDATE timers SET state = 'cancelled' WHERE alert_id = $1 AND state = 'pending'",
            )
            .text(alert.to_string()),
            Some(d) => Q::new(
                "UPDATE timers SET state = 'cancelled' \
                 WHERE alert_id = $1 AND delivery_id = $2 AND state = 'pending'",
            )
            .text(alert.to_string())
            .text(d.to_string()),
        };
        Ok(self.conn().execute(q).await?)
    }

    /// Marks a claimed timer fired, only if it is still pending and claimed by `owner`; false
    /// if it was cancelled or someone else took it over.
    pub async fn finish_timer(
        &mut self,
        id: i64,
        owner: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let q = Q::new(
            "UPDATE timers SET state = 'fired', fired_at = $1, claimed_until = NULL \
             WHERE id = $2 AND claimed_by = $3 AND state = 'pending'",
        )
        .i64(ms(at))
        .i64(id)
        .text(owner);
        Ok(self.conn().execute(q).await? == 1)
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

    /// The digest of the message with this id as this transaction sees it (its own inserts
    /// included), if any.
    pub async fn message_digest(&mut self, id: Uuid) -> Result<Option<Vec<u8>>, Error> {
        let row: Option<(Vec<u8>,)> = self
            .conn()
            .fetch_optional(
                Q::new("SELECT digest FROM messages WHERE id = $1").text(id.to_string()),
            )
            .await?;
        Ok(row.map(|(d,)| d))
    }

    /// Chains the pending audit entries under the chain lock.
    async fn append_audit(&mut self) -> Result<(), Error> {
        if self.audit.is_empty() {
            return Ok(());
        }
        let entries = std::mem::take(&mut self.audit);
        let mut conn = self.conn();
        if matches!(conn, Conn::Pg(_)) {
            conn.execute(Q::new("SELECT pg_advisory_xact_lock($1)").i64(AUDIT_LOCK_KEY))
                .await?;
        }
        let tail: Option<(i64, Vec<u8>)> = conn
            .fetch_optional(Q::new(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            ))
            .await?;
        let (mut seq, mut prev) = tail.unwrap_or((0, crate::chain::GENESIS.to_vec()));
        for (e, detail) in entries {
            seq += 1;
            let at = ms(e.at);
            let hash = crate::chain::entry_hash(
                &prev,
                &crate::chain::Entry {
                    seq,
                    at,
                    actor: &e.actor,
                    action: &e.action,
                    alert: e.alert,
                    delivery: e.delivery,
                    detail: &e.detail,
                },
            );
            let q = Q::new(
                "INSERT INTO audit (seq, at, actor, action, alert_id, delivery_id, detail, \
                 prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .i64(seq)
            .i64(at)
            .text(e.actor)
            .text(e.action)
            .opt_text(e.alert.map(|a| a.to_string()))
            .opt_text(e.delivery.map(|d| d.to_string()))
            .text(detail)
            .bytes(prev)
            .bytes(hash.to_vec());
            conn.execute(q).await?;
            prev = hash.to_vec();
        }
        Ok(())
    }

    /// Makes everything in the transaction durable at once, audit entries last.
    pub async fn commit(mut self) -> Result<(), Error> {
        self.append_audit().await?;
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await?,
            TxInner::Pg(t) => t.commit().await?,
        }
        Ok(())
    }

    /// Abandons the transaction (the same as dropping it, but waits for the rollback).
    pub async fn rollback(self) -> Result<(), Error> {
        match self.inner {
            TxInner::Sqlite(t) => t.rollback().await?,
            TxInner::Pg(t) => t.rollback().await?,
        }
        Ok(())
    }
}

fn alert_state(code: &str) -> Result<AlertState, Error> {
    code.parse().map_err(|_| Error::Code {
        what: "alert state",
        code: code.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256() {
        let d = digest(b"abc");
        assert_eq!(d.len(), 32);
        assert_eq!(d[..4], [0xba, 0x78, 0x16, 0xbf]);
    }

    #[test]
    fn alert_states_parse_from_codes_only() {
        assert_eq!(alert_state("open").ok(), Some(AlertState::Open));
        assert!(matches!(alert_state("closed"), Err(Error::Code { .. })));
    }

    #[test]
    fn leases_add_milliseconds() {
        let now = DateTime::from_timestamp_millis(1_000).unwrap();
        assert_eq!(until(now, Duration::from_secs(2)).unwrap(), 3_000);
        assert!(until(now, Duration::from_secs(u64::MAX)).is_err());
    }

    #[tokio::test]
    async fn unknown_url_schemes_are_refused() {
        assert!(matches!(
            Store::connect("mysql://x/y").await,
            Err(Error::Url)
        ));
    }
}
