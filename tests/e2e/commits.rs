//! Lead time per change (issue 17 item 1): the commits a deploy shipped, from the generic API,
//! `loopbot notify deploy` (git history) and GitHub's and GitLab's compare APIs.

use serde_json::{json, Value};

use crate::support::app::{binary_command, deploy, TestApp, API_TOKEN};

async fn stored_commits(app: &TestApp, deploy_id: i64) -> Vec<(String, i64)> {
    sqlx::query_as("select sha, committed_at from deploy_commit where deploy_id = ? order by sha")
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
}
