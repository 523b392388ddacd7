//! The HTTP boundary's one error type. It renders itself as `{"error": "..."}` with the status
//! a sender can act on; internal causes are logged, never returned.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::domain::ValidationError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    Invalid(ValidationError),
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Retrying later can help (no API token configured, database locked or full).
    #[error("{0}")]
    Unavailable(String),
    /// The in-flight limit is reached; refused at once rather than queued.
    #[error("the bot is already handling {limit} requests; retry in a moment")]
    Overloaded { limit: usize },
    /// The request's body did not arrive within the request timeout.
    #[error("{0}")]
    TimedOut(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable(_) | ApiError::Overloaded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            // SQLite's own words stay in the log; the sender learns what it can do.
            StoreError::Unavailable(reason) => {
                tracing::warn!(%reason, "database unavailable");
                ApiError::Unavailable("database unavailable, retry later".into())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        ApiError::Invalid(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                serde_json::json!({ "error": self.to_string() })
            }
            ApiError::Unavailable(reason) => {
                tracing::warn!(%reason, "refusing request: unavailable");
                serde_json::json!({ "error": self.to_string() })
            }
            ApiError::Invalid(v) => {
                serde_json::json!({ "error": self.to_string(), "field": v.field })
            }
            _ => serde_json::json!({ "error": self.to_string() }),
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::Overloaded { .. } = self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
