//! Deploy announcements: posted once, edited in place, idempotent.

use fake_discord::{CHANNEL_ID, OTHER_CHANNEL_ID};
use serde_json::json;

use crate::support::app::{deploy, TestApp, PATIENCE};

fn embed_text(message: &serde_json::Value) -> String {
    message["embeds"].to_string()
}

#[tokio::test]
async fn a_succeeded_deploy_is_announced_once_without_pinging_anyone() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .post_deploy(&deploy(json!({
            "deployer": "ana",
            "commit_sha": "0123456789abcdef0123456789abcdef01234567",
            "url": "https://ci.example.com/runs/42",
            "changelog": "@everyone look: <@&123> <@456> fixed the cart",
        })))
        .await;
    assert_eq!(status, 202, "{body}");
    assert!(body["deploy_id"].as_i64().unwrap() > 0);

    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 1)
            .await
    );
    let posts = app.discord.message_posts(CHANNEL_ID);
    let sent = &posts[0].body;
    let embed = sent["embeds"][0].to_string();
    assert!(embed.contains("checkout"), "{embed}");
    assert!(embed.contains("v1.4.2"), "{embed}");
    assert!(embed.contains("production"), "{embed}");
    assert!(embed.contains("0123456"), "the short sha is shown: {embed}");
    assert!(
        embed.contains("@everyone look"),
        "the changelog is shown: {embed}"
    );

    // Allowed mentions are explicit and allow nothing: no @everyone, no roles, no users.
    let mentions = &sent["allowed_mentions"];
    assert!(mentions.is_object(), "allowed_mentions missing: {sent}");
    let parse = mentions["parse"].as_array().unwrap();
    assert!(!parse.iter().any(|p| p == "everyone"), "{mentions}");
    assert!(parse.is_empty(), "{mentions}");
    assert_eq!(mentions["roles"], json!([]));
    assert_eq!(mentions["users"], json!([]));

    // Nothing else was posted anywhere, and the database remembers the message.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.discord.message_posts(CHANNEL_ID).len(), 1);
    assert!(app.discord.message_posts(OTHER_CHANNEL_ID).is_empty());
    let discord_id: i64 =
        sqlx::query_scalar("select discord_message_id from message where subject_kind = 'deploy'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let posted_id: u64 = app.discord.messages(CHANNEL_ID)[0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(discord_id as u64, posted_id);
}

#[tokio::test]
async fn a_status_change_edits_the_same_message_and_a_repeat_changes_nothing() {
    let app = TestApp::spawn().await;
    let started = deploy(json!({"id": "run-77", "status": "started"}));
    assert_eq!(app.post_deploy(&started).await.0, 202);
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 1)
            .await
    );
    assert!(embed_text(&app.discord.messages(CHANNEL_ID)[0]).contains("Deploying"));

    let failed = deploy(json!({"id": "run-77", "status": "failed"}));
    let (status, first) = app.post_deploy(&failed).await;
    assert_eq!(status, 202);
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_edits(CHANNEL_ID).len() == 1)
            .await,
        "the announcement was not edited"
    );
    let messages = app.discord.messages(CHANNEL_ID);
    assert_eq!(messages.len(), 1, "a second message was posted");
    assert!(
        embed_text(&messages[0]).contains("Deploy failed"),
        "{}",
        embed_text(&messages[0])
    );
    let edit = &app.discord.message_edits(CHANNEL_ID)[0];
    assert!(edit.path.ends_with(messages[0]["id"].as_str().unwrap()));
    assert!(edit.body["allowed_mentions"].is_object());

    // The identical event again (a CI retry): same deploy, nothing new anywhere.
    let (status, again) = app.post_deploy(&failed).await;
    assert_eq!(status, 202);
    assert_eq!(again["deploy_id"], first["deploy_id"]);
    assert_eq!(again["duplicate"], true);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(app.discord.message_posts(CHANNEL_ID).len(), 1);
    assert_eq!(app.discord.message_edits(CHANNEL_ID).len(), 1);
    assert_eq!(app.count("deploy").await, 1);
    assert_eq!(app.count("deploy_status_change").await, 2);
    assert_eq!(app.count("outbox where state = 'pending'").await, 0);
}

#[tokio::test]
async fn a_late_started_does_not_undo_an_outcome() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.post_deploy(&deploy(json!({"id": "r1", "status": "succeeded"})))
            .await
            .0,
        202
    );
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 1)
            .await
    );
    let (_, body) = app
        .post_deploy(&deploy(json!({"id": "r1", "status": "started"})))
        .await;
    assert_eq!(body["duplicate"], true);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(app.discord.message_edits(CHANNEL_ID).is_empty());
    let status: String = sqlx::query_scalar("select status from deploy")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "succeeded");
}
