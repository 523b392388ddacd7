//! Operating the database: backups, the WAL checkpoint at shutdown, and the numbers
//! `/metrics` reports about the store.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::ids::try_time_from_db;
use super::{Result, Store, StoreError};

/// The outbox as `/metrics` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: i64,
    /// When the oldest pending row was queued.
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// The body an inbound event kept past the window keeps (retention): valid JSON saying what happened.
pub const PRUNED_BODY: &str = r#"{"pruned":true}"#;

impl Store {
    /// Opens a backup file read-only, leaving it byte for byte as it is (no WAL switch, no
    /// migration), to check it or copy it.
    pub async fn open_backup(path: &Path) -> Result<Self> {
        let pool = super::backend::open_sqlite_read_only(path).await?;
        Self::from_pools(super::Backend::Sqlite, pool.clone(), pool)
    }

    /// Writes a consistent copy of the database to `path` (`VACUUM INTO`): safe while the bot
    /// runs and writes, since it reads one snapshot. Refuses to overwrite an existing file.
    pub async fn backup_into(&self, path: &Path) -> Result<()> {
        if path.exists() {
            return Err(StoreError::Unavailable(format!(
                "{} already exists; choose a new file",
                path.display()
            )));
        }
        let target = path.to_str().ok_or_else(|| {
            StoreError::Unavailable(format!("{} is not a UTF-8 path", path.display()))
        })?;
        sqlx::query("vacuum into $1")
            .bind(target)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// `pragma integrity_check` says "ok", and the schema is loopbot's.
    pub async fn verify(&self) -> Result<()> {
        let answer: String = sqlx::query_scalar("pragma integrity_check")
            .fetch_one(self.pool())
            .await?;
        if answer != "ok" {
            return Err(StoreError::Unavailable(format!(
                "integrity check failed: {answer}"
            )));
        }
        let tables: i64 = sqlx::query_scalar(
            "select count(*) from sqlite_master where type = 'table' and name in ('_sqlx_migrations', 'outbox', 'deploy')",
        )
        .fetch_one(self.pool())
        .await?;
        if tables != 3 {
            return Err(StoreError::Unavailable(
                "not a loopbot database (tables missing)".into(),
            ));
        }
        Ok(())
    }

    /// Moves the WAL into the main file and closes every connection: the last step of a clean
    /// shutdown, so the database is one self-contained file afterwards.
    pub async fn checkpoint_and_close(&self) -> Result<()> {
        let result = match self.backend {
            super::Backend::Sqlite => sqlx::query("pragma wal_checkpoint(truncate)")
                .execute(self.pool())
                .await
                .map(drop),
            super::Backend::Postgres => Ok(()),
        };
        self.pool().close().await;
        self.write_gate.pool.close().await;
        result?;
        Ok(())
    }

    /// Size of the database file in bytes (pages × page size; the WAL is not counted).
    pub async fn database_size_bytes(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(match self.backend {
            super::Backend::Sqlite => {
                "select page_count * page_size from pragma_page_count(), pragma_page_size()"
            }
            super::Backend::Postgres => "select pg_database_size(current_database())",
        })
        .fetch_one(self.pool())
        .await?)
    }

    pub async fn outbox_stats(&self) -> Result<OutboxStats> {
        let (pending, oldest): (i64, Option<i64>) =
            sqlx::query_as("select count(*), min(created_at) from outbox where state = 'pending'")
                .fetch_one(self.pool())
                .await?;
        Ok(OutboxStats {
            pending,
            oldest_pending: oldest.map(try_time_from_db).transpose()?,
        })
    }

    /// Check-ins scheduled or open: asked (or about to be) and not closed yet.
    pub async fn checkins_pending(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("select count(*) from checkin where state in ('scheduled', 'open')")
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// When an outbox row was queued (the event that caused it was accepted).
    pub async fn outbox_queued_at(&self, outbox_id: i64) -> Result<Option<DateTime<Utc>>> {
        let at: Option<i64> = sqlx::query_scalar("select created_at from outbox where id = $1")
            .bind(outbox_id)
            .fetch_optional(self.pool())
            .await?;
        at.map(try_time_from_db).transpose()
    }
}
