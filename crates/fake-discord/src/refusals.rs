//! Discord saying no the way it does in production: a message deleted by a person (edits then
//! answer 404 Unknown Message, code 10008), a channel the bot lost access to (403 Missing Access
//! 50001 / Missing Permissions 50013, or 404 Unknown Channel 10003 once it is deleted) until
//! cleared, and a reset token (401 on every REST call). The bodies are Discord's own:
//! `{"message": "Missing Permissions", "code": 50013}`.

use serde_json::json;

use crate::rest::Reply;
use crate::state::State;
use crate::{FakeDiscord, GUILD_ID};

/// How a channel refuses the bot until [`FakeDiscord::allow_channel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelRefusal {
    /// 403 `{"message": "Missing Access", "code": 50001}`: the bot cannot see the channel.
    MissingAccess,
    /// 403 `{"message": "Missing Permissions", "code": 50013}`: e.g. Send Messages was taken away.
    MissingPermissions,
    /// 404 `{"message": "Unknown Channel", "code": 10003}`: the channel was deleted.
    UnknownChannel,
}

impl ChannelRefusal {
    fn reply(self) -> Reply {
        match self {
            ChannelRefusal::MissingAccess => Reply::error(403, 50001, "Missing Access"),
            ChannelRefusal::MissingPermissions => Reply::error(403, 50013, "Missing Permissions"),
            ChannelRefusal::UnknownChannel => Reply::unknown_channel(),
        }
    }
}

impl FakeDiscord {
    /// Deletes a message as a person with Manage Messages would: it leaves the channel, the bot
    /// hears MESSAGE_DELETE, and edits of it answer 404 Unknown Message (10008). A thread started
    /// from it stays, as on Discord.
    pub async fn delete_message(&self, channel: u64, message: u64) {
        let removed = {
            let mut state = self.lock();
            let found = state
                .messages
                .get(&message)
                .is_some_and(|m| m.channel == channel);
            found && state.messages.remove(&message).is_some()
        };
        if removed {
            let d = json!({
                "id": message.to_string(),
                "channel_id": channel.to_string(),
                "guild_id": GUILD_ID.to_string(),
            });
            self.dispatch_checked("MESSAGE_DELETE", d);
        }
    }

    /// From now on every REST request under `/channels/{channel}/` is refused with `refusal`.
    pub fn refuse_channel(&self, channel: u64, refusal: ChannelRefusal) {
        self.lock().channel_refusals.insert(channel, refusal);
    }

    /// Ends [`FakeDiscord::refuse_channel`]: access is back.
    pub fn allow_channel(&self, channel: u64) {
        self.lock().channel_refusals.remove(&channel);
    }

    /// While set, every REST request answers 401 `{"message": "401: Unauthorized", "code": 0}`,
    /// as Discord does once the bot's token was reset.
    pub fn set_token_rejected(&self, rejected: bool) {
        self.lock().token_rejected = rejected;
    }
}

impl State {
    /// The refusal this request gets before any handling, if any: the token first, then the channel.
    pub(crate) fn refusal_for(&self, segments: &[&str]) -> Option<Reply> {
        if self.token_rejected {
            return Some(Reply::error(401, 0, "401: Unauthorized"));
        }
        match segments {
            ["channels", channel, ..] => {
                let channel = channel.parse::<u64>().ok()?;
                self.channel_refusals.get(&channel).map(|r| r.reply())
            }
            _ => None,
        }
    }
}
