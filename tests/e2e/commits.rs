//! Lead time per change (issue 17 item 1): the commits a deploy shipped, from the generic API,
//! `loopbot notify deploy` (git history) and GitHub's and GitLab's compare APIs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use loopbot::config::Secret;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::support::app::{binary_command, deploy, TestApp, API_TOKEN, PATIENCE};

const GITHUB_SECRET: &str = "commits-github-webhook-secret";
const GITLAB_HOOK_TOKEN: &str = "commits-gitlab-webhook-token";

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn stored_commits(app: &TestApp, deploy_id: i64) -> Vec<(String, i64)> {
    sqlx::query_as("select sha, committed_at from deploy_commit where deploy_id = $1 order by sha")
        .bind(deploy_id)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_generic_api_stores_the_commits_a_deploy_shipped_and_refuses_a_bad_list_by_name() {
    let app = TestApp::spawn().await;
    let (status, reply) = app
        .post_deploy(&deploy(json!({
            "id": "co-1", "status": "started",
            "commits": [{"sha": "ABCDEF1", "committed_at": "2026-11-20T10:00:00+01:00"},
                        {"sha": "1234567", "committed_at": "2026-11-24T09:00:00Z"}],
        })))
        .await;
    assert_eq!(status, 202, "{reply}");
    let id = reply["deploy_id"].as_i64().unwrap();
    // A later event of the same deploy may add commits; a sha already stored keeps its first time.
    let (status, reply) = app
        .post_deploy(&deploy(json!({
            "id": "co-1", "status": "succeeded",
            "commits": [{"sha": "abcdef1", "committed_at": "2026-11-01T00:00:00Z"},
                        {"sha": "89abcde", "committed_at": "2026-11-24T10:00:00Z"}],
        })))
        .await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(
        stored_commits(&app, id).await,
        vec![
            ("1234567".to_owned(), 1_795_510_800_000),
            ("89abcde".to_owned(), 1_795_514_400_000),
            ("abcdef1".to_owned(), 1_795_165_200_000),
        ]
    );

    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"sha": format!("{i:07x}"), "committed_at": "2026-11-24T09:00:00Z"}))
        .collect();
    for (commits, says) in [
        (json!(many), "at most 1000"),
        (
            json!([{"sha": "xyz", "committed_at": "2026-11-24T09:00:00Z"}]),
            "commits[0].sha",
        ),
        (
            json!([{"sha": "abcdef1", "committed_at": "last week"}]),
            "commits[0].committed_at",
        ),
        (
            json!([{"sha": "abcdef1"}]),
            "commits[0].committed_at is required",
        ),
        (
            json!([{"sha": 12, "committed_at": "2026-11-24T09:00:00Z"}]),
            "commits[0].sha",
        ),
        (json!({"sha": "abcdef1"}), "commits"),
    ] {
        let (status, reply) = app
            .post_deploy(&deploy(
                json!({"id": "co-2", "status": "succeeded", "commits": commits}),
            ))
            .await;
        assert_eq!(status, 422, "{says}: {reply}");
        assert_eq!(reply["field"], "commits", "{reply}");
        let error = reply["error"].as_str().unwrap();
        assert!(
            error.starts_with("commits: ") && error.contains(says),
            "{says:?}: {reply}"
        );
    }
    let refused: i64 = sqlx::query_scalar("select count(*) from deploy where external_id = 'co-2'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(refused, 0, "a refused event leaves no row");
}

/// A git repository in a temporary directory with one commit per `(message, committer date)`;
/// returns the directory and the shas, oldest first.
fn repository(commits: &[(&str, &str)]) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str], date: Option<&str>| {
        let mut command = std::process::Command::new("git");
        command
            .args(["-c", "user.name=Ana", "-c", "user.email=ana@example.com"])
            .args(args)
            .current_dir(dir.path());
        if let Some(date) = date {
            command
                .env("GIT_COMMITTER_DATE", date)
                .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z");
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "git {args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    };
    git(&["init", "-q"], None);
    let shas = commits
        .iter()
        .map(|(message, date)| {
            git(
                &["commit", "-q", "--allow-empty", "-m", message],
                Some(date),
            );
            git(&["rev-parse", "HEAD"], None)
        })
        .collect();
    (dir, shas)
}

async fn latest(app: &TestApp, query: &str) -> (u16, Value) {
    let response = app
        .http
        .get(app.url(&format!("/api/v1/deploys/latest?{query}")))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Runs `loopbot notify deploy ARGS` in `dir` (a checkout) against `app`; returns the deploy id
/// and what it wrote to stderr.
async fn notify_in(app: &TestApp, dir: &std::path::Path, args: &[&str]) -> (i64, String) {
    let vars = [
        ("LOOPBOT_URL", format!("http://{}", app.addr)),
        ("LOOPBOT_API_TOKEN", API_TOKEN.to_owned()),
        ("PATH", std::env::var("PATH").unwrap()),
    ];
    let output = binary_command(dir, &vars)
        .args([
            "notify",
            "deploy",
            "--env",
            "production",
            "--status",
            "succeeded",
        ])
        .args(args)
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let id = stdout
        .split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no deploy id in {stdout:?}"));
    (id, stderr)
}

#[tokio::test]
async fn notify_lists_the_commits_since_the_running_deploy_from_git_history() {
    let app = TestApp::spawn().await;
    let (repo, shas) = repository(&[
        ("one", "2026-11-20T10:00:00Z"),
        ("two", "2026-11-21T11:00:00+01:00"),
        ("three", "2026-11-23T09:30:00Z"),
    ]);

    // Nothing runs yet: the route says so (404, JSON), and the first deploy sends its head only.
    let (status, body) = latest(&app, "service=shop&environment=production").await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("shop"), "{body}");
    let (status, body) = latest(&app, "environment=production").await;
    assert_eq!((status, &body["field"]), (422, &json!("service")), "{body}");
    let (first, stderr) = notify_in(
        &app,
        repo.path(),
        &["--service", "shop", "--version", "v1", "--commit", &shas[0]],
    )
    .await;
    assert!(stderr.contains("head commit only"), "{stderr}");
    assert_eq!(
        stored_commits(&app, first).await,
        vec![(shas[0].clone(), 1_795_168_800_000)]
    );

    // v1 runs now; v3 ships "two" and "three", each with its committer date.
    let (status, body) = latest(&app, "service=shop&environment=production").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["id"].as_i64(), body["sha"].as_str()),
        (Some(first), Some(shas[0].as_str()))
    );
    assert!(
        body["finished_at"].is_string() || body["finished_at"].is_number(),
        "{body}"
    );
    let (third, stderr) = notify_in(
        &app,
        repo.path(),
        &["--service", "shop", "--version", "v3", "--commit", &shas[2]],
    )
    .await;
    assert!(stderr.contains("2 commit(s)"), "{stderr}");
    let mut expected = vec![
        (shas[1].clone(), 1_795_255_200_000),
        (shas[2].clone(), 1_795_426_200_000),
    ];
    expected.sort();
    assert_eq!(stored_commits(&app, third).await, expected);

    // Without git on the PATH (or outside a checkout) nothing is listed and nothing fails.
    let outside = tempfile::tempdir().unwrap();
    let (fourth, _) = notify_in(
        &app,
        outside.path(),
        &["--service", "shop", "--version", "v4", "--commit", &shas[2]],
    )
    .await;
    assert_eq!(stored_commits(&app, fourth).await, vec![]);

    // In the checkout again, a first deploy of another service would send its head commit:
    // with `--no-git-commits` it lists nothing. `--at` dates the deploy by the sender's clock (an
    // hour ago), not by its arrival.
    let at = chrono::Utc::now() - chrono::Duration::hours(1);
    let at = at - chrono::Duration::nanoseconds(i64::from(at.timestamp_subsec_nanos()));
    let at_text = at.to_rfc3339();
    let (fifth, _) = notify_in(
        &app,
        repo.path(),
        &[
            "--service",
            "cart",
            "--version",
            "v5",
            "--commit",
            &shas[1],
            "--no-git-commits",
            "--at",
            &at_text,
        ],
    )
    .await;
    assert_eq!(stored_commits(&app, fifth).await, vec![]);
    let finished: Option<i64> = sqlx::query_scalar("select finished_at from deploy where id = $1")
        .bind(fifth)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(finished, Some(at.timestamp_millis()), "{at_text}");
}

/// A loopback stand-in for GitHub's and GitLab's commit APIs: the single-commit and compare
/// routes of repository `acme/shop` (GitHub) and project 30 (GitLab). Each compare answers its
/// first request with a 5xx. Records every request as `path?query auth`.
struct FakeForge {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

/// The commits of the fake repository: sha → committer date.
const HISTORY: [(&str, &str); 4] = [
    (
        "aaaa000000000000000000000000000000000001",
        "2026-11-20T09:00:00Z",
    ),
    (
        "bbbb000000000000000000000000000000000002",
        "2026-11-17T10:00:00Z",
    ),
    (
        "cccc000000000000000000000000000000000003",
        "2026-11-19T10:00:00Z",
    ),
    (
        "dddd000000000000000000000000000000000004",
        "2026-11-20T09:50:00Z",
    ),
];

fn date_of(sha: &str) -> &'static str {
    HISTORY
        .iter()
        .find(|(s, _)| *s == sha)
        .map_or("1970-01-01T00:00:00Z", |(_, d)| *d)
}

async fn fake_forge() -> FakeForge {
    let requests = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = requests.clone();
    let app = Router::new()
        .route(
            "/repos/acme/shop/commits/{sha}",
            get(|Path(sha): Path<String>| async move {
                Json(json!({"sha": sha, "commit": {
                    "author": {"date": "2026-01-01T00:00:00Z"},
                    "committer": {"date": date_of(&sha)}}}))
            }),
        )
        .route(
            "/repos/acme/shop/compare/{range}",
            get(|Path(range): Path<String>| async move {
                assert_eq!(range, format!("{}...{}", HISTORY[0].0, HISTORY[3].0));
                let commits: Vec<Value> = HISTORY[1..]
                    .iter()
                    .map(|(sha, date)| {
                        json!({"sha": sha, "commit": {
                        "author": {"date": "2026-01-01T00:00:00Z"},
                        "committer": {"date": date}}})
                    })
                    .collect();
                Json(json!({"status": "ahead", "total_commits": 3, "commits": commits}))
            }),
        )
        .route(
            "/projects/30/repository/commits/{sha}",
            get(|Path(sha): Path<String>| async move {
                Json(json!({"id": sha, "authored_date": "2026-01-01T00:00:00Z",
                            "committed_date": date_of(&sha)}))
            }),
        )
        .route(
            "/projects/30/repository/compare",
            get(|| async move {
                let commits: Vec<Value> = HISTORY[1..]
                    .iter()
                    .map(|(sha, date)| {
                        json!({"id": sha, "short_id": &sha[..8],
                        "authored_date": "2026-01-01T00:00:00Z", "committed_date": date})
                    })
                    .collect();
                Json(json!({"commits": commits, "diffs": [], "compare_timeout": false}))
            }),
        )
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let log = log.clone();
                async move {
                    let uri = request.uri().clone();
                    let auth = ["authorization", "private-token"]
                        .iter()
                        .find_map(|h| request.headers().get(*h))
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let seen = {
                        let mut log = log.lock().unwrap();
                        log.push(format!("{uri} {auth}"));
                        log.iter().filter(|r| r.starts_with(uri.path())).count()
                    };
                    if uri.path().contains("compare") && seen == 1 {
                        return (StatusCode::BAD_GATEWAY, "upstream down").into_response();
                    }
                    next.run(request).await
                }
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    FakeForge { url, requests }
}

/// Waits until no commit lookup is pending; fails after PATIENCE.
async fn lookups_settled(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while app.count("commit_lookup").await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "commit lookups never settled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The lead time of 2026-11-20 as the summary JSON gives it: (median, p90, commits measured).
async fn lead_time_of_the_day(app: &TestApp) -> (f64, f64, i64) {
    let summary: Value = app
        .http
        .get(app.url("/api/v1/summary?from=2026-11-20&to=2026-11-20"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lead = &summary["keys"]["lead_time"];
    (
        lead["value"].as_f64().unwrap(),
        lead["p90"].as_f64().unwrap(),
        lead["commits_measured"].as_i64().unwrap(),
    )
}

/// What both forges' tests expect once deploy 1 (sha aaaa, finished 10:00) and deploy 2 (sha dddd,
/// finished 11:00) are looked up: deploy 1 its head only, deploy 2 bbbb, cccc, dddd.
async fn expect_filled(app: &TestApp, forge: &FakeForge, first: i64, second: i64) {
    let ms = |date: &str| {
        chrono::DateTime::parse_from_rfc3339(date)
            .unwrap()
            .timestamp_millis()
    };
    assert_eq!(
        stored_commits(app, first).await,
        vec![(HISTORY[0].0.to_owned(), ms(HISTORY[0].1))]
    );
    assert_eq!(
        stored_commits(app, second).await,
        HISTORY[1..]
            .iter()
            .map(|(sha, date)| (sha.to_string(), ms(date)))
            .collect::<Vec<_>>()
    );
    // The compare failed once (5xx) and was retried from the queue.
    let requests = forge.requests.lock().unwrap().clone();
    assert_eq!(
        requests.iter().filter(|r| r.contains("compare")).count(),
        2,
        "{requests:#?}"
    );
    // Lead times: aaaa 1 h (10:00 − 09:00); bbbb 3 d 1 h, cccc 1 d 1 h, dddd 1 h 10 min (11:00 −
    // 09:50). Median: the mean of 1 h 10 min and 1 d 1 h; p90: the ⌈3.6⌉ = 4th, 3 d 1 h.
    let (median, p90, commits) = lead_time_of_the_day(app).await;
    assert_eq!(commits, 4);
    assert_eq!(median, (4_200.0 + 90_000.0) / 2.0);
    assert_eq!(p90, 262_800.0);
}

fn github_status(deployment: u64, sha: &str, at: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "action": "created",
        "deployment_status": {"state": "success", "created_at": at, "updated_at": at},
        "deployment": {"id": deployment, "sha": sha, "ref": format!("v{deployment}"),
                       "environment": "production", "creator": {"login": "octocat"},
                       "created_at": at},
        "repository": {"name": "shop", "full_name": "acme/shop"},
    }))
    .unwrap()
}

#[tokio::test]
async fn github_deploys_get_their_commits_from_the_compare_api_retried_after_a_5xx() {
    let forge = fake_forge().await;
    let url = forge.url.clone();
    let app = TestApp::spawn_with(move |c| {
        c.integrations.github_webhook_secret = Some(Secret::new(GITHUB_SECRET));
        c.integrations.github_token = Some(Secret::new("gh-token"));
        c.integrations.github_api_url = url;
        c.integrations.lookup_retry_base = Duration::from_millis(100);
    })
    .await;
    let mut ids = Vec::new();
    for (n, (sha, at)) in [
        (1, (HISTORY[0].0, "2026-11-20T10:00:00Z")),
        (2, (HISTORY[3].0, "2026-11-20T11:00:00Z")),
    ] {
        let body = github_status(n, sha, at);
        let response = app
            .http
            .post(app.url("/hooks/github"))
            .header("Content-Type", "application/json")
            .header("X-GitHub-Event", "deployment_status")
            .header("X-GitHub-Delivery", format!("delivery-{n}"))
            .header("X-Hub-Signature-256", sign(GITHUB_SECRET, &body))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 202);
        let reply: Value = response.json().await.unwrap();
        ids.push(reply["deploy_id"].as_i64().unwrap());
        // Each deploy's lookup settles before the next arrives, as deploys a minute apart would.
        lookups_settled(&app).await;
    }
    expect_filled(&app, &forge, ids[0], ids[1]).await;
    let requests = forge.requests.lock().unwrap().clone();
    assert!(
        requests.iter().all(|r| r.ends_with("Bearer gh-token")),
        "{requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.contains("compare") && r.contains("per_page=250") && r.contains("page=1")),
        "{requests:#?}"
    );
}

#[tokio::test]
async fn gitlab_deploys_get_their_commits_from_the_compare_api_retried_after_a_5xx() {
    let forge = fake_forge().await;
    let url = forge.url.clone();
    let app = TestApp::spawn_with(move |c| {
        c.integrations.gitlab_webhook_token = Some(Secret::new(GITLAB_HOOK_TOKEN));
        c.integrations.gitlab_token = Some(Secret::new("gl-token"));
        c.integrations.gitlab_api_url = url;
        c.integrations.lookup_retry_base = Duration::from_millis(100);
    })
    .await;
    let mut ids = Vec::new();
    for (n, (sha, at)) in [
        (1, (HISTORY[0].0, "2026-11-20 11:00:00 +0100")),
        (2, (HISTORY[3].0, "2026-11-20 11:00:00 UTC")),
    ] {
        let body = json!({
            "object_kind": "deployment", "status": "success", "status_changed_at": at,
            "deployment_id": n, "environment": "production",
            "project": {"id": 30, "name": "shop", "path_with_namespace": "acme/shop"},
            "short_sha": &sha[..8], "commit_url": format!("https://gitlab.example.com/acme/shop/-/commit/{sha}"),
            "ref": format!("v{n}"), "user": {"username": "ana"},
        });
        let response = app
            .http
            .post(app.url("/hooks/gitlab"))
            .header("X-Gitlab-Event", "Deployment Hook")
            .header("X-Gitlab-Token", GITLAB_HOOK_TOKEN)
            .header("Idempotency-Key", format!("key-{n}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 202);
        let reply: Value = response.json().await.unwrap();
        ids.push(reply["deploy_id"].as_i64().unwrap());
        lookups_settled(&app).await;
    }
    expect_filled(&app, &forge, ids[0], ids[1]).await;
    let requests = forge.requests.lock().unwrap().clone();
    assert!(
        requests.iter().all(|r| r.ends_with(" gl-token")),
        "{requests:#?}"
    );
    let compare = format!("from={}&to={}", HISTORY[0].0, HISTORY[3].0);
    assert!(
        requests.iter().any(|r| r.contains(&compare)),
        "{requests:#?}"
    );
}
