//! Extractors shared by the routers: bearer authentication and a JSON body whose errors name
//! the failing field.

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::config::Secret;
use crate::domain::ValidationError;

/// Largest request body the API reads.
pub const BODY_LIMIT: usize = 256 * 1024;

/// The write API's token, as the router state holds it.
#[derive(Clone)]
pub struct ApiToken(pub Option<Secret>);

/// Proof that the request carried `Authorization: Bearer <LOOPBOT_API_TOKEN>`.
pub struct Authenticated;

impl<S> FromRequestParts<S> for Authenticated
where
    ApiToken: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ApiToken(expected) = ApiToken::from_ref(state);
        let Some(expected) = expected else {
            return Err(ApiError::Unavailable(
                "the write API is disabled: set LOOPBOT_API_TOKEN on the bot".into(),
            ));
        };
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or(ApiError::Unauthorized(
                "missing Authorization: Bearer <token> header",
            ))?;
        if secrets_equal(presented.trim(), expected.expose()) {
            Ok(Authenticated)
        } else {
            Err(ApiError::Unauthorized("invalid API token"))
        }
    }
}

/// Compares two secrets in constant time; hashing first means not even the length leaks.
pub fn secrets_equal(presented: &str, expected: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

/// A JSON body: 413 over [`BODY_LIMIT`], 400 when it is not JSON, 422 naming the field whose
/// type is wrong. Carries the raw text too, so the event can be stored verbatim.
pub struct JsonBody<T> {
    pub value: T,
    pub raw: String,
}

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| ct.starts_with("application/json") || ct.contains("+json"))
            // curl -d without -H sends form encoding; accept a missing type, refuse a wrong one.
            .unwrap_or(true);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "expected Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit: BODY_LIMIT }
            } else {
                ApiError::MalformedJson(rejection.body_text())
            }
        })?;
        let raw = String::from_utf8(bytes.to_vec())
            .map_err(|_| ApiError::MalformedJson("body is not valid UTF-8".into()))?;
        // serde would read a struct from a JSON array too; every body of this API is an object.
        if !raw.trim_start().starts_with('{') {
            return Err(match serde_json::from_str::<serde::de::IgnoredAny>(&raw) {
                Ok(_) => ApiError::Invalid(ValidationError::new("body", "must be a JSON object")),
                Err(e) => ApiError::MalformedJson(e.to_string()),
            });
        }
        let text = without_nul(&raw);
        let mut de = serde_json::Deserializer::from_str(&text);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if inner.is_data() {
                let field = leak_field(&path);
                let mut reason = strip_position(&inner.to_string());
                if field == "commits" && path != "commits" {
                    // Say where inside the field (`commits[3].sha`).
                    reason = format!("{path}: {reason}");
                }
                ApiError::Invalid(ValidationError::new(field, reason))
            } else {
                ApiError::MalformedJson(inner.to_string())
            }
        })?;
        de.end()
            .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
        Ok(Self { value, raw })
    }
}

/// `raw` JSON with every `\u0000` escape inside a string read as U+FFFD: a NUL character is text
/// no PostgreSQL column can hold, so both engines store the same replacement (the raw body, kept
/// for audit, keeps the escape as it came).
pub fn without_nul(raw: &str) -> std::borrow::Cow<'_, str> {
    if !raw.contains("\\u0000") {
        return std::borrow::Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let escape = &rest[at..];
        if let Some(after) = escape.strip_prefix("\\u0000") {
            out.push_str("\\ufffd");
            rest = after;
        } else {
            // Any other escape (`\\` included) is two characters kept as they are.
            let len = escape[1..].chars().next().map_or(1, |c| 1 + c.len_utf8());
            out.push_str(&escape[..len]);
            rest = &escape[len..];
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// Field names in errors are `&'static str`; the ones a body can name are few and known, so map
/// them back to static strings instead of leaking memory per request.
fn leak_field(path: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "service",
        "version",
        "environment",
        "status",
        "deployer",
        "commit_sha",
        "commit_at",
        "url",
        "changelog",
        "id",
        "at",
    ];
    // `commits[3].sha`: the list is the field a sender fixes.
    if path == "commits" || path.starts_with("commits[") || path.starts_with("commits.") {
        return "commits";
    }
    KNOWN
        .iter()
        .find(|k| **k == path)
        .copied()
        .unwrap_or("body")
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes_in_strings_become_replacement_characters_and_nothing_else_changes() {
        assert_eq!(without_nul(r#"{"a":"x"}"#), r#"{"a":"x"}"#);
        assert_eq!(without_nul(r#"{"a":"x\u0000y"}"#), r#"{"a":"x\ufffdy"}"#);
        // An escaped backslash followed by the text u0000 is not a NUL.
        assert_eq!(without_nul(r#"{"a":"\\u0000"}"#), r#"{"a":"\\u0000"}"#);
        let parsed: serde_json::Value =
            serde_json::from_str(&without_nul(r#"{"a":"\u0000"}"#)).unwrap();
        assert_eq!(parsed["a"], "\u{fffd}");
    }

    #[test]
    fn secrets_compare_by_value_only() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("", "abc"));
    }
}
