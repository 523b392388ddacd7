//! A loopback "local Discord": enough of Discord's REST API v10 and gateway websocket for the real
//! serenity/poise client to log in, receive dispatches, post/edit/react and answer interactions.
//!
//! Point a bot at it with `HttpBuilder::new(token).proxy(fake.url()).ratelimiter_disabled(true)`
//! (the ratelimiter must be off: with it on, serenity 0.12.5 ignores the proxy). `GET /gateway`
//! answers with this server's own websocket URL, so the gateway stays on loopback too.
//!
//! Every dispatch the fake builds is first parsed with serenity's own model types and panics with
//! the serde error if that fails: serenity silently turns an unparsable dispatch into
//! `Event::Unknown`, and a test would otherwise just time out.
//!
//! Map: this file holds the fixed guilds (ids, permissions) and the inspection API; `guilds`
//! holds which guilds the bot is in, members with chosen roles, leaving a guild and where an
//! interaction comes from (a guild or a DM); `events` makes people act; `gateway` is the
//! websocket; `rest` and `webhooks` answer HTTP (request bodies parsed in `body`; message and
//! thread bodies held to Discord's limits in `limits`); `refusals` makes Discord say no (deleted
//! messages, lost access, a rejected token); `state` is what the server remembers;
//! `json` builds Discord's objects and checks them against serenity; `viewer` serves a page that
//! shows the server (channels, a change signal).

mod body;
mod events;
mod gateway;
mod guilds;
mod json;
pub mod limits;
mod refusals;
mod rest;
mod state;
mod viewer;
mod webhooks;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use serde_json::Value;

pub use refusals::ChannelRefusal;
use state::{State, StoredMessage};

/// The guild the bot is in from the start ("Loop Test Guild").
pub const GUILD_ID: u64 = 100_000_000_000_000_001;
/// A second guild ("Second Test Guild") with its own channel; the bot joins it only when a test
/// calls `add_bot_to_guild(OTHER_GUILD_ID)`, but its members can send interactions regardless.
pub const OTHER_GUILD_ID: u64 = 100_000_000_000_000_101;
/// Guilds the fake knows (REST answers 10004 Unknown Guild for any other).
pub const GUILDS: [u64; 2] = [GUILD_ID, OTHER_GUILD_ID];
pub const APP_ID: u64 = 200_000_000_000_000_002;
/// Discord bots created since 2019 share their application id.
pub const BOT_USER_ID: u64 = APP_ID;
/// "#deploys", the default channel in tests.
pub const CHANNEL_ID: u64 = 300_000_000_000_000_003;
/// "#payments".
pub const OTHER_CHANNEL_ID: u64 = 300_000_000_000_000_004;
/// "#ops" in OTHER_GUILD_ID: an interaction, message or reaction there comes from that guild.
pub const OTHER_GUILD_CHANNEL_ID: u64 = 300_000_000_000_000_103;
/// A DM channel with the bot: interactions there carry `user` instead of `member` and no guild.
pub const DM_CHANNEL_ID: u64 = 300_000_000_000_000_199;
/// Member holding a role with MANAGE_GUILD (not ADMINISTRATOR).
pub const ADMIN_USER_ID: u64 = 400_000_000_000_000_005;
/// Member without MANAGE_GUILD.
pub const PLAIN_USER_ID: u64 = 400_000_000_000_000_006;
/// Member of GUILD_ID holding RESPONDER_ROLE_ID, with plain permissions.
pub const RESPONDER_USER_ID: u64 = 400_000_000_000_000_007;
/// Guild owner and application owner. Deliberately neither admin nor plain user: owners bypass
/// permission checks, which would hide bugs in the bot's own checks.
pub const OWNER_USER_ID: u64 = 400_000_000_000_000_009;
/// Role given to ADMIN_USER_ID.
pub const ADMIN_ROLE_ID: u64 = 100_000_000_000_000_010;
/// Managed role given to the bot.
pub const BOT_ROLE_ID: u64 = 100_000_000_000_000_011;
/// "responders" in GUILD_ID: no permissions of its own, given to RESPONDER_USER_ID.
pub const RESPONDER_ROLE_ID: u64 = 100_000_000_000_000_012;
/// "admins" in OTHER_GUILD_ID (MANAGE_GUILD), given there to ADMIN_USER_ID.
pub const OTHER_GUILD_ADMIN_ROLE_ID: u64 = 100_000_000_000_000_110;
/// The bot's managed role in OTHER_GUILD_ID.
pub const OTHER_GUILD_BOT_ROLE_ID: u64 = 100_000_000_000_000_111;

// Permission bits (https://discord.com/developers/docs/topics/permissions).
pub(crate) const ADMINISTRATOR: u64 = 1 << 3;
const ADD_REACTIONS: u64 = 1 << 6;
pub const MANAGE_GUILD: u64 = 1 << 5;
pub const VIEW_CHANNEL: u64 = 1 << 10;
pub const SEND_MESSAGES: u64 = 1 << 11;
pub const MANAGE_MESSAGES: u64 = 1 << 13;
const EMBED_LINKS: u64 = 1 << 14;
const ATTACH_FILES: u64 = 1 << 15;
pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
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
/// Interaction `member.permissions` of PLAIN_USER_ID, RESPONDER_USER_ID and any other user
/// (unless a test chose others with `set_member`).
pub const PLAIN_PERMISSIONS: u64 = VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY;
pub(crate) const BOT_PERMISSIONS: u64 = EVERYONE_PERMISSIONS | MANAGE_MESSAGES | MANAGE_THREADS;

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
    /// Uploaded files of a multipart request: (file name, bytes).
    pub files: Vec<(String, Vec<u8>)>,
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
    /// Bumped after each REST answer and each event (see `viewer`).
    changes: tokio::sync::watch::Sender<u64>,
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
                changes: tokio::sync::watch::Sender::new(0),
            }),
        };
        let app = Router::new()
            .route("/gateway", get(gateway::upgrade))
            .fallback(rest::handle)
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

    /// Every request answered 400 Invalid Form Body (code 50035, not an injected fault): a body
    /// real Discord would refuse, such as one over a limit checked in [`limits`]; with the
    /// answer's `errors`, which name the offending value.
    pub fn refused_bodies(&self) -> Vec<(Recorded, Value)> {
        let state = self.lock();
        state
            .refused
            .iter()
            .filter_map(|(i, errors)| Some((state.requests.get(*i)?.clone(), errors.clone())))
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

    /// Callback bodies for the interaction plus webhook follow-ups and edits, in order, each
    /// tagged with `"_via"`: "callback", "followup", "edit_original" or "edit_followup".
    pub fn interaction_responses(&self, interaction_id: u64) -> Vec<Value> {
        self.lock()
            .interactions
            .get(&interaction_id)
            .map(|i| i.responses.clone())
            .unwrap_or_default()
    }

    /// The message an interaction's reply created (ephemeral ones included), to press its buttons.
    pub fn interaction_message(&self, interaction_id: u64) -> Option<u64> {
        self.lock()
            .interactions
            .get(&interaction_id)
            .and_then(|i| i.original)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not turn every later call into a poison panic.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
