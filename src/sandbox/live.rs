//! Live updates for the page (server-sent events): each time the local Discord changes, one
//! `update` event with the messages that are new or changed since this page last heard
//! (an edit arrives as the same id with new content), the ids of deleted ones, and new
//! answers to interactions sent from the page (private replies and forms, which are in no
//! channel).

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde_json::{json, Value};

use super::Shared;

/// What this page has been sent already.
#[derive(Default)]
pub(crate) struct Seen {
    /// Message id → its JSON as last sent.
    messages: HashMap<u64, String>,
    /// Interaction id → how many of its answers were sent.
    answers: HashMap<u64, usize>,
}

impl Seen {
    /// What changed since the last call, or None when nothing did.
    pub(crate) fn update(&mut self, shared: &Shared) -> Option<Value> {
        let mut changed = Vec::new();
        let mut present = HashSet::new();
        for channel in shared.channel_ids() {
            for message in shared.discord.messages(channel) {
                let Some(id) = message["id"].as_str().and_then(|m| m.parse::<u64>().ok()) else {
                    continue;
                };
                present.insert(id);
                let text = message.to_string();
                if self.messages.get(&id) != Some(&text) {
                    self.messages.insert(id, text);
                    changed.push(message);
                }
            }
        }
        let deleted: Vec<String> = self
            .messages
            .keys()
            .filter(|id| !present.contains(id))
            .map(u64::to_string)
            .collect();
        self.messages.retain(|id, _| present.contains(id));
        let tracked = shared
            .interactions
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default();
        let mut answers = Vec::new();
        for interaction in tracked {
            let responses = shared.discord.interaction_responses(interaction.id);
            let sent = self.answers.entry(interaction.id).or_default();
            for (n, response) in responses.into_iter().enumerate().skip(*sent) {
                answers.push(json!({
                    "interaction": interaction.id.to_string(),
                    "n": n,
                    "user": interaction.user.to_string(),
                    "channel": interaction.channel.to_string(),
                    "response": response,
                }));
                *sent = n + 1;
            }
        }
        if changed.is_empty() && deleted.is_empty() && answers.is_empty() {
            return None;
        }
        Some(json!({ "messages": changed, "deleted": deleted, "answers": answers }))
    }
}

struct Watch {
    shared: Arc<Shared>,
    changes: tokio::sync::watch::Receiver<u64>,
    seen: Seen,
    first: bool,
}

/// `GET /sandbox/events`: the first event holds everything there is; the stream ends when
/// the sandbox stops, so shutdown does not wait for open pages.
pub(super) async fn events(
    State(shared): State<Arc<Shared>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let watch = Watch {
        changes: shared.discord.changes(),
        shared,
        seen: Seen::default(),
        first: true,
    };
    let stream = futures::stream::unfold(watch, |mut watch| async move {
        loop {
            if !watch.first {
                tokio::select! {
                    changed = watch.changes.changed() => changed.ok()?,
                    () = watch.shared.stop.triggered() => return None,
                }
            }
            watch.first = false;
            if let Some(update) = watch.seen.update(&watch.shared) {
                let event = Event::default().event("update").data(update.to_string());
                return Some((Ok(event), watch));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
