//! What people do, driven by a test: slash commands, button presses, modals, autocomplete,
//! reactions and messages, each sent to the bot as a gateway dispatch. Each comes from the guild
//! its channel belongs to (a DM channel: no guild); the `*_in` variants choose the guild (None:
//! a DM) whatever the channel, to forge what a hostile client could send.

use serde_json::{json, Value};

use crate::json::{
    id_of, interaction_json, member_json, mentions_in, message_json, parse_emoji, resolve_options,
    user_json,
};
use crate::state::{State, StoredMessage};
use crate::{FakeDiscord, BOT_USER_ID};

impl FakeDiscord {
    /// Sends a slash command (INTERACTION_CREATE type 2) from `user` in `channel`; returns the
    /// interaction id. `options` is Discord's `data.options` array (or Null for none).
    pub async fn send_slash_command(
        &self,
        channel: u64,
        user: u64,
        name: &str,
        options: Value,
    ) -> u64 {
        let guild = self.lock().guild_of(channel);
        self.send_slash_command_in(guild, channel, user, name, options)
            .await
    }

    /// [`FakeDiscord::send_slash_command`] from `guild` (None: a DM with the bot).
    pub async fn send_slash_command_in(
        &self,
        guild: Option<u64>,
        channel: u64,
        user: u64,
        name: &str,
        options: Value,
    ) -> u64 {
        let interaction = {
            let mut state = self.lock();
            let command_id = command_id(&mut state, guild, name);
            let id = state.snowflake();
            let options = if options.is_null() {
                json!([])
            } else {
                options
            };
            let mut data = json!({
                "id": command_id.to_string(),
                "name": name,
                "type": 1,
                "options": options,
            });
            if let Some(guild) = guild {
                data["guild_id"] = json!(guild.to_string());
            }
            let resolved = resolve_options(&state, guild, &data["options"]);
            if !resolved.as_object().is_some_and(|r| r.is_empty()) {
                data["resolved"] = resolved;
            }
            interaction_json(&state, guild, id, 2, channel, user, data, None)
        };
        self.dispatch_checked("INTERACTION_CREATE", interaction.clone());
        id_of(&interaction)
    }

    /// Sends a button press (INTERACTION_CREATE type 3) on `message`; returns the interaction id.
    pub async fn send_component_interaction(
        &self,
        channel: u64,
        user: u64,
        message: u64,
        custom_id: &str,
    ) -> u64 {
        let guild = self.lock().guild_of(channel);
        self.send_component_interaction_in(guild, channel, user, message, custom_id)
            .await
    }

    /// [`FakeDiscord::send_component_interaction`] from `guild` (None: a DM with the bot).
    pub async fn send_component_interaction_in(
        &self,
        guild: Option<u64>,
        channel: u64,
        user: u64,
        message: u64,
        custom_id: &str,
    ) -> u64 {
        let interaction = {
            let mut state = self.lock();
            let id = state.snowflake();
            let rendered = state.messages.get(&message).map(StoredMessage::render);
            let rendered = rendered.unwrap_or_else(|| {
                // Tests may press a button on a message the fake never stored: make a stand-in.
                message_json(
                    &state,
                    message,
                    channel,
                    user_json(BOT_USER_ID),
                    &json!({}),
                    Vec::new(),
                )
            });
            let data = json!({ "custom_id": custom_id, "component_type": 2 });
            interaction_json(&state, guild, id, 3, channel, user, data, Some(rendered))
        };
        self.dispatch_checked("INTERACTION_CREATE", interaction.clone());
        id_of(&interaction)
    }

    /// Submits a modal (INTERACTION_CREATE type 5) with text inputs `(custom_id, value)`. With
    /// `message`, the modal was opened from a button on that message (Discord then includes it).
    pub async fn send_modal_submit(
        &self,
        channel: u64,
        user: u64,
        message: Option<u64>,
        custom_id: &str,
        fields: &[(&str, &str)],
    ) -> u64 {
        let guild = self.lock().guild_of(channel);
        self.send_modal_submit_in(guild, channel, user, message, custom_id, fields)
            .await
    }

    /// [`FakeDiscord::send_modal_submit`] from `guild` (None: a DM with the bot).
    pub async fn send_modal_submit_in(
        &self,
        guild: Option<u64>,
        channel: u64,
        user: u64,
        message: Option<u64>,
        custom_id: &str,
        fields: &[(&str, &str)],
    ) -> u64 {
        let interaction = {
            let mut state = self.lock();
            let id = state.snowflake();
            let rendered = message.and_then(|m| state.messages.get(&m).map(StoredMessage::render));
            let rows: Vec<Value> = fields
                .iter()
                .map(|(field, value)| {
                    json!({
                        "type": 1,
                        "components": [{ "type": 4, "custom_id": field, "value": value }],
                    })
                })
                .collect();
            let data = json!({ "custom_id": custom_id, "components": rows });
            interaction_json(&state, guild, id, 5, channel, user, data, rendered)
        };
        self.dispatch_checked("INTERACTION_CREATE", interaction.clone());
        id_of(&interaction)
    }

    /// Sends an autocomplete request (INTERACTION_CREATE type 4) for command `name`; `options`
    /// is `data.options` with the option being typed marked `"focused": true`. The bot answers
    /// with callback type 8 (`data.choices`), readable through `interaction_responses`.
    pub async fn send_autocomplete(
        &self,
        channel: u64,
        user: u64,
        name: &str,
        options: Value,
    ) -> u64 {
        let interaction = {
            let mut state = self.lock();
            let guild = state.guild_of(channel);
            let command_id = command_id(&mut state, guild, name);
            let id = state.snowflake();
            let mut data = json!({
                "id": command_id.to_string(),
                "name": name,
                "type": 1,
                "options": options,
            });
            if let Some(guild) = guild {
                data["guild_id"] = json!(guild.to_string());
            }
            interaction_json(&state, guild, id, 4, channel, user, data, None)
        };
        self.dispatch_checked("INTERACTION_CREATE", interaction.clone());
        id_of(&interaction)
    }

    /// MESSAGE_REACTION_ADD from `user`; also recorded on the stored message.
    /// `emoji` is a unicode emoji or a custom one as `name:id`.
    pub async fn add_reaction(&self, channel: u64, message: u64, user: u64, emoji: &str) {
        let emoji = parse_emoji(emoji);
        let d = {
            let mut state = self.lock();
            let guild = state.guild_of(channel);
            let author = state
                .messages
                .get(&message)
                .map(|m| m.json["author"]["id"].clone());
            if let Some(stored) = state.messages.get_mut(&message) {
                stored.add_reaction(&emoji, user);
            }
            let mut d = json!({
                "user_id": user.to_string(),
                "channel_id": channel.to_string(),
                "message_id": message.to_string(),
                "emoji": emoji,
                "burst": false,
                "burst_colors": [],
                "type": 0,
            });
            if let Some(guild) = guild {
                d["guild_id"] = json!(guild.to_string());
                d["member"] = member_json(&state, guild, user);
            }
            if let Some(author) = author {
                d["message_author_id"] = author;
            }
            d
        };
        self.dispatch_checked("MESSAGE_REACTION_ADD", d);
    }

    /// MESSAGE_REACTION_REMOVE from `user`; also removed from the stored message.
    pub async fn remove_reaction(&self, channel: u64, message: u64, user: u64, emoji: &str) {
        let emoji = parse_emoji(emoji);
        let guild = {
            let mut state = self.lock();
            if let Some(stored) = state.messages.get_mut(&message) {
                stored.remove_reaction(&emoji, user);
            }
            state.guild_of(channel)
        };
        let mut d = json!({
            "user_id": user.to_string(),
            "channel_id": channel.to_string(),
            "message_id": message.to_string(),
            "emoji": emoji,
            "burst": false,
            "type": 0,
        });
        if let Some(guild) = guild {
            d["guild_id"] = json!(guild.to_string());
        }
        self.dispatch_checked("MESSAGE_REACTION_REMOVE", d);
    }

    /// MESSAGE_CREATE from a human (optionally replying to `reply_to`); the message is stored in
    /// the channel. Returns its id.
    pub async fn user_message(
        &self,
        channel: u64,
        user: u64,
        content: &str,
        reply_to: Option<u64>,
    ) -> u64 {
        let d = {
            let mut state = self.lock();
            let id = state.snowflake();
            let mut body = json!({ "content": content });
            if let Some(reply_to) = reply_to {
                body["message_reference"] = json!({ "message_id": reply_to.to_string() });
            }
            let guild = state.guild_of(channel);
            let mut message = message_json(&state, id, channel, user_json(user), &body, Vec::new());
            message["mentions"] = mentions_in(&state, guild, content);
            state.store(id, channel, true, message.clone());
            // Gateway guild messages also carry the author's member (without `user`).
            if let Some(guild) = guild {
                let mut member = member_json(&state, guild, user);
                if let Some(member) = member.as_object_mut() {
                    member.remove("user");
                }
                message["member"] = member;
            }
            message
        };
        let id = id_of(&d);
        self.dispatch_checked("MESSAGE_CREATE", d);
        id
    }
}

/// The id of command `name` as registered for `guild` (else globally, else anywhere); a fresh
/// id when it was never registered.
fn command_id(state: &mut State, guild: Option<u64>, name: &str) -> u64 {
    let find = |scope: Option<Option<u64>>| {
        state
            .commands
            .iter()
            .filter(|c| scope.is_none_or(|g| c.guild == g))
            .find(|c| c.json["name"] == name)
            .and_then(|c| c.json["id"].as_str().and_then(|id| id.parse().ok()))
    };
    let found = guild
        .and_then(|g| find(Some(Some(g))))
        .or_else(|| find(Some(None)))
        .or_else(|| find(None));
    found.unwrap_or_else(|| state.snowflake())
}
