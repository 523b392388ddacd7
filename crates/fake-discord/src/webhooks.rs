//! Interaction callbacks and the webhook routes a bot answers interactions through
//! (follow-ups, `@original` edits).

use axum::http::Method;
use serde_json::json;

use crate::body::parse_query;
use crate::json::{message_json, parse_id, tagged, user_json, EPHEMERAL, LOADING};
use crate::rest::{Reply, Request};
use crate::state::{State, StoredMessage};
use crate::{APP_ID, BOT_USER_ID};

impl State {
    pub(crate) fn interaction_callback(&mut self, req: &Request, id: &str, token: &str) -> Reply {
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

    pub(crate) fn interaction_by_token(&self, app: &str, token: &str) -> Option<u64> {
        if parse_id(app) != Some(APP_ID) {
            return None;
        }
        self.interactions
            .iter()
            .find(|(_, r)| r.token == token && r.acknowledged)
            .map(|(id, _)| *id)
    }

    pub(crate) fn followup(&mut self, req: &Request, app: &str, token: &str) -> Reply {
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

    pub(crate) fn webhook_message(
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
