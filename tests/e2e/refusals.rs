//! When Discord says no (issue 15), through the local Discord: a message someone deleted is posted
//! again with the current state; a channel the bot lost access to holds only its own queue and
//! catches up once, with current state; a rejected token stops everything without losing anything.

use std::collections::BTreeMap;
use std::time::Duration;

use fake_discord::{
    ChannelRefusal, FakeDiscord, ADMIN_USER_ID, CHANNEL_ID, OTHER_CHANNEL_ID, PLAIN_USER_ID,
};
use loopbot::config::Config;
use serde_json::{json, Value};

use crate::support::app::{choice, command, deploy, TestApp, API_TOKEN, PATIENCE};

/// Fast back-off so a test sees several retries of a held channel in a second or two.
fn quick_holds(config: &mut Config) {
    config.delivery.refusals.hold_first = Duration::from_millis(100);
    config.delivery.refusals.hold_max = Duration::from_millis(400);
    config.delivery.refusals.token_retry = Duration::from_millis(300);
}

fn id_of(message: &Value) -> u64 {
    message["id"].as_str().unwrap().parse().unwrap()
}

fn title(message: &Value) -> String {
    message["embeds"][0]["title"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The bot's announcements (messages with an embed) in `channel`, oldest first.
fn announcements(discord: &FakeDiscord, channel: u64) -> Vec<Value> {
    discord
        .messages(channel)
        .into_iter()
        .filter(|m| m["embeds"].as_array().is_some_and(|e| !e.is_empty()))
        .collect()
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(&loopbot::store::numbered(sql))
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn wait_scalar(app: &TestApp, sql: &str, expected: i64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let n = scalar(app, sql).await;
        if n == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sql}: {n}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn accepted(app: &TestApp, fields: Value) {
    let (status, body) = app.post_deploy(&deploy(fields)).await;
    assert_eq!(status, 202, "{body}");
}

async fn wait_until(app: &TestApp, what: &str, f: impl Fn(&FakeDiscord) -> bool) {
    assert!(
        app.discord.wait_for(PATIENCE, f).await,
        "{what}; messages: {:#?}",
        app.discord.messages(CHANNEL_ID)
    );
}

async fn get(app: &TestApp, path: &str) -> (u16, String) {
    let response = app.http.get(app.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn a_deleted_announcement_is_posted_again_with_the_current_state_then_edited() {
    let app = TestApp::spawn().await;
    accepted(&app, json!({"id": "r1", "status": "started"})).await;
    wait_until(&app, "the deploy is announced", |d| {
        announcements(d, CHANNEL_ID).len() == 1
    })
    .await;
    let first = id_of(&announcements(&app.discord, CHANNEL_ID)[0]);

    // Someone deletes it; the deploy then fails: the edit finds nothing (404, 10008).
    app.discord.delete_message(CHANNEL_ID, first).await;
    accepted(&app, json!({"id": "r1", "status": "failed"})).await;
    wait_until(&app, "the failure is posted anew", |d| {
        announcements(d, CHANNEL_ID)
            .iter()
            .any(|m| title(m).contains("Deploy failed"))
    })
    .await;
    let shown = announcements(&app.discord, CHANNEL_ID);
    assert_eq!(shown.len(), 1, "{shown:#?}");
    let second = id_of(&shown[0]);
    assert_ne!(second, first);
    assert!(
        app.discord.requests().iter().any(|r| r.method == "PATCH"
            && r.path.ends_with(&format!("/messages/{first}"))
            && r.status == 404),
        "the edit of the deleted message was tried first"
    );
    let posts = app.discord.message_posts(CHANNEL_ID);
    assert_eq!(posts.len(), 2, "one new post, no more");
    assert_ne!(
        posts[0].body["nonce"], posts[1].body["nonce"],
        "the new post has a nonce of its own"
    );
    assert_eq!(posts[1].body["enforce_nonce"], true);
    // The row is updated once the post's answer is stored, a moment after it shows in the channel.
    app.wait_message_known(second).await;
    assert_eq!(
        scalar(&app, "select discord_message_id from message").await as u64,
        second,
        "the message row points at the new post"
    );

    // The next change edits the new message.
    accepted(&app, json!({"id": "r1", "status": "succeeded"})).await;
    wait_until(&app, "the new message is edited", |d| {
        d.message(second)
            .is_some_and(|m| title(&m).contains("Deployed"))
    })
    .await;
    assert_eq!(app.discord.message_posts(CHANNEL_ID).len(), 2);
    assert_eq!(announcements(&app.discord, CHANNEL_ID).len(), 1);
    wait_scalar(&app, "select count(*) from outbox where state <> 'sent'", 0).await;
}

async fn post_alert(app: &TestApp, body: Value) {
    let response = app
        .http
        .post(app.url("/api/v1/alerts"))
        .bearer_auth(API_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
}

fn text_of(message: &Value) -> String {
    format!("{}\n{}", message["content"], message["embeds"])
}

#[tokio::test]
async fn an_alert_message_deleted_before_its_resolve_is_posted_again_resolved() {
    let app = TestApp::spawn().await;
    let alert = json!({"service": "checkout", "name": "PaymentsFailing", "severity": "critical",
                       "status": "firing", "summary": "card payments fail", "id": "pf-1"});
    post_alert(&app, alert.clone()).await;
    wait_until(&app, "the alert is posted", |d| {
        d.messages(CHANNEL_ID)
            .iter()
            .any(|m| text_of(m).contains("PaymentsFailing"))
    })
    .await;
    let first = id_of(&app.discord.messages(CHANNEL_ID)[0]);
    app.discord.delete_message(CHANNEL_ID, first).await;

    let mut resolved = alert;
    resolved["status"] = json!("resolved");
    post_alert(&app, resolved).await;
    wait_until(&app, "the resolve is posted anew", |d| {
        d.messages(CHANNEL_ID)
            .iter()
            .any(|m| text_of(m).contains("RESOLVED"))
    })
    .await;
    let shown = app.discord.messages(CHANNEL_ID);
    assert_eq!(shown.len(), 1, "{shown:#?}");
    assert_ne!(id_of(&shown[0]), first);
    assert!(text_of(&shown[0]).contains("PaymentsFailing"));
    assert_eq!(app.discord.message_posts(CHANNEL_ID).len(), 2);
    assert_eq!(
        scalar(&app, "select count(*) from outbox where state = 'failed'").await,
        0
    );
}

#[tokio::test]
async fn a_deleted_checkin_comes_back_with_its_reactions_and_a_thread() {
    let app = TestApp::spawn_with(|config| {
        config.checkins.delays = vec![Duration::from_millis(100)];
        config.checkins.close_after = Duration::from_millis(2500);
        config.checkins.tick = Duration::from_millis(50);
    })
    .await;
    accepted(&app, json!({})).await;
    let is_checkin = |m: &Value| m["content"].as_str().is_some_and(|c| c.contains("How is"));
    wait_until(&app, "the check-in is posted", |d| {
        d.messages(CHANNEL_ID).iter().any(is_checkin)
    })
    .await;
    let first = id_of(
        &app.discord
            .messages(CHANNEL_ID)
            .into_iter()
            .find(is_checkin)
            .unwrap(),
    );
    wait_scalar(
        &app,
        "select count(*) from checkin where thread_id is not null",
        1,
    )
    .await;
    app.discord.delete_message(CHANNEL_ID, first).await;

    // Closing edits it: it is gone, so the closed check-in is posted again, seeded and threaded.
    wait_until(&app, "the closed check-in is posted anew", |d| {
        d.messages(CHANNEL_ID).iter().any(|m| {
            is_checkin(m)
                && m["embeds"][0]["description"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("Closed"))
        })
    })
    .await;
    let again = app
        .discord
        .messages(CHANNEL_ID)
        .into_iter()
        .find(is_checkin)
        .unwrap();
    let second = id_of(&again);
    assert_ne!(second, first);
    wait_until(&app, "the bot's reactions are on the new message", |d| {
        d.message(second).is_some_and(|m| {
            m["reactions"]
                .as_array()
                .is_some_and(|r| !r.is_empty() && r.iter().all(|r| r["me"] == true))
        })
    })
    .await;
    wait_until(&app, "a thread is started from the new message", |d| {
        d.requests().iter().any(|r| {
            r.method == "POST"
                && r.path.ends_with(&format!("/messages/{second}/threads"))
                && r.status == 201
        })
    })
    .await;
    wait_scalar(
        &app,
        &format!(
            "select count(*) from checkin where message_id = {} and thread_id = {}",
            second as i64, second as i64
        ),
        1,
    )
    .await;
    assert_eq!(
        app.discord
            .message_posts(CHANNEL_ID)
            .iter()
            .filter(|p| p.body["content"]
                .as_str()
                .is_some_and(|c| c.contains("How is")))
            .count(),
        2,
        "the first post and exactly one new one"
    );
}

async fn subscribe_payments(app: &TestApp) {
    let reply = command(
        app,
        OTHER_CHANNEL_ID,
        ADMIN_USER_ID,
        "subscribe",
        json!([
            choice(app, "subscribe", "kind", "deploys"),
            {"name": "service", "type": 3, "value": "pay*"}
        ]),
    )
    .await;
    assert!(
        reply["data"]["content"]
            .as_str()
            .is_some_and(|c| c.contains("now receives")),
        "{reply}"
    );
}

async fn subscriptions_text(app: &TestApp, channel: u64) -> String {
    let reply = command(app, channel, PLAIN_USER_ID, "subscriptions", json!([])).await;
    reply["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_channel_without_send_messages_holds_only_its_queue_and_catches_up_once_with_current_state(
) {
    let app = TestApp::spawn_with(quick_holds).await;
    subscribe_payments(&app).await;
    app.discord
        .refuse_channel(OTHER_CHANNEL_ID, ChannelRefusal::MissingPermissions);

    accepted(
        &app,
        json!({"service": "payments", "id": "p1", "status": "started"}),
    )
    .await;
    accepted(
        &app,
        json!({"service": "payments-api", "id": "p2", "status": "started"}),
    )
    .await;
    wait_scalar(&app, "select count(*) from channel_health", 1).await;
    // Other channels go on meanwhile.
    accepted(&app, json!({"service": "checkout", "id": "c1"})).await;
    wait_until(&app, "the other channel gets its announcement", |d| {
        announcements(d, CHANNEL_ID).len() == 1
    })
    .await;
    // Several updates to the held subjects.
    accepted(
        &app,
        json!({"service": "payments", "id": "p1", "status": "failed"}),
    )
    .await;
    accepted(
        &app,
        json!({"service": "payments", "id": "p1", "status": "succeeded"}),
    )
    .await;
    accepted(
        &app,
        json!({"service": "payments-api", "id": "p2", "status": "rolled_back"}),
    )
    .await;
    accepted(&app, json!({"service": "checkout", "id": "c2"})).await;
    wait_until(&app, "the other channel keeps getting announcements", |d| {
        announcements(d, CHANNEL_ID).len() == 2
    })
    .await;

    let warning = subscriptions_text(&app, OTHER_CHANNEL_ID).await;
    assert!(
        warning.starts_with("⚠ cannot post here since <t:")
            && warning.contains(":f>: missing Send Messages."),
        "{warning}"
    );
    assert!(
        warning.contains("pay*"),
        "the subscriptions are still listed: {warning}"
    );
    assert!(!subscriptions_text(&app, CHANNEL_ID).await.contains('⚠'));
    let (_, metrics) = get(&app, "/metrics").await;
    assert!(
        metrics.contains("loopbot_discord_channels_unreachable 1"),
        "{metrics}"
    );

    // Retried with back-off (several tries within a second), each costing no attempt.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let refused = app
        .discord
        .requests()
        .iter()
        .filter(|r| r.path.contains(&OTHER_CHANNEL_ID.to_string()) && r.status == 403)
        .count();
    assert!((2..=12).contains(&refused), "{refused} refused requests");
    let held = format!(
        "select count(*) from outbox where channel_id = {} and state = 'pending' and attempts = 0",
        OTHER_CHANNEL_ID as i64
    );
    assert_eq!(scalar(&app, &held).await, 5);
    assert!(announcements(&app.discord, OTHER_CHANNEL_ID).is_empty());

    // Access is back: each held message goes out once, showing its current state.
    app.discord.allow_channel(OTHER_CHANNEL_ID);
    wait_until(&app, "the held messages go out", |d| {
        announcements(d, OTHER_CHANNEL_ID).len() == 2
    })
    .await;
    wait_scalar(
        &app,
        "select count(*) from outbox where state = 'pending'",
        0,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let titles: Vec<String> = announcements(&app.discord, OTHER_CHANNEL_ID)
        .iter()
        .map(title)
        .collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(
        titles[0].starts_with("✅ Deployed: payments "),
        "{titles:?}"
    );
    assert!(
        titles[1].starts_with("↩️ Rolled back: payments-api "),
        "{titles:?}"
    );
    assert_eq!(app.discord.message_posts(OTHER_CHANNEL_ID).len(), 2);
    assert!(
        app.discord.message_edits(OTHER_CHANNEL_ID).is_empty(),
        "no stale burst: nothing posted and then corrected"
    );
    assert_eq!(
        scalar(&app, "select count(*) from outbox where state = 'failed'").await,
        0,
        "nothing dead-lettered"
    );
    assert_eq!(scalar(&app, "select count(*) from channel_health").await, 0);
    assert!(!subscriptions_text(&app, OTHER_CHANNEL_ID)
        .await
        .contains('⚠'));
}

#[tokio::test]
async fn a_channel_unreachable_past_the_give_up_is_dead_lettered_with_discords_answer() {
    let app = TestApp::spawn_with(|config| {
        quick_holds(config);
        config.delivery.refusals.give_up = Duration::from_millis(700);
    })
    .await;
    subscribe_payments(&app).await;
    app.discord
        .refuse_channel(OTHER_CHANNEL_ID, ChannelRefusal::MissingAccess);
    accepted(
        &app,
        json!({"service": "payments", "id": "p1", "status": "started"}),
    )
    .await;
    accepted(&app, json!({"service": "payments", "id": "p2"})).await;
    wait_scalar(
        &app,
        "select count(*) from outbox where state = 'failed'",
        2,
    )
    .await;
    let error: String =
        sqlx::query_scalar("select last_error from outbox where state = 'failed' limit 1")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(
        error.contains("403 (code 50001): Missing Access")
            && error.contains("LOOPBOT_UNREACHABLE_GIVE_UP"),
        "{error}"
    );
    // The warning stays until access returns.
    let warning = subscriptions_text(&app, OTHER_CHANNEL_ID).await;
    assert!(warning.contains("missing View Channel"), "{warning}");
}

/// How many times each version was announced in the default channel.
fn announced_versions(discord: &FakeDiscord) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for message in announcements(discord, CHANNEL_ID) {
        let version = title(&message)
            .split_whitespace()
            .nth(3)
            .unwrap_or("")
            .to_owned();
        *seen.entry(version).or_insert(0) += 1;
    }
    seen
}

#[tokio::test]
async fn a_rejected_token_stops_all_sending_then_every_event_is_announced_once() {
    let app = TestApp::spawn_with(quick_holds).await;
    accepted(&app, json!({"version": "v1"})).await;
    wait_until(&app, "v1 is announced", |d| {
        announced_versions(d).len() == 1
    })
    .await;

    app.discord.set_token_rejected(true);
    for version in ["v2", "v3", "v4"] {
        accepted(&app, json!({"version": version})).await;
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let body = loop {
        let (status, body) = get(&app, "/readyz").await;
        if status == 503 {
            break body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz stayed {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "Discord rejected the bot token");
    let (_, metrics) = get(&app, "/metrics").await;
    assert!(
        metrics.contains("loopbot_discord_token_rejected 1"),
        "{metrics}"
    );

    // A while of rejection: the token is retried, but no channel is sent to after the first 401.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let requests = app.discord.requests();
    let refused_posts = requests
        .iter()
        .filter(|r| r.status == 401 && r.path.contains("/channels/"))
        .count();
    assert_eq!(refused_posts, 1, "only the post that found out");
    let probes = requests
        .iter()
        .filter(|r| r.status == 401 && r.path == "/api/v10/users/@me")
        .count();
    assert!((2..=8).contains(&probes), "{probes} token probes in ~1.2 s");
    assert_eq!(
        scalar(&app, "select count(*) from outbox where state = 'failed'").await,
        0,
        "nothing dead-lettered"
    );
    assert_eq!(
        scalar(
            &app,
            "select count(*) from outbox where state = 'pending' and attempts = 0"
        )
        .await,
        3
    );

    app.discord.set_token_rejected(false);
    app.wait_ready().await;
    accepted(&app, json!({"version": "v5"})).await;
    wait_until(&app, "every version is announced", |d| {
        announced_versions(d).len() == 5
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = announced_versions(&app.discord);
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    assert_eq!(app.discord.message_posts(CHANNEL_ID).len(), 5);
    let (_, metrics) = get(&app, "/metrics").await;
    assert!(
        metrics.contains("loopbot_discord_token_rejected 0"),
        "{metrics}"
    );
}
