//! Retention on the real application (issue 15): a first round of activity (a release with its
//! check-in and a vote, a critical API alert blaming it with an incident and called noise, a storm folded into a
//! digest) is moved 500 days into the past; a second round stays recent. The application restarts,
//! its retention job runs at start, and every table holds exactly the recent round (plus whatever
//! the restart adds), with the summary of the recent days unchanged.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use fake_discord::{CHANNEL_ID, PLAIN_USER_ID};
use loopbot::config::Config;
use serde_json::{json, Value};

use crate::support::app::{deploy, TestApp, API_TOKEN, PATIENCE};

/// The tables the first round writes to, all of which retention prunes.
const TABLES: &[&str] = &[
    "inbound_event",
    "deploy",
    "deploy_status_change",
    "checkin",
    "feedback",
    "alert_group",
    "alert",
    "alert_state_change",
    "incident",
    "alert_deploy_link",
    "alert_vote",
    "digest",
    "message",
    "outbox",
];

const DAY_MS: i64 = 86_400_000;

fn settings(config: &mut Config) {
    config.checkins.delays = vec![Duration::from_millis(100)];
    config.checkins.close_after = Duration::from_millis(1500);
    config.checkins.tick = Duration::from_millis(50);
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(&loopbot::store::numbered(sql))
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn wait_until(app: &TestApp, what: &str, sql: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while scalar(app, sql).await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Every row id of each table (a vote's group: votes have no id of their own).
async fn snapshot(app: &TestApp) -> BTreeMap<&'static str, Vec<i64>> {
    let mut all = BTreeMap::new();
    for table in TABLES {
        let key = if *table == "alert_vote" {
            "group_id"
        } else {
            "id"
        };
        let ids: Vec<i64> =
            sqlx::query_scalar(&format!("select {key} from {table} order by {key}"))
                .fetch_all(&app.db)
                .await
                .unwrap();
        all.insert(*table, ids);
    }
    all
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

fn alert(service: &str, name: &str, severity: &str, status: &str) -> Value {
    json!({"service": service, "environment": "production", "name": name,
           "severity": severity, "status": status, "id": format!("{service}-{name}")})
}

/// A release, its check-in answered with a vote and closed, and a critical alert after it
/// (linked to it, an incident blaming it), delivered.
async fn release_with_incident(app: &TestApp, version: &str, resolve: bool) {
    let (status, body) = app
        .post_deploy(&deploy(json!({"version": version, "id": version})))
        .await;
    assert_eq!(status, 202, "{body}");
    let deploy_id = body["deploy_id"].as_i64().unwrap();
    wait_until(
        app,
        "the check-in is asked",
        &format!(
            "select count(*) from checkin where deploy_id = {deploy_id} and message_id is not null"
        ),
    )
    .await;
    let (checkin, message): (i64, i64) = sqlx::query_as(&loopbot::store::numbered(&format!(
        "select id, message_id from checkin where deploy_id = {deploy_id}"
    )))
    .fetch_one(&app.db)
    .await
    .unwrap();
    app.discord
        .send_component_interaction(
            CHANNEL_ID,
            PLAIN_USER_ID,
            message as u64,
            &format!("checkin:vote:{checkin}:good"),
        )
        .await;
    wait_until(
        app,
        "the vote is stored",
        &format!("select count(*) from feedback where checkin_id = {checkin}"),
    )
    .await;
    wait_until(
        app,
        "the check-in closes",
        &format!("select count(*) from checkin where id = {checkin} and state = 'closed'"),
    )
    .await;

    post_alert(app, alert("checkout", "CheckoutDown", "critical", "firing")).await;
    wait_until(
        app,
        "the incident blames the release",
        &format!("select count(*) from incident where deploy_id = {deploy_id}"),
    )
    .await;
    // Someone calls the alert noise on its message.
    let shown = format!(
        "from incident i join message m on m.subject_kind = 'alert_group' and m.subject_id = i.group_id
         where i.deploy_id = {deploy_id} and m.discord_message_id is not null"
    );
    wait_until(
        app,
        "the alert is posted",
        &format!("select count(*) {shown}"),
    )
    .await;
    let (group, message): (i64, i64) = sqlx::query_as(&loopbot::store::numbered(&format!(
        "select i.group_id, m.discord_message_id {shown}"
    )))
    .fetch_one(&app.db)
    .await
    .unwrap();
    app.discord
        .send_component_interaction(
            CHANNEL_ID,
            PLAIN_USER_ID,
            message as u64,
            &format!("alerts:vote:{group}:noise"),
        )
        .await;
    wait_until(
        app,
        "the noise vote is stored",
        &format!("select count(*) from alert_vote where group_id = {group}"),
    )
    .await;
    if resolve {
        post_alert(
            app,
            alert("checkout", "CheckoutDown", "critical", "resolved"),
        )
        .await;
        wait_until(
            app,
            "the incident is resolved",
            &format!("select count(*) from incident where deploy_id = {deploy_id} and resolved_at is not null"),
        )
        .await;
    }
}

async fn wait_delivered(app: &TestApp) {
    wait_until(
        app,
        "everything is delivered",
        "select case when count(*) = 0 then 1 else 0 end from outbox where state = 'pending'",
    )
    .await;
}

async fn summary(app: &TestApp) -> Value {
    let today = Utc::now().date_naive();
    let from = today - chrono::Days::new(6);
    let response = app
        .http
        .get(app.url(&format!("/api/v1/summary?from={from}&to={today}")))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut summary: Value = response.json().await.unwrap();
    // When it was computed is the one field that may differ between two identical summaries.
    summary["generated_at"].take();
    summary
}

async fn metrics(app: &TestApp) -> String {
    app.http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn retention_prunes_a_past_year_of_incidents_alerts_digests_and_checkins_and_keeps_the_recent_summary(
) {
    let app = TestApp::spawn_with(settings).await;

    // The first round.
    release_with_incident(&app, "v1.0.0", true).await;
    // A storm while Discord is down: seven alerts wait for their first post and are folded
    // into one digest when Discord answers again; then they all resolve.
    app.discord.set_down(true);
    for i in 0..7 {
        post_alert(
            &app,
            alert(&format!("svc-{i}"), "DiskFull", "warning", "firing"),
        )
        .await;
    }
    app.discord.set_down(false);
    wait_until(
        &app,
        "the digest is posted",
        "select count(*) from digest where discord_message_id is not null",
    )
    .await;
    for i in 0..7 {
        post_alert(
            &app,
            alert(&format!("svc-{i}"), "DiskFull", "warning", "resolved"),
        )
        .await;
    }
    wait_until(
        &app,
        "the storm is resolved",
        "select case when count(*) = 0 then 1 else 0 end from alert_group where status = 'firing'",
    )
    .await;
    wait_delivered(&app).await;

    // 500 days ago: every time of every row written so far.
    let old = snapshot(&app).await;
    for table in TABLES.iter().copied().chain(["deploy_latest_success"]) {
        let columns_sql = if crate::support::postgres::on_postgres() {
            format!(
                "select column_name::text from information_schema.columns
                 where table_name = '{table}' and column_name like '%\\_at' escape '\\'"
            )
        } else {
            format!("select name from pragma_table_info('{table}') where name like '%\\_at' escape '\\'")
        };
        let columns: Vec<String> = sqlx::query_scalar(&columns_sql)
            .fetch_all(&app.db)
            .await
            .unwrap();
        for column in columns {
            sqlx::query(&loopbot::store::numbered(&format!(
                "update {table} set {column} = {column} - {} where {column} is not null",
                500 * DAY_MS
            )))
            .execute(&app.db)
            .await
            .unwrap();
        }
    }
    for table in [
        "incident",
        "digest",
        "checkin",
        "feedback",
        "alert_state_change",
        "alert_vote",
    ] {
        assert!(!old[table].is_empty(), "the first round wrote no {table}");
    }

    // The second round, recent: a release, its check-in and vote, an incident still open.
    release_with_incident(&app, "v2.0.0", false).await;
    wait_delivered(&app).await;
    let before = snapshot(&app).await;
    let recent_summary = summary(&app).await;
    assert_eq!(
        recent_summary["deploys"]["total"], 1,
        "only the recent release counts: {recent_summary}"
    );

    // Restart: the retention job runs at start.
    let (discord, dir) = app.stop().await;
    let app = TestApp::spawn_on(discord, dir, settings).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let text = metrics(&app).await;
        if text.contains("loopbot_retention_rows_total{table=\"digest\"}") {
            assert!(
                !text.lines().any(
                    |l| l.starts_with("loopbot_retention_failures_total") && !l.ends_with(" 0")
                ),
                "a table failed:\n{text}"
            );
            assert!(
                text.contains("loopbot_retention_rows_total{table=\"incident\"} 1"),
                "{text}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "retention never ran:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let after = snapshot(&app).await;
    for table in TABLES {
        let recent: Vec<i64> = before[table]
            .iter()
            .copied()
            .filter(|id| !old[table].contains(id))
            .collect();
        let kept_old: Vec<i64> = after[table]
            .iter()
            .copied()
            .filter(|id| old[table].contains(id))
            .collect();
        assert_eq!(
            kept_old,
            Vec::<i64>::new(),
            "{table}: the old round is gone"
        );
        assert!(
            recent.iter().all(|id| after[table].contains(id)),
            "{table}: the recent round is kept: {recent:?} vs {:?}",
            after[table]
        );
    }
    assert_eq!(summary(&app).await, recent_summary);
    // The open incident and the release it blames are still there.
    assert_eq!(
        scalar(&app, "select count(*) from incident i join deploy d on d.id = i.deploy_id where i.resolved_at is null").await,
        1
    );
}
