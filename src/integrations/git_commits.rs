//! The commits a deploy ships, from the local git checkout, for `loopbot notify deploy`: everything
//! from the environment's running deploy (asked of the bot, `GET /api/v1/deploys/latest`) to the
//! commit being deployed, each with its committer date. Best effort: without git, a checkout or the
//! previous commit in the local history (a shallow clone), it says why and sends less.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::domain::deploy::MAX_COMMITS;

/// `git log --format=%H %cI` lines as the API's `commits` list (sha, committed_at); other lines
/// (none are expected) are skipped.
pub fn parse_git_log(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|line| {
            let (sha, at) = line.trim().split_once(' ')?;
            (!sha.is_empty() && sha.chars().all(|c| c.is_ascii_hexdigit()))
                .then(|| json!({"sha": sha, "committed_at": at.trim()}))
        })
        .collect()
}

/// Runs git with `args`; its standard output when it succeeds.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `head` as the checkout knows it (one commit of the list), or `None` when git cannot read it
/// (no git, no checkout, an unknown sha).
pub fn head_commit(head: &str) -> Option<Value> {
    parse_git_log(&git(&["log", "-1", "--format=%H %cI", head, "--"])?)
        .into_iter()
        .next()
}

/// What `head` shipped since `previous` (the sha running in the environment), per the checkout:
/// `previous..head`, newest first, at most [`MAX_COMMITS`]; without a previous deploy, or when
/// `previous` is not in the local history (a shallow clone), the head commit alone; nothing when
/// `previous` is `head` (a redeploy). The `String` says which, for the log.
pub fn shipped(head: &str, head_commit: Value, previous: Option<&str>) -> (Vec<Value>, String) {
    let Some(previous) = previous else {
        return (
            vec![head_commit],
            "no deploy runs there yet: the head commit only".into(),
        );
    };
    let head_sha = head_commit["sha"].as_str().unwrap_or_default();
    if head_sha.starts_with(&previous.to_ascii_lowercase()) {
        return (
            Vec::new(),
            format!("{previous} already runs there: no commits"),
        );
    }
    if git(&["cat-file", "-e", &format!("{previous}^{{commit}}")]).is_none() {
        return (
            vec![head_commit],
            format!(
                "{previous} (running there) is not in this checkout's history, a shallow clone? \
                 (fetch with depth 0): the head commit only"
            ),
        );
    }
    let range = format!("{previous}..{head}");
    let limit = format!("-n{MAX_COMMITS}");
    match git(&["log", &limit, "--format=%H %cI", &range, "--"]) {
        Some(text) => {
            let commits = parse_git_log(&text);
            let note = format!("{} commit(s) in {range}", commits.len());
            (commits, note)
        }
        None => (
            vec![head_commit],
            format!("git log {range} failed: the head commit only"),
        ),
    }
}

/// Adds `commits` to a deploy event `body` from the checkout, for `started` and `succeeded`
/// events that list none: asks the bot which sha runs in the environment, then [`shipped`].
/// Best effort: says on stderr what it did, and sends the event without a list when git cannot
/// read the commit.
pub async fn fill(body: &mut Value, base_url: &str, token: &str) {
    let status = body["status"].as_str().unwrap_or_default();
    if body.get("commits").is_some() || !matches!(status, "started" | "succeeded") {
        return;
    }
    let head = body["commit_sha"].as_str().unwrap_or("HEAD").to_owned();
    let Some(head_commit) = head_commit(&head) else {
        return;
    };
    let (service, environment) = (
        body["service"].as_str().unwrap_or_default().to_owned(),
        body["environment"].as_str().unwrap_or_default().to_owned(),
    );
    let previous = match running_sha(base_url, token, &service, &environment).await {
        Ok(previous) => previous,
        Err(e) => {
            eprintln!(
                "loopbot notify: cannot ask the bot what runs in {environment} ({e}): sending the head commit only"
            );
            body["commits"] = json!([head_commit]);
            return;
        }
    };
    let (commits, note) = shipped(&head, head_commit, previous.as_deref());
    eprintln!("loopbot notify: {note}");
    if !commits.is_empty() {
        body["commits"] = json!(commits);
    }
}

/// The commit sha of the deploy running in `environment` for `service`, as the bot knows it:
/// `Ok(None)` when there is none (404) or it has no sha.
pub async fn running_sha(
    base_url: &str,
    token: &str,
    service: &str,
    environment: &str,
) -> Result<Option<String>, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("loopbot-notify/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .get(format!(
            "{}/api/v1/deploys/latest",
            base_url.trim_end_matches('/')
        ))
        .query(&[("service", service), ("environment", environment)])
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = response.status();
    if status.as_u16() == 404 {
        return Ok(None);
    }
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!("HTTP {status}: {}", body["error"]));
    }
    Ok(body["sha"].as_str().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_log_lines_become_the_commits_list() {
        let text = "0123456789abcdef0123456789abcdef01234567 2026-11-20T10:00:00+01:00\n\
                    89abcdef0123456789abcdef0123456789abcdef 2026-11-19T09:00:00Z\n\
                    \n\
                    not a commit line\n";
        assert_eq!(
            parse_git_log(text),
            vec![
                json!({"sha": "0123456789abcdef0123456789abcdef01234567", "committed_at": "2026-11-20T10:00:00+01:00"}),
                json!({"sha": "89abcdef0123456789abcdef0123456789abcdef", "committed_at": "2026-11-19T09:00:00Z"}),
            ]
        );
    }
}
