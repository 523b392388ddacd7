//! The web dashboard (`/dashboard`): server-rendered pages (maud templates in `dashboard/pages.rs`,
//! SVG charts drawn here in `dashboard/svg.rs`), no JavaScript, no external assets.
//!
//! Who sees what: a link from `/dashboard` in Discord, signed for one server and one person
//! (`signing::LinkSigner`), opens that server's view (`domain::visibility`); the API token as a
//! bearer opens everything. `domain::access::decide_web` decides; anything else gets a plain page
//! (401 without a credential, 403 for a changed or expired link).
//!
//! Links inside the pages carry the signed query of the link they were opened with (rather than
//! a cookie): a page is then self-contained, several servers' dashboards can be open side by side,
//! and nothing outlives the link's 12 hours. Pages answer `Referrer-Policy: no-referrer` so the
//! query never leaves in a Referer header.

mod pages;
mod svg;

use axum::extract::{FromRef, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::extract::{secrets_equal, ApiToken};
use super::AppState;
use crate::config::SummarySettings;
use crate::domain::access::{decide_web, Grant, WebCredential, WebRefusal};
use crate::domain::dashboard::RECENT_DEPLOYS;
use crate::domain::period::Period;
use crate::domain::visibility::Reader;
use crate::store::{Scope, Store, StoreError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(main_page))
        .route("/dashboard/releases/{deploy_id}", get(release_page))
        .route("/dashboard/incidents/{incident_id}", get(incident_page))
}

/// The query a dashboard page takes: the signed link's fields and the period shown.
#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    guild: Option<String>,
    user: Option<String>,
    expires: Option<String>,
    sig: Option<String>,
    /// `last-week` (default), `this-week` or `last-30-days`, as `/summary` names them.
    period: Option<String>,
}

/// Who is reading, and the query that keeps their link on the pages' own links.
pub struct Viewer {
    pub reader: Reader,
    /// `guild=..&user=..&expires=..&sig=..`, empty for a bearer.
    pub carry: String,
}

impl Viewer {
    /// `path` with the viewer's credential (and `extra` query pairs, already encoded).
    pub fn href(&self, path: &str, extra: &str) -> String {
        let query: Vec<&str> = [self.carry.as_str(), extra]
            .into_iter()
            .filter(|q| !q.is_empty())
            .collect();
        if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", query.join("&"))
        }
    }
}

/// The credential of a request, its cryptography checked.
/// `query` is None when it did not parse (a repeated or garbled field): a changed link.
fn credential(state: &AppState, headers: &HeaderMap, query: Option<&PageQuery>) -> WebCredential {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let ApiToken(expected) = ApiToken::from_ref(state);
        let presented = value.to_str().ok().and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
        let valid = match (presented, expected) {
            (Some(presented), Some(expected)) => secrets_equal(presented.trim(), expected.expose()),
            _ => false,
        };
        return WebCredential::ApiToken { valid };
    }
    let Some(query) = query else {
        return WebCredential::Malformed;
    };
    let fields = [&query.guild, &query.user, &query.expires, &query.sig];
    if fields.iter().all(|f| f.is_none()) {
        return WebCredential::None;
    }
    let parsed = (|| {
        let guild = query.guild.as_deref()?.parse::<u64>().ok()?;
        let user = query.user.as_deref()?.parse::<u64>().ok()?;
        let expires = DateTime::<Utc>::from_timestamp(query.expires.as_deref()?.parse().ok()?, 0)?;
        Some((
            Grant {
                guild,
                user,
                expires,
            },
            query.sig.as_deref()?,
        ))
    })();
    match parsed {
        Some((grant, sig)) => WebCredential::Link {
            grant,
            signed: state.dashboard.verify(&grant, sig),
        },
        None => WebCredential::Malformed,
    }
}

/// The viewer of a request, or the plain page refusing it.
fn viewer(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&PageQuery>,
) -> Result<Viewer, WebRefusal> {
    let credential = credential(state, headers, query);
    match decide_web(&state.access, credential, Utc::now()) {
        Ok(reader) => Ok(Viewer {
            reader,
            carry: match credential {
                WebCredential::Link { grant, .. } => state.dashboard.query(&grant),
                _ => String::new(),
            },
        }),
        Err(refusal) => {
            tracing::info!(%refusal, "dashboard refused");
            Err(refusal)
        }
    }
}

/// An HTML answer with the headers every dashboard page carries: nothing cached or framed, no
/// Referer leaving with the signed query, nothing loaded from anywhere.
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; \
             form-action 'none'; frame-ancestors 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn refused(refusal: WebRefusal) -> Response {
    let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
    let mut response = html(status, pages::plain(status, &refusal.to_string()));
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

fn failed(error: StoreError) -> Response {
    let (status, text) = match error {
        StoreError::Unavailable(reason) => {
            tracing::warn!(%reason, "database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "The bot's database is unavailable right now; reload in a moment.",
            )
        }
        other => {
            tracing::error!(error = %other, "dashboard failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong inside loopbot; it was logged for the operator.",
            )
        }
    };
    html(status, pages::plain(status, text))
}

/// The periods the main page offers, as `/summary` names them.
pub(super) const PERIODS: [(&str, &str); 3] = [
    ("last-week", "Last week"),
    ("this-week", "This week"),
    ("last-30-days", "Last 30 days"),
];

fn period_of(name: &str, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Option<Period> {
    Some(match name {
        "last-week" => Period::last_week(now, tz),
        "this-week" => Period::week_of(now, tz),
        "last-30-days" => Period::last_30_days(now, tz),
        _ => return None,
    })
}

type PageQueryResult = Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>;

fn parsed(query: PageQueryResult) -> Option<PageQuery> {
    query.ok().map(|Query(q)| q)
}

async fn main_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: PageQueryResult,
) -> Response {
    let query = parsed(query);
    let viewer = match viewer(&state, &headers, query.as_ref()) {
        Ok(viewer) => viewer,
        Err(refusal) => return refused(refusal),
    };
    let period_name = query
        .as_ref()
        .and_then(|q| q.period.as_deref())
        .unwrap_or("last-week");
    match main_page_html(
        &state.store,
        &state.summaries,
        &viewer,
        period_name,
        Utc::now(),
    )
    .await
    {
        Ok(Some(page)) => html(StatusCode::OK, page),
        Ok(None) => html(
            StatusCode::BAD_REQUEST,
            pages::plain(
                StatusCode::BAD_REQUEST,
                "period must be last-week, this-week or last-30-days.",
            ),
        ),
        Err(error) => failed(error),
    }
}

/// The main page as `viewer` sees it for the period named `period_name` (None: no such
/// period). Public for `loopbot bench summary`, which times it on a generated year.
pub async fn main_page_html(
    store: &Store,
    settings: &SummarySettings,
    viewer: &Viewer,
    period_name: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    let Some(period) = period_of(period_name, settings.timezone, now) else {
        return Ok(None);
    };
    let scope = Scope::all().read_by(viewer.reader);
    let (summary, deploys, incidents, followups) = tokio::try_join!(
        crate::summaries::compute(store, settings, &period, &scope, now),
        store.recent_deploys(viewer.reader, RECENT_DEPLOYS),
        store.open_incidents(viewer.reader),
        store.open_followups(viewer.reader),
    )?;
    let data = MainData {
        summary,
        deploys,
        incidents,
        followups,
        now,
    };
    Ok(Some(pages::main(
        viewer,
        period_name,
        &data,
        settings.timezone,
        &settings.bands,
    )))
}

/// Everything the main page shows.
pub(super) struct MainData {
    pub summary: crate::domain::summary::Summary,
    pub deploys: Vec<crate::domain::dashboard::DeployLine>,
    pub incidents: Vec<crate::domain::dashboard::IncidentLine>,
    /// Open follow-ups, oldest first.
    pub followups: Vec<crate::store::FollowupView>,
    pub now: DateTime<Utc>,
}

/// A page that does not exist for this viewer: another server's release reads as no release.
fn not_found(what: &str) -> Response {
    html(
        StatusCode::NOT_FOUND,
        pages::plain(StatusCode::NOT_FOUND, &format!("No such {what} here.")),
    )
}

async fn release_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(deploy_id): Path<String>,
    query: PageQueryResult,
) -> Response {
    let viewer = match viewer(&state, &headers, parsed(query).as_ref()) {
        Ok(viewer) => viewer,
        Err(refusal) => return refused(refusal),
    };
    let Ok(deploy_id) = deploy_id.parse::<i64>() else {
        return not_found("release");
    };
    match state.store.release_page(deploy_id, viewer.reader).await {
        Ok(Some(page)) => html(
            StatusCode::OK,
            pages::release(&viewer, &page, state.summaries.timezone),
        ),
        Ok(None) => not_found("release"),
        Err(error) => failed(error),
    }
}

async fn incident_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(incident_id): Path<String>,
    query: PageQueryResult,
) -> Response {
    let viewer = match viewer(&state, &headers, parsed(query).as_ref()) {
        Ok(viewer) => viewer,
        Err(refusal) => return refused(refusal),
    };
    let Ok(incident_id) = incident_id.parse::<i64>() else {
        return not_found("incident");
    };
    let read = tokio::try_join!(
        state.store.incident_page(incident_id, viewer.reader),
        state.store.incident_detail(incident_id, viewer.reader),
    );
    match read {
        Ok((Some(page), detail)) => html(
            StatusCode::OK,
            pages::incident(&viewer, &page, detail.as_ref(), state.summaries.timezone),
        ),
        Ok((None, _)) => not_found("incident"),
        Err(error) => failed(error),
    }
}
