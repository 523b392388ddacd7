//! The sender's clock, not the arrival time (issue 17 item 2): a deploy's start and finish are when
//! the sender says they happened, so a webhook retried or delivered late shifts nothing.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use fake_discord::CHANNEL_ID;
use loopbot::config::Secret;
use serde_json::{json, Value};

use crate::support::app::{deploy, TestApp, API_TOKEN, PATIENCE};

const GITLAB_TOKEN: &str = "test-gitlab-token";

/// GitLab's documented Deployment Hook payload (docs/user/project/integrations/webhook_events.md),
/// production this time.
fn gitlab_deployment(status: &str, changed_at: &str) -> Value {
    json!({
        "object_kind": "deployment",
        "status": status,
        "status_changed_at": changed_at,
        "deployment_id": 15,
        "deployable_id": 796,
        "deployable_url": "http://gitlab.example.com/root/test-deployment-webhooks/-/jobs/796",
        "environment": "production",
        "environment_tier": "production",
        "environment_slug": "production",
        "environment_external_url": "https://prod.example.com",
        "project": {"id": 30, "name": "test-deployment-webhooks",
                    "path_with_namespace": "root/test-deployment-webhooks"},
        "short_sha": "279484c0",
        "user": {"id": 1, "name": "Administrator", "username": "root"},
        "user_url": "http://10.126.0.2:3000/root",
        "commit_url": "http://10.126.0.2:3000/root/test-deployment-webhooks/-/commit/279484c09fbe69ededfced8c1bb6e6d24616b468",
        "commit_title": "Add new file",
        "ref": "1.0.0"
    })
}

async fn gitlab_hook(app: &TestApp, key: &str, body: &Value) -> (u16, Value) {
    let response = app
        .http
        .post(app.url("/hooks/gitlab"))
        .header("X-Gitlab-Event", "Deployment Hook")
        .header("X-Gitlab-Token", GITLAB_TOKEN)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// (started_at, finished_at) of the only deploy, in milliseconds.
async fn times(app: &TestApp) -> (i64, Option<i64>) {
    sqlx::query_as("select started_at, finished_at from deploy")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn status_change_times(app: &TestApp) -> Vec<(String, i64)> {
    sqlx::query_as("select status, at from deploy_status_change order by id")
        .fetch_all(&app.db)
        .await
        .unwrap()
}

fn status_field(message: &Value) -> String {
    message["embeds"].to_string()
}

#[tokio::test]
async fn gitlab_running_and_success_five_minutes_apart_delivered_seconds_apart_took_five_minutes() {
    let app = TestApp::spawn_with(|c| {
        c.integrations.gitlab_webhook_token = Some(Secret::new(GITLAB_TOKEN));
    })
    .await;
    let (status, body) = gitlab_hook(
        &app,
        "k-running",
        &gitlab_deployment("running", "2021-04-28 21:50:00 +0200"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 1)
            .await
    );
    // Delivered 1.5 s later, as in the report; the sender says five minutes passed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let success = gitlab_deployment("success", "2021-04-28 21:55:00 +0200");
    let (status, body) = gitlab_hook(&app, "k-success", &success).await;
    assert_eq!(status, 202, "{body}");
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_edits(CHANNEL_ID).len() == 1)
            .await
    );
    let shown = status_field(&app.discord.messages(CHANNEL_ID)[0]);
    assert!(shown.contains("Deployed in 5m 0s"), "{shown}");

    let running = Utc.with_ymd_and_hms(2021, 4, 28, 19, 50, 0).unwrap();
    let succeeded = Utc.with_ymd_and_hms(2021, 4, 28, 19, 55, 0).unwrap();
    assert_eq!(
        times(&app).await,
        (
            running.timestamp_millis(),
            Some(succeeded.timestamp_millis())
        )
    );
    assert_eq!(
        status_change_times(&app).await,
        vec![
            ("started".to_owned(), running.timestamp_millis()),
            ("succeeded".to_owned(), succeeded.timestamp_millis()),
        ]
    );

    // GitLab retrying the success (a new delivery of the same event) changes nothing.
    let (status, body) = gitlab_hook(&app, "k-success-again", &success).await;
    assert_eq!((status, &body["duplicate"]), (202, &json!(true)), "{body}");
    assert_eq!(
        times(&app).await.1,
        Some(succeeded.timestamp_millis()),
        "a redelivery moved the finish"
    );
}

#[tokio::test]
async fn a_running_delivered_after_its_success_moves_the_start_back() {
    let app = TestApp::spawn_with(|c| {
        c.integrations.gitlab_webhook_token = Some(Secret::new(GITLAB_TOKEN));
    })
    .await;
    let (status, body) = gitlab_hook(
        &app,
        "k-success",
        &gitlab_deployment("success", "2021-04-28 21:55:00 +0200"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = gitlab_hook(
        &app,
        "k-running",
        &gitlab_deployment("running", "2021-04-28 21:52:00 +0200"),
    )
    .await;
    assert_eq!(
        (status, &body["status"]),
        (202, &json!("started")),
        "{body}"
    );
    let running = Utc.with_ymd_and_hms(2021, 4, 28, 19, 52, 0).unwrap();
    let succeeded = Utc.with_ymd_and_hms(2021, 4, 28, 19, 55, 0).unwrap();
    assert_eq!(
        times(&app).await,
        (
            running.timestamp_millis(),
            Some(succeeded.timestamp_millis())
        )
    );
    let status: String = sqlx::query_scalar("select status from deploy")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "succeeded", "a late running undid the outcome");
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d
                .messages(CHANNEL_ID)
                .first()
                .is_some_and(|m| status_field(m).contains("Deployed in 3m 0s")))
            .await,
        "{:#?}",
        app.discord.messages(CHANNEL_ID)
    );
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[tokio::test]
async fn a_generic_event_with_at_an_hour_ago_counts_at_that_time() {
    let app = TestApp::spawn().await;
    let hour_ago = Utc::now() - chrono::Duration::hours(1);
    let hour_ago = Utc
        .timestamp_millis_opt(hour_ago.timestamp_millis())
        .unwrap();
    let (status, body) = app
        .post_deploy(&deploy(json!({"id": "late", "at": rfc3339(hour_ago)})))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        times(&app).await,
        (
            hour_ago.timestamp_millis(),
            Some(hour_ago.timestamp_millis())
        )
    );
    assert_eq!(
        status_change_times(&app).await,
        vec![("succeeded".to_owned(), hour_ago.timestamp_millis())]
    );

    // The summary counts it in the hour it happened: a range ending before its arrival has it.
    let day = hour_ago.format("%Y-%m-%d");
    let summary: Value = app
        .http
        .get(app.url(&format!("/api/v1/summary?from={day}&to={day}")))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(summary["deploys"]["total"], 1, "{summary}");

    // A sender's clock ahead of ours is clamped to the arrival: no deploy finishes in the future.
    let before = Utc::now().timestamp_millis();
    let tomorrow = Utc::now() + chrono::Duration::days(1);
    let (status, body) = app
        .post_deploy(&deploy(json!({"id": "ahead", "at": rfc3339(tomorrow)})))
        .await;
    assert_eq!(status, 202, "{body}");
    let finished: i64 =
        sqlx::query_scalar("select finished_at from deploy where external_id = 'ahead'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(
        finished >= before && finished <= Utc::now().timestamp_millis(),
        "{finished} is not the arrival time"
    );

    // A malformed `at` is refused with the field named.
    let (status, body) = app
        .post_deploy(&deploy(json!({"id": "bad", "at": "an hour ago"})))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("at"), "{body}");
    assert_eq!(app.count("deploy").await, 2);
}
