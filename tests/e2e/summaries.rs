//! Weekly summaries through the local Discord: the scheduled post with its chart, `/summary`,
//! and the CLI and JSON API agreeing on the same figures.

use std::time::Duration;

use chrono::{DateTime, Utc};
use fake_discord::{ADMIN_USER_ID, CHANNEL_ID, OTHER_CHANNEL_ID, PLAIN_USER_ID};
use loopbot::domain::period::Period;
use loopbot::summaries::Schedule;
use serde_json::{json, Value};

use crate::support::app::{binary_command, choice, command, TestApp, API_TOKEN, PATIENCE};

/// Inserts a finished deploy the way the API stores one, at a fixed time: with its announcement's
/// message row in the default channel (no channel subscribes to deploys here), which is what
/// makes it the default channel's server's to read.
async fn finished_deploy(
    app: &TestApp,
    service: &str,
    environment: &str,
    status: &str,
    commit_at: Option<DateTime<Utc>>,
    finished_at: DateTime<Utc>,
) {
    let finished = finished_at.timestamp_millis();
    let id: i64 = sqlx::query_scalar(
        "insert into deploy (source, external_id, service, version, environment, status, commit_at,
             started_at, finished_at, updated_at, created_at)
         values ('api', $1, $2, 'v1', $3, $4, $5, $6, $7, $8, $9)
         returning id",
    )
    .bind(format!("{service}-{finished}"))
    .bind(service)
    .bind(environment)
    .bind(status)
    .bind(commit_at.map(|c| c.timestamp_millis()))
    .bind(finished - 600_000)
    .bind(finished)
    .bind(finished)
    .bind(finished)
    .fetch_one(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "insert into message (channel_id, subject_kind, subject_id, posted_at, updated_at, created_at)
         values ($1, 'deploy', $2, $3, $3, $3)",
    )
    .bind(CHANNEL_ID as i64)
    .bind(id)
    .bind(finished)
    .execute(&app.db)
    .await
    .unwrap();
}

/// Three production deploys in week 2026-W47 (UTC): 2 succeeded (lead times 1h and 3h), 1 failed.
async fn seed_w47(app: &TestApp) {
    let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    finished_deploy(
        app,
        "checkout",
        "production",
        "succeeded",
        Some(t("2026-11-16T09:00:00Z")),
        t("2026-11-16T10:00:00Z"),
    )
    .await;
    finished_deploy(
        app,
        "checkout",
        "production",
        "succeeded",
        Some(t("2026-11-18T09:00:00Z")),
        t("2026-11-18T12:00:00Z"),
    )
    .await;
    finished_deploy(
        app,
        "payments",
        "production",
        "failed",
        None,
        t("2026-11-20T15:00:00Z"),
    )
    .await;
}

fn subscribe_summaries(app: &TestApp, service: &str) -> Value {
    json!([
        choice(app, "subscribe", "kind", "summaries"),
        {"name": "service", "type": 3, "value": service},
    ])
}

#[tokio::test]
async fn the_scheduled_summary_is_posted_once_with_its_chart_to_subscribed_channels_only() {
    // Every second, so the test need not wait for Monday; still one summary per channel and week.
    let app = TestApp::spawn_with(|c| {
        c.summaries.schedule = Schedule::parse("* * * * * *").unwrap();
    })
    .await;
    // Three deploys last week (whatever week that is now), one of them another service's.
    let last_week = Period::last_week(Utc::now(), chrono_tz::Tz::UTC);
    let monday = last_week.start();
    finished_deploy(
        &app,
        "checkout",
        "production",
        "succeeded",
        Some(monday),
        monday + chrono::Duration::hours(2),
    )
    .await;
    finished_deploy(
        &app,
        "checkout",
        "production",
        "rolled_back",
        None,
        monday + chrono::Duration::days(2),
    )
    .await;
    finished_deploy(
        &app,
        "payments",
        "production",
        "succeeded",
        None,
        monday + chrono::Duration::days(3),
    )
    .await;

    let answer = command(
        &app,
        OTHER_CHANNEL_ID,
        ADMIN_USER_ID,
        "subscribe",
        subscribe_summaries(&app, "checkout"),
    )
    .await;
    assert!(answer.to_string().contains("summaries"), "{answer}");

    assert!(
        app.discord
            .wait_for(PATIENCE, |d| !d.message_posts(OTHER_CHANNEL_ID).is_empty())
            .await,
        "no summary was posted"
    );
    // Several more schedule ticks: still exactly one post.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let posts = app.discord.message_posts(OTHER_CHANNEL_ID);
    assert_eq!(posts.len(), 1, "{posts:?}");
    let body = &posts[0].body;
    assert_eq!(
        body["_files"],
        json!(["summary.png"]),
        "multipart with the chart: {body}"
    );
    let embed = &body["embeds"][0];
    assert_eq!(embed["image"]["url"], "attachment://summary.png");
    let text = embed["description"].as_str().unwrap();
    // Only checkout (the channel's subscription): 2 deploys, 1 rolled back.
    assert!(text.contains("Deploys:** 2"), "{text}");
    assert!(text.contains("1 rolled back"), "{text}");
    assert!(text.contains("checkout/production"), "{text}");
    assert!(!text.contains("payments"), "{text}");
    assert!(text.contains("Change failure rate: 50.0%"), "{text}");
    assert_eq!(body["allowed_mentions"]["parse"], json!([]));
    // The attachment Discord stored is the PNG.
    // (The channel's first message is the answer to /subscribe.)
    let stored = app.discord.messages(OTHER_CHANNEL_ID);
    let summary = stored.last().unwrap();
    assert_eq!(
        summary["attachments"][0]["filename"], "summary.png",
        "{summary}"
    );
    assert_eq!(summary["attachments"][0]["content_type"], "image/png");
    assert!(summary["attachments"][0]["size"].as_u64().unwrap() > 1_000);
    // The default channel subscribed to nothing: no summary there.
    assert!(app.discord.message_posts(CHANNEL_ID).is_empty());
    let rows: i64 = sqlx::query_scalar("select count(*) from summary")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn slash_summary_answers_ephemerally_with_the_chart_unless_public() {
    let app = TestApp::spawn().await;
    seed_w47(&app).await;
    let custom = json!([
        choice(&app, "summary", "period", "custom"),
        {"name": "from", "type": 3, "value": "2026-11-16"},
        {"name": "to", "type": 3, "value": "2026-11-22"},
    ]);
    let answer = command(&app, CHANNEL_ID, PLAIN_USER_ID, "summary", custom.clone()).await;
    let data = &answer["data"];
    assert_eq!(
        data["flags"].as_u64().unwrap() & 64,
        64,
        "ephemeral: {answer}"
    );
    let text = data["embeds"][0]["description"].as_str().unwrap();
    assert!(text.contains("Deploys:** 3"), "{text}");
    assert!(text.contains("2 succeeded, 1 failed"), "{text}");
    assert!(
        text.contains("Lead time for changes (median): 2h 0m"),
        "{text}"
    );
    assert_eq!(answer["_files"], json!(["summary.png"]), "{answer}");
    // Nothing was posted in the channel for everyone.
    assert!(app.discord.message_posts(CHANNEL_ID).is_empty());

    let mut public = custom.as_array().unwrap().clone();
    public.push(json!({"name": "public", "type": 5, "value": true}));
    let answer = command(
        &app,
        CHANNEL_ID,
        PLAIN_USER_ID,
        "summary",
        Value::Array(public),
    )
    .await;
    assert_eq!(
        answer["data"]["flags"].as_u64().unwrap_or(0) & 64,
        0,
        "{answer}"
    );

    // A custom period without dates is refused, ephemerally.
    let answer = command(
        &app,
        CHANNEL_ID,
        PLAIN_USER_ID,
        "summary",
        json!([choice(&app, "summary", "period", "custom")]),
    )
    .await;
    assert_eq!(answer["data"]["flags"].as_u64().unwrap() & 64, 64);
    assert!(answer["data"]["content"]
        .as_str()
        .unwrap()
        .contains("needs both from and to"));

    let answer = command(&app, CHANNEL_ID, PLAIN_USER_ID, "metrics", json!([])).await;
    assert_eq!(answer["data"]["flags"].as_u64().unwrap() & 64, 64);
    assert!(answer["data"]["content"]
        .as_str()
        .unwrap()
        .contains("Deployment frequency"));
}

#[tokio::test]
async fn the_cli_prints_the_same_numbers_as_the_json_api() {
    let app = TestApp::spawn().await;
    seed_w47(&app).await;
    let api: Value = app
        .http
        .get(app.url("/api/v1/summary?week=2026-W47"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(api["deploys"]["total"], 3);
    assert_eq!(api["keys"]["lead_time"]["value"], 7_200.0);
    assert_eq!(api["keys"]["lead_time"]["p90"], 10_800.0);
    assert_eq!(api["keys"]["lead_time"]["deploys_lacking_commit_time"], 0);
    assert_eq!(api["keys"]["deployment_frequency"]["band"], "high");

    let db = crate::support::postgres::database_url(app.dir.path());
    let cli = |format: &'static str| {
        let db = db.clone();
        let dir = app.dir.path().to_owned();
        async move {
            let out = binary_command(&dir, &[("DATABASE_URL", db)])
                .args(["summary", "--week", "2026-W47", "--format", format])
                .output()
                .await
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        }
    };
    let json_out: Value = serde_json::from_str(&cli("json").await).unwrap();
    for key in [
        "period",
        "previous_period",
        "deploys",
        "services",
        "keys",
        "daily",
        "empty",
    ] {
        assert_eq!(json_out[key], api[key], "{key} differs");
    }
    let text = cli("text").await;
    assert!(text.contains("Deploys: 3"), "{text}");
    assert!(
        text.contains("Lead time for changes (median): 2h 0m"),
        "{text}"
    );
    // The failed job reached nothing: not a change failure, a deploy failure beside the rate.
    assert!(text.contains("Change failure rate: 0.0%"), "{text}");
    assert!(text.contains("1 deploy failure(s) beside it"), "{text}");
    let markdown = cli("markdown").await;
    assert!(
        markdown.starts_with("## Summary 2026-11-16 – 2026-11-22 (UTC)"),
        "{markdown}"
    );

    // Errors: the token is required; a malformed week names the field.
    let status = app
        .http
        .get(app.url("/api/v1/summary"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    let response = app
        .http
        .get(app.url("/api/v1/summary?week=soon"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let error: Value = response.json().await.unwrap();
    assert!(error["error"].as_str().unwrap().contains("week"), "{error}");
    let out = binary_command(app.dir.path(), &[("DATABASE_URL", db.clone())])
        .args(["summary", "--from", "2026-11-20", "--to", "2026-11-01"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("to: must not be before from"));
}

/// The real binary, killed and restarted twice while its schedule keeps firing: one summary.
#[tokio::test]
async fn restarts_of_the_real_binary_around_the_scheduled_time_post_one_summary() {
    use crate::support::app::BinaryApp;
    use fake_discord::FakeDiscord;

    let discord = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::postgres::database_url(dir.path());
    let migrated = binary_command(dir.path(), &[("DATABASE_URL", db.clone())])
        .arg("migrate")
        .output()
        .await
        .unwrap();
    assert!(migrated.status.success());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db).await.unwrap();
    sqlx::query(
        "insert into subscription (channel_id, kind, service_pattern, environment_pattern, created_at)
         values ($1, 'summaries', '*', '*', 0)",
    )
    .bind(OTHER_CHANNEL_ID as i64)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let env = [("LOOPBOT_SUMMARY_CRON", "* * * * * *".to_owned())];
    let bot = BinaryApp::serve_with_env(&discord, dir.path(), &env).await;
    assert!(
        discord
            .wait_for(PATIENCE, |d| !d.message_posts(OTHER_CHANNEL_ID).is_empty())
            .await,
        "no summary was posted"
    );
    bot.kill().await;
    for _ in 0..2 {
        let bot = BinaryApp::serve_with_env(&discord, dir.path(), &env).await;
        assert!(discord.wait_for_identify(PATIENCE).await);
        tokio::time::sleep(Duration::from_millis(2200)).await;
        bot.kill().await;
    }
    let posts = discord.message_posts(OTHER_CHANNEL_ID);
    assert_eq!(posts.len(), 1, "{posts:?}");
    // An empty week says so plainly.
    let text = posts[0].body["embeds"][0]["description"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("Nothing happened in this period"), "{text}");
    assert!(discord.message_posts(CHANNEL_ID).is_empty());
}

#[tokio::test]
async fn the_trend_shows_twelve_weeks_of_the_four_keys_in_json_text_and_metrics() {
    let app = TestApp::spawn().await;
    seed_w47(&app).await;
    // Two weeks earlier (W45): one production deploy, 30 minutes from commit.
    let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    finished_deploy(
        &app,
        "checkout",
        "production",
        "succeeded",
        Some(t("2026-11-04T09:00:00Z")),
        t("2026-11-04T09:30:00Z"),
    )
    .await;
    let api: Value = app
        .http
        .get(app.url("/api/v1/summary?week=2026-W47"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let weeks = api["trend"].as_array().expect("trend");
    assert_eq!(weeks.len(), 12, "{api}");
    assert_eq!(weeks[0]["from"], "2026-08-31");
    assert_eq!(weeks[11]["from"], "2026-11-16");
    assert_eq!(weeks[11]["to"], "2026-11-22");
    // The last week is the summary's own period: the same keys.
    assert_eq!(
        weeks[11]["lead_time_median"],
        api["keys"]["lead_time"]["value"]
    );
    assert_eq!(weeks[11]["lead_time_median"], 7_200.0);
    // DORA's definitions: the failed job never reached production, so it is neither a
    // production deploy nor a change failure.
    assert_eq!(weeks[11]["production_deploys"], 2);
    assert_eq!(weeks[11]["production_failures"], 0);
    assert_eq!(
        weeks[11]["change_failure_rate"],
        api["keys"]["change_failure_rate"]["value"]
    );
    assert_eq!(weeks[9]["from"], "2026-11-02");
    assert_eq!(weeks[9]["lead_time_median"], 1_800.0);
    assert_eq!(weeks[9]["deployment_frequency"], 1.0 / 7.0);
    assert_eq!(weeks[10]["production_deploys"], 0);
    assert_eq!(weeks[10]["lead_time_median"], Value::Null);
    assert_eq!(weeks[10]["change_failure_rate"], Value::Null);

    let db = crate::support::postgres::database_url(app.dir.path());
    let out = binary_command(app.dir.path(), &[("DATABASE_URL", db)])
        .args(["summary", "--week", "2026-W47", "--format", "text"])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Trend, 12 weeks (2026-08-31 – 2026-11-22; oldest first)"),
        "{text}"
    );
    assert!(
        text.contains("• Lead time (median): ·········▁·█ 30m 0s → 2h 0m"),
        "{text}"
    );
    assert!(
        text.contains("• Change failure rate: ") && text.contains("0.0% → 0.0%"),
        "{text}"
    );

    // /metrics: the trend ending last week, as long as asked, within 1 to 52 weeks.
    let last_week = Period::last_week(Utc::now(), chrono_tz::Tz::UTC);
    let two_weeks_before = last_week.start() - chrono::Duration::days(14);
    finished_deploy(
        &app,
        "billing",
        "production",
        "succeeded",
        Some(two_weeks_before),
        two_weeks_before + chrono::Duration::hours(2),
    )
    .await;
    let weeks_option = |n: i64| {
        json!([
            {"name": "service", "type": 3, "value": "billing"},
            {"name": "weeks", "type": 4, "value": n},
        ])
    };
    let answer = command(&app, CHANNEL_ID, PLAIN_USER_ID, "metrics", weeks_option(3)).await;
    let content = answer["data"]["content"].as_str().unwrap();
    assert!(content.contains("**Trend, 3 weeks"), "{content}");
    assert!(
        content.contains("• Lead time (median): `▄··` 2h 0m → 2h 0m"),
        "{content}"
    );
    let answer = command(&app, CHANNEL_ID, PLAIN_USER_ID, "metrics", json!([])).await;
    let content = answer["data"]["content"].as_str().unwrap();
    assert!(content.contains("**Trend, 12 weeks"), "{content}");
    for bad in [0, 53] {
        let answer = command(
            &app,
            CHANNEL_ID,
            PLAIN_USER_ID,
            "metrics",
            weeks_option(bad),
        )
        .await;
        assert_eq!(answer["data"]["flags"].as_u64().unwrap() & 64, 64);
        let content = answer["data"]["content"].as_str().unwrap();
        assert!(content.contains("between 1 and 52"), "{bad}: {content}");
    }
}
