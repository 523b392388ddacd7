//! All SQL lives here. Everything else sees typed functions over domain values.

mod alert_rows;
mod alert_views;
mod alert_votes;
pub mod alerts;
mod checkins;
mod dashboard;
mod deploy_writer;
mod deploys;
mod dora;
mod feedback;
mod health;
pub mod ids;
mod incident_figures;
mod incident_review;
mod incident_views;
mod incidents;
mod leases;
mod maintenance;
mod outbox;
mod refusals;
mod retention;
mod rollbacks;
mod rollups;
mod shown;
mod spans;
mod subscriptions;
mod summaries;
mod summary_figures;
mod trend;
mod visibility;
mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use checkins::{CheckinRun, LinkOutcome};
pub use deploys::DeployRecorded;
pub use feedback::{MessageRelease, NewFeedback};
pub use incident_review::{CloseOutcome, Declared, Person, ResolveOutcome};
pub use incident_views::{FollowupView, IncidentCard, IncidentDetail, RetroView, ThreadStart};
pub use leases::LeaseRow;
pub use maintenance::{OutboxStats, PRUNED_BODY};
pub use outbox::{DeadLetter, Delivery, DeliverySubject, Retry, Subject, SubjectKind};
pub use retention::{pruned_tables, Pruned, TablePruned};
pub use rollbacks::{RollbackOutcome, RolledBackBy};
pub use subscriptions::SubscriptionChange;
pub use summary_figures::{ReadFrom, Scope};
pub use webhooks::CommitLookup;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What went wrong talking to the database, split by what a caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot take writes right now (locked past the busy timeout, read-only, disk full).
    /// Retrying later can help; nothing was half-written.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Other(sqlx::Error),
    /// A stored value the code cannot read (an unknown state, a malformed time): a bug or a
    /// hand-edited database, never papered over with a default.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            // SQLite primary result codes: 5 BUSY, 6 LOCKED, 8 READONLY, 10 IOERR, 13 FULL.
            let primary = db
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .map(|c| c & 0xff);
            if matches!(primary, Some(5 | 6 | 8 | 10 | 13)) {
                return StoreError::Unavailable(db.message().to_owned());
            }
        }
        if matches!(err, sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) {
            return StoreError::Unavailable(err.to_string());
        }
        StoreError::Other(err)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Copies the write-ahead log back into the database every half second, on a reader connection
/// (a passive checkpoint waits for no one and blocks no one), so that the writer's commits only
/// append to the log: left to the writer, every thousandth page made one commit copy and fsync
/// them all while ingestion waited.
fn spawn_checkpointer(pool: SqlitePool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !pool.is_closed() {
            tick.tick().await;
            if let Err(error) = sqlx::query("pragma wal_checkpoint(passive)")
                .execute(&pool)
                .await
            {
                tracing::debug!(%error, "checkpoint failed; retrying");
            }
        }
    });
}

fn pool_options(connections: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(10))
        // No ping on every acquire (a round trip to SQLite's thread for a local file that cannot go
        // away like a server); a broken connection is dropped on release below.
        .test_before_acquire(false)
        // A write that fails with SQLITE_FULL or an I/O error makes SQLite roll the transaction
        // back by itself; sqlx's own rollback then fails and the connection stays "in a
        // transaction", refusing every later BEGIN (a 500 forever, even once space returns).
        // Flush the pending rollback and drop a connection left in that state. (Only a connection
        // that still looks in a transaction needs the round trip: this runs on every release.)
        .after_release(|conn, _| {
            Box::pin(async move {
                use sqlx::Connection;
                if conn.is_in_transaction() {
                    conn.ping().await?;
                }
                Ok(!conn.is_in_transaction())
            })
        })
}

/// The process's writers queue for one dedicated connection (a pool of one, which hands it out in
/// order) instead of meeting on SQLite's lock, whose busy handler sleeps in steps of up to 100 ms:
/// under load that made ingestion wait hundreds of milliseconds behind a check-in run that took a
/// few. One connection also keeps its page cache: SQLite drops a connection's cache whenever another
/// connection has written, so writes spread over the pool re-read their pages from disk each time.
#[derive(Clone, Debug)]
pub(crate) struct WriteGate(SqlitePool);

/// A write transaction on the writer connection; the next writer's turn comes when it ends.
pub(crate) type WriteTx = sqlx::Transaction<'static, sqlx::Sqlite>;

impl WriteGate {
    async fn begin(&self) -> Result<WriteTx> {
        Ok(self.0.begin_with("begin immediate").await?)
    }

    /// The writer connection itself, for a writer that runs several transactions in one turn.
    async fn acquire(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>> {
        Ok(self.0.acquire().await?)
    }
}

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    /// For reads (and the few single-statement writes outside transactions).
    pool: SqlitePool,
    /// Every write transaction of this process (see [`WriteGate`]).
    write_gate: WriteGate,
    /// Group commit for deploy events (see `Store::record_deploy`).
    deploy_writer: tokio::sync::mpsc::Sender<deploy_writer::DeployJob>,
    /// Set once the alert and check-in tables are known to exist (`optional_tables`): tables are
    /// never dropped, so the summaries stop asking the schema on every figure set.
    optional_tables_seen: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Store {
    /// Opens (creating if missing) the SQLite database at `url` with WAL, foreign keys and a busy
    /// timeout. Does not migrate: call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode: a commit survives a process crash; only an OS crash may lose the last ones.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // Each reader keeps what a summary reads (a period of the deploy index, the rollups) in
        // its own page cache, 16 MiB at most, and sorts in memory: with SQLite's 2 MiB default the
        // pages of one summary evicted each other and every run read them again from the file.
        let pool = pool_options(4)
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", "-16384")
                    .pragma("temp_store", "memory"),
            )
            .await?;
        // The writer keeps the pages it writes most (index tails) cached: 16 MiB at most.
        let writer = pool_options(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(
                options
                    .pragma("cache_size", "-16384")
                    .pragma("wal_autocheckpoint", "0")
                    .pragma("temp_store", "memory"),
            )
            .await?;
        spawn_checkpointer(pool.clone());
        Self::from_pools(pool, writer)
    }

    /// A store reading from `pool` and writing through `writer`, with its deploy writer started.
    fn from_pools(pool: SqlitePool, writer: SqlitePool) -> Result<Self> {
        let write_gate = WriteGate(writer);
        let deploy_writer = deploy_writer::spawn_deploy_writer(write_gate.clone())
            .map_err(|error| StoreError::Other(sqlx::Error::Io(error)))?;
        Ok(Self {
            pool,
            write_gate,
            deploy_writer,
            optional_tables_seen: Default::default(),
        })
    }

    /// A migrated store in a fresh temporary directory, for unit tests; it lasts as long as the
    /// directory guard.
    #[cfg(test)]
    pub(crate) async fn temporary() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::connect(&url).await.expect("temporary store");
        store.migrate().await.expect("migrations");
        (store, dir)
    }

    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// The database answers a query.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Starts a write transaction that holds SQLite's write lock from its first statement, so it
    /// waits instead of failing when another writer commits in between.
    async fn begin_write(&self) -> Result<WriteTx> {
        self.write_gate.begin().await
    }

    /// The raw pool, for tests and benchmarks that inspect rows directly.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}
