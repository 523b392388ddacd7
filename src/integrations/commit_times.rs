//! Which commits a GitHub or GitLab deploy shipped, for lead time per change. A deploy is stored
//! and announced without waiting for this: the lookup is a persisted row (`commit_lookup`) that
//! this worker works off, retrying with back-off, so a forge's outage delays the figure and loses
//! nothing. A lookup compares the previous successful deploy's sha in the same environment with
//! this one's (the compare APIs, [`Forge::compare`]); without a previous sha (a first deploy), or
//! when the compare lists nothing (a deploy of an older commit), it stores the head commit alone.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::forges::{Forge, ForgeCommit, ForgeError};
use crate::config::IntegrationsConfig;
use crate::jobs::{until, Job, Next, Wake};
use crate::store::{CommitLookup, Store};

/// After this many failed attempts a lookup is dropped (the deploy keeps no commit list).
const MAX_ATTEMPTS: i64 = 12;
/// Longest wait between attempts.
const MAX_DELAY: Duration = Duration::from_secs(3600);

/// The job that fills in commit lists; it exists only when lookups can happen at all
/// (`GITHUB_TOKEN` or `GITLAB_TOKEN` is set, see [`CommitTimes::new`]).
pub struct CommitTimes {
    store: Store,
    github: Option<Forge>,
    gitlab: Option<Forge>,
    retry_base: Duration,
    /// Rung when a lookup was queued.
    wake: Wake,
}

impl CommitTimes {
    /// The job, or none when neither `GITHUB_TOKEN` nor `GITLAB_TOKEN` is set.
    pub fn new(store: Store, config: &IntegrationsConfig, wake: Wake) -> Option<Self> {
        let github = config
            .github_token
            .clone()
            .map(|token| Forge::github(&config.github_api_url, token));
        let gitlab = config
            .gitlab_token
            .clone()
            .map(|token| Forge::gitlab(&config.gitlab_api_url, token));
        (github.is_some() || gitlab.is_some()).then(|| Self {
            store,
            github,
            gitlab,
            retry_base: config.lookup_retry_base,
            wake,
        })
    }

    /// The delay before attempt `attempts + 1`.
    fn delay(&self, attempts: i64) -> Duration {
        let factor = 2u32.saturating_pow(attempts.clamp(0, 20) as u32);
        self.retry_base.saturating_mul(factor).min(MAX_DELAY)
    }

    /// The commits `lookup`'s deploy shipped: `previous..sha` by the forge's compare API, or the
    /// head commit alone.
    async fn shipped(
        &self,
        forge: &Forge,
        lookup: &CommitLookup,
    ) -> Result<Vec<ForgeCommit>, ForgeError> {
        let previous = self
            .store
            .previous_success(lookup.deploy_id)
            .await
            .map_err(|e| ForgeError::Transient("loopbot's database", e.to_string()))?;
        let same = |a: &str, b: &str| a.starts_with(b) || b.starts_with(a);
        let base = previous
            .and_then(|p| p.commit_sha)
            .filter(|base| !same(base, &lookup.sha));
        if let Some(base) = base {
            let commits = forge.compare(&lookup.repo, &base, &lookup.sha).await?;
            if !commits.is_empty() {
                return Ok(commits);
            }
        }
        Ok(vec![forge.commit_time(&lookup.repo, &lookup.sha).await?])
    }

    /// Works off every lookup due at `now`. Returns how many succeeded.
    pub async fn run_due(&self, now: DateTime<Utc>) -> usize {
        let due = match self.store.due_commit_lookups(now, 20).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read pending commit lookups");
                return 0;
            }
        };
        let mut done = 0;
        for lookup in due {
            let CommitLookup {
                deploy_id,
                ref forge,
                ref repo,
                ref sha,
                attempts,
            } = lookup;
            let client = match forge.as_str() {
                "gitlab" => self.gitlab.as_ref(),
                _ => self.github.as_ref(),
            };
            let result = match client {
                None => Err(ForgeError::Rejected(
                    "loopbot",
                    format!("no token for {forge}"),
                )),
                Some(client) => self.shipped(client, &lookup).await,
            };
            let settled = match result {
                Ok(commits) => {
                    done += 1;
                    let head = commits
                        .iter()
                        .find(|c| c.sha.starts_with(sha.as_str()))
                        .map(|c| c.committed_at);
                    tracing::info!(deploy_id, %forge, %repo, %sha, commits = commits.len(), "commits filled in");
                    let commits: Vec<(String, DateTime<Utc>)> = commits
                        .into_iter()
                        .map(|c| (c.sha, c.committed_at))
                        .collect();
                    self.store
                        .commit_lookup_succeeded(deploy_id, &commits, head, now)
                        .await
                }
                Err(e) => {
                    let give_up =
                        matches!(e, ForgeError::Rejected(..)) || attempts + 1 >= MAX_ATTEMPTS;
                    let retry_at = (!give_up).then(|| {
                        now + chrono::Duration::from_std(self.delay(attempts))
                            .unwrap_or(chrono::Duration::hours(1))
                    });
                    tracing::warn!(deploy_id, %forge, %repo, %sha, error = %e, give_up, "commit lookup failed");
                    self.store
                        .commit_lookup_failed(deploy_id, &e.to_string(), retry_at)
                        .await
                }
            };
            if let Err(e) = settled {
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
