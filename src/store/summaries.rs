//! Scheduled summaries: which channels get one and with what scope, and the exactly-once record
//! of each period's summary with its post queued. Also the benchmark's generated data.

use chrono::{DateTime, Utc};

use super::ids::{channel_from_db, channel_to_db, from_db, time_to_db};
use super::outbox::Subject;
use super::summary_figures::Scope;
use super::{Result, Store};
use crate::domain::period::Period;
use crate::domain::visibility::Reader;
use crate::domain::{ChannelId, GuildId};

/// One summaries subscription: a (service, environment) pair of a channel's scope.
#[derive(sqlx::FromRow)]
struct ScopeRow {
    channel_id: i64,
    guild_id: Option<i64>,
    service_pattern: String,
    environment_pattern: String,
}

impl Store {
    /// The channels subscribed to summaries, each with the scope of its subscriptions as its
    /// server reads it (`domain::visibility`). A channel whose server is unknown gets none: what
    /// it could read cannot be decided.
    pub async fn summary_channels(&self) -> Result<Vec<(ChannelId, Scope)>> {
        let rows: Vec<ScopeRow> = sqlx::query_as(
            "select s.channel_id, coalesce(s.guild_id, c.guild_id) as guild_id,
                    s.service_pattern, s.environment_pattern
             from subscription s left join discord_channel c on c.channel_id = s.channel_id
             where s.kind = 'summaries' order by s.channel_id, s.id",
        )
        .fetch_all(self.pool())
        .await?;
        let mut out: Vec<(ChannelId, Scope)> = Vec::new();
        for row in rows {
            let channel = channel_from_db(row.channel_id);
            let Some(guild) = row.guild_id else {
                tracing::warn!(
                    channel = channel.0,
                    "summaries subscription of a channel in no known server; skipped"
                );
                continue;
            };
            let pair = (row.service_pattern, row.environment_pattern);
            match out.last_mut() {
                Some((c, scope)) if *c == channel => scope.pairs.push(pair),
                _ => out.push((
                    channel,
                    Scope {
                        pairs: vec![pair],
                        reader: Reader::Server(GuildId(from_db(guild))),
                    },
                )),
            }
        }
        Ok(out)
    }

    /// The scope of `channel`'s summaries subscriptions, if it has any.
    pub async fn summary_scope_of(&self, channel: ChannelId) -> Result<Option<Scope>> {
        Ok(self
            .summary_channels()
            .await?
            .into_iter()
            .find(|(c, _)| *c == channel)
            .map(|(_, scope)| scope))
    }

    pub async fn summary_exists(&self, channel: ChannelId, period: &Period) -> Result<bool> {
        Ok(sqlx::query(
            "select 1 from summary where channel_id = $1 and period_start = $2 and period_end = $3",
        )
        .bind(channel_to_db(channel))
        .bind(time_to_db(period.start()))
        .bind(time_to_db(period.end()))
        .fetch_optional(self.pool())
        .await?
        .is_some())
    }

    /// Records the summary of `period` for `channel` and queues its post, in one transaction.
    /// Returns false (and queues nothing) when that channel already has this period's summary.
    pub async fn record_summary(
        &self,
        channel: ChannelId,
        period: &Period,
        scheduled_for: DateTime<Utc>,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "insert into summary (channel_id, period_start, period_end, scheduled_for, body, created_at)
             values ($1, $2, $3, $4, $5, $6)
             on conflict (channel_id, period_start, period_end) do nothing
             returning id",
        )
        .bind(channel_to_db(channel))
        .bind(time_to_db(period.start()))
        .bind(time_to_db(period.end()))
        .bind(time_to_db(scheduled_for))
        .bind(body)
        .bind(time_to_db(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            tx.commit().await?;
            return Ok(false);
        };
        Self::enqueue(&mut tx, channel, Subject::Summary(id), now).await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
impl Store {
    /// Every recorded summary as (channel, period start), oldest first: for the job's tests.
    pub(crate) async fn recorded_summaries(&self) -> Result<Vec<(ChannelId, DateTime<Utc>)>> {
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("select channel_id, period_start from summary order by id")
                .fetch_all(self.pool())
                .await?;
        Ok(rows
            .into_iter()
            .map(|(channel, start)| (channel_from_db(channel), super::ids::time_from_db(start)))
            .collect())
    }

    /// How many outbox rows post a summary: for the job's tests.
    pub(crate) async fn queued_summary_posts(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "select count(*) from outbox o join message m on m.id = o.message_id
             where m.subject_kind = 'summary'",
        )
        .fetch_one(self.pool())
        .await?)
    }
}

impl Store {
    /// Benchmark data: `count` deploys spread evenly over `[start, end)` across `services`
    /// services (two thirds production), with commit times and a mix of outcomes.
    pub async fn generate_bench_deploys(
        &self,
        services: i64,
        count: i64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<()> {
        let (start, end) = (time_to_db(start), time_to_db(end));
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "with recursive seq(i) as (select 0 union all select i + 1 from seq where i + 1 < $1),
                 t(i, at) as (select i, $2 + i * (($3 - $2) / $1) from seq)
             insert into deploy (source, external_id, service, version, environment, status, deployer,
                 commit_sha, commit_at, url, changelog, started_at, finished_at, updated_at, created_at)
             select 'bench', 'bench-' || i, 'service-' || (i % $4), 'v' || i,
                    case when i % 3 = 0 then 'staging' else 'production' end,
                    case when i % 20 = 0 then 'failed' when i % 33 = 0 then 'rolled_back' else 'succeeded' end,
                    'bench', null,
                    case when i % 10 = 0 then null else at - 60000 * (30 + i % 2880) end,
                    null, null, at - 300000, at, at, at
             from t",
        )
        .bind(count)
        .bind(start)
        .bind(end)
        .bind(services)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Benchmark data for the alert tables: `count` alert groups of one alert each, spread over
    /// `[start, end)` across `services` services, one in ten opening an incident of 30 minutes.
    /// Returns false when this database has no alert tables.
    pub async fn generate_bench_alerts(
        &self,
        services: i64,
        count: i64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        if !self.optional_tables(&mut tx).await?.0 {
            return Ok(false);
        }
        let (start, end) = (time_to_db(start), time_to_db(end));
        let seq =
            "with recursive seq(i) as (select 0 union all select i + 1 from seq where i + 1 < ?1),
                   t(i, at) as (select i, ?2 + i * ((?3 - ?2) / ?1) from seq)";
        for statement in [
            "insert into alert_group (id, source, group_key, status, service, environment, severity,
                 first_fired_at, acked_at, resolved_at, updated_at, created_at)
             select 1000000 + i, 'api', 'bench-' || i, case when i % 500 = 0 then 'firing' else 'resolved' end,
                    'service-' || (i % ?4), 'production', case when i % 10 = 0 then 'critical' else 'warning' end,
                    at, case when i % 3 = 0 then null else at + 60000 * (1 + i % 30) end,
                    case when i % 500 = 0 then null else at + 1800000 end, at, at
             from t",
            "insert into alert (id, group_id, source, fingerprint, name, service, environment, severity, status,
                 starts_at, updated_at, created_at)
             select 1000000 + i, 1000000 + i, 'api', 'bench-' || i, 'Alert' || (i % 37), 'service-' || (i % ?4),
                    'production', 'warning', 'resolved', at, at, at
             from t",
            "insert into incident (group_id, alert_id, title, service, environment, severity, opened_at,
                 resolved_at, updated_at, created_at)
             select 1000000 + i, 1000000 + i, 'Alert' || (i % 37), 'service-' || (i % ?4), 'production',
                    'critical', at, case when i % 500 = 0 then null else at + 1800000 end, at, at
             from t where i % 10 = 0",
        ] {
            sqlx::query(&crate::store::numbered(&format!("{seq} {statement}")))
                .bind(count)
                .bind(start)
                .bind(end)
                .bind(services)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// After the generators: the write-ahead log moved into the database file, so the timings
    /// that follow measure reads in the steady state, not the background checkpoint of a
    /// million fresh rows.
    pub async fn settle_bench_data(&self) -> Result<()> {
        sqlx::query("pragma wal_checkpoint(truncate)")
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Benchmark data for check-ins: one check-in per production bench deploy (asked 30 minutes
    /// after it finished) and `feedback` rows spread over those deploys. Returns false when this
    /// database has no check-in tables.
    pub async fn generate_bench_feedback(&self, feedback: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        if !self.optional_tables(&mut tx).await?.1 {
            return Ok(false);
        }
        sqlx::query(
            "insert into checkin (deploy_id, channel_id, sequence, origin, state, due_at, opened_at,
                 updated_at, created_at)
             select id, 1, 0, 'schedule', 'closed', finished_at + 1800000, finished_at + 1800000,
                    finished_at, finished_at
             from deploy where source = 'bench' and environment = 'production'",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "with recursive seq(i) as (select 0 union all select i + 1 from seq where i + 1 < $1),
                  c(n) as (select count(*) from checkin)
             insert into feedback (deploy_id, checkin_id, source, sentiment, body, user_id, user_name,
                 guild_id, channel_id, message_id, given_at, updated_at, created_at)
             select k.deploy_id, k.id, case when i % 7 = 0 then 'reply' else 'command' end,
                    (i % 3) - 1, case when i % 7 = 0 then 'comment ' || i end, i % 5000, 'user' || (i % 5000),
                    1, 1, case when i % 7 = 0 then i end,
                    k.opened_at + 60000 * (i % 600), k.opened_at, k.opened_at
             from seq join checkin k on k.id = 1 + (seq.i % (select n from c))",
        )
        .bind(feedback)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
