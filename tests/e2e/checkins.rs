//! Post-release check-ins through the local Discord: scheduling, the message, feedback from
//! buttons, reactions, replies, the thread, the modal and `/feedback`, closing, and restarts.

use std::time::Duration;

use fake_discord::{ADMIN_USER_ID, BOT_USER_ID, CHANNEL_ID, OWNER_USER_ID, PLAIN_USER_ID};
use loopbot::config::Config;
use serde_json::{json, Value};

use crate::support::app::{choice, deploy, TestApp, API_TOKEN, PATIENCE};

const ALICE: u64 = ADMIN_USER_ID;
const BOB: u64 = PLAIN_USER_ID;

fn quick(delay_ms: u64, close_ms: u64) -> impl FnOnce(&mut Config) {
    move |config: &mut Config| {
        config.checkins.delays = vec![Duration::from_millis(delay_ms)];
        config.checkins.close_after = Duration::from_millis(close_ms);
        config.checkins.tick = Duration::from_millis(50);
    }
}

/// Two check-ins per deploy: the first asked at once, the second late enough to be cancelled.
fn first_soon_second_later() -> impl FnOnce(&mut Config) {
    |config: &mut Config| {
        config.checkins.delays = vec![Duration::from_millis(100), Duration::from_millis(1500)];
        config.checkins.close_after = Duration::from_secs(3600);
        config.checkins.tick = Duration::from_millis(50);
    }
}

fn is_checkin(message: &Value) -> bool {
    message["content"]
        .as_str()
        .is_some_and(|c| c.contains("How is"))
}

/// The check-in messages in the channel, as the local Discord stores them.
fn checkins(app: &TestApp) -> Vec<Value> {
    app.discord
        .messages(CHANNEL_ID)
        .into_iter()
        .filter(is_checkin)
        .collect()
}

/// Waits for the check-in message; returns (Discord message id, check-in id, message).
async fn wait_for_checkin(app: &TestApp) -> (u64, i64, Value) {
    assert!(
        app.discord
            .wait_for(PATIENCE, |_| !checkins(app).is_empty())
            .await,
        "no check-in was posted; posts: {:?}",
        app.discord.messages(CHANNEL_ID)
    );
    // The thread is started right after the post: wait for it too, so tests can use it.
    let message = checkins(app).remove(0);
    let id: u64 = message["id"].as_str().unwrap().parse().unwrap();
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d
                .requests()
                .iter()
                .any(|r| r.method == "POST"
                    && r.path.ends_with(&format!("/messages/{id}/threads"))
                    && r.status == 201))
            .await,
        "no thread was started from the check-in"
    );
    let custom_id = message["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let checkin: i64 = custom_id.split(':').nth(2).unwrap().parse().unwrap();
    (id, checkin, message)
}

async fn answer(app: &TestApp, interaction: u64) -> Value {
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| !d
                .interaction_responses(interaction)
                .is_empty())
            .await,
        "the interaction got no answer"
    );
    app.discord.interaction_responses(interaction)[0].clone()
}

async fn wait_rows(app: &TestApp, sql: &str, expected: i64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let n: i64 = sqlx::query_scalar(&loopbot::store::numbered(sql))
            .fetch_one(&app.db)
            .await
            .unwrap();
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

#[tokio::test]
async fn a_production_deploy_gets_a_checkin_with_buttons_after_the_announcement() {
    let app = TestApp::spawn_with(quick(300, 3_600_000)).await;
    let sent = std::time::Instant::now();
    let (status, body) = app.post_deploy(&deploy(json!({}))).await;
    assert_eq!(status, 202, "{body}");
    let (status, _) = app
        .post_deploy(&deploy(
            json!({"service": "search", "environment": "staging"}),
        ))
        .await;
    assert_eq!(status, 202);

    let (id, _, message) = wait_for_checkin(&app).await;
    let posts = app.discord.message_posts(CHANNEL_ID);
    let announcement = posts
        .iter()
        .position(|p| {
            p.body["embeds"][0]["title"]
                .as_str()
                .is_some_and(|t| t.contains("checkout v1.4.2"))
        })
        .expect("the announcement was posted");
    let checkin = posts.iter().position(|p| is_checkin(&p.body)).unwrap();
    assert!(
        announcement < checkin,
        "the check-in comes after the announcement"
    );
    // Due 300 ms after the deploy finished (stored in whole milliseconds).
    let waited = posts[checkin].at - sent;
    assert!(
        waited >= Duration::from_millis(290),
        "asked after the delay, not at once ({waited:?})"
    );

    assert_eq!(
        message["content"],
        "How is **checkout v1.4.2** doing in production?"
    );
    let buttons = message["components"][0]["components"].as_array().unwrap();
    let labels: Vec<&str> = buttons
        .iter()
        .map(|b| b["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "Looks good",
            "Something's off",
            "Rolled back",
            "Add a comment"
        ]
    );
    assert!(buttons.iter().all(|b| b["disabled"] != true));
    // Nobody linked: nobody is pinged.
    assert_eq!(posts[checkin].body["allowed_mentions"]["users"], json!([]));
    assert_eq!(posts[checkin].body["allowed_mentions"]["parse"], json!([]));

    // The bot's seed reactions are on it.
    let reacted: Vec<String> = app
        .discord
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.contains(&format!("/messages/{id}/reactions/")))
        .map(|r| r.path)
        .collect();
    assert_eq!(reacted.len(), 2, "{reacted:?}");

    // The staging deploy never gets one, however long we wait.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        checkins(&app).len(),
        1,
        "exactly one check-in: the production deploy's"
    );
    assert_eq!(app.count("checkin").await, 1);
}

#[tokio::test]
async fn a_linked_deployer_is_the_only_one_mentioned() {
    let app = TestApp::spawn_with(quick(200, 3_600_000)).await;
    let id = app
        .discord
        .send_slash_command(
            CHANNEL_ID,
            BOB,
            "link-deployer",
            json!([{"name": "name", "type": 3, "value": "Bob-CI"}]),
        )
        .await;
    let reply = answer(&app, id).await;
    assert_eq!(reply["data"]["flags"], 64, "ephemeral: {reply}");
    assert!(reply["data"]["content"]
        .as_str()
        .unwrap()
        .contains("Bob-CI"));

    app.post_deploy(&deploy(json!({"deployer": "bob-ci"})))
        .await;
    let (_, _, message) = wait_for_checkin(&app).await;
    assert_eq!(
        message["content"],
        format!("<@{BOB}> How is **checkout v1.4.2** doing in production?")
    );
    let post = app
        .discord
        .message_posts(CHANNEL_ID)
        .into_iter()
        .find(|p| is_checkin(&p.body))
        .unwrap();
    assert_eq!(
        post.body["allowed_mentions"]["users"],
        json!([BOB.to_string()])
    );
    assert_eq!(post.body["allowed_mentions"]["parse"], json!([]));
}

#[tokio::test]
async fn one_vote_per_person_the_latest_counts() {
    let app = TestApp::spawn_with(quick(100, 3_600_000)).await;
    app.post_deploy(&deploy(json!({}))).await;
    let (message, checkin, _) = wait_for_checkin(&app).await;

    let click = |user: u64, vote: &str| {
        let custom_id = format!("checkin:vote:{checkin}:{vote}");
        let discord = app.discord.clone();
        async move {
            discord
                .send_component_interaction(CHANNEL_ID, user, message, &custom_id)
                .await
        }
    };
    let first = answer(&app, click(ALICE, "good").await).await;
    assert_eq!(first["data"]["flags"], 64);
    assert!(first["data"]["content"]
        .as_str()
        .unwrap()
        .contains("Looks good"));
    let second = answer(&app, click(ALICE, "bad").await).await;
    assert!(second["data"]["content"]
        .as_str()
        .unwrap()
        .contains("Rolled back"));

    let votes = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            sqlx::query_as::<_, (i64, i64, String)>(
                "select user_id, sentiment, user_name from feedback where source = 'button' order by user_id",
            )
            .fetch_all(&db)
            .await
            .unwrap()
        }
    };
    assert_eq!(
        votes(&app).await,
        vec![(ALICE as i64, -1, "alice-admin".to_owned())],
        "one vote, the latest"
    );

    answer(&app, click(BOB, "good").await).await;
    assert_eq!(
        votes(&app).await,
        vec![
            (ALICE as i64, -1, "alice-admin".to_owned()),
            (BOB as i64, 1, "bob".to_owned())
        ]
    );
}

#[tokio::test]
async fn reactions_count_and_retract_and_unrelated_ones_are_ignored() {
    let app = TestApp::spawn_with(quick(100, 3_600_000)).await;
    let (_, body) = app.post_deploy(&deploy(json!({}))).await;
    let deploy_id = body["deploy_id"].as_i64().unwrap();
    let (message, checkin, _) = wait_for_checkin(&app).await;

    // A message the bot did not post about a release.
    let unrelated = app
        .discord
        .user_message(CHANNEL_ID, OWNER_USER_ID, "lunch?", None)
        .await;
    app.discord
        .add_reaction(CHANNEL_ID, unrelated, BOB, "👍")
        .await;
    // An emoji with no meaning on a check-in.
    app.discord
        .add_reaction(CHANNEL_ID, message, ALICE, "🍕")
        .await;

    app.discord
        .add_reaction(CHANNEL_ID, message, BOB, "🔥")
        .await;
    wait_rows(
        &app,
        &format!(
            "select count(*) from feedback where source = 'reaction' and sentiment = -1 and emoji = '🔥'
             and retracted_at is null and checkin_id = {checkin} and deploy_id = {deploy_id}"
        ),
        1,
    )
    .await;

    // The announcement is tied to the release too.
    let announcement: u64 = app.discord.messages(CHANNEL_ID)[0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    app.discord
        .add_reaction(CHANNEL_ID, announcement, ALICE, "🚀")
        .await;
    wait_rows(
        &app,
        &format!(
            "select count(*) from feedback where source = 'reaction' and sentiment = 1
             and checkin_id is null and deploy_id = {deploy_id} and message_id = {announcement}"
        ),
        1,
    )
    .await;

    app.discord
        .remove_reaction(CHANNEL_ID, message, BOB, "🔥")
        .await;
    wait_rows(
        &app,
        "select count(*) from feedback where emoji = '🔥' and retracted_at is not null",
        1,
    )
    .await;

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.count("feedback").await,
        2,
        "the unrelated reaction, the meaningless emoji and the bot's seed reactions are not feedback"
    );
    let tally = api_feedback(&app, deploy_id).await;
    assert_eq!(
        tally["tally"],
        json!({"good": 1, "meh": 0, "bad": 0, "comments": 0})
    );
}

async fn api_feedback(app: &TestApp, deploy_id: i64) -> Value {
    let response = app
        .http
        .get(app.url(&format!("/api/v1/releases/{deploy_id}/feedback")))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn replies_thread_messages_the_modal_and_the_command_are_comments_on_the_release() {
    let app = TestApp::spawn_with(quick(100, 3_600_000)).await;
    // Another release exists too: comments must land on the right one.
    app.post_deploy(&deploy(json!({"service": "search", "version": "v9"})))
        .await;
    let (_, body) = app.post_deploy(&deploy(json!({}))).await;
    let deploy_id = body["deploy_id"].as_i64().unwrap();
    assert!(
        app.discord
            .wait_for(PATIENCE, |_| checkins(&app).len() == 2)
            .await
    );
    let message = checkins(&app)
        .into_iter()
        .find(|m| m["content"].as_str().unwrap().contains("checkout"))
        .unwrap();
    let message_id: u64 = message["id"].as_str().unwrap().parse().unwrap();
    let checkin: i64 = message["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .split(':')
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.requests().iter().any(|r| r
                .path
                .ends_with(&format!("/messages/{message_id}/threads"))
                && r.status == 201))
            .await
    );

    // A reply to the check-in; the bot's own reply is ignored.
    app.discord
        .user_message(
            CHANNEL_ID,
            ALICE,
            "checkout feels slow since this",
            Some(message_id),
        )
        .await;
    app.discord
        .user_message(CHANNEL_ID, BOT_USER_ID, "I am a bot", Some(message_id))
        .await;
    // A message in the thread started from the check-in (Discord gives it the message's id).
    app.discord
        .user_message(message_id, BOB, "seeing 502s on /pay", None)
        .await;
    // The modal, opened from the "Add a comment" button.
    let opened = answer(
        &app,
        app.discord
            .send_component_interaction(
                CHANNEL_ID,
                ALICE,
                message_id,
                &format!("checkin:comment:{checkin}"),
            )
            .await,
    )
    .await;
    assert_eq!(opened["type"], 9, "a modal: {opened}");
    let modal_id = opened["data"]["custom_id"].as_str().unwrap().to_owned();
    let long = format!("long story: {}", "x".repeat(3000));
    let submitted = answer(
        &app,
        app.discord
            .send_modal_submit(
                CHANNEL_ID,
                ALICE,
                Some(message_id),
                &modal_id,
                &[("comment", &long)],
            )
            .await,
    )
    .await;
    assert_eq!(submitted["data"]["flags"], 64);
    // Autocomplete offers the release, then /feedback uses it.
    let suggested = answer(
        &app,
        app.discord
            .send_autocomplete(
                CHANNEL_ID,
                BOB,
                "feedback",
                json!([{"name": "release", "type": 3, "value": "check", "focused": true}]),
            )
            .await,
    )
    .await;
    assert_eq!(suggested["type"], 8);
    assert_eq!(suggested["data"]["choices"][0]["value"], "checkout@v1.4.2");
    let rating = choice(&app, "feedback", "rating", "meh");
    let replied = answer(
        &app,
        app.discord
            .send_slash_command(
                CHANNEL_ID,
                BOB,
                "feedback",
                json!([
                    {"name": "release", "type": 3, "value": "checkout@v1.4.2"},
                    rating,
                    {"name": "comment", "type": 3, "value": "fine after the cache warmed"},
                ]),
            )
            .await,
    )
    .await;
    assert_eq!(replied["data"]["flags"], 64, "{replied}");

    wait_rows(
        &app,
        "select count(*) from feedback where body is not null",
        4,
    )
    .await;
    let rows = sqlx::query_as::<_, (String, i64, Option<i64>, i64, String)>(
        "select source, deploy_id, checkin_id, user_id, body from feedback order by id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let mut sources: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    sources.sort();
    assert_eq!(sources, ["command", "modal", "reply", "thread"]);
    assert!(
        rows.iter().all(|r| r.1 == deploy_id),
        "all on checkout v1.4.2: {rows:?}"
    );
    let by = |source: &str| rows.iter().find(|r| r.0 == source).unwrap().clone();
    assert_eq!(by("reply").4, "checkout feels slow since this");
    assert_eq!(by("reply").2, Some(checkin));
    assert_eq!(by("thread").4, "seeing 502s on /pay");
    assert_eq!(by("thread").3, BOB as i64);
    assert_eq!(by("modal").4, long, "kept whole");
    assert_eq!(by("command").2, None);

    // Reading it back: the API and /feedback-summary.
    let api = api_feedback(&app, deploy_id).await;
    assert_eq!(
        api["tally"],
        json!({"good": 0, "meh": 1, "bad": 0, "comments": 4})
    );
    assert_eq!(api["feedback"].as_array().unwrap().len(), 4);
    let summary = answer(
        &app,
        app.discord
            .send_slash_command(
                CHANNEL_ID,
                ALICE,
                "feedback-summary",
                json!([{"name": "release", "type": 3, "value": "checkout"}]),
            )
            .await,
    )
    .await;
    let text = summary["data"]["content"].as_str().unwrap();
    assert!(text.contains("👍 0 · 😐 1 · 👎 0, comments 4"), "{text}");
    assert!(text.contains("seeing 502s on /pay"), "{text}");
    assert!(text.chars().count() < 2000, "display is cut");
}

#[tokio::test]
async fn the_feedback_api_refuses_bad_requests_clearly() {
    let app = TestApp::spawn().await;
    for (path, auth, status) in [
        ("/api/v1/releases/1/feedback", false, 401),
        ("/api/v1/releases/abc/feedback", true, 422),
        ("/api/v1/releases/999/feedback", true, 404),
    ] {
        let mut request = app.http.get(app.url(path));
        if auth {
            request = request.bearer_auth(API_TOKEN);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].is_string(), "{body}");
    }
    let id = app
        .discord
        .send_slash_command(
            CHANNEL_ID,
            BOB,
            "feedback",
            json!([{"name": "release", "type": 3, "value": "nosuch@v1"},
                   {"name": "comment", "type": 3, "value": "hm"}]),
        )
        .await;
    let reply = answer(&app, id).await;
    assert_eq!(reply["data"]["flags"], 64);
    assert!(reply["data"]["content"]
        .as_str()
        .unwrap()
        .contains("No deploy of `nosuch@v1`"));
}

#[tokio::test]
async fn closing_edits_the_message_with_the_tally_and_disables_the_buttons() {
    let app = TestApp::spawn_with(quick(100, 1500)).await;
    app.post_deploy(&deploy(json!({}))).await;
    let (message, checkin, _) = wait_for_checkin(&app).await;
    answer(
        &app,
        app.discord
            .send_component_interaction(
                CHANNEL_ID,
                ALICE,
                message,
                &format!("checkin:vote:{checkin}:good"),
            )
            .await,
    )
    .await;
    app.discord
        .add_reaction(CHANNEL_ID, message, BOB, "🐛")
        .await;
    app.discord
        .user_message(
            CHANNEL_ID,
            OWNER_USER_ID,
            "rollout looked clean",
            Some(message),
        )
        .await;
    wait_rows(&app, "select count(*) from feedback", 3).await;

    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d
                .message(message)
                .is_some_and(|m| m["embeds"][0]["description"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("Closed"))))
            .await,
        "the check-in was never closed"
    );
    let closed = app.discord.message(message).unwrap();
    let tally = closed["embeds"][0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Tally")
        .unwrap()["value"]
        .clone();
    assert_eq!(tally, "👍 1 · 😐 0 · 👎 1, comments 1");
    let buttons = closed["components"][0]["components"].as_array().unwrap();
    assert_eq!(buttons.len(), 4);
    assert!(buttons.iter().all(|b| b["disabled"] == true), "{buttons:?}");

    // A click on the closed check-in is refused politely and changes nothing.
    let late = answer(
        &app,
        app.discord
            .send_component_interaction(
                CHANNEL_ID,
                BOB,
                message,
                &format!("checkin:vote:{checkin}:bad"),
            )
            .await,
    )
    .await;
    assert!(late["data"]["content"].as_str().unwrap().contains("closed"));
    assert_eq!(app.count("feedback where source = 'button'").await, 1);
}

#[tokio::test]
async fn a_checkin_that_fell_due_while_the_bot_was_down_is_posted_once_marked_late() {
    let app = TestApp::spawn_with(quick(1000, 3_600_000)).await;
    app.post_deploy(&deploy(json!({}))).await;
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| !d.message_posts(CHANNEL_ID).is_empty())
            .await
    );
    let (discord, dir) = app.stop().await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(checkins_in(&discord).is_empty(), "nothing asked while down");

    let app = TestApp::spawn_on(discord, dir, quick(1000, 3_600_000)).await;
    let (_, _, message) = wait_for_checkin(&app).await;
    assert!(
        message["content"]
            .as_str()
            .unwrap()
            .contains("Late: this check-in fell due while loopbot was offline"),
        "{message}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(checkins(&app).len(), 1, "posted once");
    let (state, late): (String, i64) = sqlx::query_as("select state, late from checkin")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!((state.as_str(), late), ("open", 1));
}

pub(crate) fn checkins_in(discord: &fake_discord::FakeDiscord) -> Vec<Value> {
    discord
        .messages(CHANNEL_ID)
        .into_iter()
        .filter(is_checkin)
        .collect()
}

#[tokio::test]
async fn the_checkin_command_asks_now() {
    let app = TestApp::spawn_with(quick(3_600_000, 3_600_000)).await;
    app.post_deploy(&deploy(json!({}))).await;
    let reply = answer(
        &app,
        app.discord
            .send_slash_command(
                CHANNEL_ID,
                ALICE,
                "checkin",
                json!([{"name": "release", "type": 3, "value": "checkout@v1.4.2"}]),
            )
            .await,
    )
    .await;
    assert_eq!(reply["data"]["flags"], 64);
    let (_, _, message) = wait_for_checkin(&app).await;
    assert!(!message["content"].as_str().unwrap().contains("Late"));
}

/// Waits for a message in `thread` containing `text`.
async fn wait_for_note(app: &TestApp, thread: u64, text: &str) {
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d
                .messages(thread)
                .iter()
                .any(|m| m["content"].as_str().is_some_and(|c| c.contains(text))))
            .await,
        "no {text:?} in the thread: {:?}",
        app.discord.messages(thread)
    );
}

#[tokio::test]
async fn a_rollback_cancels_the_later_checkin_and_says_so_in_the_thread() {
    let app = TestApp::spawn_with(first_soon_second_later()).await;
    app.post_deploy(&deploy(json!({}))).await;
    let (thread, _, _) = wait_for_checkin(&app).await;
    let (status, _) = app
        .post_deploy(&deploy(json!({"status": "rolled_back"})))
        .await;
    assert_eq!(status, 202);
    wait_for_note(&app, thread, "was cancelled: the deploy was rolled back").await;
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(
        checkins(&app).len(),
        1,
        "the cancelled check-in is never asked"
    );
}

#[tokio::test]
async fn a_newer_release_cancels_the_later_checkin_and_names_it_in_the_thread() {
    let app = TestApp::spawn_with(first_soon_second_later()).await;
    app.post_deploy(&deploy(json!({}))).await;
    let (thread, _, _) = wait_for_checkin(&app).await;
    // A staging release of the same service supersedes nothing in production.
    app.post_deploy(&deploy(
        json!({"version": "v1.4.3", "environment": "staging"}),
    ))
    .await;
    let (status, _) = app.post_deploy(&deploy(json!({"version": "v1.4.3"}))).await;
    assert_eq!(status, 202);
    wait_for_note(&app, thread, "was cancelled: superseded by v1.4.3").await;
    let cancelled: Vec<(String, String)> = sqlx::query_as(
        "select d.version, c.cancel_reason from checkin c join deploy d on d.id = c.deploy_id
         where c.state = 'cancelled'",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        cancelled,
        vec![("v1.4.2".to_owned(), "superseded by v1.4.3".to_owned())]
    );
}
