//! Discord's REST API v10: one fallback handler records every request, applies injected
//! faults to `/channels/**`, then routes by method and path segments.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::body::{parse_body, parse_query, percent_decode, Upload};
use crate::json::{
    application_json, authored_by_bot, command_json, guild_create_json, member_json, message_json,
    parse_emoji, parse_id, timestamp_now, user_json, GUILD_MEMBERS, LOADING,
};
use crate::limits;
use crate::state::{State, StoredCommand};
use crate::{FakeDiscord, Fault, Recorded, APP_ID, BOT_USER_ID};

/// Discord's per-channel message limit, enforced only after `set_rate_limits(true)`.
const RATE_LIMIT_MESSAGES: usize = 5;
const RATE_LIMIT_WINDOW: Duration = Duration::from_secs(5);

/// An answer from a REST handler, before it becomes an HTTP response.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Option<Value>,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) deduplicated: bool,
}

impl Reply {
    pub(crate) fn json(body: Value) -> Reply {
        Reply::with_status(200, body)
    }

    pub(crate) fn with_status(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
            deduplicated: false,
        }
    }

    pub(crate) fn no_content() -> Reply {
        Reply {
            status: 204,
            body: None,
            headers: Vec::new(),
            deduplicated: false,
        }
    }

    pub(crate) fn error(status: u16, code: u64, message: &str) -> Reply {
        Reply::with_status(status, json!({ "message": message, "code": code }))
    }

    /// Discord's 429: the wait is in the body (`retry_after`, seconds) and in headers.
    pub(crate) fn rate_limited(retry_after: f64) -> Reply {
        let body = json!({
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": false,
        });
        let mut reply = Reply::with_status(429, body);
        reply.headers = vec![
            (
                "retry-after",
                (retry_after.ceil().max(0.0) as u64).to_string(),
            ),
            ("x-ratelimit-reset-after", format!("{retry_after:.3}")),
            ("x-ratelimit-limit", RATE_LIMIT_MESSAGES.to_string()),
            ("x-ratelimit-remaining", "0".into()),
            ("x-ratelimit-scope", "user".into()),
        ];
        reply
    }

    pub(crate) fn unknown_channel() -> Reply {
        Reply::error(404, 10003, "Unknown Channel")
    }

    pub(crate) fn unknown_message() -> Reply {
        Reply::error(404, 10008, "Unknown Message")
    }

    pub(crate) fn not_found() -> Reply {
        Reply::error(404, 0, "404: Not Found")
    }

    pub(crate) fn bad_form(what: &str) -> Reply {
        Reply::error(400, 50035, &format!("Invalid Form Body: {what}"))
    }

    pub(crate) fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = match self.body {
            Some(body) => (status, Json(body)).into_response(),
            None => status.into_response(),
        };
        for (name, value) in self.headers {
            if let Ok(value) = value.parse() {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

pub(crate) struct Request<'a> {
    pub(crate) method: &'a Method,
    pub(crate) segments: &'a [&'a str],
    pub(crate) query: Option<&'a str>,
    pub(crate) body: &'a Value,
    pub(crate) uploads: &'a [Upload],
}

impl FakeDiscord {
    pub(crate) async fn handle_rest(
        &self,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let path = uri.path().to_string();
        let query = uri.query().map(str::to_string);
        let (body, uploads) = parse_body(&headers, &body);
        let index = {
            let mut state = self.lock();
            state.requests.push(Recorded {
                method: method.to_string(),
                path: path.clone(),
                query: query.clone(),
                body: body.clone(),
                authorization: headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                at: Instant::now(),
                status: 0,
                deduplicated: false,
                files: uploads
                    .iter()
                    .map(|u| (u.filename.clone(), u.bytes.clone()))
                    .collect(),
            });
            state.requests.len() - 1
        };

        let segments: Vec<String> = match path.strip_prefix("/api/v10/") {
            Some(rest) => rest.split('/').map(percent_decode).collect(),
            None => Vec::new(),
        };
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();

        let mut reply = self.lock().refusal_for(&segments);
        if reply.is_none() && segments.first() == Some(&"channels") {
            let fault = {
                let mut state = self.lock();
                if state.down {
                    Some(Fault::Status(500))
                } else {
                    state.faults.pop_front()
                }
            };
            match fault {
                Some(Fault::Status(status)) => {
                    reply = Some(Reply::error(
                        status,
                        0,
                        &format!("{status}: injected fault"),
                    ));
                }
                Some(Fault::RateLimited { retry_after }) => {
                    reply = Some(Reply::rate_limited(retry_after))
                }
                Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
                None => {}
            }
        }
        let injected = reply.is_some();
        let reply = reply.unwrap_or_else(|| {
            let request = Request {
                method: &method,
                segments: &segments,
                query: query.as_deref(),
                body: &body,
                uploads: &uploads,
            };
            self.lock().route(&request)
        });

        {
            let mut state = self.lock();
            if let Some(recorded) = state.requests.get_mut(index) {
                recorded.status = reply.status;
                recorded.deduplicated = reply.deduplicated;
            }
            // A 50035 the fake answered itself (not an injected fault): a body Discord would refuse.
            let refused = reply
                .body
                .as_ref()
                .filter(|b| !injected && b["code"] == 50035);
            if let Some(body) = refused {
                let errors = body.get("errors").cloned().unwrap_or(Value::Null);
                state.refused.push((index, errors));
            }
        }
        reply.into_response()
    }
}

impl State {
    pub(crate) fn route(&mut self, req: &Request) -> Reply {
        use Method as M;
        let method = req.method.clone();
        match (method, req.segments) {
            (M::GET, ["gateway"]) => Reply::json(json!({ "url": self.gateway_url })),
            (M::GET, ["gateway", "bot"]) => Reply::json(json!({
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": { "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1 },
            })),
            (M::GET, ["oauth2", "applications", "@me"]) => Reply::json(application_json()),
            (M::GET, ["users", "@me"]) => Reply::json(user_json(BOT_USER_ID)),
            (M::GET, ["users", user]) => match parse_id(user) {
                Some(user) => Reply::json(user_json(user)),
                None => Reply::error(404, 10013, "Unknown User"),
            },
            (method, ["applications", app, "commands"]) => self.commands(req, &method, app, None),
            (method, ["applications", app, "guilds", guild, "commands"]) => {
                self.commands(req, &method, app, Some(guild))
            }
            (M::DELETE, ["users", "@me", "guilds", guild]) => self.leave_guild(guild),
            (M::GET, ["guilds", guild]) if State::known_guild(guild).is_some() => {
                Reply::json(guild_create_json(self, parse_id(guild).unwrap_or_default()))
            }
            (M::GET, ["guilds", guild, "channels"]) if State::known_guild(guild).is_some() => {
                let channels = self
                    .channels
                    .values()
                    .filter(|c| c["type"] == 0 && c["guild_id"].as_str() == Some(*guild))
                    .cloned()
                    .collect();
                Reply::json(Value::Array(channels))
            }
            (M::GET, ["guilds", guild, "members", user]) if State::known_guild(guild).is_some() => {
                let guild = parse_id(guild).unwrap_or_default();
                match parse_id(user).filter(|u| GUILD_MEMBERS.contains(u)) {
                    Some(user) => Reply::json(member_json(self, guild, user)),
                    None => Reply::error(404, 10007, "Unknown Member"),
                }
            }
            (_, ["guilds", ..]) => Reply::error(404, 10004, "Unknown Guild"),
            (M::GET, ["channels", channel]) => match self.channel(channel) {
                Some(channel) => Reply::json(self.channels[&channel].clone()),
                None => Reply::unknown_channel(),
            },
            (M::POST, ["channels", channel, "typing"]) => match self.channel(channel) {
                Some(_) => Reply::no_content(),
                None => Reply::unknown_channel(),
            },
            (M::POST, ["channels", channel, "messages"]) => self.create_message(req, channel),
            (M::GET, ["channels", channel, "messages"]) => self.list_messages(req, channel),
            (method, ["channels", channel, "messages", message]) => {
                self.message_route(req, &method, channel, message)
            }
            (method, ["channels", channel, "messages", message, "reactions", emoji, user]) => {
                self.reaction_route(&method, channel, message, emoji, user)
            }
            (M::POST, ["channels", channel, "messages", message, "threads"]) => {
                self.create_thread(req, channel, Some(message))
            }
            (M::POST, ["channels", channel, "threads"]) => self.create_thread(req, channel, None),
            (M::POST, ["interactions", id, token, "callback"]) => {
                self.interaction_callback(req, id, token)
            }
            (method, ["webhooks", app, token]) if method == M::POST => {
                self.followup(req, app, token)
            }
            (method, ["webhooks", app, token, "messages", which]) => {
                self.webhook_message(req, &method, app, token, which)
            }
            _ => Reply::not_found(),
        }
    }

    pub(crate) fn channel(&self, raw: &str) -> Option<u64> {
        parse_id(raw).filter(|id| self.channels.contains_key(id))
    }

    pub(crate) fn commands(
        &mut self,
        req: &Request,
        method: &Method,
        app: &str,
        guild: Option<&str>,
    ) -> Reply {
        if parse_id(app) != Some(APP_ID) {
            return Reply::error(404, 10002, "Unknown Application");
        }
        let guild = match guild.map(State::known_guild) {
            None => None,
            Some(Some(guild)) => Some(guild),
            Some(None) => return Reply::error(404, 10004, "Unknown Guild"),
        };
        let path = match guild {
            Some(g) => format!("/api/v10/applications/{APP_ID}/guilds/{g}/commands"),
            None => format!("/api/v10/applications/{APP_ID}/commands"),
        };
        match *method {
            Method::GET => {
                let list = self
                    .commands
                    .iter()
                    .filter(|c| c.guild == guild)
                    .map(|c| c.json.clone())
                    .collect();
                Reply::json(Value::Array(list))
            }
            Method::PUT => {
                let Some(list) = req.body.as_array() else {
                    return Reply::bad_form("expected an array of commands");
                };
                if list.iter().any(|c| !c["name"].is_string()) {
                    return Reply::bad_form("every command needs a name");
                }
                let mut registered = Vec::new();
                for body in list {
                    let id = self
                        .existing_command_id(guild, body)
                        .unwrap_or_else(|| self.snowflake());
                    let json = command_json(self.snowflake(), id, guild, body);
                    registered.push(StoredCommand { guild, json });
                }
                self.commands.retain(|c| c.guild != guild);
                let reply = registered.iter().map(|c| c.json.clone()).collect();
                self.commands.extend(registered);
                self.command_paths.push(path);
                Reply::json(Value::Array(reply))
            }
            Method::POST => {
                if !req.body["name"].is_string() {
                    return Reply::bad_form("a command needs a name");
                }
                let existing = self.existing_command_id(guild, req.body);
                let id = existing.unwrap_or_else(|| self.snowflake());
                let json = command_json(self.snowflake(), id, guild, req.body);
                self.commands
                    .retain(|c| !(c.guild == guild && c.json["id"] == json["id"]));
                self.commands.push(StoredCommand {
                    guild,
                    json: json.clone(),
                });
                self.command_paths.push(path);
                // Discord answers 201 for a new command and 200 for an overwrite.
                Reply::with_status(if existing.is_some() { 200 } else { 201 }, json)
            }
            _ => Reply::error(405, 0, "405: Method Not Allowed"),
        }
    }

    pub(crate) fn existing_command_id(&self, guild: Option<u64>, body: &Value) -> Option<u64> {
        let kind = body.get("type").cloned().unwrap_or(json!(1));
        self.commands
            .iter()
            .find(|c| c.guild == guild && c.json["name"] == body["name"] && c.json["type"] == kind)
            .and_then(|c| c.json["id"].as_str()?.parse().ok())
    }

    pub(crate) fn create_message(&mut self, req: &Request, channel: &str) -> Reply {
        let Some(channel) = self.channel(channel) else {
            return Reply::unknown_channel();
        };
        let body = req.body;
        if !body.is_object() {
            return Reply::bad_form("expected a JSON object");
        }
        if let Some(refused) = limits::check_message(body) {
            return refused;
        }
        let empty = |key: &str| match &body[key] {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        };
        if ["content", "embeds", "components", "sticker_ids", "poll"]
            .iter()
            .all(|k| empty(k))
            && req.uploads.is_empty()
        {
            return Reply::error(400, 50006, "Cannot send an empty message");
        }
        if body["content"]
            .as_str()
            .is_some_and(|c| c.chars().count() > 2000)
        {
            return Reply::bad_form("content: Must be 2000 or fewer in length.");
        }
        if body["enforce_nonce"] == true && !body["nonce"].is_null() {
            let duplicate = self.messages.values().find(|m| {
                m.channel == channel && m.json["nonce"] == body["nonce"] && authored_by_bot(&m.json)
            });
            if let Some(duplicate) = duplicate {
                let mut reply = Reply::json(duplicate.render());
                reply.deduplicated = true;
                return reply;
            }
        }
        if self.rate_limits {
            let now = Instant::now();
            let recent = self.recent_posts.entry(channel).or_default();
            recent.retain(|at| now.duration_since(*at) < RATE_LIMIT_WINDOW);
            if recent.len() >= RATE_LIMIT_MESSAGES {
                let wait = RATE_LIMIT_WINDOW.saturating_sub(now.duration_since(recent[0]));
                return Reply::rate_limited(wait.as_secs_f64());
            }
            recent.push_back(now);
        }
        let id = self.snowflake();
        let attachments = self.attachments(req.uploads);
        let message = message_json(self, id, channel, user_json(BOT_USER_ID), body, attachments);
        self.store(id, channel, true, message.clone());
        let mut reply = Reply::json(message);
        if self.rate_limits {
            // Like Discord, every answer says how much of the bucket is left and when it refills.
            let now = Instant::now();
            let recent = self.recent_posts.entry(channel).or_default();
            let reset_after = RATE_LIMIT_WINDOW.saturating_sub(
                recent
                    .front()
                    .map_or(Duration::ZERO, |t| now.duration_since(*t)),
            );
            reply.headers = vec![
                ("x-ratelimit-limit", RATE_LIMIT_MESSAGES.to_string()),
                (
                    "x-ratelimit-remaining",
                    RATE_LIMIT_MESSAGES.saturating_sub(recent.len()).to_string(),
                ),
                (
                    "x-ratelimit-reset-after",
                    format!("{:.3}", reset_after.as_secs_f64()),
                ),
            ];
        }
        reply
    }

    pub(crate) fn list_messages(&self, req: &Request, channel: &str) -> Reply {
        let Some(channel) = self.channel(channel) else {
            return Reply::unknown_channel();
        };
        let query = parse_query(req.query);
        let limit = query
            .get("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(50usize)
            .clamp(1, 100);
        let before = query
            .get("before")
            .and_then(|b| parse_id(b))
            .unwrap_or(u64::MAX);
        let after = query.get("after").and_then(|a| parse_id(a)).unwrap_or(0);
        // Discord lists newest first.
        let list = self
            .messages
            .iter()
            .rev()
            .filter(|(id, m)| m.channel == channel && m.visible && **id < before && **id > after)
            .take(limit)
            .map(|(_, m)| m.render())
            .collect();
        Reply::json(Value::Array(list))
    }

    pub(crate) fn message_route(
        &mut self,
        req: &Request,
        method: &Method,
        channel: &str,
        message: &str,
    ) -> Reply {
        let Some(channel) = self.channel(channel) else {
            return Reply::unknown_channel();
        };
        let Some(id) = parse_id(message).filter(|id| {
            self.messages
                .get(id)
                .is_some_and(|m| m.channel == channel && m.visible)
        }) else {
            return Reply::unknown_message();
        };
        match *method {
            Method::GET => Reply::json(self.messages[&id].render()),
            Method::PATCH => {
                if !authored_by_bot(&self.messages[&id].json) {
                    return Reply::error(
                        403,
                        50005,
                        "Cannot edit a message authored by another user",
                    );
                }
                if let Some(refused) = limits::check_message(req.body) {
                    return refused;
                }
                self.edit_message(id, req)
            }
            Method::DELETE => {
                self.messages.remove(&id);
                Reply::no_content()
            }
            _ => Reply::error(405, 0, "405: Method Not Allowed"),
        }
    }

    /// Applies an edit body to a stored message and answers with the result.
    pub(crate) fn edit_message(&mut self, id: u64, req: &Request) -> Reply {
        if !req.body.is_object() && req.uploads.is_empty() {
            return Reply::bad_form("expected a JSON object");
        }
        let uploads = self.attachments(req.uploads);
        let now = timestamp_now();
        let Some(stored) = self.messages.get_mut(&id) else {
            return Reply::unknown_message();
        };
        let json = &mut stored.json;
        for key in ["content", "embeds", "components", "allowed_mentions"] {
            if let Some(value) = req.body.get(key) {
                json[key] = match (key, value) {
                    ("content", Value::Null) => json!(""),
                    ("embeds" | "components", Value::Null) => json!([]),
                    _ => value.clone(),
                };
            }
        }
        if let Some(flags) = req.body.get("flags").and_then(Value::as_u64) {
            json["flags"] = json!(flags);
        }
        // Editing a deferred reply (or any edit) ends its "thinking..." state.
        if let Some(flags) = json["flags"].as_u64() {
            json["flags"] = json!(flags & !LOADING);
        }
        if let Some(keep) = req.body.get("attachments").and_then(Value::as_array) {
            let keep: Vec<&Value> = keep.iter().filter_map(|a| a.get("id")).collect();
            let existing = json["attachments"].as_array().cloned().unwrap_or_default();
            let mut attachments: Vec<Value> = existing
                .into_iter()
                .filter(|a| keep.iter().any(|k| **k == a["id"]))
                .collect();
            attachments.extend(uploads);
            json["attachments"] = Value::Array(attachments);
        } else if !uploads.is_empty() {
            let mut attachments = json["attachments"].as_array().cloned().unwrap_or_default();
            attachments.extend(uploads);
            json["attachments"] = Value::Array(attachments);
        }
        json["edited_timestamp"] = json!(now);
        Reply::json(stored.render())
    }

    pub(crate) fn reaction_route(
        &mut self,
        method: &Method,
        channel: &str,
        message: &str,
        emoji: &str,
        user: &str,
    ) -> Reply {
        let Some(channel) = self.channel(channel) else {
            return Reply::unknown_channel();
        };
        let Some(stored) = parse_id(message)
            .and_then(|id| self.messages.get_mut(&id))
            .filter(|m| m.channel == channel && m.visible)
        else {
            return Reply::unknown_message();
        };
        let user = match user {
            "@me" => BOT_USER_ID,
            other => match parse_id(other) {
                // Only removing someone else's reaction is allowed.
                Some(id) if *method == Method::DELETE => id,
                _ => return Reply::not_found(),
            },
        };
        if emoji.is_empty() {
            return Reply::error(400, 10014, "Unknown Emoji");
        }
        let emoji = parse_emoji(emoji);
        match *method {
            Method::PUT => stored.add_reaction(&emoji, user),
            Method::DELETE => stored.remove_reaction(&emoji, user),
            _ => return Reply::error(405, 0, "405: Method Not Allowed"),
        }
        Reply::no_content()
    }

    pub(crate) fn create_thread(
        &mut self,
        req: &Request,
        channel: &str,
        message: Option<&str>,
    ) -> Reply {
        let Some(parent) = self.channel(channel) else {
            return Reply::unknown_channel();
        };
        if let Some(refused) = limits::check_thread(req.body) {
            return refused;
        }
        let Some(name) = req.body["name"].as_str().filter(|n| !n.is_empty()) else {
            return Reply::bad_form("name: This field is required");
        };
        let id = match message {
            Some(message) => {
                let Some(id) = parse_id(message)
                    .filter(|id| self.messages.get(id).is_some_and(|m| m.channel == parent))
                else {
                    return Reply::unknown_message();
                };
                if self.channels.contains_key(&id) {
                    return Reply::error(
                        400,
                        160004,
                        "A thread has already been created for this message",
                    );
                }
                // Discord gives a thread started from a message the message's id.
                id
            }
            None => self.snowflake(),
        };
        let kind = req.body["type"].as_u64().unwrap_or(11);
        let archive = req.body["auto_archive_duration"].as_u64().unwrap_or(1440);
        let guild = self.guild_of(parent).unwrap_or_default();
        let thread = json!({
            "id": id.to_string(),
            "type": kind,
            "guild_id": guild.to_string(),
            "parent_id": parent.to_string(),
            "owner_id": BOT_USER_ID.to_string(),
            "name": name,
            "last_message_id": null,
            "rate_limit_per_user": req.body["rate_limit_per_user"].as_u64().unwrap_or(0),
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": false,
                "auto_archive_duration": archive,
                "archive_timestamp": timestamp_now(),
                "locked": false,
            },
            "member": { "id": id.to_string(), "user_id": BOT_USER_ID.to_string(), "join_timestamp": timestamp_now(), "flags": 0 },
        });
        self.channels.insert(id, thread.clone());
        if let Some(stored) = message.and_then(|_| self.messages.get_mut(&id)) {
            stored.json["thread"] = thread.clone();
        }
        Reply::with_status(201, thread)
    }
}

pub(crate) async fn handle(
    AxumState(fake): AxumState<FakeDiscord>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let response = fake.handle_rest(method, uri, headers, body).await;
    fake.changed();
    response
}
