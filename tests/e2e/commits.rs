//! Lead time per change (issue 17 item 1): the commits a deploy shipped, from the generic API,
//! `loopbot notify deploy` (git history) and GitHub's and GitLab's compare APIs.

use serde_json::{json, Value};

use crate::support::app::{deploy, TestApp};

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
