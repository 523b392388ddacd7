//! GitHub and GitLab webhook payloads mapped into the one [`DeployEvent`] every sender produces.
//! Each mapping fills a [`RawDeployEvent`] and runs the same `DeployEvent::parse` the generic API
//! uses, so a deploy is normalised the same way whichever way it arrived.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::deploy::{parse_timestamp, DeployEvent, RawDeployEvent};
use super::ValidationError;

/// What a webhook delivery means for loopbot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// GitHub's hello when a hook is created.
    Ping,
    /// A well-formed delivery that reports no deploy (an `inactive` status, another workflow, ...).
    Ignored(String),
    Deploy(Box<WebhookDeploy>),
}

/// A deploy reported by a webhook, plus what is needed to look its commits up later.
/// When the sender says it happened is the event's `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDeploy {
    pub event: DeployEvent,
    /// Where to ask which commits it shipped: GitHub's `owner/name`, GitLab's project id.
    pub repository: Option<String>,
}

/// Which GitHub Actions workflows count as deploys, and to which environment:
/// `LOOPBOT_GITHUB_DEPLOY_WORKFLOWS="Deploy*=production,Release staging=staging"`.
/// An entry without `=ENV` deploys to `production`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkflowFilter {
    rules: Vec<(String, String)>,
}

impl WorkflowFilter {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let mut rules = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (glob, env) = match entry.rsplit_once('=') {
                Some((glob, env)) => (glob.trim(), env.trim()),
                None => (entry, "production"),
            };
            if glob.is_empty() || env.is_empty() {
                return Err(ValidationError::new(
                    "workflows",
                    format!("entry {entry:?} must be GLOB or GLOB=ENVIRONMENT"),
                ));
            }
            rules.push((glob.to_owned(), env.to_owned()));
        }
        Ok(Self { rules })
    }

    /// The environment a workflow of this name deploys to, if it is a deploy workflow.
    pub fn environment_for(&self, workflow: &str) -> Option<&str> {
        self.rules
            .iter()
            .find(|(glob, _)| super::glob::matches(glob, workflow))
            .map(|(_, env)| env.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

fn text(value: &Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn short_sha(sha: &str) -> String {
    sha.chars().take(7).collect()
}

/// Maps one GitHub delivery (`X-GitHub-Event` header and JSON body).
pub fn github(
    event: &str,
    body: &Value,
    workflows: &WorkflowFilter,
) -> Result<WebhookOutcome, ValidationError> {
    match event {
        "ping" => Ok(WebhookOutcome::Ping),
        "deployment" => {
            if body["action"] != "created" {
                return Ok(ignored(format!("deployment action {}", body["action"])));
            }
            github_deployment(body, "started", None, text(body, "/deployment/created_at"))
        }
        "deployment_status" => {
            let state = text(body, "/deployment_status/state").unwrap_or_default();
            let status = match state.as_str() {
                "pending" | "queued" | "in_progress" => "started",
                "success" => "succeeded",
                "failure" | "error" => "failed",
                // `inactive`: an older deploy was superseded; nothing happened to this one.
                other => return Ok(ignored(format!("deployment_status state {other:?}"))),
            };
            let url = text(body, "/deployment_status/target_url")
                .or_else(|| text(body, "/deployment_status/log_url"));
            let at = text(body, "/deployment_status/created_at")
                .or_else(|| text(body, "/deployment_status/updated_at"));
            github_deployment(body, status, url, at)
        }
        "workflow_run" => github_workflow_run(body, workflows),
        other => Ok(ignored(format!("event {other:?} is not about deploys"))),
    }
}

fn ignored(reason: String) -> WebhookOutcome {
    WebhookOutcome::Ignored(reason)
}

fn github_deployment(
    body: &Value,
    status: &str,
    url: Option<String>,
    at: Option<String>,
) -> Result<WebhookOutcome, ValidationError> {
    let deployment_id = text(body, "/deployment/id")
        .ok_or_else(|| ValidationError::new("deployment", "deployment.id is missing"))?;
    let sha = text(body, "/deployment/sha");
    let service =
        text(body, "/deployment/payload/service").or_else(|| text(body, "/repository/name"));
    let raw = RawDeployEvent {
        id: Some(format!("deployment/{deployment_id}")),
        service,
        version: text(body, "/deployment/ref").or_else(|| sha.as_deref().map(short_sha)),
        environment: text(body, "/deployment/environment"),
        status: Some(status.to_owned()),
        deployer: text(body, "/deployment/creator/login"),
        commit_sha: sha,
        commit_at: None,
        url,
        changelog: text(body, "/deployment/description"),
        at,
        commits: None,
    };
    Ok(WebhookOutcome::Deploy(Box::new(WebhookDeploy {
        event: DeployEvent::parse(&raw)?,
        repository: text(body, "/repository/full_name"),
    })))
}

fn github_workflow_run(
    body: &Value,
    workflows: &WorkflowFilter,
) -> Result<WebhookOutcome, ValidationError> {
    let name = text(body, "/workflow_run/name")
        .or_else(|| text(body, "/workflow/name"))
        .unwrap_or_default();
    let Some(environment) = workflows.environment_for(&name) else {
        return Ok(ignored(format!(
            "workflow {name:?} is not listed in LOOPBOT_GITHUB_DEPLOY_WORKFLOWS"
        )));
    };
    let status = match (
        body["action"].as_str(),
        body["workflow_run"]["conclusion"].as_str(),
    ) {
        (Some("in_progress"), _) => "started",
        (Some("completed"), Some("success")) => "succeeded",
        (Some("completed"), Some("failure" | "timed_out" | "cancelled" | "startup_failure")) => {
            "failed"
        }
        (action, conclusion) => {
            return Ok(ignored(format!(
                "workflow_run {action:?} with conclusion {conclusion:?}"
            )))
        }
    };
    let run_id = text(body, "/workflow_run/id")
        .ok_or_else(|| ValidationError::new("workflow_run", "workflow_run.id is missing"))?;
    let sha = text(body, "/workflow_run/head_sha");
    let raw = RawDeployEvent {
        id: Some(format!("workflow_run/{run_id}")),
        service: text(body, "/repository/name"),
        version: sha.as_deref().map(short_sha),
        environment: Some(environment.to_owned()),
        status: Some(status.to_owned()),
        deployer: text(body, "/workflow_run/actor/login").or_else(|| text(body, "/sender/login")),
        commit_sha: sha,
        // The head commit's own time: lead time straight from the payload.
        commit_at: text(body, "/workflow_run/head_commit/timestamp"),
        url: text(body, "/workflow_run/html_url"),
        changelog: text(body, "/workflow_run/head_commit/message"),
        // A run starts at `run_started_at` and its last change (completion) is `updated_at`.
        at: if status == "started" {
            text(body, "/workflow_run/run_started_at")
        } else {
            text(body, "/workflow_run/updated_at")
        },
        commits: None,
    };
    Ok(WebhookOutcome::Deploy(Box::new(WebhookDeploy {
        event: DeployEvent::parse(&raw)?,
        repository: text(body, "/repository/full_name"),
    })))
}

/// GitLab's `status_changed_at`, e.g. `2021-04-28 21:50:00 +0200` (not RFC 3339); RFC 3339 is
/// accepted too in case a version changes it.
pub fn parse_gitlab_time(raw: &str) -> Result<DateTime<Utc>, ValidationError> {
    let raw = raw.trim();
    for format in ["%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S UTC"] {
        if let Ok(t) = DateTime::parse_from_str(raw, format) {
            return Ok(t.with_timezone(&Utc));
        }
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(raw, format) {
            return Ok(t.and_utc());
        }
    }
    parse_timestamp("status_changed_at", raw)
}

/// Maps one GitLab delivery (`X-Gitlab-Event` header and JSON body).
/// `canceled` counts as `failed`: the version did not go out, and the announcement must not stay
/// at "Deploying" forever.
pub fn gitlab(event: &str, body: &Value) -> Result<WebhookOutcome, ValidationError> {
    if event != "Deployment Hook" && body["object_kind"] != "deployment" {
        return Ok(ignored(format!("event {event:?} is not about deploys")));
    }
    let status = match body["status"].as_str().unwrap_or_default() {
        "created" | "running" => "started",
        "success" => "succeeded",
        "failed" | "canceled" => "failed",
        other => return Ok(ignored(format!("deployment status {other:?}"))),
    };
    let deployment_id = text(body, "/deployment_id")
        .ok_or_else(|| ValidationError::new("deployment_id", "is required"))?;
    let project = text(body, "/project/id").unwrap_or_default();
    // commit_url ends with the full sha; short_sha is what GitLab shows.
    let sha = text(body, "/commit_url")
        .and_then(|u| u.rsplit('/').next().map(str::to_owned))
        .filter(|s| s.len() >= 7 && s.chars().all(|c| c.is_ascii_hexdigit()))
        .or_else(|| text(body, "/short_sha"));
    let raw = RawDeployEvent {
        id: Some(format!("project/{project}/deployment/{deployment_id}")),
        service: text(body, "/project/name"),
        version: text(body, "/ref").or_else(|| text(body, "/short_sha")),
        environment: text(body, "/environment"),
        status: Some(status.to_owned()),
        deployer: text(body, "/user/username"),
        commit_sha: sha,
        commit_at: None,
        url: text(body, "/deployable_url"),
        changelog: text(body, "/commit_title"),
        at: None,
        commits: None,
    };
    let mut event = DeployEvent::parse(&raw)?;
    // Not RFC 3339, so parsed here rather than by `DeployEvent::parse`.
    event.at = match text(body, "/status_changed_at") {
        Some(raw) => Some(parse_gitlab_time(&raw)?),
        None => None,
    };
    Ok(WebhookOutcome::Deploy(Box::new(WebhookDeploy {
        event,
        repository: text(body, "/project/id"),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::deploy::DeployStatus;
    use chrono::TimeZone;
    use serde_json::json;

    fn deploy(outcome: WebhookOutcome) -> WebhookDeploy {
        match outcome {
            WebhookOutcome::Deploy(d) => *d,
            other => panic!("expected a deploy, got {other:?}"),
        }
    }

    fn github_deployment_status(state: &str) -> Value {
        json!({
            "action": "created",
            "deployment_status": {"state": state, "target_url": "", "log_url": "https://ci.example.com/1"},
            "deployment": {"id": 5, "sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", "ref": "",
                "environment": "staging", "payload": {"service": "api"}, "creator": {"login": "ana"}},
            "repository": {"name": "mono", "full_name": "acme/mono"}
        })
    }

    #[test]
    fn github_deployment_states_map_to_statuses() {
        let none = WorkflowFilter::default();
        for (state, status) in [
            ("queued", DeployStatus::Started),
            ("in_progress", DeployStatus::Started),
            ("success", DeployStatus::Succeeded),
            ("failure", DeployStatus::Failed),
            ("error", DeployStatus::Failed),
        ] {
            let d = deploy(
                github("deployment_status", &github_deployment_status(state), &none).unwrap(),
            );
            assert_eq!(d.event.status, status, "{state}");
            // payload.service wins over the repository name; an empty ref falls back to the short sha.
            assert_eq!(d.event.service.as_str(), "api");
            assert_eq!(d.event.version.as_str(), "f95f852");
            assert_eq!(d.event.environment.as_str(), "staging");
            assert_eq!(
                d.event.url.as_ref().unwrap().as_str(),
                "https://ci.example.com/1"
            );
            assert_eq!(d.event.external_id.as_str(), "deployment/5");
            assert_eq!(d.repository.as_deref(), Some("acme/mono"));
        }
        assert!(matches!(
            github(
                "deployment_status",
                &github_deployment_status("inactive"),
                &none
            )
            .unwrap(),
            WebhookOutcome::Ignored(_)
        ));
        assert!(matches!(
            github("issues", &json!({}), &none).unwrap(),
            WebhookOutcome::Ignored(_)
        ));
    }

    #[test]
    fn workflow_runs_count_only_when_their_name_matches() {
        let body = json!({
            "action": "completed",
            "workflow_run": {"id": 9, "name": "Deploy web", "conclusion": "failure",
                "head_sha": "3484a3fb816e0859fd6e1cea078d76385ff50625",
                "head_commit": {"timestamp": "2020-10-05T16:32:07Z", "message": "fix"},
                "html_url": "https://github.com/acme/web/actions/runs/9", "actor": {"login": "bo"}},
            "repository": {"name": "web", "full_name": "acme/web"}
        });
        let none = WorkflowFilter::parse("").unwrap();
        assert!(matches!(
            github("workflow_run", &body, &none).unwrap(),
            WebhookOutcome::Ignored(_)
        ));
        let filter = WorkflowFilter::parse("Build*, Deploy *=prod").unwrap();
        let d = deploy(github("workflow_run", &body, &filter).unwrap());
        assert_eq!(d.event.status, DeployStatus::Failed);
        assert_eq!(d.event.environment.as_str(), "prod");
        assert_eq!(
            d.event.commit_at,
            Some(Utc.with_ymd_and_hms(2020, 10, 5, 16, 32, 7).unwrap())
        );
        assert!(WorkflowFilter::parse("=prod").is_err());
    }

    #[test]
    fn gitlab_times_are_not_rfc3339_but_parse() {
        assert_eq!(
            parse_gitlab_time("2021-04-28 21:50:00 +0200").unwrap(),
            Utc.with_ymd_and_hms(2021, 4, 28, 19, 50, 0).unwrap()
        );
        assert_eq!(
            parse_gitlab_time("2021-04-28 21:50:00 UTC").unwrap(),
            Utc.with_ymd_and_hms(2021, 4, 28, 21, 50, 0).unwrap()
        );
        assert!(parse_gitlab_time("yesterday").is_err());
    }

    #[test]
    fn gitlab_deployment_statuses_map_and_canceled_fails() {
        let body = |status: &str| {
            json!({
                "object_kind": "deployment", "status": status, "deployment_id": 15,
                "status_changed_at": "2021-04-28 21:50:00 +0200", "environment": "staging",
                "project": {"id": 30, "name": "shop"}, "short_sha": "279484c0", "ref": "1.0.0",
                "user": {"username": "root"},
                "commit_url": "http://gitlab.example.com/root/shop/-/commit/279484c09fbe69ededfced8c1bb6e6d24616b468",
                "deployable_url": "http://gitlab.example.com/root/shop/-/jobs/796",
                "commit_title": "Add new file"
            })
        };
        for (status, expected) in [
            ("running", DeployStatus::Started),
            ("success", DeployStatus::Succeeded),
            ("failed", DeployStatus::Failed),
            ("canceled", DeployStatus::Failed),
        ] {
            let d = deploy(gitlab("Deployment Hook", &body(status)).unwrap());
            assert_eq!(d.event.status, expected);
            assert_eq!(d.event.service.as_str(), "shop");
            assert_eq!(d.event.version.as_str(), "1.0.0");
            assert_eq!(
                d.event.commit_sha.as_ref().unwrap().as_str(),
                "279484c09fbe69ededfced8c1bb6e6d24616b468"
            );
            assert_eq!(d.event.external_id.as_str(), "project/30/deployment/15");
        }
        assert!(gitlab(
            "Deployment Hook",
            &json!({"status": "success", "deployment_id": 1, "status_changed_at": "nope"})
        )
        .is_err());
        assert!(matches!(
            gitlab("Push Hook", &json!({"object_kind": "push"})).unwrap(),
            WebhookOutcome::Ignored(_)
        ));
    }
}
