//! All SQL lives here. Everything else sees typed functions over domain values.

pub mod alerts;
mod checkins;
mod deploys;
mod digests;
pub mod ids;
mod maintenance;
mod outbox;
mod subscriptions;
mod summaries;
mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use checkins::{CheckinRun, MessageRelease, NewFeedback};
pub use deploys::{DeployRecorded, Subject};
pub use maintenance::{OutboxStats, Pruned, PRUNED_BODY};
pub use outbox::{Delivery, DeliverySubject};
pub use subscriptions::SubscriptionChange;
pub use summaries::Scope;
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

/// How long a writer waits for the others of this process before giving up (as SQLite's busy timeout).
const WRITE_WAIT: Duration = Duration::from_secs(5);

/// The process's writers queue here, in order, before `begin immediate`. Without it they meet on
/// SQLite's lock, whose busy handler sleeps in steps of up to 100 ms: under load that made
/// ingestion wait hundreds of milliseconds behind a check-in run that took a few.
#[derive(Clone, Debug, Default)]
pub(crate) struct WriteGate(std::sync::Arc<tokio::sync::Mutex<()>>);

impl WriteGate {
    async fn begin(&self, pool: &SqlitePool) -> Result<WriteTx> {
        let turn = tokio::time::timeout(WRITE_WAIT, self.0.clone().lock_owned())
            .await
            .map_err(|_| StoreError::Unavailable("timed out waiting for other writers".into()))?;
        Ok(WriteTx {
            tx: pool.begin_with("begin immediate").await?,
            _turn: turn,
        })
    }
}

/// A write transaction holding this process's turn to write until it commits or is dropped.
pub(crate) struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl WriteTx {
    pub async fn commit(self) -> Result<()> {
        Ok(self.tx.commit().await?)
    }

    pub async fn rollback(self) -> Result<()> {
        Ok(self.tx.rollback().await?)
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::SqliteConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// Taken by every write transaction of this process before SQLite's own lock (see [`WriteGate`]).
    write_gate: WriteGate,
    /// Group commit for deploy events (see `Store::record_deploy`).
    deploy_writer: tokio::sync::mpsc::Sender<deploys::DeployJob>,
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
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            // A write that fails with SQLITE_FULL or an I/O error makes SQLite roll the transaction
            // back by itself; sqlx's own rollback then fails and the connection stays "in a
            // transaction", refusing every later BEGIN (a 500 forever, even once space returns).
            // Flush the pending rollback and drop a connection left in that state.
            .after_release(|conn, _| {
                Box::pin(async move {
                    use sqlx::Connection;
                    conn.ping().await?;
                    Ok(!conn.is_in_transaction())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self::from_pool(pool))
    }

    /// A store over `pool`, with its deploy writer started.
    fn from_pool(pool: SqlitePool) -> Self {
        let write_gate = WriteGate::default();
        let deploy_writer = deploys::spawn_deploy_writer(pool.clone(), write_gate.clone());
        Self {
            pool,
            write_gate,
            deploy_writer,
        }
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
        self.write_gate.begin(&self.pool).await
    }

    /// The raw pool, for tests and benchmarks that inspect rows directly.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}
