//! The outbox under failure: 5xx, 429, timeouts and restarts never lose or duplicate a message.

use std::collections::HashMap;
use std::time::Duration;

use fake_discord::{FakeDiscord, Fault, CHANNEL_ID};
use serde_json::json;

use crate::support::app::{deploy, BinaryApp, TestApp, DISCORD_TOKEN, PATIENCE};

/// How many times each version was announced in the channel.
fn announcements_by_version(discord: &FakeDiscord) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for message in discord.messages(CHANNEL_ID) {
        let title = message["embeds"][0]["title"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let version = title.split_whitespace().nth(3).unwrap_or("").to_owned();
        *seen.entry(version).or_insert(0) += 1;
    }
    seen
}

#[tokio::test]
async fn server_errors_then_a_rate_limit_still_deliver_each_announcement_once() {
    let app = TestApp::spawn().await;
    app.discord.fail_next(3, Fault::Status(500));
    app.discord
        .fail_next(1, Fault::RateLimited { retry_after: 0.3 });
    for n in 1..=3 {
        let (status, _) = app
            .post_deploy(&deploy(json!({"version": format!("v{n}")})))
            .await;
        assert_eq!(status, 202);
    }
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 3)
            .await,
        "not every deploy was announced: {:?}",
        app.discord
            .requests()
            .iter()
            .map(|r| &r.path)
            .collect::<Vec<_>>()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = announcements_by_version(&app.discord);
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");

    // The retry after the 429 waited at least retry_after.
    let posts: Vec<_> = app
        .discord
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages"))
        .collect();
    assert_eq!(
        posts.len(),
        3 + 4,
        "three announcements after four failures"
    );
    let gap = posts[4].at - posts[3].at;
    assert!(gap >= Duration::from_millis(300), "retried after {gap:?}");
    assert_eq!(app.count("outbox where state = 'sent'").await, 3);
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_is_retried_without_a_duplicate() {
    // The first post takes longer than the bot waits; Discord still creates it. The retry
    // carries the same nonce, so Discord answers with the message it already has.
    let app = TestApp::spawn().await;
    app.discord
        .fail_next(1, Fault::Slow(Duration::from_secs(3)));
    assert_eq!(app.post_deploy(&deploy(json!({}))).await.0, 202);
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.messages(CHANNEL_ID).len() == 1
                && d.requests().iter().filter(|r| r.method == "POST").count() >= 2)
            .await
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.discord.messages(CHANNEL_ID).len(), 1);
    let stored: Option<i64> = sqlx::query_scalar("select discord_message_id from message")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let posted: u64 = app.discord.messages(CHANNEL_ID)[0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(stored.map(|id| id as u64), Some(posted));
}

#[tokio::test]
async fn a_refusal_is_recorded_and_not_retried() {
    let app = TestApp::spawn().await;
    app.discord.fail_next(1, Fault::Status(403));
    assert_eq!(app.post_deploy(&deploy(json!({}))).await.0, 202);
    let db = app.db.clone();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let failed: i64 = sqlx::query_scalar(
            "select count(*) from outbox where state = 'failed' and last_error like '%403%'",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        if failed == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refusal was not recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app.discord.messages(CHANNEL_ID).is_empty());
}

#[tokio::test]
async fn deploys_accepted_while_discord_fails_survive_a_kill_and_are_announced_once() {
    let discord = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    discord.set_down(true);

    let bot = BinaryApp::serve(&discord, dir.path()).await;
    assert!(discord.wait_for_identify(PATIENCE).await);
    for n in 1..=5 {
        let (status, body) = bot
            .post_deploy(&deploy(
                json!({"version": format!("v{n}"), "id": format!("job-{n}")}),
            ))
            .await;
        assert_eq!(status, 202, "{body}");
    }
    // The bot is trying and failing; then it dies without any chance to clean up.
    assert!(
        discord
            .wait_for(PATIENCE, |d| d
                .requests()
                .iter()
                .filter(|r| r.method == "POST" && r.path.contains("/messages"))
                .count()
                >= 5)
            .await
    );
    let log = bot.kill().await;
    assert!(discord.messages(CHANNEL_ID).is_empty());

    discord.set_down(false);
    let bot = BinaryApp::serve(&discord, dir.path()).await;
    assert!(
        discord
            .wait_for(PATIENCE, |d| d.messages(CHANNEL_ID).len() >= 5)
            .await,
        "after the restart not everything was announced"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = announcements_by_version(&discord);
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    let log2 = bot.kill().await;

    // The token was never logged.
    for line in log.iter().chain(log2.iter()) {
        assert!(!line.contains(DISCORD_TOKEN), "token in log: {line}");
    }
}
