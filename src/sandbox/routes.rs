//! The page's routes: the page itself, what it reads (the server, a channel's messages, an
//! uploaded file) and what people do on it (say, press, react, submit a form, type a command,
//! run an example). Every action goes to the bot through the local Discord exactly as Discord
//! would send it; a bad request answers 422 `{"error"}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{assets, examples, live, Shared, Tracked, CHANNELS, PEOPLE};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(assets::page))
        .route("/sandbox/page.css", get(assets::css))
        .route("/sandbox/page.js", get(assets::js))
        .route("/sandbox/server", get(server))
        .route("/sandbox/channels/{channel}/messages", get(messages))
        .route("/sandbox/attachments/{id}/{name}", get(attachment))
        .route("/sandbox/events", get(live::events))
        .route("/sandbox/say", post(say))
        .route("/sandbox/press", post(press))
        .route("/sandbox/react", post(react))
        .route("/sandbox/submit", post(submit))
        .route("/sandbox/command", post(command))
        .route("/sandbox/examples/{name}", post(example))
        .with_state(shared)
}

/// Why the page's request was refused.
#[derive(Debug)]
pub(crate) struct Refused(pub(crate) StatusCode, pub(crate) String);

impl Refused {
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Self(StatusCode::UNPROCESSABLE_ENTITY, reason.into())
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

type Answer = Result<Json<Value>, Refused>;

/// Ids travel as strings (they exceed JavaScript's integers).
fn id(raw: &str, what: &str) -> Result<u64, Refused> {
    raw.parse()
        .map_err(|_| Refused::new(format!("{what} is not an id")))
}

impl Shared {
    /// The page's channels and their threads: the only places it acts in.
    pub(crate) fn channel_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = CHANNELS.iter().map(|c| c.0).collect();
        for channel in self.discord.channels() {
            let parent = channel["parent_id"].as_str().and_then(|p| p.parse().ok());
            if parent.is_some_and(|p| ids.contains(&p)) {
                if let Some(id) = channel["id"].as_str().and_then(|c| c.parse().ok()) {
                    ids.push(id);
                }
            }
        }
        ids
    }

    fn channel(&self, raw: &str) -> Result<u64, Refused> {
        let channel = id(raw, "channel")?;
        if self.channel_ids().contains(&channel) {
            Ok(channel)
        } else {
            Err(Refused::new("no such channel in the sandbox"))
        }
    }

    fn track(&self, tracked: Tracked) {
        if let Ok(mut interactions) = self.interactions.lock() {
            interactions.push(tracked);
        }
    }
}

fn person(raw: &str) -> Result<u64, Refused> {
    let user = id(raw, "user")?;
    PEOPLE
        .iter()
        .find(|p| p.id == user)
        .map(|p| p.id)
        .ok_or_else(|| Refused::new("no such person in the sandbox"))
}

/// The channels, the people, the bot's registered commands and the examples.
async fn server(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let channels: Vec<Value> = CHANNELS
        .iter()
        .map(|(id, name, _)| json!({ "id": id.to_string(), "name": name }))
        .collect();
    Json(json!({
        "name": "Loop Test Guild",
        "channels": channels,
        "people": PEOPLE,
        "commands": shared.discord.registered_commands(),
        "examples": examples::list(),
    }))
}

async fn messages(State(shared): State<Arc<Shared>>, Path(channel): Path<String>) -> Answer {
    let channel = shared.channel(&channel)?;
    Ok(Json(Value::Array(shared.discord.messages(channel))))
}

async fn attachment(
    State(shared): State<Arc<Shared>>,
    Path((attachment, _name)): Path<(String, String)>,
) -> Result<Response, Refused> {
    let (kind, bytes) = shared
        .discord
        .attachment(id(&attachment, "attachment")?)
        .ok_or(Refused(StatusCode::NOT_FOUND, "no such attachment".into()))?;
    let kind = kind.unwrap_or_else(|| "application/octet-stream".into());
    Ok(([(header::CONTENT_TYPE, kind)], bytes).into_response())
}

#[derive(Deserialize)]
struct Say {
    channel: String,
    user: String,
    content: String,
    reply_to: Option<String>,
}

async fn say(State(shared): State<Arc<Shared>>, Json(say): Json<Say>) -> Answer {
    let channel = shared.channel(&say.channel)?;
    let user = person(&say.user)?;
    if say.content.trim().is_empty() || say.content.chars().count() > 2000 {
        return Err(Refused::new("a message has 1 to 2000 characters"));
    }
    let reply_to = say
        .reply_to
        .as_deref()
        .map(|m| id(m, "reply_to"))
        .transpose()?;
    let message = shared
        .discord
        .user_message(channel, user, &say.content, reply_to)
        .await;
    Ok(Json(json!({ "id": message.to_string() })))
}

#[derive(Deserialize)]
struct Press {
    channel: String,
    user: String,
    message: String,
    custom_id: String,
}

async fn press(State(shared): State<Arc<Shared>>, Json(press): Json<Press>) -> Answer {
    let channel = shared.channel(&press.channel)?;
    let user = person(&press.user)?;
    let message = id(&press.message, "message")?;
    let interaction = shared
        .discord
        .send_component_interaction(channel, user, message, &press.custom_id)
        .await;
    shared.track(Tracked {
        id: interaction,
        user,
        channel,
        message: Some(message),
    });
    Ok(Json(json!({ "interaction": interaction.to_string() })))
}

#[derive(Deserialize)]
struct React {
    channel: String,
    user: String,
    message: String,
    emoji: String,
    #[serde(default)]
    remove: bool,
}

async fn react(State(shared): State<Arc<Shared>>, Json(react): Json<React>) -> Answer {
    let channel = shared.channel(&react.channel)?;
    let user = person(&react.user)?;
    let message = id(&react.message, "message")?;
    if react.emoji.is_empty() || react.emoji.len() > 64 {
        return Err(Refused::new("an emoji, e.g. 👍"));
    }
    if react.remove {
        shared
            .discord
            .remove_reaction(channel, message, user, &react.emoji)
            .await;
    } else {
        shared
            .discord
            .add_reaction(channel, message, user, &react.emoji)
            .await;
    }
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct Submit {
    /// The interaction whose answer was the form.
    interaction: String,
    user: String,
    custom_id: String,
    /// `(text input custom_id, value)` pairs.
    fields: Vec<(String, String)>,
}

async fn submit(State(shared): State<Arc<Shared>>, Json(submit): Json<Submit>) -> Answer {
    let opened_by = id(&submit.interaction, "interaction")?;
    let user = person(&submit.user)?;
    let opened = shared
        .interactions
        .lock()
        .ok()
        .and_then(|i| i.iter().find(|t| t.id == opened_by).copied())
        .ok_or_else(|| Refused::new("this form was not opened here"))?;
    let fields: Vec<(&str, &str)> = submit
        .fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let interaction = shared
        .discord
        .send_modal_submit(
            opened.channel,
            user,
            opened.message,
            &submit.custom_id,
            &fields,
        )
        .await;
    shared.track(Tracked {
        id: interaction,
        user,
        ..opened
    });
    Ok(Json(json!({ "interaction": interaction.to_string() })))
}

#[derive(Deserialize)]
struct Command {
    channel: String,
    user: String,
    line: String,
}

async fn command(State(shared): State<Arc<Shared>>, Json(command): Json<Command>) -> Answer {
    let channel = shared.channel(&command.channel)?;
    let user = person(&command.user)?;
    let registered = shared.discord.registered_commands();
    let (name, options) =
        super::command_line::parse(&command.line, &registered).map_err(Refused::new)?;
    let interaction = send_command(&shared, channel, user, &name, options).await;
    Ok(Json(json!({ "interaction": interaction.to_string() })))
}

/// A slash command from `user` in `channel`, its answers shown on the page.
pub(crate) async fn send_command(
    shared: &Shared,
    channel: u64,
    user: u64,
    name: &str,
    options: Value,
) -> u64 {
    let interaction = shared
        .discord
        .send_slash_command(channel, user, name, options)
        .await;
    shared.track(Tracked {
        id: interaction,
        user,
        channel,
        message: None,
    });
    interaction
}

async fn example(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Answer {
    examples::run(&shared, &name).await.map(Json)
}
