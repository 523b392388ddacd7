//! A check-in's **Rolled back** (issue 16, item 4): a responder confirms it privately and the
//! deploy becomes `rolled_back` with who did it (announcement edited, later check-ins cancelled,
//! change failure rate counts it); anyone else's press stays a vote.

use std::time::Duration;

use chrono::Datelike;
use fake_discord::{CHANNEL_ID, PLAIN_USER_ID, RESPONDER_ROLE_ID, RESPONDER_USER_ID};
use loopbot::config::Config;
use serde_json::{json, Value};

use crate::support::app::{deploy, TestApp, API_TOKEN, PATIENCE};

/// Two check-ins per deploy (the first at once, the second later), responders by role.
fn setup(config: &mut Config) {
    config.checkins.delays = vec![Duration::from_millis(100), Duration::from_millis(4000)];
    config.checkins.close_after = Duration::from_secs(3600);
    config.checkins.tick = Duration::from_millis(50);
    config.responder_roles = vec![RESPONDER_ROLE_ID];
}

fn text(message: &Value) -> String {
    message.to_string()
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

async fn scalar(app: &TestApp, sql: &str) -> String {
    sqlx::query_scalar::<_, String>(&loopbot::store::numbered(sql))
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// The check-in message posted for the deploy: (message id, check-in id).
async fn checkin_message(app: &TestApp) -> (u64, i64) {
    let find = |app: &TestApp| {
        app.discord
            .messages(CHANNEL_ID)
            .into_iter()
            .find(|m| m["content"].as_str().is_some_and(|c| c.contains("How is")))
    };
    assert!(
        app.discord
            .wait_for(PATIENCE, |_| find(app).is_some())
            .await,
        "no check-in was posted"
    );
    let message = find(app).unwrap();
    let custom_id = message["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (
        message["id"].as_str().unwrap().parse().unwrap(),
        custom_id.split(':').nth(2).unwrap().parse().unwrap(),
    )
}

async fn change_failure_rate(app: &TestApp) -> Value {
    let week = chrono::Utc::now().iso_week();
    let summary: Value = app
        .http
        .get(app.url(&format!(
            "/api/v1/summary?week={}-W{:02}",
            week.year(),
            week.week()
        )))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    summary["keys"]["change_failure_rate"]["value"].clone()
}

#[tokio::test]
async fn a_responders_rolled_back_marks_the_deploy_and_anyone_elses_stays_a_vote() {
    let app = TestApp::spawn_with(setup).await;
    let (status, _) = app.post_deploy(&deploy(json!({}))).await;
    assert_eq!(status, 202);
    let (message, checkin) = checkin_message(&app).await;
    let rolled_back = format!("checkin:vote:{checkin}:bad");
    assert_eq!(change_failure_rate(&app).await, json!(0.0));

    // Bob is no responder: his press is a vote, nothing more.
    let press = app
        .discord
        .send_component_interaction(CHANNEL_ID, PLAIN_USER_ID, message, &rolled_back)
        .await;
    let reply = answer(&app, press).await;
    assert!(text(&reply).contains("Recorded **Rolled back**"), "{reply}");
    assert!(reply["data"]["components"]
        .as_array()
        .is_none_or(Vec::is_empty));
    assert_eq!(scalar(&app, "select status from deploy").await, "succeeded");

    // Rita is a responder: her vote counts too, and she is asked whether to mark it.
    let press = app
        .discord
        .send_component_interaction(CHANNEL_ID, RESPONDER_USER_ID, message, &rolled_back)
        .await;
    let question = answer(&app, press).await;
    assert!(
        text(&question).contains("Mark checkout v1.4.2 in production as rolled back?"),
        "{question}"
    );
    assert_eq!(question["data"]["flags"], 64, "the question is private");
    let buttons = question["data"]["components"][0]["components"].clone();
    assert_eq!(
        buttons[0]["custom_id"],
        format!("checkin:rollback:{checkin}")
    );
    assert_eq!(buttons[1]["custom_id"], format!("checkin:keep:{checkin}"));
    let votes: i64 = sqlx::query_scalar("select count(*) from feedback where sentiment = -1")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(votes, 2, "both presses are votes");
    let private = app
        .discord
        .interaction_message(press)
        .expect("the question was posted");

    // The confirmation pressed on the channel's check-in message instead is refused.
    let forged = app
        .discord
        .send_component_interaction(
            CHANNEL_ID,
            RESPONDER_USER_ID,
            message,
            &format!("checkin:rollback:{checkin}"),
        )
        .await;
    assert!(text(&answer(&app, forged).await).contains("does not belong"));
    // Bob cannot confirm (he could not see the question; a forged press is refused anyway).
    let forged = app
        .discord
        .send_component_interaction(
            CHANNEL_ID,
            PLAIN_USER_ID,
            private,
            &format!("checkin:rollback:{checkin}"),
        )
        .await;
    assert!(text(&answer(&app, forged).await).contains("Only responders"));
    assert_eq!(scalar(&app, "select status from deploy").await, "succeeded");

    // Rita confirms.
    let confirm = app
        .discord
        .send_component_interaction(
            CHANNEL_ID,
            RESPONDER_USER_ID,
            private,
            &format!("checkin:rollback:{checkin}"),
        )
        .await;
    let done = answer(&app, confirm).await;
    assert_eq!(done["type"], 7, "the question is replaced: {done}");
    assert!(
        text(&done).contains("Marked checkout v1.4.2 in production as rolled back"),
        "{done}"
    );
    assert_eq!(
        scalar(&app, "select status from deploy").await,
        "rolled_back"
    );
    assert_eq!(
        scalar(
            &app,
            "select by_name from deploy_status_change where status = 'rolled_back'"
        )
        .await,
        "rita-responder"
    );

    // The announcement reads rolled back, naming her.
    let announcement = |app: &TestApp| {
        app.discord.messages(CHANNEL_ID).into_iter().find(|m| {
            m["embeds"][0]["footer"]["text"]
                .as_str()
                .is_some_and(|f| f.contains("deploy #") && !f.contains("check-in"))
        })
    };
    assert!(
        app.discord
            .wait_for(PATIENCE, |_| announcement(&app).is_some_and(|m| {
                let title = m["embeds"][0]["title"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                title.starts_with("↩️ Rolled back: checkout v1.4.2")
                    && text(&m).contains("rita-responder")
            }))
            .await,
        "the announcement was not edited: {:?}",
        announcement(&app)
    );

    // The later check-in is cancelled, and never asked.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while scalar(
        &app,
        "select coalesce(string_agg(state, ','), '') from checkin where state = 'cancelled'",
    )
    .await
    .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the later check-in was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(4200)).await;
    let asked = app
        .discord
        .messages(CHANNEL_ID)
        .into_iter()
        .filter(|m| m["content"].as_str().is_some_and(|c| c.contains("How is")))
        .count();
    assert_eq!(asked, 1, "the cancelled check-in is never asked");

    // The change failure rate counts it: one production deploy, rolled back.
    assert_eq!(change_failure_rate(&app).await, json!(100.0));

    // Pressed again: already rolled back, nothing changes.
    let again = app
        .discord
        .send_component_interaction(
            CHANNEL_ID,
            RESPONDER_USER_ID,
            private,
            &format!("checkin:rollback:{checkin}"),
        )
        .await;
    assert!(text(&answer(&app, again).await).contains("already marked rolled back"));
    let changes: i64 = sqlx::query_scalar(
        "select count(*) from deploy_status_change where status = 'rolled_back'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(changes, 1);
}
