//! `loopbot notify deploy`, the real binary as a CI step would run it, against a running bot, a
//! stopped one and one that answers 5xx first.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{TimeZone, Utc};
use fake_discord::CHANNEL_ID;
use serde_json::{json, Value};

use super::integrations::embed;
use crate::support::app::{binary_command, TestApp, API_TOKEN, PATIENCE};

/// Runs `loopbot notify deploy ARGS` with a clean environment plus `vars`.
async fn notify(
    dir: &std::path::Path,
    vars: &[(&str, String)],
    args: &[&str],
) -> (i32, String, String) {
    let output = binary_command(dir, vars)
        .args(["notify", "deploy"])
        .args(args)
        .output()
        .await
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn notify_deploy_against_a_running_bot_is_announced_and_prints_the_id() {
    let app = TestApp::spawn().await;
    // This bot has no webhook secrets: the hooks say so instead of accepting anything.
    for (path, variable) in [
        ("/hooks/github", "GITHUB_WEBHOOK_SECRET"),
        ("/hooks/gitlab", "GITLAB_WEBHOOK_TOKEN"),
    ] {
        let response = app
            .http
            .post(app.url(path))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 503);
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains(variable), "{body}");
    }
    let vars = [
        ("LOOPBOT_URL", format!("http://{}", app.addr)),
        ("LOOPBOT_API_TOKEN", API_TOKEN.to_owned()),
        // What a GitHub Actions runner provides.
        (
            "GITHUB_SHA",
            "0123456789abcdef0123456789abcdef01234567".to_owned(),
        ),
        ("GITHUB_ACTOR", "octocat".to_owned()),
        ("GITHUB_REPOSITORY", "acme/checkout".to_owned()),
        ("GITHUB_SERVER_URL", "https://github.com".to_owned()),
        ("GITHUB_RUN_ID", "4242".to_owned()),
    ];
    let (code, stdout, stderr) = notify(
        app.dir.path(),
        &vars,
        &[
            "--env",
            "production",
            "--status",
            "succeeded",
            "--commit-at",
            "2026-11-24T09:00:00Z",
        ],
    )
    .await;
    assert_eq!(code, 0, "stderr: {stderr}");
    let id: i64 = stdout.trim().parse().expect("the deploy id on stdout");
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 1)
            .await
    );
    let text = embed(&app);
    assert!(
        text.contains("checkout") && text.contains("0123456"),
        "{text}"
    );
    let (deployer, url, commit_at): (String, String, i64) =
        sqlx::query_as("select deployer, url, commit_at from deploy where id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(deployer, "octocat");
    assert_eq!(url, "https://github.com/acme/checkout/actions/runs/4242");
    assert_eq!(
        commit_at,
        Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0)
            .unwrap()
            .timestamp_millis()
    );

    // A 4xx is final: a clear message and a non-zero exit, at once.
    let bad = [
        ("LOOPBOT_URL", format!("http://{}", app.addr)),
        ("LOOPBOT_API_TOKEN", "wrong".to_owned()),
    ];
    let started = std::time::Instant::now();
    let (code, _, stderr) = notify(
        app.dir.path(),
        &bad,
        &[
            "--service",
            "s",
            "--version",
            "1",
            "--env",
            "e",
            "--status",
            "started",
        ],
    )
    .await;
    assert_ne!(code, 0);
    assert!(
        stderr.contains("refused") && stderr.contains("401"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a 4xx was retried"
    );
    let (code, _, stderr) = notify(
        app.dir.path(),
        &vars,
        &["--env", "production", "--status", "done"],
    )
    .await;
    assert_ne!(code, 0);
    assert!(
        stderr.contains("422") && stderr.contains("status"),
        "{stderr}"
    );
}

#[tokio::test]
async fn notify_deploy_against_a_stopped_bot_fails_clearly_after_its_retries() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let vars = [
        ("LOOPBOT_URL", format!("http://127.0.0.1:{port}")),
        ("LOOPBOT_API_TOKEN", API_TOKEN.to_owned()),
    ];
    let (code, stdout, stderr) = notify(
        dir.path(),
        &vars,
        &[
            "--service",
            "checkout",
            "--version",
            "v1",
            "--env",
            "production",
            "--status",
            "started",
            "--retries",
            "2",
            "--retry-delay-ms",
            "50",
        ],
    )
    .await;
    assert_ne!(code, 0);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("could not reach loopbot") && stderr.contains("after 3 attempts"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("retrying in").count(), 2, "{stderr}");
}

#[tokio::test]
async fn notify_deploy_retries_a_5xx_then_succeeds() {
    let requests = Arc::new(AtomicUsize::new(0));
    let count = requests.clone();
    let bot = Router::new().route(
        "/api/v1/deploys",
        post(move |headers: HeaderMap, Json(body): Json<Value>| {
            let n = count.fetch_add(1, Ordering::SeqCst);
            async move {
                assert_eq!(
                    headers["authorization"],
                    format!("Bearer {API_TOKEN}").as_str()
                );
                assert_eq!(body["service"], "checkout");
                if n == 0 {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        Json(json!({"error": "database unavailable"})),
                    )
                } else {
                    (
                        StatusCode::ACCEPTED,
                        Json(json!({"deploy_id": 77, "duplicate": false})),
                    )
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, bot).await });
    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("LOOPBOT_URL", format!("http://{addr}/")),
        ("LOOPBOT_API_TOKEN", API_TOKEN.to_owned()),
        ("CI_PROJECT_NAME", "checkout".to_owned()),
        ("CI_ENVIRONMENT_NAME", "staging".to_owned()),
        (
            "CI_COMMIT_SHA",
            "89abcdef0123456789abcdef0123456789abcdef".to_owned(),
        ),
    ];
    let (code, stdout, stderr) = notify(
        dir.path(),
        &vars,
        &["--status", "started", "--retry-delay-ms", "50"],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "77");
    assert!(stderr.contains("503"), "{stderr}");
    assert_eq!(requests.load(Ordering::SeqCst), 2);
}
