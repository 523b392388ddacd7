//! What the server remembers between requests: messages, channels, commands, interactions,
//! injected faults and the gateway sessions.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::body::Upload;
use crate::gateway::Gateway;
use crate::json::{dm_channel_json, same_emoji, text_channel_json};
use crate::{
    Fault, Recorded, BOT_USER_ID, CHANNEL_ID, DM_CHANNEL_ID, GUILD_ID, OTHER_CHANNEL_ID,
    OTHER_GUILD_CHANNEL_ID, OTHER_GUILD_ID,
};

const DEFAULT_HEARTBEAT_MS: u64 = 1000;
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

pub(crate) struct State {
    pub(crate) requests: Vec<Recorded>,
    /// Every message by id; snowflakes increase, so iteration order is creation order.
    pub(crate) messages: BTreeMap<u64, StoredMessage>,
    /// Known channels (the text channels of both guilds, the DM channel, threads created) as
    /// Discord channel JSON; a channel's `guild_id` is where its events come from.
    pub(crate) channels: BTreeMap<u64, Value>,
    /// Guilds the bot is a member of: READY and GUILD_CREATE on IDENTIFY cover these.
    pub(crate) bot_guilds: BTreeSet<u64>,
    /// Guilds the bot left with `DELETE /users/@me/guilds/{id}`, in order.
    pub(crate) guilds_left: Vec<u64>,
    /// Roles and permissions chosen by a test for `(guild, user)`.
    pub(crate) members: HashMap<(u64, u64), MemberSpec>,
    pub(crate) commands: Vec<StoredCommand>,
    pub(crate) command_paths: Vec<String>,
    pub(crate) interactions: HashMap<u64, InteractionRecord>,
    pub(crate) faults: VecDeque<Fault>,
    /// Requests answered 400 Invalid Form Body (code 50035): their index in `requests` and the
    /// answer's `errors`.
    pub(crate) refused: Vec<(usize, Value)>,
    pub(crate) down: bool,
    /// Channels that refuse every request (see `refusals`).
    pub(crate) channel_refusals: HashMap<u64, crate::ChannelRefusal>,
    /// Every REST request answers 401.
    pub(crate) token_rejected: bool,
    pub(crate) rate_limits: bool,
    pub(crate) recent_posts: HashMap<u64, VecDeque<Instant>>,
    pub(crate) last_snowflake: u64,
    /// Uploaded files by attachment id: (content type, bytes), for a viewer to show them.
    pub(crate) files: HashMap<u64, (Option<String>, Vec<u8>)>,
    /// What `GET /gateway` hands out: this server's own websocket route.
    pub(crate) gateway_url: String,
    pub(crate) gateway: Gateway,
}

pub(crate) struct StoredMessage {
    pub(crate) channel: u64,
    /// Ephemeral interaction replies exist (for `@original`) but are not in the channel.
    pub(crate) visible: bool,
    pub(crate) json: Value,
    pub(crate) reactions: Vec<StoredReaction>,
}

#[derive(Clone)]
pub(crate) struct MemberSpec {
    pub(crate) roles: Vec<u64>,
    pub(crate) permissions: u64,
}

pub(crate) struct StoredReaction {
    pub(crate) emoji: Value,
    pub(crate) users: Vec<u64>,
}

pub(crate) struct StoredCommand {
    pub(crate) guild: Option<u64>,
    pub(crate) json: Value,
}

pub(crate) struct InteractionRecord {
    pub(crate) token: String,
    pub(crate) channel: u64,
    /// The message a component interaction was attached to (target of response type 7).
    pub(crate) message: Option<u64>,
    pub(crate) acknowledged: bool,
    pub(crate) original: Option<u64>,
    pub(crate) responses: Vec<Value>,
}

impl State {
    pub(crate) fn new(gateway_url: String) -> State {
        let mut channels = BTreeMap::new();
        for (id, guild, name, position) in [
            (CHANNEL_ID, GUILD_ID, "deploys", 0),
            (OTHER_CHANNEL_ID, GUILD_ID, "payments", 1),
            (OTHER_GUILD_CHANNEL_ID, OTHER_GUILD_ID, "ops", 0),
        ] {
            channels.insert(id, text_channel_json(id, guild, name, position));
        }
        channels.insert(DM_CHANNEL_ID, dm_channel_json(DM_CHANNEL_ID));
        State {
            requests: Vec::new(),
            messages: BTreeMap::new(),
            channels,
            bot_guilds: BTreeSet::from([GUILD_ID]),
            guilds_left: Vec::new(),
            members: HashMap::new(),
            commands: Vec::new(),
            command_paths: Vec::new(),
            interactions: HashMap::new(),
            faults: VecDeque::new(),
            refused: Vec::new(),
            down: false,
            channel_refusals: HashMap::new(),
            token_rejected: false,
            rate_limits: false,
            recent_posts: HashMap::new(),
            last_snowflake: 0,
            files: HashMap::new(),
            gateway_url,
            gateway: Gateway {
                heartbeat_ms: DEFAULT_HEARTBEAT_MS,
                ..Gateway::default()
            },
        }
    }

    /// Real-looking snowflakes (creation time in the top bits), strictly increasing.
    pub(crate) fn snowflake(&mut self) -> u64 {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let id = (now_ms.saturating_sub(DISCORD_EPOCH_MS) << 22).max(self.last_snowflake + 1);
        self.last_snowflake = id;
        id
    }

    /// Attachment objects for uploaded `files[n]`; nothing serves their URLs.
    pub(crate) fn attachments(&mut self, uploads: &[Upload]) -> Vec<Value> {
        let uploads = uploads
            .iter()
            .filter(|u| u.field.starts_with("files[") || u.field == "file");
        uploads
            .map(|upload| {
                let id = self.snowflake();
                self.files
                    .insert(id, (upload.content_type.clone(), upload.bytes.clone()));
                let url = format!(
                    "https://cdn.discordapp.invalid/attachments/{id}/{}",
                    upload.filename
                );
                json!({
                    "id": id.to_string(),
                    "filename": upload.filename,
                    "size": upload.size,
                    "url": url,
                    "proxy_url": url,
                    "content_type": upload.content_type,
                })
            })
            .collect()
    }

    pub(crate) fn store(&mut self, id: u64, channel: u64, visible: bool, json: Value) {
        self.messages.insert(
            id,
            StoredMessage {
                channel,
                visible,
                json,
                reactions: Vec::new(),
            },
        );
    }

    pub(crate) fn dispatch(&mut self, event: &str, d: Value) {
        if event == "INTERACTION_CREATE" {
            self.remember_interaction(&d);
        }
        let gateway = &mut self.gateway;
        let live: Vec<String> = gateway
            .sessions
            .iter()
            .filter(|(_, s)| s.conn.is_some() || s.resumable)
            .map(|(id, _)| id.clone())
            .collect();
        for session in live {
            gateway.send_to_session(&session, event, &d);
        }
    }

    pub(crate) fn remember_interaction(&mut self, d: &Value) {
        let Some(id) = d["id"].as_str().and_then(|id| id.parse().ok()) else {
            return;
        };
        let record = InteractionRecord {
            token: d["token"].as_str().unwrap_or_default().to_string(),
            channel: d["channel_id"]
                .as_str()
                .and_then(|c| c.parse().ok())
                .unwrap_or(0),
            message: d["message"]["id"].as_str().and_then(|m| m.parse().ok()),
            acknowledged: false,
            original: None,
            responses: Vec::new(),
        };
        self.interactions.insert(id, record);
    }
}

impl StoredMessage {
    pub(crate) fn render(&self) -> Value {
        let mut json = self.json.clone();
        if !self.reactions.is_empty() {
            let reactions: Vec<Value> = self
                .reactions
                .iter()
                .map(|r| {
                    json!({
                        "count": r.users.len(),
                        "count_details": { "burst": 0, "normal": r.users.len() },
                        "me": r.users.contains(&BOT_USER_ID),
                        "me_burst": false,
                        "burst_colors": [],
                        "emoji": r.emoji,
                    })
                })
                .collect();
            json["reactions"] = Value::Array(reactions);
        }
        json
    }

    pub(crate) fn add_reaction(&mut self, emoji: &Value, user: u64) {
        match self
            .reactions
            .iter_mut()
            .find(|r| same_emoji(&r.emoji, emoji))
        {
            Some(reaction) if !reaction.users.contains(&user) => reaction.users.push(user),
            Some(_) => {}
            None => self.reactions.push(StoredReaction {
                emoji: emoji.clone(),
                users: vec![user],
            }),
        }
    }

    pub(crate) fn remove_reaction(&mut self, emoji: &Value, user: u64) {
        for reaction in &mut self.reactions {
            if same_emoji(&reaction.emoji, emoji) {
                reaction.users.retain(|u| *u != user);
            }
        }
        self.reactions.retain(|r| !r.users.is_empty());
    }
}
