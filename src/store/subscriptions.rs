//! Channel subscriptions.

use super::ids::{channel_from_db, channel_to_db, guild_to_db, time_to_db, user_to_db};
use super::{Result, Store, StoreError};
use crate::domain::subscription::{Filters, Kind, Pattern, Subscription};
use crate::domain::{ChannelId, GuildId, UserId};
use chrono::{DateTime, Utc};

/// How many subscription rows a change touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionChange {
    pub changed: u64,
}

impl Store {
    /// Subscribes `channel` to each of `kinds` for the given patterns with each kind's part of
    /// `filters`; an existing row with the same patterns takes the new filters (identical rows stay).
    #[allow(clippy::too_many_arguments)]
    pub async fn subscribe(
        &self,
        guild: Option<GuildId>,
        channel: ChannelId,
        kinds: &[Kind],
        service: &Pattern,
        environment: &Pattern,
        filters: Filters,
        by: UserId,
        now: DateTime<Utc>,
    ) -> Result<SubscriptionChange> {
        let mut tx = self.begin_write().await?;
        let mut changed = 0;
        for kind in kinds {
            let filters = filters.for_kind(*kind);
            changed += sqlx::query(
                "insert into subscription
                    (guild_id, channel_id, kind, service_pattern, environment_pattern, outcome,
                     min_severity, created_by, created_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 on conflict (channel_id, kind, service_pattern, environment_pattern) do update
                    set outcome = excluded.outcome, min_severity = excluded.min_severity
                    where subscription.outcome is distinct from excluded.outcome
                       or subscription.min_severity is distinct from excluded.min_severity",
            )
            .bind(guild.map(guild_to_db))
            .bind(channel_to_db(channel))
            .bind(kind.as_str())
            .bind(service.as_str())
            .bind(environment.as_str())
            .bind(filters.outcome.as_str())
            .bind(filters.min_severity.map(|m| m.as_str()))
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
                    "delete from subscription where channel_id = $1 and kind = $2
                         and service_pattern = $3 and environment_pattern = $4",
                )
                .bind(channel_to_db(channel))
                .bind(kind.as_str())
                .bind(service.as_str())
                .bind(environment.as_str()),
                None => sqlx::query("delete from subscription where channel_id = $1 and kind = $2")
                    .bind(channel_to_db(channel))
                    .bind(kind.as_str()),
            };
            changed += query.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(SubscriptionChange { changed })
    }

    pub async fn subscriptions_in(&self, channel: ChannelId) -> Result<Vec<Subscription>> {
        let rows: Vec<SubscriptionRow> = sqlx::query_as(
            "select channel_id, kind, service_pattern, environment_pattern, outcome, min_severity
             from subscription
             where channel_id = $1 order by kind, service_pattern, environment_pattern",
        )
        .bind(channel_to_db(channel))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(Subscription::try_from).collect()
    }

    pub(super) async fn subscriptions_of_kind(
        conn: &mut sqlx::AnyConnection,
        kind: Kind,
    ) -> Result<Vec<Subscription>> {
        let rows: Vec<SubscriptionRow> = sqlx::query_as(
            "select channel_id, kind, service_pattern, environment_pattern, outcome, min_severity
             from subscription
             where kind = $1",
        )
        .bind(kind.as_str())
        .fetch_all(&mut *conn)
        .await?;
        rows.into_iter().map(Subscription::try_from).collect()
    }
}

/// A `subscription` row as the queries above select it.
#[derive(Debug, sqlx::FromRow)]
struct SubscriptionRow {
    channel_id: i64,
    kind: String,
    service_pattern: String,
    environment_pattern: String,
    outcome: String,
    min_severity: Option<String>,
}

impl TryFrom<SubscriptionRow> for Subscription {
    type Error = StoreError;

    fn try_from(row: SubscriptionRow) -> Result<Self> {
        // The column's CHECK constraint lists exactly the domain's kinds: another is corruption,
        // not a row to skip silently.
        let kind = row
            .kind
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("subscription kind {:?}", row.kind)))?;
        let outcome = row
            .outcome
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("subscription outcome {:?}", row.outcome)))?;
        let min_severity = row
            .min_severity
            .map(|m| {
                m.parse()
                    .map_err(|_| StoreError::Corrupt(format!("subscription severity {m:?}")))
            })
            .transpose()?;
        Ok(Subscription {
            channel: channel_from_db(row.channel_id),
            kind,
            service: Pattern::from_stored(row.service_pattern),
            environment: Pattern::from_stored(row.environment_pattern),
            filters: Filters {
                outcome,
                min_severity,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_loopbot_does_not_know_is_an_error() {
        let row = |kind: &str| SubscriptionRow {
            channel_id: 5,
            kind: kind.into(),
            service_pattern: "checkout*".into(),
            environment_pattern: "*".into(),
            outcome: "all".into(),
            min_severity: None,
        };
        let ok = Subscription::try_from(row("summaries")).unwrap();
        assert_eq!((ok.channel, ok.kind), (ChannelId(5), Kind::Summaries));
        assert!(matches!(
            Subscription::try_from(row("everything")),
            Err(StoreError::Corrupt(_))
        ));
    }
}
