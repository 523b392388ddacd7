//! All SQL lives here. Everything else sees typed functions over domain values.

mod alert_rows;
mod alert_views;
mod alert_votes;
pub mod alerts;
mod backend;
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

use sqlx::AnyPool;

pub use backend::{numbered, Backend};
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
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

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
            if backend::unavailable(db.as_ref()) {
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

/// The process's writers queue for one dedicated connection (a pool of one, which hands it out in
/// order) instead of meeting on SQLite's lock, whose busy handler sleeps in steps of up to 100 ms:
/// under load that made ingestion wait hundreds of milliseconds behind a check-in run that took a
/// few. One connection also keeps its page cache: SQLite drops a connection's cache whenever another
/// connection has written, so writes spread over the pool re-read their pages from disk each time.
#[derive(Clone, Debug)]
pub(crate) struct WriteGate {
    pool: AnyPool,
    backend: Backend,
}

/// A write transaction on the writer connection; the next writer's turn comes when it ends.
pub(crate) type WriteTx = sqlx::Transaction<'static, sqlx::Any>;

impl WriteGate {
    async fn begin(&self) -> Result<WriteTx> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("begin immediate").await?,
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query(backend::POSTGRES_WRITE_LOCK)
                    .execute(&mut *tx)
                    .await?;
                tx
            }
        })
    }

    /// The writer connection itself, for a writer that runs several transactions in one turn.
    async fn acquire(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.pool.acquire().await?)
    }
}

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    /// For reads (and the few single-statement writes outside transactions).
    pool: AnyPool,
    backend: Backend,
    /// Every write transaction of this process (see [`WriteGate`]).
    write_gate: WriteGate,
    /// Group commit for deploy events (see `Store::record_deploy`).
    deploy_writer: tokio::sync::mpsc::Sender<deploy_writer::DeployJob>,
    /// Set once the alert and check-in tables are known to exist (`optional_tables`): tables are
    /// never dropped, so the summaries stop asking the schema on every figure set.
    optional_tables_seen: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Store {
    /// Opens the database at `url`: SQLite (created if missing, WAL, foreign keys, a busy
    /// timeout) or PostgreSQL. Does not migrate: call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Self> {
        match Backend::of_url(url) {
            Some(Backend::Sqlite) => {
                let (pool, writer) = backend::open_sqlite(url).await?;
                Self::from_pools(Backend::Sqlite, pool, writer)
            }
            Some(Backend::Postgres) => {
                let pool = backend::open_postgres(url).await?;
                Self::from_pools(Backend::Postgres, pool.clone(), pool)
            }
            None => Err(StoreError::Unavailable(
                "DATABASE_URL must start with sqlite:// or postgres://".into(),
            )),
        }
    }

    /// A store reading from `pool` and writing through `writer`, with its deploy writer started.
    fn from_pools(backend: Backend, pool: AnyPool, writer: AnyPool) -> Result<Self> {
        let write_gate = WriteGate {
            pool: writer,
            backend,
        };
        let deploy_writer = deploy_writer::spawn_deploy_writer(write_gate.clone())
            .map_err(|error| StoreError::Other(sqlx::Error::Io(error)))?;
        Ok(Self {
            pool,
            backend,
            write_gate,
            deploy_writer,
            optional_tables_seen: Default::default(),
        })
    }

    /// The engine this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
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
        match self.backend {
            Backend::Sqlite => MIGRATOR.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATOR.run(&self.pool).await?,
        }
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
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}
