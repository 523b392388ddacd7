//! Leases: which replica does the work that must happen once (see migrations/*_leases.sql). One
//! statement takes or renews a lease, so two replicas racing for it cannot both win.

use chrono::{DateTime, Utc};

use super::ids::{time_from_db, time_to_db};
use super::{Result, Store};

/// A lease as stored: who holds it and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub name: String,
    pub holder: String,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Takes `name` for `holder` until `expires_at` if it is free, expired or already `holder`'s
    /// (a renewal, which keeps `acquired_at`). True when `holder` holds it afterwards.
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let taken = sqlx::query(
            "insert into lease (name, holder, acquired_at, expires_at) values ($1, $2, $3, $4)
             on conflict (name) do update set
                 holder = excluded.holder,
                 acquired_at = case when lease.holder = excluded.holder
                                    then lease.acquired_at else excluded.acquired_at end,
                 expires_at = excluded.expires_at
             where lease.holder = excluded.holder or lease.expires_at <= $3",
        )
        .bind(name)
        .bind(holder)
        .bind(time_to_db(now))
        .bind(time_to_db(expires_at))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(taken)
    }

    /// Gives `name` up at once if `holder` holds it (a clean stop): another replica need not wait
    /// for it to expire.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("delete from lease where name = $1 and holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every lease, expired or not, by name.
    pub async fn leases(&self) -> Result<Vec<LeaseRow>> {
        let rows: Vec<(String, String, i64, i64)> =
            sqlx::query_as("select name, holder, acquired_at, expires_at from lease order by name")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(name, holder, acquired_at, expires_at)| LeaseRow {
                name,
                holder,
                acquired_at: time_from_db(acquired_at),
                expires_at: time_from_db(expires_at),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time_until_it_expires_or_is_released() {
        let (store, _dir) = Store::temporary().await;
        let t0 = time_from_db(1_700_000_000_000);
        let ttl = Duration::seconds(15);
        assert!(store.take_lease("job:x", "a", t0, t0 + ttl).await.unwrap());
        // b cannot take it while a's term runs; a renews and keeps its acquired_at.
        assert!(!store
            .take_lease(
                "job:x",
                "b",
                t0 + Duration::seconds(5),
                t0 + Duration::seconds(20)
            )
            .await
            .unwrap());
        let t1 = t0 + Duration::seconds(10);
        assert!(store.take_lease("job:x", "a", t1, t1 + ttl).await.unwrap());
        let row = &store.leases().await.unwrap()[0];
        assert_eq!((row.holder.as_str(), row.acquired_at), ("a", t0));
        assert_eq!(row.expires_at, t1 + ttl);
        // a stops renewing: once the term is over, b takes it and a cannot renew.
        let t2 = t1 + ttl;
        assert!(store.take_lease("job:x", "b", t2, t2 + ttl).await.unwrap());
        assert!(!store.take_lease("job:x", "a", t2, t2 + ttl).await.unwrap());
        let row = &store.leases().await.unwrap()[0];
        assert_eq!((row.holder.as_str(), row.acquired_at), ("b", t2));
        // Released by its holder only; then free at once.
        store.release_lease("job:x", "a").await.unwrap();
        assert_eq!(store.leases().await.unwrap().len(), 1);
        store.release_lease("job:x", "b").await.unwrap();
        assert!(store.take_lease("job:x", "a", t2, t2 + ttl).await.unwrap());
    }
}
