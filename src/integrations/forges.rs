//! The two forges' REST APIs that say which commits a deploy shipped and when each was committed:
//! GitHub (`GET /repos/{repo}/commits/{sha}`, `GET /repos/{repo}/compare/{base}...{head}`) and
//! GitLab (`GET /projects/{id}/repository/commits/{sha}`, `GET /projects/{id}/repository/compare`).
//! A commit's time is its committer date (when it landed on the deployed branch).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::Secret;
use crate::domain::deploy::MAX_COMMITS;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// GitHub's largest compare page.
const GITHUB_PAGE: usize = 250;

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// Worth retrying: connection failure, timeout, 5xx, rate limit.
    #[error("{0} API unavailable: {1}")]
    Transient(&'static str, String),
    /// Retrying will not help: unknown commit, bad token, an answer without dates.
    #[error("{0} API refused: {1}")]
    Rejected(&'static str, String),
}

/// A commit as a forge reports it: full sha and committer date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeCommit {
    pub sha: String,
    pub committed_at: DateTime<Utc>,
}

/// Which forge, and its client.
#[derive(Clone)]
pub struct Forge {
    name: &'static str,
    client: reqwest::Client,
    base_url: String,
    token: Secret,
}

impl Forge {
    fn new(name: &'static str, base_url: &str, token: Secret) -> Self {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("loopbot/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            name,
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
        }
    }

    pub fn github(base_url: &str, token: Secret) -> Self {
        Self::new("GitHub", base_url, token)
    }

    pub fn gitlab(base_url: &str, token: Secret) -> Self {
        Self::new("GitLab", base_url, token)
    }

    fn is_github(&self) -> bool {
        self.name == "GitHub"
    }

    /// GETs `path` (with `query`) and reads the JSON answer, sorting failures into retry or not.
    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ForgeError> {
        let request = self
            .client
            .get(format!("{}{path}", self.base_url))
            .query(query);
        let request = if self.is_github() {
            request
                .bearer_auth(self.token.expose())
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28")
        } else {
            request.header("PRIVATE-TOKEN", self.token.expose())
        };
        let response = request
            .send()
            .await
            .map_err(|e| ForgeError::Transient(self.name, e.without_url().to_string()))?;
        let status = response.status();
        // 403 is also GitHub's answer when the rate limit is exhausted.
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 403 {
            return Err(ForgeError::Transient(self.name, format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(ForgeError::Rejected(self.name, format!("HTTP {status}")));
        }
        response
            .json()
            .await
            .map_err(|e| ForgeError::Transient(self.name, e.without_url().to_string()))
    }

    /// One commit from an answer's entry: GitHub's `{sha, commit: {committer: {date}}}` or
    /// GitLab's `{id, committed_date}` (the author date only when no committer date is given).
    fn commit(&self, entry: &Value) -> Result<ForgeCommit, ForgeError> {
        let (sha, date) = if self.is_github() {
            (
                entry.get("sha"),
                entry
                    .pointer("/commit/committer/date")
                    .or_else(|| entry.pointer("/commit/author/date")),
            )
        } else {
            (
                entry.get("id"),
                entry
                    .get("committed_date")
                    .or_else(|| entry.get("authored_date")),
            )
        };
        let sha = sha
            .and_then(Value::as_str)
            .ok_or_else(|| ForgeError::Rejected(self.name, "a commit without its sha".into()))?;
        let date = date.and_then(Value::as_str).ok_or_else(|| {
            ForgeError::Rejected(self.name, format!("commit {sha} without a date"))
        })?;
        let committed_at = DateTime::parse_from_rfc3339(date)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| ForgeError::Rejected(self.name, format!("commit date {date:?}: {e}")))?;
        Ok(ForgeCommit {
            sha: sha.to_ascii_lowercase(),
            committed_at,
        })
    }

    /// `sha` in `repo` (GitHub `owner/name`, GitLab the project id).
    pub async fn commit_time(&self, repo: &str, sha: &str) -> Result<ForgeCommit, ForgeError> {
        let path = if self.is_github() {
            format!("/repos/{repo}/commits/{sha}")
        } else {
            format!("/projects/{}/repository/commits/{sha}", encode(repo))
        };
        self.commit(&self.get(&path, &[]).await?)
    }

    /// The commits in `base..head` (what `head` adds to `base`), oldest first, the newest
    /// [`MAX_COMMITS`] at most. GitHub pages its answer (250 a page, `total_commits` says how many):
    /// beyond 1 000 only the last pages are fetched. GitLab answers in one page.
    pub async fn compare(
        &self,
        repo: &str,
        base: &str,
        head: &str,
    ) -> Result<Vec<ForgeCommit>, ForgeError> {
        let entries: Vec<Value> = if self.is_github() {
            let path = format!("/repos/{repo}/compare/{base}...{head}");
            let page = |n: usize| {
                [
                    ("per_page", GITHUB_PAGE.to_string()),
                    ("page", n.to_string()),
                ]
            };
            let first = self.get(&path, &page(1)).await?;
            let total = first["total_commits"].as_u64().unwrap_or(0) as usize;
            let pages = total.div_ceil(GITHUB_PAGE).max(1);
            let wanted = pages.saturating_sub(MAX_COMMITS / GITHUB_PAGE) + 1..=pages;
            let mut entries = Vec::new();
            for n in wanted {
                let answer = if n == 1 {
                    first.clone()
                } else {
                    self.get(&path, &page(n)).await?
                };
                entries.extend(list(self.name, &answer)?);
            }
            entries
        } else {
            let path = format!("/projects/{}/repository/compare", encode(repo));
            let answer = self
                .get(&path, &[("from", base.to_owned()), ("to", head.to_owned())])
                .await?;
            list(self.name, &answer)?
        };
        let skip = entries.len().saturating_sub(MAX_COMMITS);
        entries[skip..].iter().map(|e| self.commit(e)).collect()
    }
}

fn list(name: &'static str, answer: &Value) -> Result<Vec<Value>, ForgeError> {
    answer["commits"]
        .as_array()
        .cloned()
        .ok_or_else(|| ForgeError::Rejected(name, "a compare answer without commits".into()))
}

/// A GitLab project id or `group/name` path as one URL segment.
fn encode(project: &str) -> String {
    project.replace('%', "%25").replace('/', "%2F")
}
