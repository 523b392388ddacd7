//! Dead letters: a body Discord refuses for good is kept as a failed outbox row with Discord's
//! answer; `/metrics` counts it; the real binary's `loopbot outbox failed` lists it and
//! `loopbot outbox retry` re-queues it, after which the running bot delivers it exactly once.

use std::time::Duration;

use fake_discord::{Fault, CHANNEL_ID};
use serde_json::{json, Value};

use crate::support::app::{binary_command, deploy, TestApp, PATIENCE};

/// Runs `loopbot ARGS` against the test's database; returns (success, stdout, stderr).
async fn cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let url = crate::support::postgres::database_url(app.dir.path());
    let output = binary_command(app.dir.path(), &[("DATABASE_URL", url)])
        .args(args)
        .output()
        .await
        .expect("the loopbot binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn dead_letter_gauge(app: &TestApp) -> String {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("loopbot_outbox_dead_letters "))
        .unwrap_or("no loopbot_outbox_dead_letters gauge")
        .to_owned()
}

async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_refused_body_is_a_dead_letter_the_cli_lists_and_retries_and_it_is_then_delivered_once() {
    let app = TestApp::spawn().await;
    // Discord refuses the post with a 400: no retry can fix that, so it is not retried.
    app.discord.fail_next(1, Fault::Status(400));
    let (status, _) = app
        .post_deploy(&deploy(json!({ "service": "dead-letter-svc" })))
        .await;
    assert_eq!(status, 202);
    wait_until("the refused post is dead-lettered", async || {
        app.count("outbox where state = 'failed'").await == 1
    })
    .await;
    assert!(app.discord.message_posts(CHANNEL_ID).is_empty());
    let (row, reason): (i64, String) =
        sqlx::query_as("select id, last_error from outbox where state = 'failed'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(
        reason.contains("400"),
        "Discord's answer is stored: {reason}"
    );
    let deploy_id: i64 = sqlx::query_scalar("select id from deploy")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        dead_letter_gauge(&app).await,
        "loopbot_outbox_dead_letters 1"
    );

    // Listed: the id to retry, the subject, the channel, when, and what Discord answered.
    let (ok, out, err) = cli(&app, &["outbox", "failed"]).await;
    assert!(ok, "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with(&row.to_string()))
        .unwrap_or_else(|| panic!("row {row} is not listed:\n{out}"));
    for part in [
        format!("deploy #{deploy_id}"),
        CHANNEL_ID.to_string(),
        "400".into(),
        "injected fault".into(),
    ] {
        assert!(line.contains(&part), "{part} missing: {line}");
    }
    let (ok, out, _) = cli(&app, &["outbox", "failed", "--format", "json"]).await;
    assert!(ok);
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["id"], row);
    assert_eq!(listed[0]["subject_kind"], "deploy");
    assert_eq!(listed[0]["channel_id"], CHANNEL_ID.to_string());
    assert!(listed[0]["failed_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));

    // A row that is not a dead letter: refused by name, nothing changes.
    let (ok, _, err) = cli(&app, &["outbox", "retry", &(row + 1000).to_string()]).await;
    assert!(!ok);
    assert!(
        err.contains(&format!("{} is not a dead letter", row + 1000)),
        "{err}"
    );
    assert_eq!(app.count("outbox where state = 'failed'").await, 1);

    // Re-queued: the running bot posts it, once.
    let (ok, out, err) = cli(&app, &["outbox", "retry", &row.to_string()]).await;
    assert!(ok, "{err}");
    assert_eq!(out, format!("re-queued 1 dead letter: {row}\n"));
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 1)
            .await,
        "the retried post never arrived"
    );
    wait_until("the row is sent", async || {
        app.count("outbox where state = 'sent'").await == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.discord.message_posts(CHANNEL_ID).len(), 1);
    let shown = app.discord.messages(CHANNEL_ID);
    assert!(shown[0]["embeds"][0]["title"]
        .as_str()
        .unwrap()
        .contains("dead-letter-svc"));
    assert_eq!(app.count("outbox where state = 'failed'").await, 0);
    assert_eq!(
        dead_letter_gauge(&app).await,
        "loopbot_outbox_dead_letters 0"
    );
    let (ok, out, _) = cli(&app, &["outbox", "failed"]).await;
    assert!(ok);
    assert_eq!(out, "no dead letters\n");
    // Nothing left to retry.
    let (ok, out, _) = cli(&app, &["outbox", "retry", "--all"]).await;
    assert!(ok);
    assert_eq!(out, "no dead letters to retry\n");
}

#[tokio::test]
async fn retry_all_requeues_every_dead_letter_and_a_later_delivery_supersedes_an_old_failure() {
    let app = TestApp::spawn().await;
    // Two deploys whose posts are refused.
    app.discord.fail_next(2, Fault::Status(400));
    for service in ["first-svc", "second-svc"] {
        let (status, _) = app
            .post_deploy(&deploy(json!({ "service": service })))
            .await;
        assert_eq!(status, 202);
    }
    wait_until("both posts are dead-lettered", async || {
        app.count("outbox where state = 'failed'").await == 2
    })
    .await;
    let (ok, out, _) = cli(&app, &["outbox", "failed"]).await;
    assert!(ok);
    assert!(out.contains("2 dead letters"), "{out}");
    let (ok, out, err) = cli(&app, &["outbox", "retry", "--all"]).await;
    assert!(ok, "{err}");
    assert!(out.starts_with("re-queued 2 dead letters: "), "{out}");
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 2)
            .await
    );
    wait_until("no dead letter is left", async || {
        dead_letter_gauge(&app).await == "loopbot_outbox_dead_letters 0"
    })
    .await;

    // An edit refused, then a later update delivered: the message shows the current state again,
    // so the old failure is no dead letter any more.
    app.discord.fail_next(1, Fault::Status(400));
    let (status, _) = app
        .post_deploy(&deploy(
            json!({ "service": "first-svc", "status": "failed" }),
        ))
        .await;
    assert_eq!(status, 202);
    wait_until("the edit is dead-lettered", async || {
        dead_letter_gauge(&app).await == "loopbot_outbox_dead_letters 1"
    })
    .await;
    let (status, _) = app
        .post_deploy(&deploy(
            json!({ "service": "first-svc", "status": "rolled_back" }),
        ))
        .await;
    assert_eq!(status, 202);
    wait_until("the next edit supersedes the failure", async || {
        dead_letter_gauge(&app).await == "loopbot_outbox_dead_letters 0"
    })
    .await;
    let (ok, out, _) = cli(&app, &["outbox", "failed"]).await;
    assert!(ok);
    assert_eq!(out, "no dead letters\n");
    assert_eq!(app.discord.message_posts(CHANNEL_ID).len(), 2);
}
