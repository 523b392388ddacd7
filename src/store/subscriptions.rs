//! Channel subscriptions.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::ids::{channel_from_db, channel_to_db, guild_to_db, time_to_db, user_to_db};
use super::{Result, Store};
use crate::domain::subscription::{Kind, Pattern, Subscription};
use crate::domain::{ChannelId, GuildId, UserId};

/// How many subscription rows a change touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionChange {
    pub changed: u64,
}

impl Store {
    /// Subscribes `channel` to each of `kinds` for the given patterns; existing identical rows stay.
    #[allow(clippy::too_many_arguments)]
    pub async fn subscribe(
        &self,
        guild: Option<GuildId>,
        channel: ChannelId,
        kinds: &[Kind],
        service: &Pattern,
        environment: &Pattern,
        by: UserId,
        now: DateTime<Utc>,
    ) -> Result<SubscriptionChange> {
        let mut tx = self.begin_write().await?;
        let mut changed = 0;
        for kind in kinds {
            changed += sqlx::query(
                "insert into subscription
                    (guild_id, channel_id, kind, service_pattern, environment_pattern, created_by, created_at)
                 values (?, ?, ?, ?, ?, ?, ?)
                 on conflict do nothing",
            )
            .bind(guild.map(guild_to_db))
            .bind(channel_to_db(channel))
            .bind(kind.as_str())
            .bind(service.as_str())
            .bind(environment.as_str())
            .bind(user_to_db(by))
            .bind(time_to_db(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(SubscriptionChange { changed })
    }

    /// Removes `channel`'s subscriptions to `kinds`; with patterns, only those with exactly these patterns.
    pub async fn unsubscribe(
        &self,
        channel: ChannelId,
        kinds: &[Kind],
        patterns: Option<(&Pattern, &Pattern)>,
    ) -> Result<SubscriptionChange> {
        let mut tx = self.begin_write().await?;
        let mut changed = 0;
        for kind in kinds {
            let query = match patterns {
                Some((service, environment)) => sqlx::query(
                    "delete from subscription where channel_id = ? and kind = ?
                         and service_pattern = ? and environment_pattern = ?",
                )
                .bind(channel_to_db(channel))
                .bind(kind.as_str())
                .bind(service.as_str())
                .bind(environment.as_str()),
                None => sqlx::query("delete from subscription where channel_id = ? and kind = ?")
                    .bind(channel_to_db(channel))
                    .bind(kind.as_str()),
            };
            changed += query.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(SubscriptionChange { changed })
    }

    pub async fn subscriptions_in(&self, channel: ChannelId) -> Result<Vec<Subscription>> {
        let rows = sqlx::query(
            "select channel_id, kind, service_pattern, environment_pattern from subscription
             where channel_id = ? order by kind, service_pattern, environment_pattern",
        )
        .bind(channel_to_db(channel))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().filter_map(subscription_from_row).collect())
    }

    pub(super) async fn subscriptions_of_kind(
        conn: &mut sqlx::SqliteConnection,
        kind: Kind,
    ) -> Result<Vec<Subscription>> {
        let rows = sqlx::query(
            "select channel_id, kind, service_pattern, environment_pattern from subscription
             where kind = ?",
        )
        .bind(kind.as_str())
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows.iter().filter_map(subscription_from_row).collect())
    }
}

fn subscription_from_row(row: &sqlx::sqlite::SqliteRow) -> Option<Subscription> {
    let kind: String = row.get("kind");
    Some(Subscription {
        channel: channel_from_db(row.get("channel_id")),
        // The column's CHECK constraint lists exactly the domain's kinds.
        kind: kind.parse().ok()?,
        service: Pattern::from_stored(row.get("service_pattern")),
        environment: Pattern::from_stored(row.get("environment_pattern")),
    })
}
