//! Scoped reads (issue 14): two servers share one bot. Server A's default channel hears about
//! checkout; server B subscribes one channel to payments. Each server's `/summary`, `/metrics`,
//! `/alerts`, `/feedback-summary` and release suggestions show only its own releases, alerts and
//! comments (the rule: src/domain/visibility.rs).

use chrono::{Duration, Utc};
use fake_discord::{
    ADMIN_USER_ID, CHANNEL_ID, OTHER_GUILD_CHANNEL_ID, OTHER_GUILD_ID, PLAIN_USER_ID,
};
use loopbot::domain::period::Period;
use serde_json::{json, Value};

use crate::support::app::{choice, command, deploy, TestApp, API_TOKEN, PATIENCE};

const A: u64 = CHANNEL_ID;
const B: u64 = OTHER_GUILD_CHANNEL_ID;

/// The summary embed's text as a member of the channel's server sees it, around today.
async fn summary_text(app: &TestApp, channel: u64) -> String {
    let today = Utc::now().date_naive();
    let options = json!([
        choice(app, "summary", "period", "custom"),
        {"name": "from", "type": 3, "value": (today - Duration::days(1)).to_string()},
        {"name": "to", "type": 3, "value": (today + Duration::days(1)).to_string()},
    ]);
    let answer = command(app, channel, PLAIN_USER_ID, "summary", options).await;
    answer["data"]["embeds"][0]["description"]
        .as_str()
        .unwrap_or_else(|| panic!("no summary: {answer}"))
        .to_owned()
}

fn content(answer: &Value) -> String {
    answer["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn suggestions(app: &TestApp, channel: u64, typed: &str) -> Vec<String> {
    let id = app
        .discord
        .send_autocomplete(
            channel,
            PLAIN_USER_ID,
            "feedback-summary",
            json!([{"name": "release", "type": 3, "value": typed, "focused": true}]),
        )
        .await;
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| !d.interaction_responses(id).is_empty())
            .await,
        "no suggestions"
    );
    let answer = &app.discord.interaction_responses(id)[0];
    answer["data"]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap().to_owned())
        .collect()
}

async fn feedback(app: &TestApp, channel: u64, release: &str, comment: &str) {
    let answer = command(
        app,
        channel,
        PLAIN_USER_ID,
        "feedback",
        json!([
            {"name": "release", "type": 3, "value": release},
            choice(app, "feedback", "rating", "bad"),
            {"name": "comment", "type": 3, "value": comment},
        ]),
    )
    .await;
    assert!(content(&answer).contains("recorded"), "{answer}");
}

/// A deploy of last week announced in A's default channel, as the API would have stored it.
async fn last_week_deploy_in_a(app: &TestApp) {
    let at = Period::last_week(Utc::now(), chrono_tz::Tz::UTC).start() + Duration::days(2);
    let t = at.timestamp_millis();
    let id: i64 = sqlx::query_scalar(
        "insert into deploy (source, external_id, service, version, environment, status,
             started_at, finished_at, updated_at, created_at)
         values ('api', 'old-checkout', 'checkout', 'v1.4.1', 'production', 'succeeded', $1, $1, $1, $1)
         returning id",
    )
    .bind(t)
    .fetch_one(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "insert into message (channel_id, subject_kind, subject_id, posted_at, updated_at, created_at)
         values ($1, 'deploy', $2, $3, $3, $3)",
    )
    .bind(A as i64)
    .bind(id)
    .bind(t)
    .execute(&app.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn each_server_reads_only_its_own_releases_alerts_and_comments() {
    // loopbot serves both servers (LOOPBOT_GUILD_IDS); an unlisted one would be left.
    let app = TestApp::spawn_with(|c| {
        c.guild_ids = vec![
            loopbot::domain::GuildId(fake_discord::GUILD_ID),
            loopbot::domain::GuildId(OTHER_GUILD_ID),
        ]
    })
    .await;
    app.discord.add_bot_to_guild(OTHER_GUILD_ID).await;

    // Server A: checkout goes to its default channel.
    let (status, _) = app
        .post_deploy(&deploy(json!({"service": "checkout", "version": "v1.4.2"})))
        .await;
    assert_eq!(status, 202);
    // Server B: one channel subscribes to payments, which then goes there only.
    let answer = command(
        &app,
        B,
        ADMIN_USER_ID,
        "subscribe",
        json!([
            choice(&app, "subscribe", "kind", "deploys"),
            {"name": "service", "type": 3, "value": "payments"},
        ]),
    )
    .await;
    assert!(content(&answer).contains("payments"), "{answer}");
    let (status, _) = app
        .post_deploy(&deploy(json!({"service": "payments", "version": "v2.0.0"})))
        .await;
    assert_eq!(status, 202);
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| !d.message_posts(A).is_empty()
                && !d.message_posts(B).is_empty())
            .await,
        "both deploys announced"
    );

    // Each server comments on its own release.
    feedback(
        &app,
        A,
        "checkout@v1.4.2",
        "A-secret: checkout pages time out",
    )
    .await;
    feedback(&app, B, "payments@v2.0.0", "B-secret: refunds are stuck").await;

    // /summary: A has checkout and its comment, B payments and its own.
    let a = summary_text(&app, A).await;
    let b = summary_text(&app, B).await;
    assert!(a.contains("checkout") && a.contains("A-secret"), "{a}");
    assert!(!a.contains("payments") && !a.contains("B-secret"), "{a}");
    assert!(b.contains("payments") && b.contains("B-secret"), "{b}");
    assert!(!b.contains("checkout") && !b.contains("A-secret"), "{b}");
    assert!(
        a.contains("Deploys:** 1") && b.contains("Deploys:** 1"),
        "{a}\n{b}"
    );

    // /feedback-summary: B cannot even name A's release, nor read its comments.
    let answer = command(
        &app,
        B,
        PLAIN_USER_ID,
        "feedback-summary",
        json!([{"name": "release", "type": 3, "value": "checkout"}]),
    )
    .await;
    assert!(
        content(&answer).contains("No deploy of `checkout`"),
        "{answer}"
    );
    assert!(!answer.to_string().contains("A-secret"), "{answer}");
    let answer = command(
        &app,
        A,
        PLAIN_USER_ID,
        "feedback-summary",
        json!([{"name": "release", "type": 3, "value": "checkout"}]),
    )
    .await;
    assert!(content(&answer).contains("A-secret"), "{answer}");
    assert_eq!(
        answer["data"]["flags"].as_u64().unwrap_or(0) & 64,
        64,
        "ephemeral: {answer}"
    );
    // public:true posts it for the channel.
    let answer = command(
        &app,
        A,
        PLAIN_USER_ID,
        "feedback-summary",
        json!([
            {"name": "release", "type": 3, "value": "checkout"},
            {"name": "public", "type": 5, "value": true},
        ]),
    )
    .await;
    assert!(content(&answer).contains("A-secret"), "{answer}");
    assert_eq!(
        answer["data"]["flags"].as_u64().unwrap_or(0) & 64,
        0,
        "public: {answer}"
    );
    assert_eq!(
        answer["data"]["allowed_mentions"]["parse"],
        json!([]),
        "{answer}"
    );

    // The release suggestions.
    assert_eq!(suggestions(&app, A, "").await, ["checkout@v1.4.2"]);
    assert_eq!(suggestions(&app, B, "").await, ["payments@v2.0.0"]);
    assert!(suggestions(&app, B, "check").await.is_empty());

    // /metrics (last week): A's deploy of last week counts in A only.
    last_week_deploy_in_a(&app).await;
    let a = content(&command(&app, A, PLAIN_USER_ID, "metrics", json!([])).await);
    let b = content(&command(&app, B, PLAIN_USER_ID, "metrics", json!([])).await);
    assert!(a.contains("0.14/day"), "{a}");
    assert!(
        b.contains("Deployment frequency") && !b.contains("0.14/day"),
        "{b}"
    );

    // /alerts: an alert about checkout goes to A's default channel; B does not see it.
    let response = app
        .http
        .post(app.url("/api/v1/alerts"))
        .bearer_auth(API_TOKEN)
        .json(
            &json!({"service": "checkout", "name": "CheckoutDown", "severity": "critical",
                      "status": "firing", "summary": "checkout is down", "id": "cd-1"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let a = content(&command(&app, A, PLAIN_USER_ID, "alerts", json!([])).await);
    let b = content(&command(&app, B, PLAIN_USER_ID, "alerts", json!([])).await);
    assert!(a.contains("CheckoutDown"), "{a}");
    assert!(
        b.contains("No alerts firing") && !b.contains("CheckoutDown"),
        "{b}"
    );
    // ... and B's summary still shows none of A's alerts.
    let b = summary_text(&app, B).await;
    assert!(
        !b.contains("CheckoutDown") && !b.contains("checkout"),
        "{b}"
    );
    let a = summary_text(&app, A).await;
    assert!(a.contains("CheckoutDown"), "{a}");
}
