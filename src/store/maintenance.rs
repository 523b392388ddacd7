//! Operating the database: backups, the WAL checkpoint at shutdown, retention, and the numbers
//! `/metrics` reports about the store.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::ids::{time_to_db, try_time_from_db};
use super::{Result, Store, StoreError};

/// What one retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Raw bodies blanked (rows still referenced by a kept status change stay, bodiless).
    pub payloads_blanked: u64,
    pub inbound_events_deleted: u64,
    pub deploys_deleted: u64,
    pub outbox_rows_deleted: u64,
    pub messages_deleted: u64,
}

/// The outbox as `/metrics` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: i64,
    /// When the oldest pending row was queued.
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// The body a pruned inbound event keeps: valid JSON saying what happened.
pub const PRUNED_BODY: &str = r#"{"pruned":true}"#;

impl Store {
    /// Opens a backup file read-only, leaving it byte for byte as it is (no WAL switch, no
    /// migration), to check it or copy it.
    pub async fn open_backup(path: &Path) -> Result<Self> {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .read_only(true);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        Self::from_pools(pool.clone(), pool)
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
        sqlx::query("vacuum into ?")
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
        let result = sqlx::query("pragma wal_checkpoint(truncate)")
            .execute(self.pool())
            .await;
        self.pool().close().await;
        self.write_gate.0.close().await;
        result?;
        Ok(())
    }

    /// Size of the database file in bytes (pages × page size; the WAL is not counted).
    pub async fn database_size_bytes(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "select page_count * page_size from pragma_page_count(), pragma_page_size()",
        )
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
        let at: Option<i64> = sqlx::query_scalar("select created_at from outbox where id = ?")
            .bind(outbox_id)
            .fetch_optional(self.pool())
            .await?;
        at.map(try_time_from_db).transpose()
    }

    /// Removes what is older than `cutoff`: raw request bodies, deploys not updated since,
    /// settled outbox rows, and messages left without a subject. Never touches a pending
    /// delivery or anything newer than `cutoff`; the caller keeps `cutoff` outside the
    /// summaries' comparison window (see `config::MIN_RETENTION_DAYS`).
    pub async fn prune(&self, cutoff: DateTime<Utc>) -> Result<Pruned> {
        let cutoff = time_to_db(cutoff);
        // Raw bodies of every source first, on their own: other features' tables may reference
        // their inbound events, and this must happen even if a delete below is refused.
        let payloads_blanked =
            sqlx::query("update inbound_event set body = ? where received_at < ? and body <> ?")
                .bind(PRUNED_BODY)
                .bind(cutoff)
                .bind(PRUNED_BODY)
                .execute(self.pool())
                .await?
                .rows_affected();
        let mut tx = self.begin_write().await?;
        let outbox_rows_deleted =
            sqlx::query("delete from outbox where state in ('sent', 'failed') and created_at < ?")
                .bind(cutoff)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        // Status changes go with their deploy (on delete cascade).
        let deploys_deleted = sqlx::query(
            "delete from deploy where updated_at < ?
               and not exists (select 1 from message m join outbox o on o.message_id = m.id
                               where m.subject_kind = 'deploy' and m.subject_id = deploy.id
                                 and o.state = 'pending')",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let messages_deleted = sqlx::query(
            "delete from message where updated_at < ?
               and ((subject_kind = 'deploy'
                     and not exists (select 1 from deploy d where d.id = message.subject_id))
                 or (subject_kind = 'checkin'
                     and not exists (select 1 from checkin c where c.id = message.subject_id)))
               and not exists (select 1 from outbox o where o.message_id = message.id)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let inbound_events_deleted = sqlx::query(
            "delete from inbound_event where source = 'api' and received_at < ?
               and not exists (select 1 from deploy_status_change c where c.event_id = inbound_event.id)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(Pruned {
            payloads_blanked,
            inbound_events_deleted,
            deploys_deleted,
            outbox_rows_deleted,
            messages_deleted,
        })
    }
}
