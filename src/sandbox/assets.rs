//! The page: one HTML file, its stylesheet and its script, embedded at compile time so the
//! binary serves them without files beside it (no CDN, no build step).

use axum::http::header;
use axum::response::{Html, IntoResponse};

pub(super) async fn page() -> Html<&'static str> {
    Html(include_str!("assets/page.html"))
}

pub(super) async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/page.css"),
    )
}

pub(super) async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/page.js"),
    )
}
