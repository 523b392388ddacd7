//! The page's panel of examples. Each goes through the bot's real entry points, as a CI, an
//! Alertmanager, GitHub or a person would: the deploys API with the sandbox's token, the
//! Alertmanager hook with its token, the GitHub hook signed with its secret, and slash commands
//! sent through the local Discord (`/checkin` as the responder, `/summary` as the admin).

use std::time::Duration;

use chrono::{Timelike, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::routes::{send_command, Refused};
use super::{Shared, ALERTS_CHANNEL, DEPLOYS_CHANNEL, SECRET, TEAM_CHANNEL};

/// How long the example deploy stays "started" before it succeeds: long enough to see it.
const DEPLOY_TAKES: Duration = Duration::from_secs(3);

/// (name, label, what it does) as the panel shows them.
const EXAMPLES: [(&str, &str, &str); 7] = [
    (
        "deploy",
        "Deploy started → succeeded",
        "POST /api/v1/deploys twice: checkout to production starts, then succeeds 3 s later",
    ),
    (
        "failed-deploy",
        "Failed deploy",
        "POST /api/v1/deploys: payments to production failed",
    ),
    (
        "alert-firing",
        "Alertmanager group firing",
        "POST /hooks/alertmanager: HighErrorRate fires for checkout",
    ),
    (
        "alert-resolved",
        "…and resolved",
        "POST /hooks/alertmanager: the same group resolves",
    ),
    (
        "github",
        "GitHub deployment_status",
        "POST /hooks/github, signed: a deployment of search to production succeeded",
    ),
    (
        "checkin",
        "Ask the check-in now",
        "/checkin release:checkout in #deploys, as rita-responder",
    ),
    (
        "summary",
        "Post this week's summary now",
        "/summary period:this-week public:true in #team, as alice-admin",
    ),
];

pub(super) fn list() -> Vec<Value> {
    EXAMPLES
        .iter()
        .map(|(name, label, what)| json!({ "name": name, "label": label, "what": what }))
        .collect()
}

/// Runs example `name`; answers what was sent, what the bot said, and the channel to look at.
pub(super) async fn run(shared: &Shared, name: &str) -> Result<Value, Refused> {
    let now = Utc::now();
    // A new release on each click, readable: the second of the day.
    let n = now.num_seconds_from_midnight();
    let (channel, sent) = match name {
        "deploy" => {
            let event = |status: &str| {
                json!({
                    "id": format!("sandbox-{}", now.timestamp_millis()),
                    "service": "checkout", "version": format!("v1.5.{n}"),
                    "environment": "production", "status": status,
                    "deployer": "alice", "url": "https://ci.example.com/runs/42",
                    "commit_sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
                    "changelog": "- Faster checkout page (#812)\n- Fix coupon rounding (#815)",
                })
            };
            let started = api(shared, "/api/v1/deploys", &event("started")).await?;
            let later = event("succeeded");
            let client = shared.http.clone();
            let url = format!("{}/api/v1/deploys", shared.api);
            tokio::spawn(async move {
                tokio::time::sleep(DEPLOY_TAKES).await;
                let sent = client
                    .post(url)
                    .bearer_auth(SECRET)
                    .json(&later)
                    .send()
                    .await;
                if let Err(error) = sent {
                    tracing::warn!(%error, "the sandbox's example deploy did not succeed");
                }
            });
            (DEPLOYS_CHANNEL, vec![started])
        }
        "failed-deploy" => {
            let event = json!({
                "service": "payments", "version": format!("v2.0.{n}"),
                "environment": "production", "status": "failed", "deployer": "bob",
                "url": "https://ci.example.com/runs/43",
            });
            (
                DEPLOYS_CHANNEL,
                vec![api(shared, "/api/v1/deploys", &event).await?],
            )
        }
        "alert-firing" | "alert-resolved" => {
            let status = if name == "alert-firing" {
                "firing"
            } else {
                "resolved"
            };
            let body = alertmanager(status, now);
            (
                ALERTS_CHANNEL,
                vec![api(shared, "/hooks/alertmanager", &body).await?],
            )
        }
        "github" => (DEPLOYS_CHANNEL, vec![github(shared, n, now).await?]),
        "checkin" => {
            let options = json!([{ "name": "release", "type": 3, "value": "checkout" }]);
            let interaction = send_command(
                shared,
                DEPLOYS_CHANNEL,
                fake_discord::RESPONDER_USER_ID,
                "checkin",
                options,
            )
            .await;
            let sent = json!({ "sent": "/checkin release:checkout", "interaction": interaction.to_string() });
            (DEPLOYS_CHANNEL, vec![sent])
        }
        "summary" => {
            let line = "/summary period:this-week public:true";
            let (command, options) =
                super::command_line::parse(line, &shared.discord.registered_commands())
                    .map_err(|e| Refused::new(format!("the bot is not ready yet: {e}")))?;
            let interaction = send_command(
                shared,
                TEAM_CHANNEL,
                fake_discord::ADMIN_USER_ID,
                &command,
                options,
            )
            .await;
            let sent = json!({ "sent": line, "interaction": interaction.to_string() });
            (TEAM_CHANNEL, vec![sent])
        }
        other => return Err(Refused::new(format!("no example {other:?}"))),
    };
    Ok(json!({ "channel": channel.to_string(), "sent": sent }))
}

/// POSTs `body` to the bot's `path` with the sandbox's bearer token.
async fn api(shared: &Shared, path: &str, body: &Value) -> Result<Value, Refused> {
    let request = shared
        .http
        .post(format!("{}{path}", shared.api))
        .bearer_auth(SECRET)
        .json(body);
    answer(path, request).await
}

async fn answer(path: &str, request: reqwest::RequestBuilder) -> Result<Value, Refused> {
    let response = request
        .send()
        .await
        .map_err(|e| Refused::new(format!("POST {path}: {e}")))?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    Ok(json!({ "sent": format!("POST {path}"), "status": status, "answer": body }))
}

fn alertmanager(status: &str, now: chrono::DateTime<Utc>) -> Value {
    let starts = (now - chrono::Duration::minutes(2)).to_rfc3339();
    let ends = if status == "resolved" {
        now.to_rfc3339()
    } else {
        "0001-01-01T00:00:00Z".to_owned()
    };
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"HighErrorRate\"}",
        "status": status,
        "receiver": "loopbot",
        "groupLabels": { "alertname": "HighErrorRate" },
        "commonLabels": { "alertname": "HighErrorRate", "job": "checkout", "severity": "critical" },
        "commonAnnotations": { "summary": "checkout 5xx above 5%" },
        "externalURL": "http://alertmanager.example.com",
        "truncatedAlerts": 0,
        "alerts": [{
            "status": status,
            "labels": { "alertname": "HighErrorRate", "job": "checkout", "severity": "critical", "instance": "web-1" },
            "annotations": { "summary": "checkout 5xx above 5%", "description": "5xx ratio 7.2% over 5 minutes" },
            "startsAt": starts,
            "endsAt": ends,
            "generatorURL": "http://prometheus.example.com/graph",
            "fingerprint": "sandbox-checkout-5xx",
        }],
    })
}

/// A `deployment_status` delivery as GitHub sends it, signed with the sandbox's secret.
async fn github(shared: &Shared, n: u32, now: chrono::DateTime<Utc>) -> Result<Value, Refused> {
    let at = now.to_rfc3339();
    let body = json!({
        "action": "created",
        "deployment_status": {
            "id": n, "state": "success", "environment": "production", "description": "",
            "target_url": "https://github.com/acme/search/actions/runs/1", "created_at": at, "updated_at": at,
            "creator": { "login": "bob" },
        },
        "deployment": {
            "id": 9_000_000 + u64::from(n), "sha": "2f1c3e4d5b6a79881726354433221100ffeeddcc", "ref": "main",
            "environment": "production", "payload": { "service": "search" }, "created_at": at,
            "updated_at": at, "creator": { "login": "bob" },
        },
        "repository": { "name": "search", "full_name": "acme/search", "html_url": "https://github.com/acme/search" },
        "sender": { "login": "bob" },
    });
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SECRET.as_bytes())
        .map_err(|e| Refused::new(e.to_string()))?;
    mac.update(&bytes);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let request = shared
        .http
        .post(format!("{}/hooks/github", shared.api))
        .header("Content-Type", "application/json")
        .header("X-GitHub-Event", "deployment_status")
        .header(
            "X-GitHub-Delivery",
            format!("sandbox-{}", now.timestamp_millis()),
        )
        .header("X-Hub-Signature-256", signature)
        .body(bytes);
    answer("/hooks/github", request).await
}
