//! The few REST calls the delivery worker makes, sent with reqwest so it can read what serenity's
//! errors drop: a 429's `retry_after`, and whether a failure is worth retrying.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::config::Secret;
use crate::domain::ChannelId;
use crate::metrics::Metrics;

pub const DISCORD_URL: &str = "https://discord.com";

/// Why a request to Discord did not succeed, split by what the worker should do next.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    #[error("rate limited for {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// 5xx, timeout, connection refused: the same request may succeed later.
    #[error("transient failure: {0}")]
    Transient(String),
    /// Discord refused the request itself (missing permission, unknown channel, bad body).
    #[error("rejected with {status}: {message}")]
    Rejected { status: u16, message: String },
}

#[derive(Clone)]
pub struct DiscordRest {
    client: reqwest::Client,
    base: String,
    token: Secret,
    metrics: Option<Metrics>,
}

impl DiscordRest {
    pub fn new(client: reqwest::Client, base: Option<&str>, token: Secret) -> Self {
        Self {
            client,
            base: format!("{}/api/v10", base.unwrap_or(DISCORD_URL)),
            token,
            metrics: None,
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
        let body = serde_json::json!({ "name": name, "auto_archive_duration": 1440 });
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
        let response = request
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
        let message = body["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| status.to_string());
        if status.is_server_error() {
            Err(SendError::Transient(format!("{status}: {message}")))
        } else {
            Err(SendError::Rejected {
                status: status.as_u16(),
                message,
            })
        }
    }
}
