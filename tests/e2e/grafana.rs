//! Grafana's webhook contact point: a signed alert firing, then resolved, through the local Discord.

use std::time::Duration;

use fake_discord::CHANNEL_ID;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::alerts::{
    custom_ids, grafana_payload, message_id, only_message, spawn_with_alertmanager, text_of,
    wait_text, GRAFANA_SECRET, GRAFANA_TOKEN,
};
use crate::support::app::TestApp;

fn grafana_sign(body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(GRAFANA_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn post_grafana(app: &TestApp, method: reqwest::Method, payload: &Value) -> (u16, Value) {
    let body = payload.to_string();
    let response = app
        .http
        .request(method, app.url("/hooks/grafana"))
        .bearer_auth(GRAFANA_TOKEN)
        .header("Content-Type", "application/json")
        .header("X-Grafana-Alerting-Signature", grafana_sign(&body))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_grafana_alert_firing_then_resolved_is_posted_then_edited() {
    let app = spawn_with_alertmanager(None).await;
    let (status, reply) =
        post_grafana(&app, reqwest::Method::POST, &grafana_payload("alerting")).await;
    assert_eq!(status, 202, "{reply}");
    wait_text(&app, "the Grafana alert is posted", |t| {
        t.contains("CPUHigh")
    })
    .await;
    let posted = only_message(&app);
    let text = text_of(&posted);
    assert!(text.contains("FIRING"), "{text}");
    assert!(
        text.contains("grafana.example.com/d/search"),
        "dashboard link: {text}"
    );
    assert!(text.contains("viewPanel=2"), "panel link: {text}");
    assert!(text.contains("CPU above 90%"), "{text}");
    assert!(
        !custom_ids(&posted).iter().any(|c| c.contains("silence")),
        "no Silence button without ALERTMANAGER_URL"
    );

    // Grafana may PUT; the resolved notification edits the same message.
    let (status, reply) = post_grafana(&app, reqwest::Method::PUT, &grafana_payload("ok")).await;
    assert_eq!(status, 202, "{reply}");
    wait_text(&app, "the Grafana alert is resolved", |t| {
        t.contains("RESOLVED") && t.contains("Resolved after 12 min")
    })
    .await;
    assert_eq!(message_id(&only_message(&app)), message_id(&posted));
    assert_eq!(app.discord.message_posts(CHANNEL_ID).len(), 1);
    assert!(!app.discord.message_edits(CHANNEL_ID).is_empty());

    // A late retry of the old firing notification neither reopens it nor posts again.
    let (status, reply) =
        post_grafana(&app, reqwest::Method::POST, &grafana_payload("alerting")).await;
    assert_eq!(status, 202);
    assert_eq!(reply["duplicate"], true, "{reply}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.discord.message_posts(CHANNEL_ID).len(), 1);
    assert!(text_of(&only_message(&app)).contains("RESOLVED"));
    assert_eq!(app.count("alert_group").await, 1);
}
