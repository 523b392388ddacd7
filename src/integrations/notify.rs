//! `loopbot notify deploy ...`: the one line a CI script adds to report a deploy. Posts loopbot's
//! generic deploy JSON to a running bot, retrying with back-off when the bot is unreachable or
//! answers 5xx, and failing at once, with the bot's own message, on 4xx.

use std::time::Duration;

use serde_json::{json, Map, Value};

/// The flags of `loopbot notify deploy`. Absent flags fall back to common CI variables.
#[derive(Debug, Clone, PartialEq, Eq, Default, clap::Args)]
pub struct NotifyDeployArgs {
    /// Service name [default: $CI_PROJECT_NAME, or the repository name in $GITHUB_REPOSITORY]
    #[arg(long)]
    pub service: Option<String>,
    /// Version deployed [default: $CI_COMMIT_TAG, else the short commit sha]
    #[arg(long)]
    pub version: Option<String>,
    /// Environment [default: $CI_ENVIRONMENT_NAME]
    #[arg(long = "env")]
    pub environment: Option<String>,
    /// started, succeeded, failed or rolled_back
    #[arg(long)]
    pub status: String,
    /// Who deployed [default: $GITHUB_ACTOR, $GITLAB_USER_LOGIN, $BUILDKITE_BUILD_CREATOR, $CIRCLE_USERNAME]
    #[arg(long)]
    pub deployer: Option<String>,
    /// Commit sha [default: $GITHUB_SHA, $CI_COMMIT_SHA, $BUILDKITE_COMMIT, $CIRCLE_SHA1, $GIT_COMMIT]
    #[arg(long)]
    pub commit: Option<String>,
    /// Commit time, RFC 3339 [default: $CI_COMMIT_TIMESTAMP, else `git show -s --format=%cI <commit>` when git knows it]
    #[arg(long)]
    pub commit_at: Option<String>,
    /// When this happened, RFC 3339, e.g. 2026-12-03T07:30:00Z [default: when the bot receives it]
    #[arg(long)]
    pub at: Option<String>,
    /// Link to the pipeline or job [default: the GitHub Actions run, $CI_PIPELINE_URL, $BUILDKITE_BUILD_URL, $CIRCLE_BUILD_URL, $BUILD_URL]
    #[arg(long)]
    pub url: Option<String>,
    /// File whose text becomes the changelog
    #[arg(long)]
    pub changelog_file: Option<std::path::PathBuf>,
    /// Do not list the commits shipped (by default, on started and succeeded, `git log` from the
    /// sha running in the environment, asked of the bot, to the commit deployed)
    #[arg(long)]
    pub no_git_commits: bool,
    /// Your own key for this deploy: events with the same id update one announcement
    /// [default: service/environment/version]
    #[arg(long)]
    pub id: Option<String>,
    /// Attempts after the first when the bot is unreachable or answers 5xx
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
    /// Delay before the first retry, in milliseconds; doubles per retry
    #[arg(long, default_value_t = 1000)]
    pub retry_delay_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{0}")]
    Usage(String),
    #[error("the bot refused the deploy (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("could not reach loopbot at {url} after {attempts} attempts: {last}")]
    Unreachable {
        url: String,
        attempts: u32,
        last: String,
    },
}

/// The bot's answer to an accepted deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notified {
    pub deploy_id: i64,
    pub duplicate: bool,
}

fn first(env: &impl Fn(&str) -> Option<String>, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| env(n).filter(|v| !v.trim().is_empty()))
}

/// The JSON body, from the flags and, where a flag is absent, the CI environment.
pub fn build_body(
    args: &NotifyDeployArgs,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Value, NotifyError> {
    let commit = args.commit.clone().or_else(|| {
        first(
            env,
            &[
                "GITHUB_SHA",
                "CI_COMMIT_SHA",
                "BUILDKITE_COMMIT",
                "CIRCLE_SHA1",
                "GIT_COMMIT",
            ],
        )
    });
    let service = args
        .service
        .clone()
        .or_else(|| first(env, &["CI_PROJECT_NAME"]))
        .or_else(|| {
            first(env, &["GITHUB_REPOSITORY"]).and_then(|r| r.rsplit('/').next().map(str::to_owned))
        })
        .ok_or_else(|| {
            NotifyError::Usage(
                "--service is required (no CI_PROJECT_NAME or GITHUB_REPOSITORY to default to)"
                    .into(),
            )
        })?;
    let version = args
        .version
        .clone()
        .or_else(|| first(env, &["CI_COMMIT_TAG"]))
        .or_else(|| commit.as_deref().map(|c| c.chars().take(7).collect()))
        .ok_or_else(|| {
            NotifyError::Usage(
                "--version is required (no CI_COMMIT_TAG or commit sha to default to)".into(),
            )
        })?;
    let environment = args
        .environment
        .clone()
        .or_else(|| first(env, &["CI_ENVIRONMENT_NAME"]))
        .ok_or_else(|| {
            NotifyError::Usage("--env is required (no CI_ENVIRONMENT_NAME to default to)".into())
        })?;
    let deployer = args.deployer.clone().or_else(|| {
        first(
            env,
            &[
                "GITHUB_ACTOR",
                "GITLAB_USER_LOGIN",
                "BUILDKITE_BUILD_CREATOR",
                "CIRCLE_USERNAME",
            ],
        )
    });
    let github_run = match (
        first(env, &["GITHUB_SERVER_URL"]),
        first(env, &["GITHUB_REPOSITORY"]),
        first(env, &["GITHUB_RUN_ID"]),
    ) {
        (Some(server), Some(repo), Some(run)) => {
            Some(format!("{server}/{repo}/actions/runs/{run}"))
        }
        _ => None,
    };
    let url = args.url.clone().or(github_run).or_else(|| {
        first(
            env,
            &[
                "CI_PIPELINE_URL",
                "BUILDKITE_BUILD_URL",
                "CIRCLE_BUILD_URL",
                "BUILD_URL",
            ],
        )
    });
    let commit_at = args
        .commit_at
        .clone()
        .or_else(|| first(env, &["CI_COMMIT_TIMESTAMP"]))
        .or_else(|| commit.as_deref().and_then(git_commit_time));
    let changelog = match &args.changelog_file {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            NotifyError::Usage(format!(
                "cannot read --changelog-file {}: {e}",
                path.display()
            ))
        })?),
        None => None,
    };
    let mut body = Map::new();
    for (key, value) in [
        ("service", Some(service)),
        ("version", Some(version)),
        ("environment", Some(environment)),
        ("status", Some(args.status.clone())),
        ("deployer", deployer),
        ("commit_sha", commit),
        ("commit_at", commit_at),
        ("url", url),
        ("changelog", changelog),
        ("id", args.id.clone()),
        ("at", args.at.clone()),
    ] {
        if let Some(v) = value {
            body.insert(key.to_owned(), json!(v));
        }
    }
    Ok(Value::Object(body))
}

/// The commit's committer time from the local git checkout, when there is one.
fn git_commit_time(sha: &str) -> Option<String> {
    let output = std::process::Command::new("git")
        .args(["show", "-s", "--format=%cI", sha])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

/// Posts `body` to `{base_url}/api/v1/deploys`, retrying connection errors and 5xx.
pub async fn send(
    base_url: &str,
    token: &str,
    body: &Value,
    retries: u32,
    retry_delay: Duration,
) -> Result<Notified, NotifyError> {
    let url = format!("{}/api/v1/deploys", base_url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .user_agent(concat!("loopbot-notify/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| NotifyError::Usage(e.to_string()))?;
    let mut delay = retry_delay;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let last = match client.post(&url).bearer_auth(token).json(body).send().await {
            Ok(response) => {
                let status = response.status();
                let answer: Value = response.json().await.unwrap_or(Value::Null);
                let message = answer["error"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| answer.to_string());
                if status.is_success() {
                    return Ok(Notified {
                        deploy_id: answer["deploy_id"].as_i64().unwrap_or_default(),
                        duplicate: answer["duplicate"].as_bool().unwrap_or(false),
                    });
                }
                if status.is_client_error() && status.as_u16() != 429 {
                    return Err(NotifyError::Rejected {
                        status: status.as_u16(),
                        message,
                    });
                }
                format!("HTTP {status}: {message}")
            }
            Err(e) => e.without_url().to_string(),
        };
        if attempt > retries {
            return Err(NotifyError::Unreachable {
                url,
                attempts: attempt,
                last,
            });
        }
        eprintln!("loopbot notify: attempt {attempt} failed ({last}); retrying in {delay:?}");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// The whole command: configuration from `env`, body, send. Returns the deploy id.
pub async fn notify_deploy(
    args: &NotifyDeployArgs,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Notified, NotifyError> {
    let base_url = first(&env, &["LOOPBOT_URL"]).ok_or_else(|| {
        NotifyError::Usage(
            "LOOPBOT_URL is not set; expected the bot's base URL, e.g. https://loopbot.example.com"
                .into(),
        )
    })?;
    let token = first(&env, &["LOOPBOT_API_TOKEN"]).ok_or_else(|| {
        NotifyError::Usage("LOOPBOT_API_TOKEN is not set; expected the bot's API token".into())
    })?;
    let mut body = build_body(args, &env)?;
    if !args.no_git_commits {
        super::git_commits::fill(&mut body, &base_url, token.trim()).await;
    }
    send(
        &base_url,
        token.trim(),
        &body,
        args.retries,
        Duration::from_millis(args.retry_delay_ms),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn args(status: &str) -> NotifyDeployArgs {
        NotifyDeployArgs {
            status: status.into(),
            environment: Some("production".into()),
            ..Default::default()
        }
    }

    #[test]
    fn github_actions_variables_fill_the_gaps() {
        let body = build_body(
            &args("succeeded"),
            &env(&[
                ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
                ("GITHUB_ACTOR", "octocat"),
                ("GITHUB_REPOSITORY", "acme/checkout"),
                ("GITHUB_SERVER_URL", "https://github.com"),
                ("GITHUB_RUN_ID", "42"),
            ]),
        )
        .unwrap();
        assert_eq!(body["service"], "checkout");
        assert_eq!(body["version"], "0123456");
        assert_eq!(body["deployer"], "octocat");
        assert_eq!(
            body["url"],
            "https://github.com/acme/checkout/actions/runs/42"
        );
    }

    #[test]
    fn gitlab_variables_fill_the_gaps_and_flags_win() {
        let mut a = args("started");
        a.environment = None;
        a.deployer = Some("ana".into());
        let body = build_body(
            &a,
            &env(&[
                ("CI_COMMIT_SHA", "89abcdef0123456789abcdef0123456789abcdef"),
                ("GITLAB_USER_LOGIN", "root"),
                ("CI_PROJECT_NAME", "shop"),
                ("CI_ENVIRONMENT_NAME", "staging"),
                ("CI_COMMIT_TAG", "v2.0.0"),
                ("CI_COMMIT_TIMESTAMP", "2026-11-24T09:00:00+00:00"),
                ("CI_PIPELINE_URL", "https://gitlab.example.com/p/1"),
            ]),
        )
        .unwrap();
        assert_eq!(body["service"], "shop");
        assert_eq!(body["version"], "v2.0.0");
        assert_eq!(body["environment"], "staging");
        assert_eq!(body["deployer"], "ana");
        assert_eq!(body["commit_at"], "2026-11-24T09:00:00+00:00");
        assert_eq!(body["url"], "https://gitlab.example.com/p/1");
    }

    #[test]
    fn a_missing_service_is_a_clear_usage_error() {
        let err = build_body(&args("started"), &env(&[])).unwrap_err();
        assert!(err.to_string().contains("--service is required"), "{err}");
    }
}
