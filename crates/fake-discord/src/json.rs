//! Discord objects as JSON. Shapes follow Discord's docs; `check_dispatch` and the unit tests
//! hold them to what serenity 0.12.5 actually deserializes.

use serde_json::{json, Value};

use crate::state::{State, StoredMessage};
use crate::{
    ADMINISTRATOR, ADMIN_PERMISSIONS, ADMIN_ROLE_ID, ADMIN_USER_ID, APP_ID, BOT_PERMISSIONS,
    BOT_ROLE_ID, BOT_USER_ID, EVERYONE_PERMISSIONS, GUILD_ID, OTHER_GUILD_ADMIN_ROLE_ID,
    OTHER_GUILD_BOT_ROLE_ID, OTHER_GUILD_ID, OWNER_USER_ID, PLAIN_PERMISSIONS, PLAIN_USER_ID,
    RESPONDER_ROLE_ID, RESPONDER_USER_ID,
};

/// Message flags.
pub(crate) const EPHEMERAL: u64 = 1 << 6;
pub(crate) const LOADING: u64 = 1 << 7;

/// Users who are members of each guild.
pub(crate) const GUILD_MEMBERS: [u64; 5] = [
    BOT_USER_ID,
    ADMIN_USER_ID,
    PLAIN_USER_ID,
    RESPONDER_USER_ID,
    OWNER_USER_ID,
];

pub(crate) fn user_json(id: u64) -> Value {
    let (name, bot) = match id {
        BOT_USER_ID => ("loopbot".to_string(), true),
        ADMIN_USER_ID => ("alice-admin".to_string(), false),
        PLAIN_USER_ID => ("bob".to_string(), false),
        OWNER_USER_ID => ("olivia-owner".to_string(), false),
        RESPONDER_USER_ID => ("rita-responder".to_string(), false),
        other => (format!("user-{}", other % 10_000), false),
    };
    json!({
        "id": id.to_string(),
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": null,
        "bot": bot,
        "public_flags": 0,
    })
}

/// A member of `guild` (roles as that guild gives them, or as a test chose with `set_member`).
pub(crate) fn member_json(state: &State, guild: u64, user: u64) -> Value {
    let roles: Vec<String> = state
        .member_roles(guild, user)
        .iter()
        .map(u64::to_string)
        .collect();
    json!({
        "user": user_json(user),
        "nick": null,
        "avatar": null,
        "roles": roles,
        "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "premium_since": null,
        "deaf": false,
        "mute": false,
        "flags": 0,
        "pending": false,
        "communication_disabled_until": null,
    })
}

/// The roles a member has in `guild` unless a test chose others.
pub(crate) fn default_roles(guild: u64, user: u64) -> Vec<u64> {
    match (guild, user) {
        (GUILD_ID, ADMIN_USER_ID) => vec![ADMIN_ROLE_ID],
        (GUILD_ID, BOT_USER_ID) => vec![BOT_ROLE_ID],
        (GUILD_ID, RESPONDER_USER_ID) => vec![RESPONDER_ROLE_ID],
        (OTHER_GUILD_ID, ADMIN_USER_ID) => vec![OTHER_GUILD_ADMIN_ROLE_ID],
        (OTHER_GUILD_ID, BOT_USER_ID) => vec![OTHER_GUILD_BOT_ROLE_ID],
        _ => Vec::new(),
    }
}

/// A member's permissions unless a test chose others (the same in both guilds).
pub(crate) fn default_permissions(user: u64) -> u64 {
    match user {
        ADMIN_USER_ID => ADMIN_PERMISSIONS,
        BOT_USER_ID => BOT_PERMISSIONS,
        // The owner implicitly has every permission.
        OWNER_USER_ID => ADMIN_PERMISSIONS | ADMINISTRATOR,
        _ => PLAIN_PERMISSIONS,
    }
}

pub(crate) fn role_json(
    id: u64,
    name: &str,
    permissions: u64,
    position: u64,
    managed: bool,
) -> Value {
    let mut role = json!({
        "id": id.to_string(),
        "name": name,
        "color": 0,
        "colors": { "primary_color": 0, "secondary_color": null, "tertiary_color": null },
        "hoist": false,
        "icon": null,
        "unicode_emoji": null,
        "position": position,
        "permissions": permissions.to_string(),
        "managed": managed,
        "mentionable": false,
        "flags": 0,
    });
    if managed {
        role["tags"] = json!({ "bot_id": BOT_USER_ID.to_string() });
    }
    role
}

pub(crate) fn text_channel_json(id: u64, guild: u64, name: &str, position: u64) -> Value {
    json!({
        "id": id.to_string(),
        "type": 0,
        "guild_id": guild.to_string(),
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "topic": null,
        "nsfw": false,
        "last_message_id": null,
        "rate_limit_per_user": 0,
        "parent_id": null,
        "flags": 0,
    })
}

/// The bot's DM channel with PLAIN_USER_ID (type 1, no guild).
pub(crate) fn dm_channel_json(id: u64) -> Value {
    json!({
        "id": id.to_string(),
        "type": 1,
        "last_message_id": null,
        "recipients": [user_json(PLAIN_USER_ID)],
        "flags": 0,
    })
}

pub(crate) fn application_json() -> Value {
    json!({
        "id": APP_ID.to_string(),
        "name": "loopbot",
        "icon": null,
        "description": "Fake application served by the test Discord",
        "rpc_origins": [],
        "bot_public": true,
        "bot_require_code_grant": false,
        "bot": user_json(BOT_USER_ID),
        "terms_of_service_url": null,
        "privacy_policy_url": null,
        "owner": user_json(OWNER_USER_ID),
        "verify_key": "0".repeat(64),
        "team": null,
        "flags": 0,
        "tags": [],
        "install_params": null,
        "integration_types_config": {},
        "approximate_guild_count": 1,
        "redirect_uris": [],
        "interactions_endpoint_url": null,
    })
}

pub(crate) fn guild_create_json(state: &State, id: u64) -> Value {
    let in_guild = |c: &&Value| c["guild_id"] == json!(id.to_string());
    let channels: Vec<&Value> = state
        .channels
        .values()
        .filter(in_guild)
        .filter(|c| c["type"] == 0)
        .collect();
    let threads: Vec<&Value> = state
        .channels
        .values()
        .filter(in_guild)
        .filter(|c| c["type"] != 0)
        .collect();
    let members: Vec<Value> = GUILD_MEMBERS
        .iter()
        .map(|u| member_json(state, id, *u))
        .collect();
    let (name, roles) = if id == GUILD_ID {
        (
            "Loop Test Guild",
            json!([
                // @everyone's id is the guild id; serenity's cache-side permission check needs it.
                role_json(GUILD_ID, "@everyone", EVERYONE_PERMISSIONS, 0, false),
                role_json(ADMIN_ROLE_ID, "admins", ADMIN_PERMISSIONS, 1, false),
                role_json(BOT_ROLE_ID, "loopbot", BOT_PERMISSIONS, 2, true),
                role_json(RESPONDER_ROLE_ID, "responders", 0, 3, false),
            ]),
        )
    } else {
        (
            "Second Test Guild",
            json!([
                role_json(id, "@everyone", EVERYONE_PERMISSIONS, 0, false),
                role_json(
                    OTHER_GUILD_ADMIN_ROLE_ID,
                    "admins",
                    ADMIN_PERMISSIONS,
                    1,
                    false
                ),
                role_json(OTHER_GUILD_BOT_ROLE_ID, "loopbot", BOT_PERMISSIONS, 2, true),
            ]),
        )
    };
    let mut guild = json!({
        "id": id.to_string(),
        "name": name,
        "icon": null,
        "icon_hash": null,
        "splash": null,
        "discovery_splash": null,
        "owner_id": OWNER_USER_ID.to_string(),
        "afk_channel_id": null,
        "afk_timeout": 300,
        "widget_enabled": false,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": roles,
        "emojis": [],
        "features": [],
        "mfa_level": 0,
        "application_id": null,
        "system_channel_id": null,
        "system_channel_flags": 0,
        "rules_channel_id": null,
        "max_presences": null,
        "max_members": 500_000,
        "vanity_url_code": null,
        "description": null,
        "banner": null,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": null,
        "max_video_channel_users": 25,
        "nsfw_level": 0,
        "stickers": [],
        "premium_progress_bar_enabled": false,
        "safety_alerts_channel_id": null,
    });
    // Split in two: one json! this size exceeds the default macro recursion limit of includers.
    let gateway_only = json!({
        "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "large": false,
        "unavailable": false,
        "member_count": members.len(),
        "voice_states": [],
        "members": members,
        "channels": channels,
        "threads": threads,
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
    });
    if let (Some(guild), Value::Object(extra)) = (guild.as_object_mut(), gateway_only) {
        guild.extend(extra);
    }
    guild
}

pub(crate) fn command_json(version: u64, id: u64, guild: Option<u64>, body: &Value) -> Value {
    let mut command = json!({
        "type": 1,
        "description": "",
        "options": [],
        "default_member_permissions": null,
        "nsfw": false,
        "name_localizations": null,
        "description_localizations": null,
        "integration_types": [0],
        "contexts": null,
    });
    if guild.is_none() {
        command["dm_permission"] = json!(true);
    }
    if let (Some(command), Some(body)) = (command.as_object_mut(), body.as_object()) {
        for (key, value) in body {
            command.insert(key.clone(), value.clone());
        }
    }
    command["id"] = json!(id.to_string());
    command["application_id"] = json!(APP_ID.to_string());
    command["version"] = json!(version.to_string());
    if let Some(guild) = guild {
        command["guild_id"] = json!(guild.to_string());
    }
    command
}

/// A full Discord Message from a create/follow-up body.
pub(crate) fn message_json(
    state: &State,
    id: u64,
    channel: u64,
    author: Value,
    body: &Value,
    attachments: Vec<Value>,
) -> Value {
    let guild = state.guild_of(channel);
    let mut message = json!({
        "id": id.to_string(),
        "channel_id": channel.to_string(),
        "author": author,
        "content": body["content"].as_str().unwrap_or_default(),
        "timestamp": timestamp_now(),
        "edited_timestamp": null,
        "tts": body["tts"].as_bool().unwrap_or(false),
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": attachments,
        "embeds": body.get("embeds").filter(|e| e.is_array()).cloned().unwrap_or(json!([])),
        "components": body.get("components").filter(|c| c.is_array()).cloned().unwrap_or(json!([])),
        "pinned": false,
        "type": 0,
        "flags": body["flags"].as_u64().unwrap_or(0),
    });
    if let Some(guild) = guild {
        message["guild_id"] = json!(guild.to_string());
    }
    if !body["nonce"].is_null() {
        message["nonce"] = body["nonce"].clone();
    }
    if !body["allowed_mentions"].is_null() {
        // Not part of Discord's Message; kept so tests can assert what the bot asked for.
        message["allowed_mentions"] = body["allowed_mentions"].clone();
    }
    if let Some(reference) = body.get("message_reference").filter(|r| r.is_object()) {
        let mut reference = reference.clone();
        let target = reference["message_id"].as_str().and_then(parse_id);
        if reference["channel_id"].is_null() {
            reference["channel_id"] = json!(channel.to_string());
        }
        if let Some(guild) = guild {
            reference["guild_id"] = json!(guild.to_string());
        }
        message["message_reference"] = reference;
        // REPLY; Discord resolves the replied-to message (null if it is gone).
        message["type"] = json!(19);
        message["referenced_message"] = target
            .and_then(|t| state.messages.get(&t))
            .map(StoredMessage::render)
            .unwrap_or(Value::Null);
    }
    message
}

/// An interaction from `user` in `channel`. `guild` is where it comes from: a guild (with
/// `member` carrying the channel-resolved `permissions`) or, for None, a DM (with `user` and no
/// guild, like Discord).
#[allow(clippy::too_many_arguments)]
pub(crate) fn interaction_json(
    state: &State,
    guild: Option<u64>,
    id: u64,
    kind: u64,
    channel: u64,
    user: u64,
    data: Value,
    message: Option<Value>,
) -> Value {
    let permissions = guild.map_or(0, |g| state.permissions_in(g, user));
    let channel_name = state
        .channels
        .get(&channel)
        .and_then(|c| c["name"].as_str())
        .unwrap_or("unknown");
    let channel_type = state
        .channels
        .get(&channel)
        .and_then(|c| c["type"].as_u64())
        .unwrap_or(if guild.is_some() { 0 } else { 1 });
    let mut interaction = json!({
        "id": id.to_string(),
        "application_id": APP_ID.to_string(),
        "type": kind,
        "data": data,
        "channel": {
            "id": channel.to_string(),
            "type": channel_type,
            "name": channel_name,
            "permissions": permissions.to_string(),
        },
        "channel_id": channel.to_string(),
        "token": format!("fake-interaction-token-{id}"),
        "version": 1,
        "app_permissions": BOT_PERMISSIONS.to_string(),
        "locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": 26_214_400,
    });
    match guild {
        Some(guild) => {
            let mut member = member_json(state, guild, user);
            member["permissions"] = json!(permissions.to_string());
            interaction["guild_id"] = json!(guild.to_string());
            interaction["member"] = member;
            interaction["guild_locale"] = json!("en-US");
            interaction["authorizing_integration_owners"] = json!({ "0": guild.to_string() });
            // GUILD
            interaction["context"] = json!(0);
        }
        None => {
            interaction["user"] = user_json(user);
            // Installed to a guild, used in a DM: Discord sends "0" for the guild.
            interaction["authorizing_integration_owners"] = json!({ "0": "0" });
            // BOT_DM
            interaction["context"] = json!(1);
        }
    }
    if let Some(message) = message {
        interaction["message"] = message;
    }
    interaction
}

/// `data.resolved` for USER (6) and CHANNEL (7) options, walking sub-commands; members as
/// `guild` has them (none in a DM).
pub(crate) fn resolve_options(state: &State, guild: Option<u64>, options: &Value) -> Value {
    pub(crate) fn walk(
        state: &State,
        guild: Option<u64>,
        options: &Value,
        resolved: &mut serde_json::Map<String, Value>,
    ) {
        for option in options.as_array().into_iter().flatten() {
            let id = option["value"]
                .as_str()
                .and_then(parse_id)
                .or_else(|| option["value"].as_u64());
            match (option["type"].as_u64(), id) {
                (Some(1 | 2), _) => walk(state, guild, &option["options"], resolved),
                (Some(6), Some(user)) => {
                    insert(resolved, "users", user, user_json(user));
                    if let Some(guild) = guild {
                        let mut member = member_json(state, guild, user);
                        if let Some(member) = member.as_object_mut() {
                            member.remove("user");
                            member.insert(
                                "permissions".into(),
                                json!(state.permissions_in(guild, user).to_string()),
                            );
                        }
                        insert(resolved, "members", user, member);
                    }
                }
                (Some(7), Some(channel)) => {
                    let mut partial = json!({ "id": channel.to_string(), "type": 0, "name": "unknown", "permissions": "0" });
                    if let Some(known) = state.channels.get(&channel) {
                        partial["type"] = known["type"].clone();
                        partial["name"] = known["name"].clone();
                        partial["permissions"] = json!(EVERYONE_PERMISSIONS.to_string());
                    }
                    insert(resolved, "channels", channel, partial);
                }
                _ => {}
            }
        }
    }
    pub(crate) fn insert(
        resolved: &mut serde_json::Map<String, Value>,
        kind: &str,
        id: u64,
        value: Value,
    ) {
        let map = resolved.entry(kind).or_insert_with(|| json!({}));
        map[id.to_string()] = value;
    }
    let mut resolved = serde_json::Map::new();
    walk(state, guild, options, &mut resolved);
    Value::Object(resolved)
}

/// Users mentioned as `<@id>` / `<@!id>` in content, as Discord lists them in `mentions`
/// (with their member in `guild`, if any).
pub(crate) fn mentions_in(state: &State, guild: Option<u64>, content: &str) -> Value {
    let mut ids: Vec<u64> = Vec::new();
    for piece in content.split("<@").skip(1) {
        let piece = piece.strip_prefix('!').unwrap_or(piece);
        if let Some((id, _)) = piece.split_once('>') {
            if let Some(id) = parse_id(id).filter(|id| !ids.contains(id)) {
                ids.push(id);
            }
        }
    }
    let mentions = ids
        .into_iter()
        .map(|id| {
            let mut user = user_json(id);
            if let Some(guild) = guild {
                let mut member = member_json(state, guild, id);
                if let Some(member) = member.as_object_mut() {
                    member.remove("user");
                }
                user["member"] = member;
            }
            user
        })
        .collect();
    Value::Array(mentions)
}

/// `✅` → `{"id":null,"name":"✅"}`; `name:123` or `<:name:123>` → custom emoji.
pub(crate) fn parse_emoji(raw: &str) -> Value {
    let trimmed = raw.trim_start_matches('<').trim_end_matches('>');
    let (animated, trimmed) = match trimmed.strip_prefix("a:") {
        Some(rest) if rest.contains(':') => (true, rest),
        _ => (false, trimmed),
    };
    if let Some((name, id)) = trimmed.rsplit_once(':') {
        if let Some(id) = parse_id(id) {
            return json!({ "id": id.to_string(), "name": name.trim_start_matches(':'), "animated": animated });
        }
    }
    json!({ "id": null, "name": raw })
}

pub(crate) fn same_emoji(a: &Value, b: &Value) -> bool {
    if a["id"].is_null() && b["id"].is_null() {
        a["name"] == b["name"]
    } else {
        a["id"] == b["id"]
    }
}

pub(crate) fn tagged(body: &Value, via: &str) -> Value {
    let mut tagged = match body {
        Value::Object(_) => body.clone(),
        other => json!({ "_body": other }),
    };
    tagged["_via"] = json!(via);
    tagged
}

pub(crate) fn authored_by_bot(message: &Value) -> bool {
    message["author"]["id"].as_str().and_then(parse_id) == Some(BOT_USER_ID)
}

pub(crate) fn id_of(value: &Value) -> u64 {
    value["id"].as_str().and_then(parse_id).unwrap_or(0)
}

pub(crate) fn parse_id(raw: &str) -> Option<u64> {
    raw.parse().ok()
}

pub(crate) fn timestamp_now() -> String {
    serenity::model::Timestamp::now().to_string()
}

// ---------------------------------------------------------------------------------------------
// Checking payloads against serenity's own models.
// ---------------------------------------------------------------------------------------------

pub(crate) fn check_as<T: serde::de::DeserializeOwned>(value: &Value) -> Result<(), String> {
    serde_path_to_error::deserialize::<_, T>(value.clone())
        .map(drop)
        .map_err(|err| format!("{} at `{}`", err.inner(), err.path()))
}

/// Err unless serenity parses `d` as the event `name` (and not as `Event::Unknown`).
pub(crate) fn check_dispatch(name: &str, d: &Value) -> Result<(), String> {
    use serenity::model::prelude as m;
    match name {
        "READY" => check_as::<m::Ready>(d)?,
        "GUILD_CREATE" => check_as::<m::Guild>(d)?,
        "INTERACTION_CREATE" => check_as::<m::Interaction>(d)?,
        "MESSAGE_CREATE" => check_as::<m::Message>(d)?,
        "MESSAGE_REACTION_ADD" | "MESSAGE_REACTION_REMOVE" => check_as::<m::Reaction>(d)?,
        "THREAD_CREATE" | "CHANNEL_CREATE" => check_as::<m::GuildChannel>(d)?,
        "GUILD_DELETE" => check_as::<m::UnavailableGuild>(d)?,
        _ => {}
    }
    let event = json!({ "t": name, "d": d });
    match serde_json::from_value::<serenity::model::event::Event>(event) {
        Ok(serenity::model::event::Event::Unknown(_)) => Err(format!(
            "serenity parses {name} as Event::Unknown (unknown name or a field it rejects)"
        )),
        Ok(_) => Ok(()),
        Err(err) => Err(err.to_string()),
    }
}
