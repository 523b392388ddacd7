//! A loopback "local Discord": enough of Discord's REST API v10 and gateway websocket for the real
//! serenity/poise client to log in, receive dispatches, post/edit/react and answer interactions.
//!
//! Point the bot at it with `HttpBuilder::new(token).proxy(fake.url()).ratelimiter_disabled(true)`
//! (the ratelimiter must be off: with it on, serenity 0.12.5 ignores the proxy). `GET /gateway`
//! answers with this server's own websocket URL, so the gateway stays on loopback too.
//!
//! Self-contained on purpose (no `crate::`/`loopbot::` imports): `examples/discord-sandbox.rs`
//! includes this same file with `#[path]`.
//!
//! Every dispatch the fake builds is first parsed with serenity's own model types and panics with
//! the serde error if that fails: serenity silently turns an unparsable dispatch into
//! `Event::Unknown`, and a test would otherwise just time out.

// Each includer (test binary, sandbox example) uses a different subset of this API.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::State as AxumState;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;

pub const GUILD_ID: u64 = 100_000_000_000_000_001;
pub const APP_ID: u64 = 200_000_000_000_000_002;
/// Discord bots created since 2019 share their application id.
pub const BOT_USER_ID: u64 = APP_ID;
/// "#deploys", the default channel in tests.
pub const CHANNEL_ID: u64 = 300_000_000_000_000_003;
/// "#payments".
pub const OTHER_CHANNEL_ID: u64 = 300_000_000_000_000_004;
/// Member holding a role with MANAGE_GUILD (not ADMINISTRATOR).
pub const ADMIN_USER_ID: u64 = 400_000_000_000_000_005;
/// Member without MANAGE_GUILD.
pub const PLAIN_USER_ID: u64 = 400_000_000_000_000_006;
/// Guild owner and application owner. Deliberately neither admin nor plain user: owners bypass
/// permission checks, which would hide bugs in the bot's own checks.
pub const OWNER_USER_ID: u64 = 400_000_000_000_000_009;
/// Role given to ADMIN_USER_ID.
pub const ADMIN_ROLE_ID: u64 = 100_000_000_000_000_010;
/// Managed role given to the bot.
pub const BOT_ROLE_ID: u64 = 100_000_000_000_000_011;

// Permission bits (https://discord.com/developers/docs/topics/permissions).
const ADMINISTRATOR: u64 = 1 << 3;
const ADD_REACTIONS: u64 = 1 << 6;
const MANAGE_GUILD: u64 = 1 << 5;
const VIEW_CHANNEL: u64 = 1 << 10;
const SEND_MESSAGES: u64 = 1 << 11;
const MANAGE_MESSAGES: u64 = 1 << 13;
const EMBED_LINKS: u64 = 1 << 14;
const ATTACH_FILES: u64 = 1 << 15;
const READ_MESSAGE_HISTORY: u64 = 1 << 16;
const USE_APPLICATION_COMMANDS: u64 = 1 << 31;
const MANAGE_THREADS: u64 = 1 << 34;
const CREATE_PUBLIC_THREADS: u64 = 1 << 35;
const SEND_MESSAGES_IN_THREADS: u64 = 1 << 38;

/// What @everyone may do: enough for the bot to post, embed, react and open threads.
pub const EVERYONE_PERMISSIONS: u64 = VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | ADD_REACTIONS
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS;
/// Interaction `member.permissions` of ADMIN_USER_ID.
pub const ADMIN_PERMISSIONS: u64 = EVERYONE_PERMISSIONS | MANAGE_GUILD;
/// Interaction `member.permissions` of PLAIN_USER_ID (and any other non-admin user).
pub const PLAIN_PERMISSIONS: u64 = VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY;
const BOT_PERMISSIONS: u64 = EVERYONE_PERMISSIONS | MANAGE_MESSAGES | MANAGE_THREADS;

const DEFAULT_HEARTBEAT_MS: u64 = 1000;
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
/// Discord's per-channel message limit, enforced only after `set_rate_limits(true)`.
const RATE_LIMIT_MESSAGES: usize = 5;
const RATE_LIMIT_WINDOW: Duration = Duration::from_secs(5);
/// Message flags.
const EPHEMERAL: u64 = 1 << 6;
const LOADING: u64 = 1 << 7;

/// One REST request as the fake received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Null if there was no body or it was not JSON. For multipart, the parsed `payload_json`
    /// part with the uploaded file names added as `"_files"`.
    pub body: Value,
    pub authorization: Option<String>,
    pub at: Instant,
    /// HTTP status the fake answered with (0 while the request is still being handled).
    pub status: u16,
    /// A message create answered with an existing message because of `enforce_nonce`.
    pub deduplicated: bool,
}

/// A failure injected into the next `/api/v10/channels/**` requests.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer this status with `{"message": "...", "code": 0}`.
    Status(u16),
    /// Answer 429 with Discord's body plus `Retry-After` and `X-RateLimit-Reset-After` headers.
    RateLimited { retry_after: f64 },
    /// Sleep, then handle the request normally.
    Slow(Duration),
}

/// Cheap to clone: all clones share one server.
#[derive(Clone)]
pub struct FakeDiscord {
    inner: Arc<Inner>,
}

struct Inner {
    addr: SocketAddr,
    state: Mutex<State>,
}

struct State {
    requests: Vec<Recorded>,
    /// Every message by id; snowflakes increase, so iteration order is creation order.
    messages: BTreeMap<u64, StoredMessage>,
    /// Known channels (the two text channels plus threads created) as Discord channel JSON.
    channels: BTreeMap<u64, Value>,
    commands: Vec<StoredCommand>,
    command_paths: Vec<String>,
    interactions: HashMap<u64, InteractionRecord>,
    faults: VecDeque<Fault>,
    down: bool,
    rate_limits: bool,
    recent_posts: HashMap<u64, VecDeque<Instant>>,
    last_snowflake: u64,
    /// What `GET /gateway` hands out: this server's own websocket route.
    gateway_url: String,
    gateway: Gateway,
}

struct StoredMessage {
    channel: u64,
    /// Ephemeral interaction replies exist (for `@original`) but are not in the channel.
    visible: bool,
    json: Value,
    reactions: Vec<StoredReaction>,
}

struct StoredReaction {
    emoji: Value,
    users: Vec<u64>,
}

struct StoredCommand {
    guild: Option<u64>,
    json: Value,
}

struct InteractionRecord {
    token: String,
    channel: u64,
    /// The message a component interaction was attached to (target of response type 7).
    message: Option<u64>,
    acknowledged: bool,
    original: Option<u64>,
    responses: Vec<Value>,
}

#[derive(Default)]
struct Gateway {
    heartbeat_ms: u64,
    next_conn: u64,
    next_session: u64,
    conns: HashMap<u64, mpsc::UnboundedSender<Outgoing>>,
    sessions: HashMap<String, Session>,
    connections_seen: usize,
    identifies: Vec<Value>,
    resumes: usize,
}

struct Session {
    seq: u64,
    conn: Option<u64>,
    resumable: bool,
    /// Every dispatch of the session, so a RESUME can replay what the client missed.
    log: Vec<(u64, String)>,
}

enum Outgoing {
    Text(String),
    Close(u16),
}

/// An answer from a REST handler, before it becomes an HTTP response.
struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
    deduplicated: bool,
}

impl Reply {
    fn json(body: Value) -> Reply {
        Reply::with_status(200, body)
    }

    fn with_status(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
            deduplicated: false,
        }
    }

    fn no_content() -> Reply {
        Reply {
            status: 204,
            body: None,
            headers: Vec::new(),
            deduplicated: false,
        }
    }

    fn error(status: u16, code: u64, message: &str) -> Reply {
        Reply::with_status(status, json!({ "message": message, "code": code }))
    }

    /// Discord's 429: the wait is in the body (`retry_after`, seconds) and in headers.
    fn rate_limited(retry_after: f64) -> Reply {
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

    fn unknown_channel() -> Reply {
        Reply::error(404, 10003, "Unknown Channel")
    }

    fn unknown_message() -> Reply {
        Reply::error(404, 10008, "Unknown Message")
    }

    fn not_found() -> Reply {
        Reply::error(404, 0, "404: Not Found")
    }

    fn bad_form(what: &str) -> Reply {
        Reply::error(400, 50035, &format!("Invalid Form Body: {what}"))
    }

    fn into_response(self) -> Response {
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

/// A file from a multipart upload.
struct Upload {
    field: String,
    filename: String,
    size: usize,
    content_type: Option<String>,
}

impl FakeDiscord {
    /// Starts on an ephemeral loopback port.
    pub async fn start() -> FakeDiscord {
        FakeDiscord::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind fake Discord on 127.0.0.1:0")
    }

    /// Starts on `addr` (the sandbox uses a fixed port).
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<FakeDiscord> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = State::new(format!("ws://{addr}/gateway"));
        let fake = FakeDiscord {
            inner: Arc::new(Inner {
                addr,
                state: Mutex::new(state),
            }),
        };
        let app = Router::new()
            .route("/gateway", get(gateway_upgrade))
            .fallback(rest)
            .with_state(fake.clone());
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                eprintln!("fake Discord server stopped: {err}");
            }
        });
        Ok(fake)
    }

    /// `http://127.0.0.1:PORT`: what DISCORD_API_URL / the serenity proxy is set to.
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// The websocket URL handed out by `GET /gateway`.
    pub fn gateway_url(&self) -> String {
        format!("ws://{}/gateway", self.inner.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Every REST request received, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Successful (200) message creates in `channel`, without nonce duplicates.
    pub fn message_posts(&self, channel: u64) -> Vec<Recorded> {
        let path = format!("/api/v10/channels/{channel}/messages");
        self.lock()
            .requests
            .iter()
            .filter(|r| r.method == "POST" && r.path == path && r.status == 200 && !r.deduplicated)
            .cloned()
            .collect()
    }

    /// Successful (200) message edits in `channel`.
    pub fn message_edits(&self, channel: u64) -> Vec<Recorded> {
        let prefix = format!("/api/v10/channels/{channel}/messages/");
        self.lock()
            .requests
            .iter()
            .filter(|r| {
                r.method == "PATCH"
                    && r.status == 200
                    && r.path
                        .strip_prefix(&prefix)
                        .is_some_and(|rest| !rest.contains('/'))
            })
            .cloned()
            .collect()
    }

    /// Current messages of `channel` (after edits and reactions), oldest first.
    pub fn messages(&self, channel: u64) -> Vec<Value> {
        self.lock()
            .messages
            .values()
            .filter(|m| m.channel == channel && m.visible)
            .map(StoredMessage::render)
            .collect()
    }

    /// One message by id, wherever it lives (including ephemeral interaction replies).
    pub fn message(&self, id: u64) -> Option<Value> {
        self.lock().messages.get(&id).map(StoredMessage::render)
    }

    /// The next `n` requests to `/api/v10/channels/**` get `fault` instead of normal handling.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        let mut state = self.lock();
        state.faults.extend(std::iter::repeat_n(fault, n));
    }

    /// While down, every `/api/v10/channels/**` request answers 500.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// Enforce Discord's 5 messages per 5 s per channel with 429s.
    pub fn set_rate_limits(&self, enforce: bool) {
        let mut state = self.lock();
        state.rate_limits = enforce;
        state.recent_posts.clear();
    }

    /// HELLO's heartbeat interval for connections opened from now on.
    pub fn set_heartbeat_interval(&self, interval: Duration) {
        self.lock().gateway.heartbeat_ms = interval.as_millis().max(1) as u64;
    }

    /// Websocket connections opened so far.
    pub fn gateway_connections(&self) -> usize {
        self.lock().gateway.connections_seen
    }

    /// Completed IDENTIFYs (READY and GUILD_CREATE sent).
    pub fn identify_count(&self) -> usize {
        self.lock().gateway.identifies.len()
    }

    /// IDENTIFY payloads (`d`) received, token included, e.g. to assert intents.
    pub fn identify_payloads(&self) -> Vec<Value> {
        self.lock().gateway.identifies.clone()
    }

    /// Successful RESUMEs.
    pub fn resume_count(&self) -> usize {
        self.lock().gateway.resumes
    }

    /// True once a client has identified and received READY + GUILD_CREATE.
    pub async fn wait_for_identify(&self, timeout: Duration) -> bool {
        self.wait_for(timeout, |fake| fake.identify_count() > 0)
            .await
    }

    /// Polls `f` every 20 ms until it holds or `timeout` passes.
    pub async fn wait_for<F: Fn(&FakeDiscord) -> bool>(&self, timeout: Duration, f: F) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if f(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Commands registered with PUT/POST, global ones first, as Discord Command JSON.
    pub fn registered_commands(&self) -> Vec<Value> {
        let state = self.lock();
        let global = state.commands.iter().filter(|c| c.guild.is_none());
        let guild = state.commands.iter().filter(|c| c.guild.is_some());
        global.chain(guild).map(|c| c.json.clone()).collect()
    }

    /// Paths that successful PUT/POST command registrations went to, in order.
    pub fn command_registration_paths(&self) -> Vec<String> {
        self.lock().command_paths.clone()
    }

    /// Sends a slash command (INTERACTION_CREATE type 2) from `user` in `channel`; returns the
    /// interaction id. `options` is Discord's `data.options` array (or Null for none).
    pub async fn send_slash_command(
        &self,
        channel: u64,
        user: u64,
        name: &str,
        options: Value,
    ) -> u64 {
        let interaction = {
            let mut state = self.lock();
            let command_id = state
                .commands
                .iter()
                .find(|c| c.json["name"] == name)
                .and_then(|c| c.json["id"].as_str().and_then(|id| id.parse().ok()))
                .unwrap_or_else(|| state.snowflake());
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
                "guild_id": GUILD_ID.to_string(),
            });
            let resolved = resolve_options(&state, &data["options"]);
            if !resolved.as_object().is_some_and(|r| r.is_empty()) {
                data["resolved"] = resolved;
            }
            interaction_json(&state, id, 2, channel, user, data, None)
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
            interaction_json(&state, id, 3, channel, user, data, Some(rendered))
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
            interaction_json(&state, id, 5, channel, user, data, rendered)
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
            let command_id = state
                .commands
                .iter()
                .find(|c| c.json["name"] == name)
                .and_then(|c| c.json["id"].as_str().and_then(|id| id.parse().ok()))
                .unwrap_or_else(|| state.snowflake());
            let id = state.snowflake();
            let data = json!({
                "id": command_id.to_string(),
                "name": name,
                "type": 1,
                "options": options,
                "guild_id": GUILD_ID.to_string(),
            });
            interaction_json(&state, id, 4, channel, user, data, None)
        };
        self.dispatch_checked("INTERACTION_CREATE", interaction.clone());
        id_of(&interaction)
    }

    /// Callback bodies for the interaction plus webhook follow-ups and edits, in order, each
    /// tagged with `"_via"`: "callback", "followup", "edit_original" or "edit_followup".
    pub fn interaction_responses(&self, interaction_id: u64) -> Vec<Value> {
        self.lock()
            .interactions
            .get(&interaction_id)
            .map(|i| i.responses.clone())
            .unwrap_or_default()
    }

    /// Sends a dispatch to every live gateway session. Panics if serenity would not parse it as a
    /// known event; use `send_dispatch_unchecked` to send deliberately unknown events.
    pub async fn send_dispatch(&self, event: &str, d: Value) {
        self.dispatch_checked(event, d);
    }

    /// Like `send_dispatch` without the serenity parse check.
    pub async fn send_dispatch_unchecked(&self, event: &str, d: Value) {
        self.lock().dispatch(event, d);
    }

    /// MESSAGE_REACTION_ADD from `user`; also recorded on the stored message.
    /// `emoji` is a unicode emoji or a custom one as `name:id`.
    pub async fn add_reaction(&self, channel: u64, message: u64, user: u64, emoji: &str) {
        let emoji = parse_emoji(emoji);
        let d = {
            let mut state = self.lock();
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
                "guild_id": GUILD_ID.to_string(),
                "member": member_json(user),
                "emoji": emoji,
                "burst": false,
                "burst_colors": [],
                "type": 0,
            });
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
        if let Some(stored) = self.lock().messages.get_mut(&message) {
            stored.remove_reaction(&emoji, user);
        }
        let d = json!({
            "user_id": user.to_string(),
            "channel_id": channel.to_string(),
            "message_id": message.to_string(),
            "guild_id": GUILD_ID.to_string(),
            "emoji": emoji,
            "burst": false,
            "type": 0,
        });
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
            let mut message = message_json(&state, id, channel, user_json(user), &body, Vec::new());
            message["mentions"] = mentions_in(content);
            state.store(id, channel, true, message.clone());
            // Gateway guild messages also carry the author's member (without `user`).
            let mut member = member_json(user);
            if let Some(member) = member.as_object_mut() {
                member.remove("user");
            }
            message["member"] = member;
            message
        };
        let id = id_of(&d);
        self.dispatch_checked("MESSAGE_CREATE", d);
        id
    }

    /// Closes every gateway connection with `code`. Codes Discord treats as fatal or
    /// session-ending (4004, 4007, 4009, 4010-4014, 1000, 1001) also invalidate the session, so
    /// a RESUME afterwards gets INVALID_SESSION. Waits (up to 2 s) until the sockets are gone.
    pub async fn close_gateway(&self, code: u16) {
        let resumable = !matches!(code, 1000 | 1001 | 4004 | 4007 | 4009 | 4010..=4014);
        let closed: Vec<u64> = {
            let mut state = self.lock();
            let gateway = &mut state.gateway;
            for tx in gateway.conns.values() {
                let _ = tx.send(Outgoing::Close(code));
            }
            for session in gateway.sessions.values_mut() {
                if session.conn.is_some() {
                    session.resumable = resumable;
                }
            }
            gateway.conns.keys().copied().collect()
        };
        // Only the closed sockets: the client may already have reconnected on a new one.
        self.wait_for(Duration::from_secs(2), |fake| {
            let state = fake.lock();
            closed
                .iter()
                .all(|conn| !state.gateway.conns.contains_key(conn))
        })
        .await;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not turn every later call into a poison panic.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn dispatch_checked(&self, event: &str, d: Value) {
        if let Err(err) = check_dispatch(event, &d) {
            panic!("fake Discord built a {event} dispatch serenity cannot parse: {err}\n{d:#}");
        }
        self.lock().dispatch(event, d);
    }

    async fn handle_rest(
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
            });
            state.requests.len() - 1
        };

        let segments: Vec<String> = match path.strip_prefix("/api/v10/") {
            Some(rest) => rest.split('/').map(percent_decode).collect(),
            None => Vec::new(),
        };
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();

        let mut reply = None;
        if segments.first() == Some(&"channels") {
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
        }
        reply.into_response()
    }

    async fn run_gateway(self, socket: WebSocket) {
        let (mut sink, mut stream) = socket.split();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (conn, heartbeat_ms) = {
            let mut state = self.lock();
            let gateway = &mut state.gateway;
            gateway.next_conn += 1;
            gateway.connections_seen += 1;
            gateway.conns.insert(gateway.next_conn, tx.clone());
            (gateway.next_conn, gateway.heartbeat_ms)
        };

        // One writer per socket, so dispatches queued under the state lock keep their order.
        let writer = tokio::spawn(async move {
            while let Some(out) = rx.recv().await {
                let result = match out {
                    Outgoing::Text(text) => sink.send(WsMessage::Text(text.into())).await,
                    Outgoing::Close(code) => {
                        let frame = CloseFrame {
                            code,
                            reason: "closed by fake Discord".into(),
                        };
                        let _ = sink.send(WsMessage::Close(Some(frame))).await;
                        break;
                    }
                };
                if result.is_err() {
                    break;
                }
            }
        });

        let hello =
            json!({ "op": 10, "s": null, "t": null, "d": { "heartbeat_interval": heartbeat_ms } });
        let _ = tx.send(Outgoing::Text(hello.to_string()));

        while let Some(Ok(message)) = stream.next().await {
            let text = match message {
                WsMessage::Text(text) => text.to_string(),
                WsMessage::Close(_) => break,
                _ => continue,
            };
            let Ok(payload) = serde_json::from_str::<Value>(&text) else {
                // Discord closes with 4002 (decode error) on garbage.
                let _ = tx.send(Outgoing::Close(4002));
                break;
            };
            match payload["op"].as_u64() {
                Some(1) => {
                    let _ = tx.send(Outgoing::Text(json!({ "op": 11 }).to_string()));
                }
                Some(2) => self.identify(conn, &payload["d"]),
                Some(6) => self.resume(conn, &tx, &payload["d"]),
                // Presence updates, voice state, member requests: nothing to answer.
                _ => {}
            }
        }

        {
            let mut state = self.lock();
            state.gateway.conns.remove(&conn);
            for session in state.gateway.sessions.values_mut() {
                if session.conn == Some(conn) {
                    session.conn = None;
                }
            }
        }
        writer.abort();
    }

    fn identify(&self, conn: u64, d: &Value) {
        let mut state = self.lock();
        state.gateway.next_session += 1;
        let session_id = format!("fake-session-{}", state.gateway.next_session);
        let mut ready = json!({
            "v": 10,
            "user": {
                "id": BOT_USER_ID.to_string(),
                "username": "loopbot",
                "discriminator": "0",
                "global_name": null,
                "avatar": null,
                "bot": true,
                "verified": true,
                "mfa_enabled": false,
                "flags": 0,
                "email": null,
            },
            "guilds": [{ "id": GUILD_ID.to_string(), "unavailable": true }],
            "session_id": session_id,
            "resume_gateway_url": self.gateway_url(),
            "application": { "id": APP_ID.to_string(), "flags": 0 },
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
        });
        if d["shard"].is_array() {
            ready["shard"] = d["shard"].clone();
        }
        let guild = guild_create_json(&state);
        for (event, payload) in [("READY", &ready), ("GUILD_CREATE", &guild)] {
            if let Err(err) = check_dispatch(event, payload) {
                panic!("fake Discord built a {event} dispatch serenity cannot parse: {err}");
            }
        }

        let gateway = &mut state.gateway;
        // One bot per fake: a fresh IDENTIFY means older, disconnected sessions are abandoned.
        gateway.sessions.retain(|_, s| s.conn.is_some());
        gateway.sessions.insert(
            session_id.clone(),
            Session {
                seq: 0,
                conn: Some(conn),
                resumable: true,
                log: Vec::new(),
            },
        );
        gateway.send_to_session(&session_id, "READY", &ready);
        gateway.send_to_session(&session_id, "GUILD_CREATE", &guild);
        let mut identify = d.clone();
        if let Some(identify) = identify.as_object_mut() {
            identify.remove("properties");
        }
        gateway.identifies.push(identify);
    }

    fn resume(&self, conn: u64, tx: &mpsc::UnboundedSender<Outgoing>, d: &Value) {
        let session_id = d["session_id"].as_str().unwrap_or_default().to_string();
        let last_seq = d["seq"].as_u64().unwrap_or(0);
        let mut state = self.lock();
        let gateway = &mut state.gateway;
        let Some(session) = gateway
            .sessions
            .get_mut(&session_id)
            .filter(|s| s.resumable)
        else {
            // d: false tells the client to IDENTIFY afresh.
            let _ = tx.send(Outgoing::Text(json!({ "op": 9, "d": false }).to_string()));
            return;
        };
        session.conn = Some(conn);
        for (_, frame) in session.log.iter().filter(|(seq, _)| *seq > last_seq) {
            let _ = tx.send(Outgoing::Text(frame.clone()));
        }
        gateway.send_to_session(&session_id, "RESUMED", &json!({ "_trace": [] }));
        gateway.resumes += 1;
    }
}

struct Request<'a> {
    method: &'a Method,
    segments: &'a [&'a str],
    query: Option<&'a str>,
    body: &'a Value,
    uploads: &'a [Upload],
}

impl State {
    fn new(gateway_url: String) -> State {
        let mut channels = BTreeMap::new();
        for (id, name, position) in [
            (CHANNEL_ID, "deploys", 0),
            (OTHER_CHANNEL_ID, "payments", 1),
        ] {
            channels.insert(id, text_channel_json(id, name, position));
        }
        State {
            requests: Vec::new(),
            messages: BTreeMap::new(),
            channels,
            commands: Vec::new(),
            command_paths: Vec::new(),
            interactions: HashMap::new(),
            faults: VecDeque::new(),
            down: false,
            rate_limits: false,
            recent_posts: HashMap::new(),
            last_snowflake: 0,
            gateway_url,
            gateway: Gateway {
                heartbeat_ms: DEFAULT_HEARTBEAT_MS,
                ..Gateway::default()
            },
        }
    }

    /// Real-looking snowflakes (creation time in the top bits), strictly increasing.
    fn snowflake(&mut self) -> u64 {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let id = (now_ms.saturating_sub(DISCORD_EPOCH_MS) << 22).max(self.last_snowflake + 1);
        self.last_snowflake = id;
        id
    }

    /// Attachment objects for uploaded `files[n]`; nothing serves their URLs.
    fn attachments(&mut self, uploads: &[Upload]) -> Vec<Value> {
        let uploads = uploads
            .iter()
            .filter(|u| u.field.starts_with("files[") || u.field == "file");
        uploads
            .map(|upload| {
                let id = self.snowflake();
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

    fn store(&mut self, id: u64, channel: u64, visible: bool, json: Value) {
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

    fn dispatch(&mut self, event: &str, d: Value) {
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

    fn remember_interaction(&mut self, d: &Value) {
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

    fn route(&mut self, req: &Request) -> Reply {
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
            (M::GET, ["guilds", guild]) if parse_id(guild) == Some(GUILD_ID) => {
                Reply::json(guild_create_json(self))
            }
            (M::GET, ["guilds", guild, "channels"]) if parse_id(guild) == Some(GUILD_ID) => {
                let channels = self
                    .channels
                    .values()
                    .filter(|c| c["type"] == 0)
                    .cloned()
                    .collect();
                Reply::json(Value::Array(channels))
            }
            (M::GET, ["guilds", guild, "members", user]) if parse_id(guild) == Some(GUILD_ID) => {
                match parse_id(user).filter(|u| GUILD_MEMBERS.contains(u)) {
                    Some(user) => Reply::json(member_json(user)),
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

    fn channel(&self, raw: &str) -> Option<u64> {
        parse_id(raw).filter(|id| self.channels.contains_key(id))
    }

    fn commands(
        &mut self,
        req: &Request,
        method: &Method,
        app: &str,
        guild: Option<&str>,
    ) -> Reply {
        if parse_id(app) != Some(APP_ID) {
            return Reply::error(404, 10002, "Unknown Application");
        }
        let guild = match guild.map(parse_id) {
            None => None,
            Some(Some(GUILD_ID)) => Some(GUILD_ID),
            Some(_) => return Reply::error(404, 10004, "Unknown Guild"),
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

    fn existing_command_id(&self, guild: Option<u64>, body: &Value) -> Option<u64> {
        let kind = body.get("type").cloned().unwrap_or(json!(1));
        self.commands
            .iter()
            .find(|c| c.guild == guild && c.json["name"] == body["name"] && c.json["type"] == kind)
            .and_then(|c| c.json["id"].as_str()?.parse().ok())
    }

    fn create_message(&mut self, req: &Request, channel: &str) -> Reply {
        let Some(channel) = self.channel(channel) else {
            return Reply::unknown_channel();
        };
        let body = req.body;
        if !body.is_object() {
            return Reply::bad_form("expected a JSON object");
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

    fn list_messages(&self, req: &Request, channel: &str) -> Reply {
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

    fn message_route(
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
    fn edit_message(&mut self, id: u64, req: &Request) -> Reply {
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

    fn reaction_route(
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

    fn create_thread(&mut self, req: &Request, channel: &str, message: Option<&str>) -> Reply {
        let Some(parent) = self.channel(channel) else {
            return Reply::unknown_channel();
        };
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
        let thread = json!({
            "id": id.to_string(),
            "type": kind,
            "guild_id": GUILD_ID.to_string(),
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

    fn interaction_callback(&mut self, req: &Request, id: &str, token: &str) -> Reply {
        let Some(id) = parse_id(id) else {
            return Reply::error(404, 10062, "Unknown interaction");
        };
        let Some(record) = self.interactions.get(&id).filter(|r| r.token == token) else {
            return Reply::error(404, 10062, "Unknown interaction");
        };
        if record.acknowledged {
            return Reply::error(400, 40060, "Interaction has already been acknowledged.");
        }
        let channel = record.channel;
        let component_message = record.message;
        let kind = req.body["type"].as_u64().unwrap_or(0);
        let data = req.body.get("data").cloned().unwrap_or(json!({}));
        let flags = data["flags"].as_u64().unwrap_or(0);
        let original = match kind {
            // CHANNEL_MESSAGE_WITH_SOURCE and DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE.
            4 | 5 => {
                let mut body = data.clone();
                if kind == 5 {
                    body = json!({ "content": "", "flags": flags | LOADING });
                }
                let message_id = self.snowflake();
                let attachments = self.attachments(req.uploads);
                let message = message_json(
                    self,
                    message_id,
                    channel,
                    user_json(BOT_USER_ID),
                    &body,
                    attachments,
                );
                self.store(message_id, channel, flags & EPHEMERAL == 0, message);
                Some(message_id)
            }
            // UPDATE_MESSAGE edits the message the component was on.
            7 => {
                if let Some(message) = component_message.filter(|m| self.messages.contains_key(m)) {
                    let edit = Request {
                        body: &data,
                        ..*req
                    };
                    self.edit_message(message, &edit);
                }
                component_message
            }
            // PONG, DEFERRED_UPDATE_MESSAGE, autocomplete results, MODAL.
            1 | 6 | 8 | 9 => None,
            _ => return Reply::bad_form("type: Value must be one of {1, 4, 5, 6, 7, 8, 9}."),
        };
        let Some(record) = self.interactions.get_mut(&id) else {
            return Reply::error(404, 10062, "Unknown interaction");
        };
        record.acknowledged = true;
        record.original = original;
        record.responses.push(tagged(req.body, "callback"));
        let with_response = parse_query(req.query)
            .get("with_response")
            .is_some_and(|v| v == "true");
        if with_response {
            let message = original
                .and_then(|m| self.messages.get(&m))
                .map(StoredMessage::render);
            return Reply::json(json!({
                "interaction": { "id": id.to_string(), "type": 2, "response_message_id": original.map(|m| m.to_string()) },
                "resource": { "type": kind, "message": message },
            }));
        }
        Reply::no_content()
    }

    fn interaction_by_token(&self, app: &str, token: &str) -> Option<u64> {
        if parse_id(app) != Some(APP_ID) {
            return None;
        }
        self.interactions
            .iter()
            .find(|(_, r)| r.token == token && r.acknowledged)
            .map(|(id, _)| *id)
    }

    fn followup(&mut self, req: &Request, app: &str, token: &str) -> Reply {
        let Some(interaction) = self.interaction_by_token(app, token) else {
            return Reply::error(404, 10015, "Unknown Webhook");
        };
        let channel = self.interactions[&interaction].channel;
        let flags = req.body["flags"].as_u64().unwrap_or(0);
        let id = self.snowflake();
        let attachments = self.attachments(req.uploads);
        let message = message_json(
            self,
            id,
            channel,
            user_json(BOT_USER_ID),
            req.body,
            attachments,
        );
        self.store(id, channel, flags & EPHEMERAL == 0, message.clone());
        if let Some(record) = self.interactions.get_mut(&interaction) {
            record.responses.push(tagged(req.body, "followup"));
        }
        Reply::json(message)
    }

    fn webhook_message(
        &mut self,
        req: &Request,
        method: &Method,
        app: &str,
        token: &str,
        which: &str,
    ) -> Reply {
        let Some(interaction) = self.interaction_by_token(app, token) else {
            return Reply::error(404, 10015, "Unknown Webhook");
        };
        let original = which == "@original";
        let id = if original {
            self.interactions[&interaction].original
        } else {
            parse_id(which)
        };
        let Some(id) = id.filter(|id| self.messages.contains_key(id)) else {
            return Reply::unknown_message();
        };
        match *method {
            Method::GET => Reply::json(self.messages[&id].render()),
            Method::PATCH => {
                let reply = self.edit_message(id, req);
                if reply.status == 200 {
                    let via = if original {
                        "edit_original"
                    } else {
                        "edit_followup"
                    };
                    if let Some(record) = self.interactions.get_mut(&interaction) {
                        record.responses.push(tagged(req.body, via));
                    }
                }
                reply
            }
            Method::DELETE => {
                self.messages.remove(&id);
                Reply::no_content()
            }
            _ => Reply::error(405, 0, "405: Method Not Allowed"),
        }
    }
}

impl Gateway {
    /// Sends one dispatch with the session's next sequence number, logging it for RESUME replay.
    fn send_to_session(&mut self, session_id: &str, event: &str, d: &Value) {
        let Some(session) = self.sessions.get_mut(session_id) else {
            return;
        };
        session.seq += 1;
        let frame = json!({ "op": 0, "s": session.seq, "t": event, "d": d }).to_string();
        session.log.push((session.seq, frame.clone()));
        if let Some(tx) = session.conn.and_then(|conn| self.conns.get(&conn)) {
            // A closed socket is fine: the frame stays in the log for RESUME.
            let _ = tx.send(Outgoing::Text(frame));
        }
    }
}

impl StoredMessage {
    fn render(&self) -> Value {
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

    fn add_reaction(&mut self, emoji: &Value, user: u64) {
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

    fn remove_reaction(&mut self, emoji: &Value, user: u64) {
        for reaction in &mut self.reactions {
            if same_emoji(&reaction.emoji, emoji) {
                reaction.users.retain(|u| *u != user);
            }
        }
        self.reactions.retain(|r| !r.users.is_empty());
    }
}

async fn rest(
    AxumState(fake): AxumState<FakeDiscord>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fake.handle_rest(method, uri, headers, body).await
}

async fn gateway_upgrade(
    AxumState(fake): AxumState<FakeDiscord>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |socket| fake.run_gateway(socket))
}

// ---------------------------------------------------------------------------------------------
// JSON builders. Shapes follow Discord's docs; `check_dispatch` and the unit tests below hold them
// to what serenity 0.12.5 actually deserializes.
// ---------------------------------------------------------------------------------------------

/// Users who are members of the guild.
const GUILD_MEMBERS: [u64; 4] = [BOT_USER_ID, ADMIN_USER_ID, PLAIN_USER_ID, OWNER_USER_ID];

fn user_json(id: u64) -> Value {
    let (name, bot) = match id {
        BOT_USER_ID => ("loopbot".to_string(), true),
        ADMIN_USER_ID => ("alice-admin".to_string(), false),
        PLAIN_USER_ID => ("bob".to_string(), false),
        OWNER_USER_ID => ("olivia-owner".to_string(), false),
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

fn member_json(user: u64) -> Value {
    let roles: Vec<String> = match user {
        ADMIN_USER_ID => vec![ADMIN_ROLE_ID.to_string()],
        BOT_USER_ID => vec![BOT_ROLE_ID.to_string()],
        _ => Vec::new(),
    };
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

fn permissions_of(user: u64) -> u64 {
    match user {
        ADMIN_USER_ID => ADMIN_PERMISSIONS,
        BOT_USER_ID => BOT_PERMISSIONS,
        // The owner implicitly has every permission.
        OWNER_USER_ID => ADMIN_PERMISSIONS | ADMINISTRATOR,
        _ => PLAIN_PERMISSIONS,
    }
}

fn role_json(id: u64, name: &str, permissions: u64, position: u64, managed: bool) -> Value {
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

fn text_channel_json(id: u64, name: &str, position: u64) -> Value {
    json!({
        "id": id.to_string(),
        "type": 0,
        "guild_id": GUILD_ID.to_string(),
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

fn application_json() -> Value {
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

fn guild_create_json(state: &State) -> Value {
    let channels: Vec<&Value> = state.channels.values().filter(|c| c["type"] == 0).collect();
    let threads: Vec<&Value> = state.channels.values().filter(|c| c["type"] != 0).collect();
    let members: Vec<Value> = GUILD_MEMBERS.iter().map(|u| member_json(*u)).collect();
    let mut guild = json!({
        "id": GUILD_ID.to_string(),
        "name": "Loop Test Guild",
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
        "roles": [
            // @everyone's id is the guild id; serenity's cache-side permission check needs it.
            role_json(GUILD_ID, "@everyone", EVERYONE_PERMISSIONS, 0, false),
            role_json(ADMIN_ROLE_ID, "admins", ADMIN_PERMISSIONS, 1, false),
            role_json(BOT_ROLE_ID, "loopbot", BOT_PERMISSIONS, 2, true),
        ],
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

fn command_json(version: u64, id: u64, guild: Option<u64>, body: &Value) -> Value {
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
fn message_json(
    state: &State,
    id: u64,
    channel: u64,
    author: Value,
    body: &Value,
    attachments: Vec<Value>,
) -> Value {
    let mut message = json!({
        "id": id.to_string(),
        "channel_id": channel.to_string(),
        "guild_id": GUILD_ID.to_string(),
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
        reference["guild_id"] = json!(GUILD_ID.to_string());
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

fn interaction_json(
    state: &State,
    id: u64,
    kind: u64,
    channel: u64,
    user: u64,
    data: Value,
    message: Option<Value>,
) -> Value {
    let mut member = member_json(user);
    member["permissions"] = json!(permissions_of(user).to_string());
    let channel_name = state
        .channels
        .get(&channel)
        .and_then(|c| c["name"].as_str())
        .unwrap_or("unknown");
    let channel_type = state
        .channels
        .get(&channel)
        .and_then(|c| c["type"].as_u64())
        .unwrap_or(0);
    let mut interaction = json!({
        "id": id.to_string(),
        "application_id": APP_ID.to_string(),
        "type": kind,
        "data": data,
        "guild_id": GUILD_ID.to_string(),
        "channel": {
            "id": channel.to_string(),
            "type": channel_type,
            "name": channel_name,
            "permissions": permissions_of(user).to_string(),
        },
        "channel_id": channel.to_string(),
        "member": member,
        "token": format!("fake-interaction-token-{id}"),
        "version": 1,
        "app_permissions": BOT_PERMISSIONS.to_string(),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": { "0": GUILD_ID.to_string() },
        "context": 0,
        "attachment_size_limit": 26_214_400,
    });
    if let Some(message) = message {
        interaction["message"] = message;
    }
    interaction
}

/// `data.resolved` for USER (6) and CHANNEL (7) options, walking sub-commands.
fn resolve_options(state: &State, options: &Value) -> Value {
    fn walk(state: &State, options: &Value, resolved: &mut serde_json::Map<String, Value>) {
        for option in options.as_array().into_iter().flatten() {
            let id = option["value"]
                .as_str()
                .and_then(parse_id)
                .or_else(|| option["value"].as_u64());
            match (option["type"].as_u64(), id) {
                (Some(1 | 2), _) => walk(state, &option["options"], resolved),
                (Some(6), Some(user)) => {
                    let mut member = member_json(user);
                    if let Some(member) = member.as_object_mut() {
                        member.remove("user");
                        member.insert(
                            "permissions".into(),
                            json!(permissions_of(user).to_string()),
                        );
                    }
                    insert(resolved, "users", user, user_json(user));
                    insert(resolved, "members", user, member);
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
    fn insert(resolved: &mut serde_json::Map<String, Value>, kind: &str, id: u64, value: Value) {
        let map = resolved.entry(kind).or_insert_with(|| json!({}));
        map[id.to_string()] = value;
    }
    let mut resolved = serde_json::Map::new();
    walk(state, options, &mut resolved);
    Value::Object(resolved)
}

/// Users mentioned as `<@id>` / `<@!id>` in content, as Discord lists them in `mentions`.
fn mentions_in(content: &str) -> Value {
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
            let mut member = member_json(id);
            if let Some(member) = member.as_object_mut() {
                member.remove("user");
            }
            user["member"] = member;
            user
        })
        .collect();
    Value::Array(mentions)
}

/// `✅` → `{"id":null,"name":"✅"}`; `name:123` or `<:name:123>` → custom emoji.
fn parse_emoji(raw: &str) -> Value {
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

fn same_emoji(a: &Value, b: &Value) -> bool {
    if a["id"].is_null() && b["id"].is_null() {
        a["name"] == b["name"]
    } else {
        a["id"] == b["id"]
    }
}

fn tagged(body: &Value, via: &str) -> Value {
    let mut tagged = match body {
        Value::Object(_) => body.clone(),
        other => json!({ "_body": other }),
    };
    tagged["_via"] = json!(via);
    tagged
}

fn authored_by_bot(message: &Value) -> bool {
    message["author"]["id"].as_str().and_then(parse_id) == Some(BOT_USER_ID)
}

fn id_of(value: &Value) -> u64 {
    value["id"].as_str().and_then(parse_id).unwrap_or(0)
}

fn parse_id(raw: &str) -> Option<u64> {
    raw.parse().ok()
}

fn timestamp_now() -> String {
    serenity::model::Timestamp::now().to_string()
}

fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Request bodies.
// ---------------------------------------------------------------------------------------------

/// JSON body, or for multipart the parsed `payload_json` (plus `"_files"`) and the uploads.
fn parse_body(headers: &HeaderMap, body: &[u8]) -> (Value, Vec<Upload>) {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(boundary) = content_type
        .strip_prefix("multipart/form-data")
        .and_then(|rest| {
            rest.split(';')
                .find_map(|p| p.trim().strip_prefix("boundary="))
        })
    {
        return parse_multipart(body, boundary.trim_matches('"'));
    }
    if body.is_empty() {
        return (Value::Null, Vec::new());
    }
    (
        serde_json::from_slice(body).unwrap_or(Value::Null),
        Vec::new(),
    )
}

fn parse_multipart(body: &[u8], boundary: &str) -> (Value, Vec<Upload>) {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut starts = Vec::new();
    let mut from = 0;
    while let Some(pos) = find(&body[from..], delimiter) {
        starts.push(from + pos);
        from += pos + delimiter.len();
    }
    let mut payload = Value::Null;
    let mut uploads = Vec::new();
    for pair in starts.windows(2) {
        let part = &body[pair[0] + delimiter.len()..pair[1]];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let Some(split) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]);
        let content = &part[split + 4..];
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in head.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            if key.eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_string());
            } else if key.eq_ignore_ascii_case("content-disposition") {
                for param in value.split(';').skip(1) {
                    match param.trim().split_once('=') {
                        Some(("name", v)) => name = Some(v.trim_matches('"').to_string()),
                        Some(("filename", v)) => filename = Some(v.trim_matches('"').to_string()),
                        _ => {}
                    }
                }
            }
        }
        match (name, filename) {
            (Some(name), None) if name == "payload_json" => {
                payload = serde_json::from_slice(content).unwrap_or(Value::Null);
            }
            (Some(field), Some(filename)) => {
                uploads.push(Upload {
                    field,
                    filename,
                    size: content.len(),
                    content_type,
                });
            }
            _ => {}
        }
    }
    let files: Vec<Value> = uploads.iter().map(|u| json!(u.filename)).collect();
    if !payload.is_object() {
        payload = json!({});
    }
    payload["_files"] = Value::Array(files);
    (payload, uploads)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// Checking payloads against serenity's own models.
// ---------------------------------------------------------------------------------------------

fn check_as<T: serde::de::DeserializeOwned>(value: &Value) -> Result<(), String> {
    serde_path_to_error::deserialize::<_, T>(value.clone())
        .map(drop)
        .map_err(|err| format!("{} at `{}`", err.inner(), err.path()))
}

/// Err unless serenity parses `d` as the event `name` (and not as `Event::Unknown`).
fn check_dispatch(name: &str, d: &Value) -> Result<(), String> {
    use serenity::model::prelude as m;
    match name {
        "READY" => check_as::<m::Ready>(d)?,
        "GUILD_CREATE" => check_as::<m::Guild>(d)?,
        "INTERACTION_CREATE" => check_as::<m::Interaction>(d)?,
        "MESSAGE_CREATE" => check_as::<m::Message>(d)?,
        "MESSAGE_REACTION_ADD" | "MESSAGE_REACTION_REMOVE" => check_as::<m::Reaction>(d)?,
        "THREAD_CREATE" | "CHANNEL_CREATE" => check_as::<m::GuildChannel>(d)?,
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

#[cfg(test)]
mod tests {
    use super::*;
    // Unused where a harness-less target (the benchmark) compiles this module under cfg(test).
    #[allow(unused_imports)]
    use serenity::model::prelude as m;

    fn state() -> State {
        State::new("ws://127.0.0.1:9/gateway".into())
    }

    #[test]
    fn gateway_payloads_parse_with_serenity() {
        let mut state = state();
        let guild = guild_create_json(&state);
        check_dispatch("GUILD_CREATE", &guild).unwrap();
        check_as::<serenity::model::event::GuildCreateEvent>(&guild).unwrap();

        let id = state.snowflake();
        let data = json!({ "id": "1", "name": "status", "type": 1, "options": [
            { "name": "who", "type": 6, "value": PLAIN_USER_ID.to_string() },
            { "name": "kind", "type": 3, "value": "deploys" },
        ]});
        let mut with_resolved = data.clone();
        with_resolved["resolved"] = resolve_options(&state, &data["options"]);
        let slash = interaction_json(
            &state,
            id,
            2,
            CHANNEL_ID,
            ADMIN_USER_ID,
            with_resolved,
            None,
        );
        check_dispatch("INTERACTION_CREATE", &slash).unwrap();
        let parsed: m::Interaction = serde_json::from_value(slash).unwrap();
        let command = parsed.command().expect("slash command");
        assert!(command.member.unwrap().permissions.unwrap().manage_guild());
        assert_eq!(command.data.resolved.users.len(), 1);

        let message = message_json(
            &state,
            7,
            CHANNEL_ID,
            user_json(PLAIN_USER_ID),
            &json!({ "content": "hi <@1>" }),
            Vec::new(),
        );
        check_dispatch("MESSAGE_CREATE", &message).unwrap();
        let button = interaction_json(
            &state,
            id + 1,
            3,
            CHANNEL_ID,
            PLAIN_USER_ID,
            json!({ "custom_id": "ack", "component_type": 2 }),
            Some(message),
        );
        check_dispatch("INTERACTION_CREATE", &button).unwrap();
    }

    #[test]
    fn rest_payloads_parse_with_serenity() {
        let mut state = state();
        check_as::<m::CurrentApplicationInfo>(&application_json()).unwrap();
        check_as::<m::CurrentUser>(&user_json(BOT_USER_ID)).unwrap();
        check_as::<m::Member>(&member_json(ADMIN_USER_ID)).unwrap();
        check_as::<m::PartialGuild>(&guild_create_json(&state)).unwrap();
        check_as::<m::GuildChannel>(&state.channels[&CHANNEL_ID]).unwrap();

        let command = command_json(
            1,
            2,
            Some(GUILD_ID),
            &json!({ "name": "status", "description": "d", "options": [
                { "type": 3, "name": "kind", "description": "k", "required": false },
            ]}),
        );
        check_as::<Vec<m::Command>>(&json!([command])).unwrap();

        let id = state.snowflake();
        let body = json!({
            "content": "hello",
            "embeds": [{ "title": "t", "color": 3066993, "fields": [{ "name": "a", "value": "b", "inline": true }] }],
            "nonce": "abc",
            "enforce_nonce": true,
            "allowed_mentions": { "parse": [] },
        });
        let uploads = [Upload {
            field: "files[0]".into(),
            filename: "log.txt".into(),
            size: 3,
            content_type: Some("text/plain".into()),
        }];
        let attachments = state.attachments(&uploads);
        let message = message_json(
            &state,
            id,
            CHANNEL_ID,
            user_json(BOT_USER_ID),
            &body,
            attachments,
        );
        state.store(id, CHANNEL_ID, true, message);
        let stored = state.messages.get_mut(&id).unwrap();
        stored.add_reaction(&parse_emoji("✅"), BOT_USER_ID);
        stored.add_reaction(&parse_emoji("blob:123"), PLAIN_USER_ID);
        check_as::<m::Message>(&stored.render()).unwrap();

        let thread = state.create_thread(
            &Request {
                method: &Method::POST,
                segments: &[],
                query: None,
                body: &json!({ "name": "t" }),
                uploads: &[],
            },
            &CHANNEL_ID.to_string(),
            Some(&id.to_string()),
        );
        let thread = thread.body.unwrap();
        check_as::<m::GuildChannel>(&thread).unwrap();
        check_as::<m::Message>(&state.messages[&id].render()).unwrap();
        let reply = message_json(
            &state,
            id + 1,
            CHANNEL_ID,
            user_json(PLAIN_USER_ID),
            &json!({ "content": "re", "message_reference": { "message_id": id.to_string() } }),
            Vec::new(),
        );
        check_as::<m::Message>(&reply).unwrap();
    }

    #[test]
    fn reactions_parse_with_serenity() {
        let add = json!({
            "user_id": PLAIN_USER_ID.to_string(), "channel_id": CHANNEL_ID.to_string(), "message_id": "5",
            "guild_id": GUILD_ID.to_string(), "member": member_json(PLAIN_USER_ID), "emoji": parse_emoji("👍"),
            "burst": false, "burst_colors": [], "type": 0, "message_author_id": BOT_USER_ID.to_string(),
        });
        check_dispatch("MESSAGE_REACTION_ADD", &add).unwrap();
        let remove = json!({
            "user_id": PLAIN_USER_ID.to_string(), "channel_id": CHANNEL_ID.to_string(), "message_id": "5",
            "guild_id": GUILD_ID.to_string(), "emoji": parse_emoji("<:blob:42>"), "burst": false, "type": 0,
        });
        check_dispatch("MESSAGE_REACTION_REMOVE", &remove).unwrap();
        assert_eq!(parse_emoji("<a:party:9>")["animated"], true);
    }

    #[test]
    fn unknown_events_are_reported() {
        assert!(check_dispatch("MESSAGE_CREATE", &json!({ "id": "1" })).is_err());
        assert!(check_dispatch("NOT_A_REAL_EVENT", &json!({})).is_err());
    }

    #[test]
    fn multipart_bodies_are_parsed() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nabc\r\n--XX\r\nContent-Disposition: form-data; name=\"payload_json\"\r\n\r\n{\"content\":\"hi\"}\r\n--XX--\r\n";
        let (payload, uploads) = parse_multipart(body, "XX");
        assert_eq!(payload["content"], "hi");
        assert_eq!(payload["_files"], json!(["a.txt"]));
        assert_eq!(uploads[0].size, 3);
        assert_eq!(percent_decode("%E2%9C%85"), "✅");
    }
}
