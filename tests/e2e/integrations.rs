//! Deploys from GitHub and GitLab webhooks, the Argo CD template and `loopbot notify deploy`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{TimeZone, Utc};
use fake_discord::CHANNEL_ID;
use hmac::{Hmac, Mac};
use loopbot::config::Secret;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::support::app::{TestApp, API_TOKEN, PATIENCE};

const GITHUB_SECRET: &str = "test-github-webhook-secret";
const GITLAB_TOKEN: &str = "test-gitlab-token";
const GITHUB_TOKEN: &str = "test-github-api-token";
const SHA: &str = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/github/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn spawn_github(adjust: impl FnOnce(&mut loopbot::config::Config)) -> TestApp {
    TestApp::spawn_with(|config| {
        config.integrations.github_webhook_secret = Some(Secret::new(GITHUB_SECRET));
        config.integrations.gitlab_webhook_token = Some(Secret::new(GITLAB_TOKEN));
        adjust(config);
    })
    .await
}

/// POSTs `body` to /hooks/github as GitHub would; `signature: None` leaves the header out.
async fn github_hook(
    app: &TestApp,
    event: &str,
    delivery: &str,
    body: &[u8],
    signature: Option<String>,
) -> (u16, Value) {
    let mut request = app
        .http
        .post(app.url("/hooks/github"))
        .header("Content-Type", "application/json")
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery)
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("X-Hub-Signature-256", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn signed_fixture(app: &TestApp, event: &str, delivery: &str, name: &str) -> (u16, Value) {
    let body = fixture(name);
    let signature = sign(GITHUB_SECRET, &body);
    github_hook(app, event, delivery, &body, Some(signature)).await
}

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct Row {
    source: String,
    service: String,
    environment: String,
    version: String,
    status: String,
    deployer: Option<String>,
    commit_sha: Option<String>,
    commit_at: Option<i64>,
    url: Option<String>,
}

async fn deploys(app: &TestApp) -> Vec<Row> {
    sqlx::query_as(
        "select source, service, environment, version, status, deployer, commit_sha, commit_at, url
         from deploy order by id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

pub(crate) fn embed(app: &TestApp) -> String {
    app.discord.messages(CHANNEL_ID)[0]["embeds"].to_string()
}

#[tokio::test]
async fn signed_github_fixtures_become_deploys_and_their_statuses() {
    let app = spawn_github(|c| {
        c.integrations.github_deploy_workflows =
            loopbot::domain::webhook::WorkflowFilter::parse("test=production").unwrap();
    })
    .await;

    // ping: answered, nothing stored.
    let (status, body) = signed_fixture(&app, "ping", "d-ping", "ping.default.json").await;
    assert_eq!((status, &body["pong"]), (200, &json!(true)), "{body}");
    assert_eq!(app.count("deploy").await, 0);

    // deployment created → a started deploy of the repository, announced.
    let (status, body) = signed_fixture(&app, "deployment", "d-1", "deployment.default.json").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "started");
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 1)
            .await
    );
    assert!(embed(&app).contains("Hello-World"), "{}", embed(&app));
    assert!(embed(&app).contains("Deploying"), "{}", embed(&app));

    // deployment_status success → the same deploy succeeded, the announcement edited.
    let (status, body) = signed_fixture(
        &app,
        "deployment_status",
        "d-2",
        "deployment_status.default.json",
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "succeeded");
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_edits(CHANNEL_ID).len() == 1)
            .await,
        "the announcement was not edited"
    );
    assert_eq!(app.discord.messages(CHANNEL_ID).len(), 1);
    assert!(!embed(&app).contains("Deploying"), "{}", embed(&app));

    // A workflow job is not a deploy; a workflow run of a listed workflow is, with its commit time.
    let (status, body) = signed_fixture(
        &app,
        "workflow_job",
        "d-3",
        "workflow_job.completed.failure.json",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["ignored"].is_string(), "{body}");
    let (status, body) =
        signed_fixture(&app, "workflow_run", "d-4", "workflow_run.completed.json").await;
    assert_eq!(status, 202, "{body}");

    // The remaining examples describe the same deployment and run again: recognised as such.
    for (event, name) in [
        ("deployment", "deployment.with-installation.json"),
        (
            "deployment_status",
            "deployment_status.with-installation.json",
        ),
        (
            "workflow_run",
            "workflow_run.completed.with-pull-requests.json",
        ),
    ] {
        let (status, body) = signed_fixture(&app, event, name, name).await;
        assert_eq!(
            (status, &body["duplicate"]),
            (202, &json!(true)),
            "{name}: {body}"
        );
    }

    let commit_at = Utc.with_ymd_and_hms(2020, 10, 5, 16, 32, 7).unwrap();
    assert_eq!(
        deploys(&app).await,
        vec![
            Row {
                source: "github".into(),
                service: "Hello-World".into(),
                environment: "production".into(),
                version: "master".into(),
                status: "succeeded".into(),
                deployer: Some("Codertocat".into()),
                commit_sha: Some(SHA.into()),
                commit_at: None,
                url: None,
            },
            Row {
                source: "github".into(),
                service: "octo-repo".into(),
                environment: "production".into(),
                version: "3484a3f".into(),
                status: "succeeded".into(),
                deployer: Some("Codertocat".into()),
                commit_sha: Some("3484a3fb816e0859fd6e1cea078d76385ff50625".into()),
                commit_at: Some(commit_at.timestamp_millis()),
                url: Some("https://github.com/octo-org/octo-repo/actions/runs/289782451".into()),
            },
        ]
    );
    // The raw bodies are kept verbatim for audit.
    let stored: String =
        sqlx::query_scalar("select body from inbound_event where source = 'github' order by id")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stored.as_bytes(), fixture("deployment.default.json"));
}

#[tokio::test]
async fn a_wrong_missing_or_tampered_signature_is_401_and_stores_nothing() {
    let app = spawn_github(|_| {}).await;
    let body = fixture("deployment.gh-pages.json");
    let good = sign(GITHUB_SECRET, &body);
    let mut tampered = body.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x01;

    for (case, bytes, signature) in [
        (
            "wrong secret",
            body.clone(),
            Some(sign("another-secret", &body)),
        ),
        ("missing", body.clone(), None),
        ("one byte changed", tampered, Some(good.clone())),
        ("not hex", body.clone(), Some("sha256=zz".to_owned())),
    ] {
        let (status, answer) = github_hook(&app, "deployment", "d-bad", &bytes, signature).await;
        assert_eq!(status, 401, "{case}: {answer}");
        assert!(answer["error"].is_string(), "{case}: {answer}");
    }
    // A hook left at GitHub's form encoding is told what to change (once the signature checks out).
    let form = b"payload=%7B%7D";
    let response = app
        .http
        .post(app.url("/hooks/github"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-GitHub-Event", "deployment")
        .header("X-Hub-Signature-256", sign(GITHUB_SECRET, form))
        .body(form.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    assert_eq!(app.count("inbound_event").await, 0);
    assert_eq!(app.count("deploy").await, 0);
    assert_eq!(app.count("webhook_delivery").await, 0);

    // The same bytes, rightly signed (and under the delivery id the refused attempts used).
    let (status, answer) = github_hook(&app, "deployment", "d-bad", &body, Some(good)).await;
    assert_eq!(status, 202, "{answer}");
    let (status, answer) = signed_fixture(
        &app,
        "deployment_status",
        "d-pages-2",
        "deployment_status.gh-pages.json",
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let rows = deploys(&app).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].environment, "github-pages");
    // The two example payloads disagree on the deployment's ref; the latest event's version wins.
    assert_eq!(rows[0].version, "master");
    assert_eq!(rows[0].status, "started");
    assert_eq!(rows[0].deployer.as_deref(), Some("github-pages[bot]"));
    assert_eq!(
        rows[0].url.as_deref(),
        Some("https://github.com/Codertocat/Hello-World/runs/145988746?check_suite_focus=true")
    );
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 1)
            .await
    );
}

#[tokio::test]
async fn a_redelivery_changes_nothing_and_announces_nothing() {
    let app = spawn_github(|_| {}).await;
    let (status, _) = signed_fixture(&app, "deployment", "d-1", "deployment.default.json").await;
    assert_eq!(status, 202);
    let (status, _) = signed_fixture(
        &app,
        "deployment_status",
        "d-2",
        "deployment_status.default.json",
    )
    .await;
    assert_eq!(status, 202);
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_edits(CHANNEL_ID).len() == 1)
            .await
    );
    let events = app.count("inbound_event").await;

    // GitHub's "Redeliver" button: the same delivery id and bytes, again.
    for _ in 0..2 {
        let (status, body) = signed_fixture(
            &app,
            "deployment_status",
            "d-2",
            "deployment_status.default.json",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["duplicate"], true, "{body}");
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(app.discord.message_posts(CHANNEL_ID).len(), 1);
    assert_eq!(app.discord.message_edits(CHANNEL_ID).len(), 1);
    assert_eq!(
        app.count("inbound_event").await,
        events,
        "a redelivery was stored again"
    );
    assert_eq!(app.count("deploy").await, 1);
}

/// A GitLab Deployment Hook body as GitLab documents it.
fn gitlab_body(status: &str, changed_at: &str) -> Value {
    json!({
        "object_kind": "deployment",
        "status": status,
        "status_changed_at": changed_at,
        "deployment_id": 15,
        "deployable_id": 796,
        "deployable_url": "http://gitlab.example.com/root/shop/-/jobs/796",
        "environment": "staging",
        "environment_tier": "staging",
        "environment_slug": "staging",
        "environment_external_url": "https://staging.example.com",
        "project": {"id": 30, "name": "shop", "path_with_namespace": "root/shop"},
        "short_sha": "279484c0",
        "user": {"id": 1, "name": "Administrator", "username": "root"},
        "user_url": "http://gitlab.example.com/root",
        "commit_url": "http://gitlab.example.com/root/shop/-/commit/279484c09fbe69ededfced8c1bb6e6d24616b468",
        "commit_title": "Add new file",
        "ref": "1.0.0"
    })
}

async fn gitlab_hook(app: &TestApp, token: &str, key: &str, body: &Value) -> (u16, Value) {
    let response = app
        .http
        .post(app.url("/hooks/gitlab"))
        .header("X-Gitlab-Event", "Deployment Hook")
        .header("X-Gitlab-Token", token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn gitlab_running_then_success_is_one_announcement_edited() {
    let app = spawn_github(|_| {}).await;

    let (status, body) = gitlab_hook(
        &app,
        "wrong-token",
        "k-0",
        &gitlab_body("running", "2021-04-28 21:50:00 +0200"),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(app.count("inbound_event").await, 0);

    let (status, body) = gitlab_hook(
        &app,
        GITLAB_TOKEN,
        "k-1",
        &gitlab_body("running", "2021-04-28 21:50:00 +0200"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 1)
            .await
    );
    assert!(embed(&app).contains("Deploying"), "{}", embed(&app));

    let success = gitlab_body("success", "2021-04-28 21:52:10 +0200");
    let (status, body) = gitlab_hook(&app, GITLAB_TOKEN, "k-2", &success).await;
    assert_eq!(
        (status, &body["status"]),
        (202, &json!("succeeded")),
        "{body}"
    );
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_edits(CHANNEL_ID).len() == 1)
            .await
    );
    // GitLab retries with the same Idempotency-Key: nothing happens twice.
    let (status, body) = gitlab_hook(&app, GITLAB_TOKEN, "k-2", &success).await;
    assert_eq!((status, &body["duplicate"]), (200, &json!(true)), "{body}");

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.discord.message_posts(CHANNEL_ID).len(), 1);
    assert_eq!(app.discord.message_edits(CHANNEL_ID).len(), 1);
    assert!(!embed(&app).contains("Deploying"), "{}", embed(&app));
    let rows = deploys(&app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].source.as_str(),
            rows[0].service.as_str(),
            rows[0].environment.as_str()
        ),
        ("gitlab", "shop", "staging")
    );
    assert_eq!(rows[0].version, "1.0.0");
    assert_eq!(rows[0].status, "succeeded");
    assert_eq!(rows[0].deployer.as_deref(), Some("root"));

    // A malformed status_changed_at is a clear 422, not a panic.
    let (status, body) = gitlab_hook(
        &app,
        GITLAB_TOKEN,
        "k-3",
        &gitlab_body("failed", "last tuesday"),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("status_changed_at"));
}

/// A loopback stand-in for GitHub's commits API that fails its first `failures` requests.
struct FakeGithub {
    url: String,
    requests: Arc<AtomicUsize>,
    authorizations: Arc<Mutex<Vec<String>>>,
}

async fn fake_github(failures: usize, committed_at: &'static str) -> FakeGithub {
    let requests = Arc::new(AtomicUsize::new(0));
    let authorizations = Arc::new(Mutex::new(Vec::new()));
    let (count, auths) = (requests.clone(), authorizations.clone());
    let app = Router::new().route(
        "/repos/Codertocat/Hello-World/commits/{sha}",
        get(move |headers: HeaderMap| {
            let n = count.fetch_add(1, Ordering::SeqCst);
            auths.lock().unwrap().push(
                headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned(),
            );
            async move {
                if n < failures {
                    return (StatusCode::BAD_GATEWAY, Json(json!({"message": "down"})));
                }
                (
                    StatusCode::OK,
                    Json(json!({"sha": SHA, "commit": {
                        "author": {"date": "2019-05-15T10:00:00Z"},
                        "committer": {"date": committed_at}}})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    FakeGithub {
        url,
        requests,
        authorizations,
    }
}

async fn commit_at(app: &TestApp) -> Option<i64> {
    sqlx::query_scalar("select commit_at from deploy")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn lead_time_commit_time_comes_from_the_commits_api_and_is_filled_in_after_failures() {
    let github = fake_github(3, "2019-05-15T14:00:00Z").await;
    let api_url = github.url.clone();
    let app = spawn_github(move |c| {
        c.integrations.github_token = Some(Secret::new(GITHUB_TOKEN));
        c.integrations.github_api_url = api_url;
        c.integrations.lookup_retry_base = Duration::from_millis(100);
    })
    .await;
    let (status, body) = signed_fixture(&app, "deployment", "d-1", "deployment.default.json").await;
    assert_eq!(status, 202, "{body}");
    // The deploy is announced while GitHub's API is still failing, without a commit time.
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 1)
            .await
    );
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while github.requests.load(Ordering::SeqCst) < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "GitHub was never asked"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(commit_at(&app).await, None);

    // Retried with back-off until GitHub answers; then the commit time is stored.
    let expected = Utc.with_ymd_and_hms(2019, 5, 15, 14, 0, 0).unwrap();
    while commit_at(&app).await.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "commit time never filled in after {} requests",
            github.requests.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(commit_at(&app).await, Some(expected.timestamp_millis()));
    assert_eq!(github.requests.load(Ordering::SeqCst), 4);
    assert!(github
        .authorizations
        .lock()
        .unwrap()
        .iter()
        .all(|a| a == &format!("Bearer {GITHUB_TOKEN}")));
    assert_eq!(app.count("commit_lookup").await, 0);

    // A later status keeps the commit time. The deploy finished when the payload says
    // (deployment_status.created_at, GitHub's clock), so lead time = that - commit time.
    let (status, _) = signed_fixture(
        &app,
        "deployment_status",
        "d-2",
        "deployment_status.default.json",
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(commit_at(&app).await, Some(expected.timestamp_millis()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(github.requests.load(Ordering::SeqCst), 4, "asked again");

    // End to end into the summary: today's lead time is finished − commit time of this deploy.
    let finished_at: i64 = sqlx::query_scalar("select finished_at from deploy")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let expected_lead = (finished_at - expected.timestamp_millis()) as f64 / 1000.0;
    assert_eq!(
        finished_at,
        Utc.with_ymd_and_hms(2019, 5, 15, 15, 20, 55)
            .unwrap()
            .timestamp_millis()
    );
    let today = "2019-05-15";
    let summary: Value = app
        .http
        .get(app.url(&format!("/api/v1/summary?from={today}&to={today}")))
        .bearer_auth(crate::support::app::API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lead = &summary["keys"]["lead_time"];
    assert_eq!(summary["deploys"]["total"], 1, "{summary}");
    assert!(
        (lead["value"].as_f64().unwrap_or(-1.0) - expected_lead).abs() < 1.0,
        "lead time {lead} but the deploy says {expected_lead}s"
    );
}

#[tokio::test]
async fn without_a_github_token_no_lookup_is_made() {
    let github = fake_github(0, "2019-05-15T14:00:00Z").await;
    let api_url = github.url.clone();
    let app = spawn_github(move |c| c.integrations.github_api_url = api_url).await;
    let (status, _) = signed_fixture(&app, "deployment", "d-1", "deployment.default.json").await;
    assert_eq!(status, 202);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(github.requests.load(Ordering::SeqCst), 0);
    assert_eq!(app.count("commit_lookup").await, 0);
    assert_eq!(commit_at(&app).await, None);
}

/// The webhook bodies of deploy/argocd-notifications-cm.yaml, keyed by template name.
fn argocd_bodies() -> Vec<(String, String)> {
    let path = format!(
        "{}/deploy/argocd-notifications-cm.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut bodies = Vec::new();
    let mut lines = text.lines().peekable();
    let mut template = None;
    while let Some(line) = lines.next() {
        if let Some(name) = line.trim().strip_prefix("template.") {
            template = Some(name.trim_end_matches(": |").to_owned());
        }
        if line.trim() == "body: |" {
            let indent = line.len() - line.trim_start().len();
            let mut body = String::new();
            while let Some(next) = lines.peek() {
                if next.trim().is_empty() || next.len() - next.trim_start().len() <= indent {
                    break;
                }
                body.push_str(next.trim());
                body.push('\n');
                lines.next();
            }
            bodies.push((template.clone().unwrap(), body));
        }
    }
    bodies
}

/// Renders the Go template expressions the ConfigMap uses, as Argo CD would for one application.
fn render_argocd(body: &str) -> String {
    let values = [
        ("{{.app.metadata.name}}", "guestbook"),
        ("{{.app.spec.destination.namespace}}", "production"),
        (
            "{{.app.status.sync.revision}}",
            "53e28ff20cc530b9ada2173fbbd64d48338583ba",
        ),
        ("{{.context.argocdUrl}}", "https://argocd.example.com"),
        (
            "{{(call .repo.GetCommitMetadata .app.status.sync.revision).Date.UTC.Format \"2006-01-02T15:04:05Z07:00\"}}",
            "2026-11-24T09:58:00Z",
        ),
        (
            "{{.app.status.operationState.finishedAt}}",
            "2026-11-24T10:04:00Z",
        ),
    ];
    let mut rendered = body.to_owned();
    for (expression, value) in values {
        rendered = rendered.replace(expression, value);
    }
    assert!(
        !rendered.contains("{{"),
        "the test does not know how to render: {rendered}"
    );
    rendered
}

#[tokio::test]
async fn the_argocd_example_bodies_are_accepted_and_update_one_announcement() {
    let app = TestApp::spawn().await;
    let bodies = argocd_bodies();
    let names: Vec<&str> = bodies.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "loopbot-deployed",
            "loopbot-sync-failed",
            "loopbot-health-degraded"
        ]
    );
    let send = |name: &str| {
        let body = render_argocd(&bodies.iter().find(|(n, _)| n == name).unwrap().1);
        let request = app
            .http
            .post(app.url("/api/v1/deploys"))
            .header("Authorization", format!("Bearer {API_TOKEN}"))
            .header("Content-Type", "application/json")
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, body) = send("loopbot-deployed").await;
    assert_eq!(status, 202, "{body}");
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 1)
            .await
    );
    assert!(embed(&app).contains("guestbook"), "{}", embed(&app));
    let (status, body) = send("loopbot-health-degraded").await;
    assert_eq!((status, &body["status"]), (202, &json!("failed")), "{body}");
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_edits(CHANNEL_ID).len() == 1)
            .await
    );
    let (status, body) = send("loopbot-sync-failed").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(app.count("deploy").await, 1);
    assert_eq!(app.discord.message_posts(CHANNEL_ID).len(), 1);
}
