//! Commit times from GitHub's commits API, for lead time. A deploy is stored and announced without
//! waiting for this: the lookup is a persisted row (`commit_lookup`) that this worker works off,
//! retrying with back-off, so a GitHub outage delays the figure and loses nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{IntegrationsConfig, Secret};
use crate::jobs::{until, Job, Next, Wake};
use crate::store::{CommitLookup, Store};

/// How long one request to GitHub may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// After this many failed attempts a lookup is dropped (the deploy keeps no commit time).
const MAX_ATTEMPTS: i64 = 12;
/// Longest wait between attempts.
const MAX_DELAY: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum GithubApiError {
    /// Worth retrying: connection failure, timeout, 5xx, rate limit.
    #[error("GitHub API unavailable: {0}")]
    Transient(String),
    /// Retrying will not help: unknown commit, bad token.
    #[error("GitHub API refused: {0}")]
    Rejected(String),
}

/// The commits API client.
#[derive(Clone)]
pub struct GithubApi {
    client: reqwest::Client,
    base_url: String,
    token: Secret,
}

impl GithubApi {
    pub fn new(base_url: &str, token: Secret) -> Self {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("loopbot/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
        }
    }

    /// The committer date of `sha` in `repo` (`owner/name`): when the change landed.
    pub async fn commit_time(
        &self,
        repo: &str,
        sha: &str,
    ) -> Result<DateTime<Utc>, GithubApiError> {
        let url = format!("{}/repos/{repo}/commits/{sha}", self.base_url);
        let response = self
            .client
            .get(&url)
            .bearer_auth(self.token.expose())
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .send()
            .await
            .map_err(|e| GithubApiError::Transient(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 403 {
            // 403 is also GitHub's answer when the rate limit is exhausted.
            return Err(GithubApiError::Transient(format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(GithubApiError::Rejected(format!("HTTP {status}")));
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| GithubApiError::Transient(e.without_url().to_string()))?;
        let date = body
            .pointer("/commit/committer/date")
            .or_else(|| body.pointer("/commit/author/date"))
            .and_then(|d| d.as_str())
            .ok_or_else(|| GithubApiError::Rejected("no commit.committer.date".into()))?;
        DateTime::parse_from_rfc3339(date)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| GithubApiError::Rejected(format!("commit date {date:?}: {e}")))
    }
}

/// The job that fills in commit times; it exists only when lookups can happen at all
/// (GITHUB_TOKEN is set, see [`CommitTimes::new`]).
pub struct CommitTimes {
    store: Store,
    api: GithubApi,
    retry_base: Duration,
    /// Rung when a lookup was queued.
    wake: Wake,
}

impl CommitTimes {
    /// The job, or none when `GITHUB_TOKEN` is not set.
    pub fn new(store: Store, config: &IntegrationsConfig, wake: Wake) -> Option<Self> {
        let token = config.github_token.clone()?;
        Some(Self {
            store,
            api: GithubApi::new(&config.github_api_url, token),
            retry_base: config.lookup_retry_base,
            wake,
        })
    }

    /// The delay before attempt `attempts + 1`.
    fn delay(&self, attempts: i64) -> Duration {
        let factor = 2u32.saturating_pow(attempts.clamp(0, 20) as u32);
        self.retry_base.saturating_mul(factor).min(MAX_DELAY)
    }

    /// Works off every lookup due at `now`. Returns how many succeeded.
    pub async fn run_due(&self, now: DateTime<Utc>) -> usize {
        let api = &self.api;
        let due = match self.store.due_commit_lookups(now, 20).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read pending commit lookups");
                return 0;
            }
        };
        let mut done = 0;
        for CommitLookup {
            deploy_id,
            repo,
            sha,
            attempts,
        } in due
        {
            let result = match api.commit_time(&repo, &sha).await {
                Ok(at) => {
                    done += 1;
                    tracing::info!(deploy_id, %repo, %sha, commit_at = %at, "commit time filled in");
                    self.store.commit_lookup_succeeded(deploy_id, at, now).await
                }
                Err(e) => {
                    let give_up =
                        matches!(e, GithubApiError::Rejected(_)) || attempts + 1 >= MAX_ATTEMPTS;
                    let retry_at = (!give_up).then(|| {
                        now + chrono::Duration::from_std(self.delay(attempts))
                            .unwrap_or(chrono::Duration::hours(1))
                    });
                    tracing::warn!(deploy_id, %repo, %sha, error = %e, give_up, "commit time lookup failed");
                    self.store
                        .commit_lookup_failed(deploy_id, &e.to_string(), retry_at)
                        .await
                }
            };
            if let Err(e) = result {
                tracing::warn!(deploy_id, error = %e, "cannot settle commit lookup");
            }
        }
        done
    }
}

impl Job for CommitTimes {
    const NAME: &'static str = "commit_times";

    /// Works off due lookups, then sleeps until the next is due or one is queued.
    async fn run(&mut self, now: DateTime<Utc>) -> Next {
        self.run_due(now).await;
        let sleep = match self.store.next_commit_lookup_at().await {
            Ok(Some(at)) => until(at),
            Ok(None) => MAX_DELAY,
            Err(_) => self.retry_base,
        }
        .max(Duration::from_millis(10));
        Next::After(sleep)
    }

    fn wake(&self) -> Option<Wake> {
        Some(self.wake.clone())
    }
}
