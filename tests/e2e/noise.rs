//! Alert noise votes (issue 16 item 3) on the real application and the local Discord: people
//! press **Useful** / **Noise** on an alert message or on a digest's line, the message shows the
//! counts, and the summary (JSON and text) lists the alerts the team called noise.

use chrono::Utc;
use fake_discord::{CHANNEL_ID, GUILD_ID, PLAIN_PERMISSIONS, PLAIN_USER_ID, RESPONDER_USER_ID};
use serde_json::{json, Value};

use crate::support::app::{choice, command, TestApp, API_TOKEN, PATIENCE};

/// A member with no responder permission at all: voting needs none.
const CAROL: u64 = 400_000_000_000_000_077;

async fn post_alert(app: &TestApp, name: &str, status: &str) {
    let response = app
        .http
        .post(app.url("/api/v1/alerts"))
        .bearer_auth(API_TOKEN)
        .json(
            &json!({"service": "checkout", "environment": "production", "name": name,
                      "severity": "warning", "status": status, "id": format!("id-{name}"),
                      "summary": "disk is filling up"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
}

fn text_of(message: &Value) -> String {
    format!("{}\n{}", message["embeds"], message["components"])
}

/// The labels of a message's buttons, by custom id.
fn buttons(message: &Value) -> Vec<(String, String)> {
    message["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .map(|b| {
            (
                b["custom_id"].as_str().unwrap_or_default().to_owned(),
                b["label"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn label_of(message: &Value, custom_id: &str) -> Option<String> {
    buttons(message)
        .into_iter()
        .find(|(id, _)| id == custom_id)
        .map(|(_, label)| label)
}

fn message_id(message: &Value) -> u64 {
    message["id"].as_str().unwrap().parse().unwrap()
}

/// Waits for the channel's message that `f` accepts and returns it.
async fn wait_message(app: &TestApp, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let found = app
        .discord
        .wait_for(PATIENCE, |d| d.messages(CHANNEL_ID).iter().any(&f))
        .await;
    let messages = app.discord.messages(CHANNEL_ID);
    assert!(
        found,
        "{what}; messages: {:#?}",
        messages.iter().map(text_of).collect::<Vec<_>>()
    );
    messages.into_iter().find(|m| f(m)).unwrap()
}

async fn group_of(app: &TestApp, name: &str) -> i64 {
    sqlx::query_scalar("select max(group_id) from alert where name = $1")
        .bind(name)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Waits until loopbot knows the Discord message showing `group` (its delivery settled): a
/// press before that is refused as naming a message the bot does not know yet.
async fn wait_known(app: &TestApp, group: i64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let known: i64 = sqlx::query_scalar(
            "select count(*) from message m where m.subject_kind = 'alert_group'
             and m.subject_id = $1 and m.discord_message_id is not null
             and not exists (select 1 from outbox o where o.message_id = m.id and o.state = 'pending')",
        )
        .bind(group)
        .fetch_one(&app.db)
        .await
        .unwrap();
        if known > 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "group {group} never shown"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// `user` presses `custom_id` on `message`; the bot's answer to the press.
async fn press(app: &TestApp, user: u64, message: u64, custom_id: &str) -> Value {
    let id = app
        .discord
        .send_component_interaction(CHANNEL_ID, user, message, custom_id)
        .await;
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| !d.interaction_responses(id).is_empty())
            .await,
        "the button {custom_id} got no answer"
    );
    app.discord.interaction_responses(id)[0].clone()
}

/// The answer is private and says `contains`.
fn assert_private(answer: &Value, contains: &str) {
    assert_eq!(answer["data"]["flags"], 64, "ephemeral: {answer}");
    let content = answer["data"]["content"].as_str().unwrap_or_default();
    assert!(content.contains(contains), "{content}");
}

async fn votes(app: &TestApp) -> Vec<(i64, i64, String)> {
    sqlx::query_as("select group_id, user_id, vote from alert_vote order by group_id, user_id")
        .fetch_all(&app.db)
        .await
        .unwrap()
}

/// The last seven days, as the summary API and `/summary` take them.
fn last_week() -> (String, String) {
    let today = Utc::now().date_naive();
    (
        (today - chrono::Days::new(6)).to_string(),
        today.to_string(),
    )
}

async fn summary_json(app: &TestApp) -> Value {
    let (from, to) = last_week();
    let response = app
        .http
        .get(app.url(&format!("/api/v1/summary?from={from}&to={to}")))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

fn noisiest_entry(summary: &Value, name: &str) -> Value {
    summary["alerts"]["noisiest"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} not in noisiest: {}", summary["alerts"]))
}

#[tokio::test]
async fn two_people_vote_noise_the_message_shows_it_and_the_summary_lists_it_with_2() {
    let app = TestApp::spawn().await;
    app.discord
        .set_member(GUILD_ID, CAROL, &[], PLAIN_PERMISSIONS);
    app.discord
        .set_member(GUILD_ID, PLAIN_USER_ID, &[], PLAIN_PERMISSIONS);
    post_alert(&app, "DiskAlmostFull", "firing").await;
    let group = group_of(&app, "DiskAlmostFull").await;
    let noise = format!("alerts:vote:{group}:noise");
    let useful = format!("alerts:vote:{group}:useful");
    let posted = wait_message(&app, "the alert is posted", |m| {
        text_of(m).contains("DiskAlmostFull")
    })
    .await;
    // Beside Acknowledge on the first row, no count yet.
    let first_row: Vec<String> = posted["components"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["custom_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        first_row,
        vec![format!("alerts:ack:{group}"), useful.clone(), noise.clone()]
    );
    assert_eq!(label_of(&posted, &noise).as_deref(), Some("Noise"));

    wait_known(&app, group).await;
    // Two members who are no responders call it noise.
    let answer = press(&app, PLAIN_USER_ID, message_id(&posted), &noise).await;
    assert_private(&answer, "Recorded: you find this alert noise");
    let answer = press(&app, CAROL, message_id(&posted), &noise).await;
    assert_private(&answer, "🔇 2 noise · 👍 0 useful");
    let shown = wait_message(&app, "the message shows 2 noise votes", |m| {
        label_of(m, &noise).as_deref() == Some("Noise · 2")
    })
    .await;
    assert_eq!(message_id(&shown), message_id(&posted), "edited in place");
    assert_eq!(label_of(&shown, &useful).as_deref(), Some("Useful"));
    assert_eq!(app.discord.message_posts(CHANNEL_ID).len(), 1);

    // The summary JSON lists it with its fires and votes.
    let summary = summary_json(&app).await;
    assert_eq!(
        noisiest_entry(&summary, "DiskAlmostFull"),
        json!({"name": "DiskAlmostFull", "fired": 1, "noise_votes": 2, "useful_votes": 0})
    );

    // Resolved, the votes stay and can still be given.
    post_alert(&app, "DiskAlmostFull", "resolved").await;
    let resolved = wait_message(&app, "the alert resolves", |m| {
        text_of(m).contains("RESOLVED") && label_of(m, &noise).as_deref() == Some("Noise · 2")
    })
    .await;
    assert_eq!(buttons(&resolved).len(), 2, "only the votes: {resolved}");

    // The text summary names what the team called noise.
    let (from, to) = last_week();
    let answer = command(
        &app,
        CHANNEL_ID,
        PLAIN_USER_ID,
        "summary",
        json!([
            choice(&app, "summary", "period", "custom"),
            {"name": "from", "type": 3, "value": from},
            {"name": "to", "type": 3, "value": to},
        ]),
    )
    .await;
    let text = answer["data"]["embeds"][0]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.contains("Called noise by the team: DiskAlmostFull (2 noise votes)"),
        "{text}"
    );
    assert!(text.contains("DiskAlmostFull ×1 (🔇 2 · 👍 0)"), "{text}");
}

#[tokio::test]
async fn a_changed_vote_counts_once_and_the_latest_wins_per_episode() {
    let app = TestApp::spawn().await;
    post_alert(&app, "CpuHot", "firing").await;
    let group = group_of(&app, "CpuHot").await;
    let noise = format!("alerts:vote:{group}:noise");
    let useful = format!("alerts:vote:{group}:useful");
    let posted = wait_message(&app, "the alert is posted", |m| {
        text_of(m).contains("CpuHot")
    })
    .await;
    let message = message_id(&posted);
    wait_known(&app, group).await;

    let answer = press(&app, PLAIN_USER_ID, message, &noise).await;
    assert_private(&answer, "Recorded");
    wait_message(&app, "one noise vote shows", |m| {
        label_of(m, &noise).as_deref() == Some("Noise · 1")
    })
    .await;
    // Bob changes his mind: one vote, the latest.
    let answer = press(&app, PLAIN_USER_ID, message, &useful).await;
    assert_private(&answer, "(instead of noise)");
    let shown = wait_message(&app, "the vote moved to useful", |m| {
        label_of(m, &useful).as_deref() == Some("Useful · 1")
    })
    .await;
    assert_eq!(label_of(&shown, &noise).as_deref(), Some("Noise"));
    assert_eq!(
        votes(&app).await,
        vec![(group, PLAIN_USER_ID as i64, "useful".into())]
    );
    // The same vote again changes nothing and says so.
    let edits = app.discord.message_edits(CHANNEL_ID).len();
    let answer = press(&app, PLAIN_USER_ID, message, &useful).await;
    assert_private(&answer, "You already voted useful");
    assert_eq!(votes(&app).await.len(), 1);

    // A new episode (resolved, then firing again) is a new message with votes of its own.
    post_alert(&app, "CpuHot", "resolved").await;
    wait_message(&app, "the alert resolves", |m| {
        text_of(m).contains("RESOLVED")
    })
    .await;
    post_alert(&app, "CpuHot", "firing").await;
    let second = group_of(&app, "CpuHot").await;
    assert_ne!(second, group, "a new episode");
    let noise2 = format!("alerts:vote:{second}:noise");
    let again = wait_message(&app, "the new episode is posted", |m| {
        label_of(m, &noise2).is_some()
    })
    .await;
    wait_known(&app, second).await;
    let answer = press(&app, PLAIN_USER_ID, message_id(&again), &noise2).await;
    assert_private(&answer, "Recorded");
    wait_message(&app, "the new episode shows its vote", |m| {
        label_of(m, &noise2).as_deref() == Some("Noise · 1")
    })
    .await;
    assert!(app.discord.message_edits(CHANNEL_ID).len() > edits);
    assert_eq!(
        noisiest_entry(&summary_json(&app).await, "CpuHot"),
        json!({"name": "CpuHot", "fired": 2, "noise_votes": 1, "useful_votes": 1})
    );
}

#[tokio::test]
async fn a_vote_on_a_digest_line_counts_for_that_group() {
    // Every alert's first post is folded into a digest.
    let app = TestApp::spawn_with(|c| c.delivery.digest_after = 0).await;
    post_alert(&app, "QueueBacklog", "firing").await;
    let group = group_of(&app, "QueueBacklog").await;
    let noise = format!("alerts:vote:{group}:noise");
    let digest = wait_message(&app, "the digest is posted", |m| {
        text_of(m).contains("more alerts fired") && label_of(m, &noise).is_some()
    })
    .await;
    assert_eq!(
        label_of(&digest, &noise).as_deref(),
        Some(format!("Noise #{group}").as_str())
    );
    wait_known(&app, group).await;
    let answer = press(&app, RESPONDER_USER_ID, message_id(&digest), &noise).await;
    assert_private(&answer, "Recorded");
    let shown = wait_message(&app, "the digest line shows the vote", |m| {
        text_of(m).contains(&format!("#{group} ")) && text_of(m).contains("🔇 1 · 👍 0")
    })
    .await;
    assert_eq!(message_id(&shown), message_id(&digest));
    assert_eq!(
        votes(&app).await,
        vec![(group, RESPONDER_USER_ID as i64, "noise".into())]
    );
    assert_eq!(
        noisiest_entry(&summary_json(&app).await, "QueueBacklog")["noise_votes"],
        1
    );
}

#[tokio::test]
async fn forged_or_unknown_vote_buttons_are_refused_privately_and_change_nothing() {
    let app = TestApp::spawn().await;
    post_alert(&app, "First", "firing").await;
    post_alert(&app, "Second", "firing").await;
    let first = group_of(&app, "First").await;
    let second = group_of(&app, "Second").await;
    let posted = wait_message(&app, "the first alert is posted", |m| {
        text_of(m).contains("First")
    })
    .await;
    wait_message(&app, "the second alert is posted", |m| {
        text_of(m).contains("Second")
    })
    .await;
    let message = message_id(&posted);
    wait_known(&app, first).await;
    wait_known(&app, second).await;
    let edits = app.discord.message_edits(CHANNEL_ID).len();
    for (custom_id, says) in [
        // Another group's vote pressed on this message.
        (format!("alerts:vote:{second}:noise"), "does not belong"),
        // A group that does not exist.
        ("alerts:vote:987654321:noise".to_owned(), "does not belong"),
        // Not a vote loopbot makes.
        (format!("alerts:vote:{first}:maybe"), "malformed"),
        (format!("alerts:vote:{first}:noise:extra"), "malformed"),
        ("alerts:vote:first:noise".to_owned(), "malformed"),
        ("alerts:vote".to_owned(), "malformed"),
    ] {
        let answer = press(&app, PLAIN_USER_ID, message, &custom_id).await;
        assert_private(&answer, says);
    }
    assert_eq!(votes(&app).await, vec![]);
    assert_eq!(app.count("outbox where state = 'pending'").await, 0);
    assert_eq!(app.discord.message_edits(CHANNEL_ID).len(), edits);
}
