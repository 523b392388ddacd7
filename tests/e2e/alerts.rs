//! Alerts (issue 3): a real Prometheus Alertmanager, Grafana payloads, the generic alert API,
//! buttons, deploy correlation and mentions, through the local Discord.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use fake_discord::{CHANNEL_ID, GUILD_ID, MANAGE_MESSAGES, PLAIN_PERMISSIONS, PLAIN_USER_ID};
use serde_json::{json, Value};

use crate::support::app::{TestApp, API_TOKEN, PATIENCE};
use loopbot::config::Secret;

pub(crate) const AM_TOKEN: &str = "am-token-0123456789";
pub(crate) const GRAFANA_TOKEN: &str = "grafana-token-0123456789";
pub(crate) const GRAFANA_SECRET: &str = "grafana-hmac-secret";
const AM_BINARY: &str = "/usr/bin/prometheus-alertmanager";

// ---------- a real Alertmanager on loopback ----------

struct Alertmanager {
    child: tokio::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts Alertmanager with a route to `webhook` (fast group timers) and waits until it is ready.
/// Panics when the program is missing: CI installs it (.ci/run), so absence is a failure.
async fn start_alertmanager(webhook: &str, repeat_interval: &str) -> Alertmanager {
    assert!(
        Path::new(AM_BINARY).exists(),
        "{AM_BINARY} is missing: install it with `apt-get install -y --no-install-recommends \
         prometheus-alertmanager` (.ci/run does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = format!(
        r#"route:
  receiver: loopbot
  group_by: [alertname]
  group_wait: 200ms
  group_interval: 500ms
  repeat_interval: {repeat_interval}
receivers:
  - name: loopbot
    webhook_configs:
      - url: "{webhook}"
        send_resolved: true
        http_config:
          authorization:
            credentials: "{AM_TOKEN}"
"#
    );
    let config_path: PathBuf = dir.path().join("alertmanager.yml");
    std::fs::write(&config_path, config).unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let child = tokio::process::Command::new(AM_BINARY)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg(format!("--web.external-url={url}"))
        .arg("--log.level=warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus-alertmanager starts");
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Ok(r) = http.get(format!("{url}/-/ready")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Alertmanager never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Alertmanager {
        child,
        url,
        _dir: dir,
    }
}

impl Alertmanager {
    /// Fires (ends_in None) or resolves (ends_at now) one alert through Alertmanager's own API.
    async fn post_alert(&self, labels: Value, annotations: Value, resolve: bool) {
        let mut alert = json!({
            "labels": labels,
            "annotations": annotations,
            "generatorURL": "http://prometheus.example.com/graph?g0.expr=up",
        });
        if resolve {
            alert["endsAt"] = json!(Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true));
        }
        let r = reqwest::Client::new()
            .post(format!("{}/api/v2/alerts", self.url))
            .json(&json!([alert]))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    async fn silences(&self) -> Vec<Value> {
        reqwest::Client::new()
            .get(format!("{}/api/v2/silences", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

pub(crate) async fn spawn_with_alertmanager(am_url: Option<String>) -> TestApp {
    TestApp::spawn_with(|c| {
        c.alerts.alertmanager_token = Some(Secret::new(AM_TOKEN));
        c.alerts.alertmanager_url = am_url;
        c.alerts.grafana_token = Some(Secret::new(GRAFANA_TOKEN));
        c.alerts.grafana_webhook_secret = Some(Secret::new(GRAFANA_SECRET));
    })
    .await
}

pub(crate) fn text_of(message: &Value) -> String {
    format!("{}\n{}", message["content"], message["embeds"])
}

pub(crate) fn only_message(app: &TestApp) -> Value {
    let messages = app.discord.messages(CHANNEL_ID);
    assert_eq!(messages.len(), 1, "{messages:#?}");
    messages[0].clone()
}

pub(crate) fn message_id(message: &Value) -> u64 {
    message["id"].as_str().unwrap().parse().unwrap()
}

pub(crate) async fn wait_text(app: &TestApp, what: &str, f: impl Fn(&str) -> bool) {
    let ok = app
        .discord
        .wait_for(PATIENCE, |d| {
            d.messages(CHANNEL_ID).iter().any(|m| f(&text_of(m)))
        })
        .await;
    assert!(
        ok,
        "{what}; messages: {:#?}",
        app.discord
            .messages(CHANNEL_ID)
            .iter()
            .map(text_of)
            .collect::<Vec<_>>()
    );
}

pub(crate) fn only_alert(app: &TestApp, containing: &str) -> Value {
    app.discord
        .messages(CHANNEL_ID)
        .into_iter()
        .find(|m| text_of(m).contains(containing))
        .unwrap()
}

pub(crate) async fn scalar_i64(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(&loopbot::store::numbered(sql))
        .fetch_one(&app.db)
        .await
        .unwrap()
}

pub(crate) fn custom_ids(message: &Value) -> Vec<String> {
    message["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["custom_id"].as_str().map(str::to_owned))
        .collect()
}

/// Bob presses a button as a responder: with no LOOPBOT_RESPONDER_ROLES configured, Manage
/// Messages in the channel makes him one (tests/e2e/trust.rs covers who may not).
pub(crate) async fn press(app: &TestApp, message: u64, custom_id: &str) -> Value {
    app.wait_message_known(message).await;
    app.discord.set_member(
        GUILD_ID,
        PLAIN_USER_ID,
        &[],
        PLAIN_PERMISSIONS | MANAGE_MESSAGES,
    );
    let id = app
        .discord
        .send_component_interaction(CHANNEL_ID, PLAIN_USER_ID, message, custom_id)
        .await;
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| !d.interaction_responses(id).is_empty())
            .await,
        "the button {custom_id} got no answer"
    );
    app.discord.interaction_responses(id)[0].clone()
}

// ---------- the tests ----------

#[tokio::test]
async fn a_real_alertmanager_group_is_one_message_resolved_in_place_without_repeats() {
    let app = spawn_with_alertmanager(None).await;
    // repeat_interval 1s: Alertmanager re-sends the unchanged group while the test watches.
    let am = start_alertmanager(&app.url("/hooks/alertmanager"), "1s").await;
    let labels = |instance: &str| {
        json!({"alertname": "HighLatency", "service": "checkout", "severity": "warning",
               "instance": instance, "team": "payments"})
    };
    let annotations = json!({"summary": "p99 latency above 2s",
                             "runbook_url": "https://runbooks.example.com/latency"});
    am.post_alert(labels("web-1:9090"), annotations.clone(), false)
        .await;
    am.post_alert(labels("web-2:9090"), annotations.clone(), false)
        .await;

    wait_text(&app, "one message listing both alerts", |t| {
        t.contains("web-1:9090") && t.contains("web-2:9090")
    })
    .await;
    let first = only_message(&app);
    let text = text_of(&first);
    assert!(text.contains("HighLatency"), "{text}");
    assert!(text.contains("Firing: 2 of 2"), "{text}");
    assert!(text.contains("runbooks.example.com/latency"), "{text}");
    assert!(
        text.contains("team=payments"),
        "folded labels shown: {text}"
    );
    assert_eq!(app.discord.message_posts(CHANNEL_ID).len(), 1);

    // A repeat notification (same group, nothing new) changes nothing visible.
    let events_before = scalar_i64(
        &app,
        "select count(*) from inbound_event where source = 'alertmanager'",
    )
    .await;
    let edits_before = app.discord.message_edits(CHANNEL_ID).len();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while scalar_i64(
        &app,
        "select count(*) from inbound_event where source = 'alertmanager'",
    )
    .await
        < events_before + 1
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Alertmanager never repeated"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.discord.message_posts(CHANNEL_ID).len(), 1);
    assert_eq!(app.discord.message_edits(CHANNEL_ID).len(), edits_before);

    // Resolve one: the same message shows one resolved, one firing.
    am.post_alert(labels("web-1:9090"), annotations.clone(), true)
        .await;
    wait_text(&app, "one resolved, one firing", |t| {
        t.contains("Firing: 1 of 2") && t.contains("~~HighLatency~~")
    })
    .await;
    assert_eq!(
        scalar_i64(&app, "select count(*) from alert where status = 'resolved'").await,
        1
    );

    // Resolve the other: the same message is edited to resolved, with how long it lasted.
    am.post_alert(labels("web-2:9090"), annotations.clone(), true)
        .await;
    wait_text(&app, "the group resolved with a duration", |t| {
        t.contains("RESOLVED") && t.contains("Resolved after")
    })
    .await;
    let last = only_message(&app);
    assert_eq!(message_id(&last), message_id(&first), "edited in place");
    assert!(
        custom_ids(&last)
            .iter()
            .all(|c| c.starts_with("alerts:vote:")),
        "only the noise votes once resolved: {:?}",
        custom_ids(&last)
    );
    assert_eq!(app.discord.message_posts(CHANNEL_ID).len(), 1);
    assert_eq!(
        scalar_i64(&app, "select count(*) from alert_group where status = 'resolved' and resolved_at is not null").await,
        1
    );
    assert_eq!(
        scalar_i64(
            &app,
            "select count(*) from alert_state_change where state = 'resolved'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn silence_1h_creates_a_silence_in_a_real_alertmanager() {
    // The bot needs Alertmanager's URL and Alertmanager the bot's: choose the bot's port first.
    let bot_port = free_port();
    let am = start_alertmanager(
        &format!("http://127.0.0.1:{bot_port}/hooks/alertmanager"),
        "1h",
    )
    .await;
    let am_url = am.url.clone();
    let app = TestApp::spawn_with(|c| {
        c.http_addr = format!("127.0.0.1:{bot_port}").parse().unwrap();
        c.alerts.alertmanager_token = Some(Secret::new(AM_TOKEN));
        c.alerts.alertmanager_url = Some(am_url);
    })
    .await;
    let am2 = am;
    am2.post_alert(
        json!({"alertname": "DiskFull", "service": "db", "severity": "critical"}),
        json!({"summary": "disk 99% full"}),
        false,
    )
    .await;
    wait_text(&app, "the alert is posted", |t| t.contains("DiskFull")).await;
    let message = only_message(&app);
    let silence = custom_ids(&message)
        .into_iter()
        .find(|c| c.starts_with("alerts:silence:"))
        .expect("a Silence 1h button");

    let answer = press(&app, message_id(&message), &silence).await;
    assert_eq!(answer["data"]["flags"], 64, "ephemeral: {answer}");
    assert!(
        answer["data"]["content"]
            .as_str()
            .unwrap()
            .contains("Silenced for 1 hour"),
        "{answer}"
    );

    let silences = am2.silences().await;
    let active: Vec<&Value> = silences
        .iter()
        .filter(|s| s["status"]["state"] == "active")
        .collect();
    assert_eq!(active.len(), 1, "{silences:#?}");
    let matchers: BTreeMap<String, String> = active[0]["matchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        matchers.get("alertname").map(String::as_str),
        Some("DiskFull")
    );
    assert!(active[0]["createdBy"].as_str().unwrap().contains("bob"));

    wait_text(&app, "the message shows who silenced it", |t| {
        t.contains("Silenced") && t.contains("by bob")
    })
    .await;
    let silence_id: String = sqlx::query_scalar("select silence_id from alert_group")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(active[0]["id"].as_str().unwrap(), silence_id);
}

pub(crate) fn am_payload(status: &str, alerts: Value) -> Value {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"HighErrorRate\"}",
        "status": status,
        "receiver": "loopbot",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate", "job": "checkout", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.com",
        "truncatedAlerts": 0,
        "alerts": alerts,
    })
}

pub(crate) fn am_alert(service: &str, starts_at: chrono::DateTime<Utc>, summary: &str) -> Value {
    json!({
        "status": "firing",
        "labels": {"alertname": "HighErrorRate", "job": service, "severity": "critical",
                   "instance": "web-1"},
        "annotations": {"summary": summary},
        "startsAt": starts_at.to_rfc3339(),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example.com/graph",
        "fingerprint": format!("fp-{service}"),
    })
}

pub(crate) async fn post_hook(
    app: &TestApp,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut request = app
        .http
        .post(app.url(path))
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    if let Some(auth) = auth {
        request = request.header("Authorization", auth);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_401_and_store_nothing_and_bad_bodies_are_400() {
    let app = TestApp::spawn_with(|c| {
        c.alerts.alertmanager_token = Some(Secret::new(AM_TOKEN));
        c.alerts.alertmanager_basic_auth = Some(Secret::new("am:basic-pass"));
        c.alerts.grafana_token = Some(Secret::new(GRAFANA_TOKEN));
        c.alerts.grafana_webhook_secret = Some(Secret::new(GRAFANA_SECRET));
    })
    .await;
    let body = am_payload("firing", json!([am_alert("checkout", Utc::now(), "boom")])).to_string();
    for auth in [None, Some("Bearer wrong-token"), Some("Basic dXNlcjpwYXNz")] {
        let (status, reply) = post_hook(&app, "/hooks/alertmanager", auth, &body).await;
        assert_eq!(status, 401, "{auth:?}: {reply}");
        assert!(reply["error"].is_string());
    }
    // Grafana: right token but a wrong signature; the generic API: wrong token.
    let (status, _) = app
        .http
        .post(app.url("/hooks/grafana"))
        .bearer_auth(GRAFANA_TOKEN)
        .header("X-Grafana-Alerting-Signature", "00ff")
        .json(&grafana_payload("alerting"))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 401);
    let (status, _) = post_hook(
        &app,
        "/api/v1/alerts",
        Some("Bearer nope"),
        &json!({"service": "a", "name": "b", "status": "firing"}).to_string(),
    )
    .await;
    assert_eq!(status, 401);
    for table in [
        "inbound_event",
        "alert_group",
        "alert",
        "incident",
        "outbox",
    ] {
        assert_eq!(app.count(table).await, 0, "{table} must stay empty");
    }

    let bearer = format!("Bearer {AM_TOKEN}");
    let (status, reply) =
        post_hook(&app, "/hooks/alertmanager", Some(&bearer), "{\"alerts\": [").await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("malformed"),
        "{reply}"
    );
    let (status, reply) = post_hook(&app, "/hooks/alertmanager", Some(&bearer), "{}").await;
    assert!(
        (400..500).contains(&status),
        "a body without alerts is refused: {reply}"
    );
    let (status, reply) = post_hook(
        &app,
        "/api/v1/alerts",
        Some(&format!("Bearer {API_TOKEN}")),
        &json!({"service": "a", "status": "firing"}).to_string(),
    )
    .await;
    assert_eq!(status, 422, "{reply}");
    assert_eq!(reply["field"], "name");
    assert_eq!(app.count("alert").await, 0);

    // The right token works, and so does Basic auth; the stored body is the raw one.
    let (status, reply) = post_hook(&app, "/hooks/alertmanager", Some(&bearer), &body).await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(app.count("alert").await, 1);
    let stored: String = sqlx::query_scalar("select body from inbound_event")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, body);
    // "am:basic-pass" in base64.
    let (status, reply) = post_hook(
        &app,
        "/hooks/alertmanager",
        Some("Basic YW06YmFzaWMtcGFzcw=="),
        &body,
    )
    .await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(
        reply["duplicate"], true,
        "the same notification again: {reply}"
    );
}

pub(crate) fn grafana_payload(state: &str) -> Value {
    let resolved = state == "ok";
    json!({
        "receiver": "loopbot",
        "status": if resolved { "resolved" } else { "firing" },
        "orgId": 1,
        "alerts": [{
            "status": if resolved { "resolved" } else { "firing" },
            "labels": {"alertname": "CPUHigh", "service": "search", "severity": "warning",
                       "grafana_folder": "Prod"},
            "annotations": {"summary": "CPU above 90% on search-1"},
            "startsAt": "2026-11-24T09:00:00Z",
            "endsAt": if resolved { "2026-11-24T09:12:00Z" } else { "0001-01-01T00:00:00Z" },
            "generatorURL": "https://grafana.example.com/alerting/grafana/abc/view",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://grafana.example.com/alerting/silence/new?alertmanager=grafana",
            "dashboardURL": "https://grafana.example.com/d/search",
            "panelURL": "https://grafana.example.com/d/search?viewPanel=2",
            "values": {"B": 93.5, "C": 1},
            "valueString": "[ var='B' labels={} value=93.5 ]"
        }],
        "groupLabels": {"alertname": "CPUHigh"},
        "commonLabels": {"alertname": "CPUHigh", "service": "search", "severity": "warning"},
        "commonAnnotations": {"summary": "CPU above 90% on search-1"},
        "externalURL": "https://grafana.example.com/",
        "version": "1",
        "groupKey": "{}/{}:{alertname=\"CPUHigh\"}",
        "truncatedAlerts": 0,
        "title": if resolved { "[RESOLVED] CPUHigh" } else { "[FIRING:1] CPUHigh" },
        "state": if resolved { "ok" } else { "alerting" },
        "message": "**Firing**\nValue: B=93.5"
    })
}

async fn post_generic(app: &TestApp, body: Value) -> (u16, Value) {
    post_hook(
        app,
        "/api/v1/alerts",
        Some(&format!("Bearer {API_TOKEN}")),
        &body.to_string(),
    )
    .await
}

#[tokio::test]
async fn a_generic_alert_is_posted_then_edited_on_resolve_and_acknowledge_records_who() {
    let app = spawn_with_alertmanager(None).await;
    let alert = json!({"service": "checkout", "name": "PaymentsFailing", "severity": "critical",
                       "status": "firing", "summary": "card payments fail", "id": "pf-1",
                       "url": "https://monitor.example.com/checks/1"});
    let (status, reply) = post_generic(&app, alert.clone()).await;
    assert_eq!(status, 202, "{reply}");
    wait_text(&app, "the generic alert is posted", |t| {
        t.contains("PaymentsFailing")
    })
    .await;
    let posted = only_message(&app);
    assert!(text_of(&posted).contains("monitor.example.com/checks/1"));
    // Critical: an incident is open.
    assert_eq!(
        scalar_i64(
            &app,
            "select count(*) from incident where resolved_at is null"
        )
        .await,
        1
    );

    // The identical alert again: nothing new.
    let (status, reply) = post_generic(&app, alert.clone()).await;
    assert_eq!(status, 202);
    assert_eq!(reply["duplicate"], true, "{reply}");

    // Acknowledge, through a button press on the local Discord.
    let ack = custom_ids(&posted)
        .into_iter()
        .find(|c| c.starts_with("alerts:ack:"))
        .expect("an Acknowledge button");
    let answer = press(&app, message_id(&posted), &ack).await;
    assert_eq!(answer["type"], 4);
    assert_eq!(answer["data"]["flags"], 64, "ephemeral: {answer}");
    assert!(answer["data"]["content"]
        .as_str()
        .unwrap()
        .contains("Acknowledged"));
    wait_text(&app, "the message shows who acknowledged", |t| {
        t.contains("Acknowledged") && t.contains("by bob")
    })
    .await;
    let (acked_by, acked_name): (i64, String) =
        sqlx::query_as("select acked_by, acked_by_name from alert where name = 'PaymentsFailing'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(acked_by as u64, PLAIN_USER_ID);
    assert_eq!(acked_name, "bob");
    assert_eq!(
        scalar_i64(
            &app,
            "select count(*) from alert_state_change where state = 'acked' and actor_name = 'bob'"
        )
        .await,
        1
    );
    assert_eq!(
        scalar_i64(
            &app,
            "select count(*) from incident where acknowledged_at is not null"
        )
        .await,
        1
    );
    // A second press says who was first, and changes nothing.
    let again = press(&app, message_id(&posted), &ack).await;
    assert!(again["data"]["content"]
        .as_str()
        .unwrap()
        .contains("Already acknowledged by bob"));

    // /alerts lists it with its ack state.
    let id = app
        .discord
        .send_slash_command(CHANNEL_ID, PLAIN_USER_ID, "alerts", Value::Null)
        .await;
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| !d.interaction_responses(id).is_empty())
            .await
    );
    let listed = app.discord.interaction_responses(id)[0].to_string();
    assert!(
        listed.contains("PaymentsFailing") && listed.contains("acked by bob"),
        "{listed}"
    );

    // Resolve: the same message is edited.
    let mut resolved = alert.clone();
    resolved["status"] = json!("resolved");
    assert_eq!(post_generic(&app, resolved).await.0, 202);
    wait_text(&app, "the generic alert is resolved", |t| {
        t.contains("RESOLVED")
    })
    .await;
    assert_eq!(message_id(&only_message(&app)), message_id(&posted));
    assert_eq!(app.discord.message_posts(CHANNEL_ID).len(), 1);
    assert_eq!(
        scalar_i64(
            &app,
            "select count(*) from incident where resolved_at is not null"
        )
        .await,
        1
    );
}
