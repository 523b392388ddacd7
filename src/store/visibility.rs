//! The reading rule of `domain::visibility` as SQL conditions, and what the store learns of which
//! server each channel belongs to (migration 20261202150000_scoped_channels.sql).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::ids::{guild_to_db, time_to_db, to_db};
use super::{Result, Store};
use crate::domain::visibility::Reader;
use crate::domain::{ChannelId, GuildId};

/// SQL conditions keeping the rows a [`Reader`] may read, for a table alias. The server's id is
/// inlined as an integer (it comes from Discord's typed snowflake, never from text someone typed),
/// so the queries keep their parameters as they are. The operator's conditions are all "true".
#[derive(Debug, Clone, Copy)]
pub(super) struct Visible {
    guild: Option<i64>,
}

impl Visible {
    pub(super) fn of(reader: Reader) -> Self {
        Self {
            guild: match reader {
                Reader::Operator => None,
                Reader::Server(guild) => Some(guild_to_db(guild)),
            },
        }
    }

    /// The server's channels, as an SQL list.
    fn channels(g: i64) -> String {
        format!("(select vch.channel_id from discord_channel vch where vch.guild_id = {g})")
    }

    /// A subscription of one of the server's channels (any kind) covers this service and
    /// environment (nullable columns match only `*` when unset, as summary scopes do).
    fn subscribed(g: i64, service: &str, environment: &str) -> String {
        format!(
            "exists (select 1 from subscription vs
                     where (vs.guild_id = {g} or vs.channel_id in {channels})
                       and glob(vs.service_pattern, lower(coalesce({service}, '')))
                       and glob(vs.environment_pattern, lower(coalesce({environment}, ''))))",
            channels = Self::channels(g)
        )
    }

    /// A message about `kind` `id` is (or is queued to be) in one of the server's channels.
    fn sent(g: i64, kind: &str, id: &str) -> String {
        format!(
            "{id} in (select vm.subject_id from message vm
                      where vm.subject_kind = '{kind}' and vm.channel_id in {channels})",
            channels = Self::channels(g)
        )
    }

    /// Deploy `alias` (a `deploy` row): sent to the server (its announcement, or a check-in
    /// asked there), or covered by a subscription of the server.
    pub(super) fn deploy(&self, alias: &str) -> String {
        let Some(g) = self.guild else {
            return "true".to_owned();
        };
        format!(
            "({sent} or {alias}.id in (select vc.deploy_id from checkin vc where {asked})
              or {subscribed})",
            sent = Self::sent(g, "deploy", &format!("{alias}.id")),
            asked = Self::place(g, "vc"),
            subscribed = Self::subscribed(
                g,
                &format!("{alias}.service"),
                &format!("{alias}.environment")
            ),
        )
    }

    /// Alert group `alias` (an `alert_group` row): its message went to the server, or a
    /// subscription of the server covers its service and environment.
    pub(super) fn alert_group(&self, alias: &str) -> String {
        let Some(g) = self.guild else {
            return "true".to_owned();
        };
        format!(
            "({sent} or {subscribed})",
            sent = Self::sent(g, "alert_group", &format!("{alias}.id")),
            subscribed = Self::subscribed(
                g,
                &format!("{alias}.service"),
                &format!("{alias}.environment")
            ),
        )
    }

    /// A row of an alert group (`alert`, `incident`) through its `group_id` column.
    pub(super) fn in_group(&self, column: &str) -> String {
        if self.guild.is_none() {
            return "true".to_owned();
        }
        format!(
            "{column} in (select vg.id from alert_group vg where {})",
            self.alert_group("vg")
        )
    }

    /// Incident `alias` (an `incident` row): its alert group is visible (see `alert_group`), or
    /// it was declared in one of the server's channels, or its thread is one of them.
    pub(super) fn incident(&self, alias: &str) -> String {
        let Some(g) = self.guild else {
            return "true".to_owned();
        };
        format!(
            "({in_group} or {alias}.declared_channel in {channels} or {alias}.thread_id in {channels})",
            in_group = self.in_group(&format!("{alias}.group_id")),
            channels = Self::channels(g)
        )
    }

    /// Check-in `alias`: asked in one of the server's channels.
    pub(super) fn checkin(&self, alias: &str) -> String {
        match self.guild {
            None => "true".to_owned(),
            Some(g) => Self::place(g, alias),
        }
    }

    /// Feedback `alias`: given in one of the server's channels (or threads).
    pub(super) fn feedback(&self, alias: &str) -> String {
        match self.guild {
            None => "true".to_owned(),
            Some(g) => Self::place(g, alias),
        }
    }

    /// Row `alias` (with `guild_id` and `channel_id` columns) is in the server.
    fn place(g: i64, alias: &str) -> String {
        format!(
            "({alias}.guild_id = {g} or {alias}.channel_id in {})",
            Self::channels(g)
        )
    }
}

impl Store {
    /// Records that `channels` belong to `guild` (GUILD_CREATE's channel list, a command's
    /// channel). Reads first and writes only what is new or changed, so the common case (every
    /// command in a known channel) costs one read.
    pub async fn learn_channels(
        &self,
        guild: GuildId,
        channels: &[ChannelId],
        now: DateTime<Utc>,
    ) -> Result<()> {
        if channels.is_empty() {
            return Ok(());
        }
        let guild = guild_to_db(guild);
        let ids = json!(channels.iter().map(|c| to_db(c.0)).collect::<Vec<_>>()).to_string();
        let known: i64 = sqlx::query_scalar(
            "select count(*) from json_each($1) j
             join discord_channel c on c.channel_id = cast(j.value as bigint) and c.guild_id = $2",
        )
        .bind(&ids)
        .bind(guild)
        .fetch_one(self.pool())
        .await?;
        if known == channels.len() as i64 {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "insert into discord_channel (channel_id, guild_id, updated_at, created_at)
             select distinct cast(j.value as bigint), $2, $3, $3 from json_each($1) j where true
             on conflict (channel_id) do update set guild_id = excluded.guild_id,
                 updated_at = excluded.updated_at
             where discord_channel.guild_id <> excluded.guild_id",
        )
        .bind(&ids)
        .bind(guild)
        .bind(time_to_db(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "visibility_tests.rs"]
mod tests;
