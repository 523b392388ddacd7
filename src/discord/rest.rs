//! The few REST calls the delivery worker makes, sent with reqwest so it can read what serenity's
//! errors drop: a 429's `retry_after`, and whether a failure is worth retrying.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::config::Secret;
use crate::domain::refusal::{Refusal, Unreachable};
use crate::domain::ChannelId;
use crate::metrics::Metrics;

pub const DISCORD_URL: &str = "https://discord.com";

/// Why a request to Discord did not succeed, split by what the worker should do next.
#[cfg(test)]
mod tests {
    #[test]
    fn buckets_are_per_route_and_channel() {
        let post = reqwest::Method::POST;
        let patch = reqwest::Method::PATCH;
        assert_eq!(
            super::bucket(&post, "/api/v10/channels/42/messages"),
            "POST /api/v10/channels/42/messages"
        );
        assert_eq!(
            super::bucket(&patch, "/api/v10/channels/42/messages/7"),
            super::bucket(&patch, "/api/v10/channels/42/messages/8")
        );
    }

    #[test]
    fn discord_answers_are_classified_by_status_and_code() {
        use super::{classify, SendError};
        use crate::domain::refusal::{Refusal, Unreachable};
        use reqwest::StatusCode;
        use serde_json::json;

        let refused = |refusal, answer: &str| SendError::Refused {
            refusal,
            answer: answer.to_owned(),
        };
        let missing = |p: Option<&str>| {
            Refusal::ChannelUnreachable(Unreachable::MissingPermission(p.map(str::to_owned)))
        };
        let cases = [
            (
                "edit_message",
                404,
                json!({"message": "Unknown Message", "code": 10008}),
                refused(Refusal::UnknownMessage, "404 (code 10008): Unknown Message"),
            ),
            (
                "create_message",
                404,
                json!({"message": "Unknown Channel", "code": 10003}),
                refused(
                    Refusal::ChannelUnreachable(Unreachable::UnknownChannel),
                    "404 (code 10003): Unknown Channel",
                ),
            ),
            (
                "create_message",
                403,
                json!({"message": "Missing Access", "code": 50001}),
                refused(
                    Refusal::ChannelUnreachable(Unreachable::MissingAccess),
                    "403 (code 50001): Missing Access",
                ),
            ),
            (
                "create_message",
                403,
                json!({"message": "Missing Permissions", "code": 50013}),
                refused(
                    missing(Some("Send Messages")),
                    "403 (code 50013): Missing Permissions",
                ),
            ),
            (
                "edit_message",
                403,
                json!({"message": "Missing Permissions", "code": 50013}),
                refused(missing(None), "403 (code 50013): Missing Permissions"),
            ),
            (
                "create_message",
                403,
                json!({"message": "Missing Permissions: Embed Links", "code": 50013}),
                refused(
                    missing(Some("Embed Links")),
                    "403 (code 50013): Missing Permissions: Embed Links",
                ),
            ),
            (
                "create_message",
                401,
                json!({"message": "401: Unauthorized", "code": 0}),
                refused(Refusal::TokenRejected, "401: Unauthorized"),
            ),
            (
                "create_message",
                400,
                json!({"message": "Invalid Form Body", "code": 50035}),
                SendError::Rejected {
                    status: 400,
                    message: "Invalid Form Body (code 50035)".into(),
                },
            ),
            (
                "create_message",
                403,
                json!({"message": "403: injected fault", "code": 0}),
                SendError::Rejected {
                    status: 403,
                    message: "403: injected fault".into(),
                },
            ),
            (
                "create_message",
                404,
                serde_json::Value::Null,
                SendError::Rejected {
                    status: 404,
                    message: "404 Not Found".into(),
                },
            ),
        ];
        for (route, status, body, expect) in cases {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(
                classify(route, status, &body),
                expect,
                "{route} {status} {body}"
            );
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    #[error("rate limited for {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// 5xx, timeout, connection refused: the same request may succeed later.
    #[error("transient failure: {0}")]
    Transient(String),
    /// Discord refused the request itself (a body it will not take: any 4xx not classified as a
    /// [`Refusal`] below). `message` is Discord's, with its JSON error code when it sent one.
    #[error("rejected with {status}: {message}")]
    Rejected { status: u16, message: String },
    /// Discord refused for a reason the worker acts on (a deleted message, a channel the bot cannot
    /// post in, a rejected token); `answer` is Discord's (status, code, message) for the logs and
    /// the outbox row.
    #[error("refused with {answer}")]
    Refused { refusal: Refusal, answer: String },
}

impl SendError {
    /// Discord refused this one request (not the token): a follow-up such as a check-in's seed
    /// reactions can be skipped without failing the post.
    pub fn refuses_only_this(&self) -> bool {
        match self {
            SendError::Rejected { .. } => true,
            SendError::Refused { refusal, .. } => *refusal != Refusal::TokenRejected,
            _ => false,
        }
    }
}

/// Permission names as Discord's client shows them, in case an error message names one.
const PERMISSION_NAMES: &[&str] = &[
    "View Channel",
    "Send Messages",
    "Send Messages in Threads",
    "Embed Links",
    "Attach Files",
    "Read Message History",
    "Add Reactions",
    "Create Public Threads",
];

/// The one place Discord's answers are classified: status, JSON error `code`, message, and which
/// call it was (`route`, as in `/metrics`). See the refusal table in docs/operations.md.
fn classify(route: &str, status: StatusCode, body: &Value) -> SendError {
    let code = body["code"].as_u64().unwrap_or(0);
    let message = body["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| status.to_string());
    let answer = match code {
        // Discord's own "401: Unauthorized" already starts with the status.
        0 if message.starts_with(&status.as_u16().to_string()) => message.clone(),
        0 => format!("{}: {message}", status.as_u16()),
        code => format!("{} (code {code}): {message}", status.as_u16()),
    };
    let refusal = match (status.as_u16(), code) {
        (401, _) => Refusal::TokenRejected,
        (404, 10008) => Refusal::UnknownMessage,
        (404, 10003) => Refusal::ChannelUnreachable(Unreachable::UnknownChannel),
        (403, 50001) => Refusal::ChannelUnreachable(Unreachable::MissingAccess),
        (403, 50013) => {
            // Discord rarely names the permission; a refused post lacks Send Messages first.
            let named = PERMISSION_NAMES
                .iter()
                .rev()
                .find(|p| message.contains(**p))
                .map(|p| (*p).to_owned());
            let needed = (route == "create_message").then(|| "Send Messages".to_owned());
            Refusal::ChannelUnreachable(Unreachable::MissingPermission(named.or(needed)))
        }
        _ => {
            let message = match code {
                0 => message,
                code => format!("{message} (code {code})"),
            };
            return SendError::Rejected {
                status: status.as_u16(),
                message,
            };
        }
    };
    SendError::Refused { refusal, answer }
}

#[derive(Clone)]
pub struct DiscordRest {
    client: reqwest::Client,
    base: String,
    token: Secret,
    metrics: Option<Metrics>,
    limits: Arc<Mutex<Limits>>,
}

/// What Discord said about its rate limits, so the worker waits instead of collecting 429s.
/// Per-route limits come from the `X-RateLimit-*` headers Discord sends on every answer (its
/// documentation asks clients to read them rather than hard-code limits); the global limit is a
/// fixed number of requests per second.
#[derive(Default)]
struct Limits {
    /// Bucket ("METHOD /path with ids but the channel's replaced") → blocked until.
    blocked_until: HashMap<String, Instant>,
    /// Send times within the last second, for the global limit.
    recent: VecDeque<Instant>,
    per_second: u32,
}

/// The bucket a request counts against: Discord's buckets are per route and channel.
fn bucket(method: &reqwest::Method, path: &str) -> String {
    let mut channel_seen = false;
    let shape: Vec<&str> = path
        .split('/')
        .map(|segment| {
            let numeric = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
            if numeric && !channel_seen {
                channel_seen = true;
                segment
            } else if numeric {
                ":id"
            } else {
                segment
            }
        })
        .collect();
    format!("{method} {}", shape.join("/"))
}

impl DiscordRest {
    pub fn new(client: reqwest::Client, base: Option<&str>, token: Secret) -> Self {
        Self {
            client,
            base: format!("{}/api/v10", base.unwrap_or(DISCORD_URL)),
            token,
            metrics: None,
            limits: Arc::new(Mutex::new(Limits {
                per_second: 50,
                ..Limits::default()
            })),
        }
    }

    /// Requests per second across all channels (Discord's global limit is 50).
    pub fn with_global_limit(self, per_second: u32) -> Self {
        if let Ok(mut limits) = self.limits.lock() {
            limits.per_second = per_second.max(1);
        }
        self
    }

    /// When Discord will take messages in `channel` again, if it said it will not now.
    pub fn channel_blocked_until(&self, channel: ChannelId) -> Option<Instant> {
        let needle = format!("/channels/{}/", channel.0);
        let limits = self.limits.lock().ok()?;
        let now = Instant::now();
        limits
            .blocked_until
            .iter()
            .filter(|(bucket, until)| bucket.contains(&needle) && **until > now)
            .map(|(_, until)| *until)
            .max()
    }

    /// Waits for a slot under the global limit, then takes it.
    async fn global_slot(&self) {
        loop {
            let wait = {
                let Ok(mut limits) = self.limits.lock() else {
                    return;
                };
                let now = Instant::now();
                while limits
                    .recent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
                {
                    limits.recent.pop_front();
                }
                if limits.recent.len() < limits.per_second as usize {
                    limits.recent.push_back(now);
                    return;
                }
                Duration::from_secs(1).saturating_sub(now.duration_since(limits.recent[0]))
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Remembers a bucket that Discord said is exhausted (`X-RateLimit-Remaining: 0`).
    fn note_limits(&self, bucket: String, headers: &reqwest::header::HeaderMap) {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let exhausted = header("x-ratelimit-remaining") == Some("0");
        let reset_after = header("x-ratelimit-reset-after").and_then(|v| v.parse::<f64>().ok());
        if let (true, Some(seconds), Ok(mut limits)) = (exhausted, reset_after, self.limits.lock())
        {
            let until = Instant::now() + Duration::from_secs_f64(seconds.clamp(0.0, 3600.0));
            limits.blocked_until.insert(bucket, until);
        }
    }

    /// Counts every call in `loopbot_discord_api_requests_total`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Posts a message and returns its id.
    pub async fn create_message(&self, channel: ChannelId, body: &Value) -> Result<u64, SendError> {
        let url = format!("{}/channels/{}/messages", self.base, channel.0);
        self.send("create_message", self.client.post(url).json(body))
            .await
    }

    /// Posts a message with files (multipart: `payload_json` plus `files[n]`) and returns its id.
    pub async fn create_message_with_files(
        &self,
        channel: ChannelId,
        body: &Value,
        files: &[super::message::FileUpload],
    ) -> Result<u64, SendError> {
        let url = format!("{}/channels/{}/messages", self.base, channel.0);
        let mut form = reqwest::multipart::Form::new().text("payload_json", body.to_string());
        for (i, file) in files.iter().enumerate() {
            let part = reqwest::multipart::Part::bytes(file.bytes.clone())
                .file_name(file.name.clone())
                .mime_str(mime_of(&file.name))
                .map_err(|e| SendError::Rejected {
                    status: 0,
                    message: e.to_string(),
                })?;
            form = form.part(format!("files[{i}]"), part);
        }
        self.send("create_message", self.client.post(url).multipart(form))
            .await
    }

    /// Edits a message and returns its id.
    pub async fn edit_message(
        &self,
        channel: ChannelId,
        message: u64,
        body: &Value,
    ) -> Result<u64, SendError> {
        let url = format!("{}/channels/{}/messages/{message}", self.base, channel.0);
        self.send("edit_message", self.client.patch(url).json(body))
            .await
    }

    /// Adds the bot's own reaction to a message (idempotent on Discord's side).
    pub async fn add_own_reaction(
        &self,
        channel: ChannelId,
        message: u64,
        emoji: &str,
    ) -> Result<(), SendError> {
        let mut url = reqwest::Url::parse(&format!(
            "{}/channels/{}/messages/{message}/reactions",
            self.base, channel.0
        ))
        .map_err(|e| SendError::Transient(e.to_string()))?;
        // path_segments_mut percent-encodes the emoji.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push(emoji).push("@me");
        }
        self.send_json("add_reaction", self.client.put(url))
            .await
            .map(|_| ())
    }

    /// Starts a public thread from a message and returns its id. A thread that already exists
    /// (a retried delivery) counts as started: on Discord it has the message's id.
    pub async fn start_thread(
        &self,
        channel: ChannelId,
        message: u64,
        name: &str,
    ) -> Result<u64, SendError> {
        let url = format!(
            "{}/channels/{}/messages/{message}/threads",
            self.base, channel.0
        );
        // Nothing in a thread's start pings anyone either.
        let body = serde_json::json!({
            "name": name,
            "auto_archive_duration": 1440,
            "allowed_mentions": { "parse": [] },
        });
        match self
            .send_json("start_thread", self.client.post(url).json(&body))
            .await
        {
            Ok(thread) => Ok(thread["id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .unwrap_or(message)),
            Err(SendError::Rejected { status: 400, .. }) => {
                // 160004 "A thread has already been created for this message": check it is there.
                let url = format!("{}/channels/{message}", self.base);
                self.send_json("get_channel", self.client.get(url))
                    .await
                    .map(|_| message)
            }
            Err(other) => Err(other),
        }
    }

    async fn send(&self, route: &str, request: reqwest::RequestBuilder) -> Result<u64, SendError> {
        let body = self.send_json(route, request).await?;
        body["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| SendError::Transient("answer without a message id".into()))
    }

    /// Sends a request and returns the JSON answer (Null for 204), classifying failures.
    /// `route` names the call for `/metrics` (a class, never a URL with ids in it).
    async fn send_json(
        &self,
        route: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, SendError> {
        let request = request
            .build()
            .map_err(|e| SendError::Transient(e.without_url().to_string()))?;
        let bucket = bucket(request.method(), request.url().path());
        self.global_slot().await;
        let response = reqwest::RequestBuilder::from_parts(self.client.clone(), request)
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Bot {}", self.token.expose()),
            )
            .header(
                reqwest::header::USER_AGENT,
                concat!(
                    "DiscordBot (https://github.com/loopbot, ",
                    env!("CARGO_PKG_VERSION"),
                    ")"
                ),
            )
            .send()
            .await
            // reqwest's error text names the URL, never the headers: no token in it.
            .map_err(|e| {
                if let Some(metrics) = &self.metrics {
                    metrics.discord_request(route, None);
                }
                SendError::Transient(e.without_url().to_string())
            })?;
        let status = response.status();
        if let Some(metrics) = &self.metrics {
            metrics.discord_request(route, Some(status.as_u16()));
        }
        self.note_limits(bucket, response.headers());
        let retry_after_header = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<f64>().ok());
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            // The body's retry_after is in seconds with millisecond precision; the header is whole seconds.
            let seconds = body["retry_after"]
                .as_f64()
                .or(retry_after_header)
                .unwrap_or(1.0)
                .clamp(0.0, 3600.0);
            return Err(SendError::RateLimited {
                retry_after: Duration::from_secs_f64(seconds),
            });
        }
        if status.is_server_error() {
            let message = body["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| status.to_string());
            Err(SendError::Transient(format!("{status}: {message}")))
        } else {
            Err(classify(route, status, &body))
        }
    }

    /// Whether Discord accepts the token now (`GET /users/@me`): how a rejected token is retried.
    pub async fn check_token(&self) -> Result<(), SendError> {
        let url = format!("{}/users/@me", self.base);
        self.send_json("current_user", self.client.get(url))
            .await
            .map(|_| ())
    }
}

fn mime_of(name: &str) -> &'static str {
    if name.ends_with(".png") {
        "image/png"
    } else {
        "application/octet-stream"
    }
}
