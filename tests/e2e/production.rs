//! Production concerns: /metrics (parsed with a real exposition-format parser), graceful
//! shutdown on SIGTERM, online backups and restore, retention, JSON logs without secrets.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use fake_discord::{FakeDiscord, Fault, CHANNEL_ID};
use loopbot::domain::deploy::{DeployEvent, RawDeployEvent};
use loopbot::domain::ChannelId;
use loopbot::store::{Store, PRUNED_BODY};
use serde_json::{json, Value};

use crate::support::app::{
    binary_command, deploy, BinaryApp, TestApp, API_TOKEN, DISCORD_TOKEN, PATIENCE,
};

// ---------------------------------------------------------------- /metrics

async fn scrape(app: &TestApp) -> prometheus_parse::Scrape {
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.unwrap();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of `metric` summed over the samples whose labels include `labels`; for a
/// histogram, its observation count (the +Inf bucket).
fn value(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => buckets
                .iter()
                .find(|b| b.less_than.is_infinite())
                .map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn metrics_move_as_deploys_are_accepted_refused_and_delivered() {
    let app = TestApp::spawn_with(|c| {
        c.checkins.tick = Duration::from_millis(100);
        c.alerts.alertmanager_token = Some(loopbot::config::Secret::new("am-token"));
    })
    .await;
    let before = scrape(&app).await;
    assert_eq!(value(&before, "loopbot_gateway_connected", &[]), 1.0);
    assert_eq!(value(&before, "loopbot_outbox_pending", &[]), 0.0);
    assert!(value(&before, "loopbot_database_size_bytes", &[]) > 0.0);
    let accepted = [("source", "deploys"), ("outcome", "accepted")];
    assert_eq!(
        value(&before, "loopbot_inbound_events_total", &accepted),
        0.0
    );

    // Discord down: the deploy is accepted and waits in the outbox.
    app.discord.set_down(true);
    assert_eq!(app.post_deploy(&deploy(json!({}))).await.0, 202);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = scrape(&app).await;
    assert_eq!(
        value(&waiting, "loopbot_inbound_events_total", &accepted),
        1.0
    );
    assert_eq!(value(&waiting, "loopbot_outbox_pending", &[]), 1.0);
    assert!(value(&waiting, "loopbot_outbox_oldest_pending_age_seconds", &[]) >= 0.2);
    assert!(
        value(
            &waiting,
            "loopbot_discord_api_requests_total",
            &[("route", "create_message")]
        ) >= 1.0,
        "the failed attempts are counted"
    );

    // Discord back: delivered; latency observed; the queue is empty again.
    app.discord.set_down(false);
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 1)
            .await
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The same event again, and one with a wrong token.
    assert_eq!(
        app.post_deploy(&deploy(json!({}))).await.1["duplicate"],
        true
    );
    let refused = app
        .http
        .post(app.url("/api/v1/deploys"))
        .bearer_auth("wrong")
        .json(&deploy(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // The succeeded production deploy schedules check-ins.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while app
        .count("checkin where state in ('scheduled', 'open')")
        .await
        == 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no check-in scheduled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let checkins = app
        .count("checkin where state in ('scheduled', 'open')")
        .await;

    let after = scrape(&app).await;
    assert_eq!(
        value(&after, "loopbot_checkins_pending", &[]),
        checkins as f64
    );
    assert_eq!(value(&after, "loopbot_outbox_pending", &[]), 0.0);
    assert_eq!(
        value(&after, "loopbot_outbox_oldest_pending_age_seconds", &[]),
        0.0
    );
    assert_eq!(
        value(
            &after,
            "loopbot_discord_api_requests_total",
            &[("route", "create_message"), ("status", "200")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "loopbot_delivery_latency_seconds",
            &[("kind", "post")]
        ),
        1.0
    );
    assert_eq!(
        value(&after, "loopbot_inbound_events_total", &accepted),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "loopbot_inbound_events_total",
            &[("source", "deploys"), ("outcome", "duplicate")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "loopbot_inbound_events_total",
            &[("source", "deploys"), ("outcome", "rejected")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "loopbot_http_request_duration_seconds",
            &[("route", "/api/v1/deploys"), ("status", "202")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &after,
            "loopbot_http_request_duration_seconds",
            &[("route", "/api/v1/deploys"), ("status", "401")]
        ),
        1.0
    );
    // The summary feature's hook exists before any summary.
    assert_eq!(
        value(&after, "loopbot_last_summary_timestamp_seconds", &[]),
        0.0
    );
    assert!(value(&after, "loopbot_retention_last_run_timestamp_seconds", &[]) > 0.0);

    // An alert: the generic API accepts one, Alertmanager's hook refuses a wrong token.
    // A warning: a critical one would open an incident, whose thread posts too.
    let alert = json!({"service": "checkout", "name": "PaymentsFailing", "severity": "warning",
                       "status": "firing", "id": "metrics-1"});
    let sent = app
        .http
        .post(app.url("/api/v1/alerts"))
        .bearer_auth(API_TOKEN)
        .json(&alert)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    let refused = app
        .http
        .post(app.url("/hooks/alertmanager"))
        .bearer_auth("not-the-token")
        .json(&json!({"version": "4", "alerts": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 2)
            .await,
        "the alert was not posted"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let alerted = scrape(&app).await;
    assert_eq!(
        value(
            &alerted,
            "loopbot_inbound_events_total",
            &[("source", "alerts"), ("outcome", "accepted")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &alerted,
            "loopbot_inbound_events_total",
            &[("source", "alertmanager"), ("outcome", "rejected")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &alerted,
            "loopbot_discord_api_requests_total",
            &[("route", "create_message"), ("status", "200")]
        ),
        2.0
    );
    assert_eq!(value(&alerted, "loopbot_outbox_pending", &[]), 0.0);
}

// ---------------------------------------------------------------- graceful shutdown

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

fn wal_is_empty(dir: &Path) -> bool {
    // PostgreSQL has no WAL file of the bot's to checkpoint.
    crate::support::postgres::on_postgres()
        || std::fs::metadata(dir.join("loopbot.db-wal")).map_or(true, |m| m.len() == 0)
}

#[tokio::test]
async fn sigterm_during_a_burst_of_50_deploys_loses_and_duplicates_nothing() {
    let discord = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bot = BinaryApp::serve_with_env(
        &discord,
        dir.path(),
        &[("LOOPBOT_SHUTDOWN_GRACE", "1s".to_owned())],
    )
    .await;
    // Discord answers slowly, so the grace period ends with deliveries still pending.
    discord.fail_next(1000, Fault::Slow(Duration::from_millis(60)));

    let addr = bot.addr;
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut senders = Vec::new();
    for n in 0..50 {
        let answered = answered.clone();
        senders.push(tokio::spawn(async move {
            // Spread over a second: on PostgreSQL the first answers come later (a new pool), and
            // the signal must still land with most of the burst unsent.
            tokio::time::sleep(Duration::from_millis(20 * n)).await;
            let response = reqwest::Client::new()
                .post(format!("http://{addr}/api/v1/deploys"))
                .bearer_auth(API_TOKEN)
                .json(&deploy(json!({"version": format!("v{n}")})))
                .send()
                .await;
            answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            (n, response.map(|r| r.status().as_u16()).unwrap_or(0))
        }));
    }
    // Mid-burst: some answered, most still to come.
    while answered.load(std::sync::atomic::Ordering::SeqCst) < 10 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (status, log) = bot.terminate().await;
    let mut accepted = Vec::new();
    for sender in senders {
        let (n, status) = sender.await.unwrap();
        if status == 202 {
            accepted.push(format!("v{n}"));
        }
    }
    assert!(status.success(), "exit status {status:?}; log: {log:#?}");
    assert!(
        !accepted.is_empty() && accepted.len() < 50,
        "the signal should land mid-burst; accepted {}",
        accepted.len()
    );
    assert!(log.iter().any(|l| l.contains("shutting down")), "{log:#?}");
    assert!(wal_is_empty(dir.path()), "the WAL was checkpointed at exit");

    let before_restart = discord.message_posts(CHANNEL_ID).len();
    eprintln!(
        "accepted {} of 50; {before_restart} posted before the restart",
        accepted.len()
    );
    // Whatever the grace period left goes out on the next start, exactly once.
    discord.fail_next(0, Fault::Status(500));
    let bot = BinaryApp::serve(&discord, dir.path()).await;
    let all_announced = discord
        .wait_for(Duration::from_secs(30), |d| {
            let seen = announcements_by_version(d);
            accepted.iter().all(|v| seen.contains_key(v))
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = announcements_by_version(&discord);
    assert!(all_announced, "accepted {accepted:?}, announced {seen:?}");
    for version in &accepted {
        assert_eq!(
            seen[version], 1,
            "{version} announced {} times",
            seen[version]
        );
    }
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    let (status, _) = bot.terminate().await;
    assert!(status.success());
}

// ---------------------------------------------------------------- backup and restore

async fn open(path: &Path) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

async fn scalar(pool: &sqlx::AnyPool, sql: &str) -> i64 {
    sqlx::query_scalar(&loopbot::store::numbered(sql))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_backup_taken_during_writes_is_a_valid_database_with_the_rows_accepted_before_it() {
    if crate::support::postgres::on_postgres() {
        // `loopbot backup` copies SQLite; on PostgreSQL it says to use pg_dump, and writes nothing.
        let dir = tempfile::tempdir().unwrap();
        let url = crate::support::postgres::database_url(dir.path())
            .replace("postgres@", "postgres:pw-SECRET-9@");
        for command in ["backup", "restore"] {
            let out = binary_command(dir.path(), &[("DATABASE_URL", url.clone())])
                .args([command, "copy.db"])
                .output()
                .await
                .unwrap();
            let said = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{command}: {said}");
            assert!(
                said.contains("pg_dump") || said.contains("pg_restore"),
                "{said}"
            );
            assert!(!said.contains("pw-SECRET-9"), "{said}");
        }
        assert!(!dir.path().join("copy.db").exists());
        return;
    }
    let app = TestApp::spawn().await;
    let database_url = format!("sqlite://{}", app.dir.path().join("loopbot.db").display());
    let backup = app.dir.path().join("backup.db");
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));

    let writer = {
        let url = app.url("/api/v1/deploys");
        let accepted = accepted.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            for n in 0..150 {
                let status = http
                    .post(&url)
                    .bearer_auth(API_TOKEN)
                    .json(&deploy(json!({"version": format!("v{n}")})))
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status, 202);
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        })
    };
    while accepted.load(std::sync::atomic::Ordering::SeqCst) < 15 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before = accepted.load(std::sync::atomic::Ordering::SeqCst) as i64;
    let output = binary_command(app.dir.path(), &[("DATABASE_URL", database_url.clone())])
        .arg("backup")
        .arg(&backup)
        .output()
        .await
        .unwrap();
    let after = accepted.load(std::sync::atomic::Ordering::SeqCst) as i64;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    writer.await.unwrap();
    assert!(
        after < 60,
        "the backup should run while the writer is still writing"
    );

    let copy = open(&backup).await;
    let check: String = sqlx::query_scalar("pragma integrity_check")
        .fetch_one(&copy)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let deploys = scalar(&copy, "select count(*) from deploy").await;
    assert!(
        (before..=after + 1).contains(&deploys),
        "{deploys} deploys; {before} accepted before the backup, {after} after"
    );
    // A snapshot: every deploy in it came with its raw event and its outbox row.
    assert_eq!(
        scalar(&copy, "select count(*) from inbound_event").await,
        deploys
    );
    assert_eq!(scalar(&copy, "select count(*) from outbox").await, deploys);
    let orphans = scalar(
        &copy,
        "select count(*) from deploy d where not exists
           (select 1 from message m where m.subject_kind = 'deploy' and m.subject_id = d.id)",
    )
    .await;
    assert_eq!(orphans, 0);
    copy.close().await;

    // A backup never overwrites a file.
    let again = binary_command(app.dir.path(), &[("DATABASE_URL", database_url)])
        .arg("backup")
        .arg(&backup)
        .output()
        .await
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // Restore into a fresh database file: the same rows.
    let restored = app.dir.path().join("restored.db");
    let output = binary_command(
        app.dir.path(),
        &[("DATABASE_URL", format!("sqlite://{}", restored.display()))],
    )
    .arg("restore")
    .arg(&backup)
    .output()
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let restored = open(&restored).await;
    assert_eq!(
        scalar(&restored, "select count(*) from deploy").await,
        deploys
    );

    // Restore refuses a file that is not a loopbot database.
    let junk = app.dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, just bytes").unwrap();
    let output = binary_command(
        app.dir.path(),
        &[(
            "DATABASE_URL",
            format!("sqlite://{}", app.dir.path().join("x.db").display()),
        )],
    )
    .arg("restore")
    .arg(&junk)
    .output()
    .await
    .unwrap();
    assert!(!output.status.success());
    assert!(!app.dir.path().join("x.db").exists());
}

// ---------------------------------------------------------------- retention

fn event(version: &str, status: &str) -> DeployEvent {
    let raw: RawDeployEvent = serde_json::from_value(json!({
        "id": version, "service": "checkout", "version": version,
        "environment": "production", "status": status,
    }))
    .unwrap();
    DeployEvent::parse(&raw).unwrap()
}

async fn record(store: &Store, version: &str, status: &str, at: DateTime<Utc>) -> i64 {
    let body = format!(r#"{{"version":"{version}","status":"{status}"}}"#);
    store
        .record_deploy(
            "api",
            &body,
            &event(version, status),
            Some(ChannelId(CHANNEL_ID)),
            at,
        )
        .await
        .unwrap()
        .deploy_id
}

#[tokio::test]
async fn retention_removes_old_rows_and_payloads_and_keeps_the_summary_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("r.db").display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
    let days = |n: i64| now - chrono::Duration::days(n);

    // 500 days old and delivered: everything about it goes.
    let gone = record(&store, "v-gone", "succeeded", days(500)).await;
    let delivery = store.next_delivery(days(500)).await.unwrap().unwrap();
    store
        .delivery_sent(&delivery, 9_000_001, days(500))
        .await
        .unwrap();
    // 450 days old, still pending (Discord has refused to take it so far): kept, body pruned.
    let pending = record(&store, "v-pending", "failed", days(450)).await;
    // Created 500 days ago, updated 5 days ago: kept; only the old event's body goes.
    let revived = record(&store, "v-revived", "started", days(500)).await;
    record(&store, "v-revived", "succeeded", days(5)).await;
    // 100 days old: inside 400 days.
    let recent = record(&store, "v-recent", "succeeded", days(100)).await;

    let pruned = loopbot::production::prune(&store, now, 400).await;
    assert_eq!(pruned.failures().count(), 0, "{pruned:?}");
    let db = store.pool();
    let deploys: Vec<i64> = sqlx::query_scalar("select id from deploy order by id")
        .fetch_all(db)
        .await
        .unwrap();
    assert_eq!(deploys, vec![pending, revived, recent], "{pruned:?}");
    assert_eq!(pruned.rows("deploy"), 1);
    assert_eq!(
        scalar(
            db,
            &format!("select count(*) from deploy_status_change where deploy_id = {gone}")
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            db,
            &format!("select count(*) from message where subject_id = {gone}")
        )
        .await,
        0
    );
    assert_eq!(
        scalar(db, "select count(*) from outbox where state = 'sent'").await,
        0
    );
    // The pending delivery is untouched.
    assert_eq!(
        scalar(db, "select count(*) from outbox where state = 'pending'").await,
        4
    );
    // Raw events older than 400 days are deleted (the kept deploys' status changes let go of
    // them), newer ones kept verbatim.
    let bodies: Vec<(String, i64)> =
        sqlx::query_as("select body, received_at from inbound_event order by id")
            .fetch_all(db)
            .await
            .unwrap();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    for (body, received_at) in &bodies {
        assert!(*received_at >= days(400).timestamp_millis());
        assert_ne!(body, PRUNED_BODY);
    }
    assert!(bodies.iter().any(|(b, _)| b.contains("v-recent")));
    assert_eq!(
        scalar(
            db,
            &format!("select count(*) from deploy_status_change where deploy_id = {pending} and event_id is null")
        )
        .await,
        1,
        "the kept deploy keeps its history, without the pruned event"
    );

    // Running again changes nothing; a shorter retention still keeps the comparison window.
    let again = loopbot::production::prune(&store, now, 400).await;
    assert_eq!(
        (again.total(), again.failures().count()),
        (0, 0),
        "{again:?}"
    );
    let within_window = record(&store, "v-window", "succeeded", days(40)).await;
    loopbot::production::prune(&store, now, loopbot::config::MIN_RETENTION_DAYS).await;
    let kept: Vec<i64> = sqlx::query_scalar("select id from deploy order by id")
        .fetch_all(db)
        .await
        .unwrap();
    assert!(
        kept.contains(&within_window) && kept.contains(&revived),
        "{kept:?}"
    );
}

// ---------------------------------------------------------------- logs

#[tokio::test]
async fn json_logs_carry_span_fields_and_never_a_secret() {
    let discord = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bot = BinaryApp::serve(&discord, dir.path()).await;
    let (status, body) = bot.post_deploy(&deploy(json!({"id": "run-7"}))).await;
    assert_eq!(status, 202);
    let deploy_id = body["deploy_id"].as_i64().unwrap();
    let refused = reqwest::Client::new()
        .post(format!("http://{}/api/v1/deploys", bot.addr))
        .bearer_auth(format!("{API_TOKEN}-wrong"))
        .json(&deploy(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(
        discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 1)
            .await
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, log) = bot.terminate().await;
    assert!(status.success());

    let lines: Vec<Value> = log
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let accepted = lines
        .iter()
        .find(|l| l["message"] == "deploy event accepted")
        .expect("the accepted deploy is logged");
    let spans = accepted["spans"].as_array().unwrap();
    assert!(spans
        .iter()
        .any(|s| s["request_id"].as_str().is_some_and(|id| id.len() == 16)));
    assert!(
        spans.iter().any(|s| s["deploy_id"] == deploy_id),
        "{accepted}"
    );
    let delivered = lines
        .iter()
        .find(|l| l["message"] == "delivered")
        .expect("the delivery is logged");
    assert_eq!(delivered["span"]["channel_id"], CHANNEL_ID, "{delivered}");
    assert_eq!(delivered["span"]["deploy_id"], deploy_id, "{delivered}");

    for line in &log {
        assert!(
            !line.contains(DISCORD_TOKEN),
            "the bot token leaked: {line}"
        );
        assert!(!line.contains(API_TOKEN), "the API token leaked: {line}");
    }
}
