//! What a bot message shows: the subject behind a Discord message id in a channel, so a button
//! or form can be checked against the message it was used on (`domain::access::proves_target`).

use super::ids::to_db;
use super::{Result, Store};

impl Store {
    /// The subject (kind, id) the bot's message `discord_message_id` shows in `channel`, if it is
    /// one of ours there. A check-in's message id is stored right after the post, before the
    /// delivery is settled, so it counts too.
    pub async fn subject_shown(
        &self,
        discord_message_id: u64,
        channel: u64,
    ) -> Result<Option<(String, i64)>> {
        Ok(sqlx::query_as(
            "select subject_kind, subject_id from message
             where discord_message_id = $1 and channel_id = $2
             union all
             select 'checkin', id from checkin where message_id = $1 and channel_id = $2
             limit 1",
        )
        .bind(to_db(discord_message_id))
        .bind(to_db(channel))
        .fetch_optional(self.pool())
        .await?)
    }
}
