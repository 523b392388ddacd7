//! Discord's documented limits on message and thread bodies, checked on the JSON as received and
//! refused like Discord does: 400 `{"code": 50035, "message": "Invalid Form Body", "errors":
//! {...}}`, where `errors` mirrors the body's shape down to the offending value, which holds
//! `{"_errors": [{"code": ..., "message": ...}]}`. Always on: a test cannot pass with a body real
//! Discord would refuse.

use serde_json::{json, Map, Value};

use crate::rest::Reply;

pub const CONTENT_MAX: usize = 2000;
pub const EMBEDS_MAX: usize = 10;
pub const EMBED_TITLE_MAX: usize = 256;
pub const EMBED_DESCRIPTION_MAX: usize = 4096;
pub const EMBED_FIELDS_MAX: usize = 25;
pub const EMBED_FIELD_NAME_MAX: usize = 256;
pub const EMBED_FIELD_VALUE_MAX: usize = 1024;
pub const EMBED_FOOTER_MAX: usize = 2048;
pub const EMBED_AUTHOR_MAX: usize = 256;
/// Titles, descriptions, field names and values, footers and authors of all embeds together.
pub const EMBED_TOTAL_MAX: usize = 6000;
pub const ACTION_ROWS_MAX: usize = 5;
pub const ROW_COMPONENTS_MAX: usize = 5;
pub const BUTTON_LABEL_MAX: usize = 80;
pub const CUSTOM_ID_MAX: usize = 100;
pub const THREAD_NAME_MAX: usize = 100;

/// One refusal: where in the body (keys and array indexes) and Discord's code and message.
struct Problem {
    path: Vec<String>,
    code: &'static str,
    message: String,
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn push(&mut self, path: &[&str], code: &'static str, message: String) {
        self.0.push(Problem {
            path: path.iter().map(|p| p.to_string()).collect(),
            code,
            message,
        });
    }

    /// A string at most `max` characters long (Discord counts characters, not bytes).
    fn max_len(&mut self, path: &[&str], value: &Value, max: usize) -> usize {
        let n = chars(value);
        if n > max {
            self.push(
                path,
                "BASE_TYPE_MAX_LENGTH",
                format!("Must be {max} or fewer in length."),
            );
        }
        n
    }

    fn required(&mut self, path: &[&str], value: &Value) {
        if value.as_str().is_none_or(|s| s.trim().is_empty()) {
            self.push(path, "BASE_TYPE_REQUIRED", "This field is required".into());
        }
    }

    fn max_items(&mut self, path: &[&str], items: &[Value], max: usize) {
        if items.len() > max {
            self.push(
                path,
                "BASE_TYPE_MAX_LENGTH",
                format!("Must be {max} or fewer in length."),
            );
        }
    }

    /// Discord's 400 answer, or `None` when the body is within every limit.
    fn into_reply(self) -> Option<Reply> {
        if self.0.is_empty() {
            return None;
        }
        let mut errors = Value::Object(Map::new());
        for problem in self.0 {
            let mut slot = &mut errors;
            for key in &problem.path {
                slot = slot
                    .as_object_mut()
                    .expect("error nodes are objects")
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
            }
            let list = slot
                .as_object_mut()
                .expect("error nodes are objects")
                .entry("_errors")
                .or_insert_with(|| json!([]));
            if let Some(list) = list.as_array_mut() {
                list.push(json!({ "code": problem.code, "message": problem.message }));
            }
        }
        Some(Reply::with_status(
            400,
            json!({ "code": 50035, "message": "Invalid Form Body", "errors": errors }),
        ))
    }
}

fn chars(value: &Value) -> usize {
    value.as_str().map_or(0, |s| s.chars().count())
}

fn items(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

/// A message create or edit body (for multipart, its `payload_json`): `Some(400)` when Discord
/// would refuse it.
pub(crate) fn check_message(body: &Value) -> Option<Reply> {
    let mut problems = Problems::default();
    problems.max_len(&["content"], &body["content"], CONTENT_MAX);
    let embeds = items(&body["embeds"]);
    problems.max_items(&["embeds"], embeds, EMBEDS_MAX);
    let mut total = 0;
    for (e, embed) in embeds.iter().enumerate() {
        let e = e.to_string();
        let e = e.as_str();
        for (path, value, max) in [
            (
                &["embeds", e, "title"][..],
                &embed["title"],
                EMBED_TITLE_MAX,
            ),
            (
                &["embeds", e, "description"],
                &embed["description"],
                EMBED_DESCRIPTION_MAX,
            ),
            (
                &["embeds", e, "footer", "text"],
                &embed["footer"]["text"],
                EMBED_FOOTER_MAX,
            ),
            (
                &["embeds", e, "author", "name"],
                &embed["author"]["name"],
                EMBED_AUTHOR_MAX,
            ),
        ] {
            total += problems.max_len(path, value, max);
        }
        let fields = items(&embed["fields"]);
        problems.max_items(&["embeds", e, "fields"], fields, EMBED_FIELDS_MAX);
        for (i, field) in fields.iter().enumerate() {
            let i = i.to_string();
            for (key, max) in [
                ("name", EMBED_FIELD_NAME_MAX),
                ("value", EMBED_FIELD_VALUE_MAX),
            ] {
                let path = ["embeds", e, "fields", &i, key];
                problems.required(&path, &field[key]);
                total += problems.max_len(&path, &field[key], max);
            }
        }
    }
    if total > EMBED_TOTAL_MAX {
        problems.push(
            &["embeds"],
            "MAX_EMBED_SIZE_EXCEEDED",
            format!("Embed size exceeds maximum size of {EMBED_TOTAL_MAX}"),
        );
    }
    let rows = items(&body["components"]);
    problems.max_items(&["components"], rows, ACTION_ROWS_MAX);
    for (r, row) in rows.iter().enumerate() {
        let r = r.to_string();
        let parts = items(&row["components"]);
        problems.max_items(&["components", &r, "components"], parts, ROW_COMPONENTS_MAX);
        for (c, part) in parts.iter().enumerate() {
            let c = c.to_string();
            let path = |key| ["components", r.as_str(), "components", c.as_str(), key];
            problems.max_len(&path("label"), &part["label"], BUTTON_LABEL_MAX);
            problems.max_len(&path("custom_id"), &part["custom_id"], CUSTOM_ID_MAX);
        }
    }
    problems.into_reply()
}

/// What the fake answers a message body over a limit with, as Discord's `errors` object; `None`
/// when the body is within every limit. For tests that check bodies without sending them.
pub fn message_refusal(body: &Value) -> Option<Value> {
    let reply = check_message(body)?;
    reply.body.map(|b| b["errors"].clone())
}

/// A thread create body: its name is 1 to 100 characters.
pub(crate) fn check_thread(body: &Value) -> Option<Reply> {
    let mut problems = Problems::default();
    problems.required(&["name"], &body["name"]);
    problems.max_len(&["name"], &body["name"], THREAD_NAME_MAX);
    problems.into_reply()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(reply: Option<Reply>) -> Value {
        let reply = reply.expect("refused");
        assert_eq!(reply.status, 400);
        let body = reply.body.expect("a JSON body");
        assert_eq!(body["code"], 50035);
        assert_eq!(body["message"], "Invalid Form Body");
        body["errors"].clone()
    }

    #[test]
    fn a_body_within_every_limit_passes() {
        let body = json!({
            "content": "x".repeat(CONTENT_MAX),
            "embeds": [{
                "title": "t".repeat(EMBED_TITLE_MAX),
                "description": "d".repeat(EMBED_DESCRIPTION_MAX),
                "fields": [{ "name": "n", "value": "v".repeat(EMBED_FIELD_VALUE_MAX) }],
                "footer": { "text": "f" },
            }],
            "components": [{ "type": 1, "components": [
                { "type": 2, "custom_id": "c".repeat(CUSTOM_ID_MAX), "label": "l".repeat(BUTTON_LABEL_MAX) }
            ]}],
        });
        assert!(check_message(&body).is_none());
        assert!(check_thread(&json!({ "name": "n".repeat(THREAD_NAME_MAX) })).is_none());
    }

    #[test]
    fn each_limit_is_refused_naming_the_value_like_discord() {
        let e = errors(check_message(
            &json!({ "content": "é".repeat(CONTENT_MAX + 1) }),
        ));
        assert_eq!(e["content"]["_errors"][0]["code"], "BASE_TYPE_MAX_LENGTH");
        let e = errors(check_message(&json!({ "embeds": [{}, {
            "title": "t".repeat(257),
            "fields": [{ "name": "", "value": "v".repeat(1025) }],
            "author": { "name": "a".repeat(257) },
        }]})));
        assert!(e["embeds"]["1"]["title"]["_errors"].is_array());
        assert!(e["embeds"]["1"]["author"]["name"]["_errors"].is_array());
        assert_eq!(
            e["embeds"]["1"]["fields"]["0"]["name"]["_errors"][0]["code"],
            "BASE_TYPE_REQUIRED"
        );
        assert!(e["embeds"]["1"]["fields"]["0"]["value"]["_errors"].is_array());
        let big = json!({ "description": "d".repeat(4000) });
        let e = errors(check_message(&json!({ "embeds": [big, big] })));
        assert_eq!(e["embeds"]["_errors"][0]["code"], "MAX_EMBED_SIZE_EXCEEDED");
        let fields: Vec<Value> = (0..26)
            .map(|_| json!({ "name": "n", "value": "v" }))
            .collect();
        let e = errors(check_message(&json!({ "embeds": [{ "fields": fields }] })));
        assert!(e["embeds"]["0"]["fields"]["_errors"].is_array());
        let row = json!({ "type": 1, "components": (0..6).map(|i| json!({ "type": 2, "custom_id": i.to_string(), "label": "x" })).collect::<Vec<_>>() });
        let rows: Vec<Value> = (0..6).map(|_| row.clone()).collect();
        let e = errors(check_message(&json!({ "components": rows })));
        assert!(e["components"]["_errors"].is_array());
        assert!(e["components"]["0"]["components"]["_errors"].is_array());
        let button = json!({ "type": 2, "custom_id": "c".repeat(101), "label": "l".repeat(81) });
        let e = errors(check_message(
            &json!({ "components": [{ "type": 1, "components": [button] }] }),
        ));
        let b = &e["components"]["0"]["components"]["0"];
        assert!(b["custom_id"]["_errors"].is_array() && b["label"]["_errors"].is_array());
        let e = errors(check_thread(&json!({ "name": "n".repeat(101) })));
        assert!(e["name"]["_errors"].is_array());
        assert!(check_thread(&json!({})).is_some());
    }
}
