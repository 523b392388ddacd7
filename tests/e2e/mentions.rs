//! Alert text never pings anyone; only the configured on-call is pinged, for severe enough alerts.

use chrono::Utc;
use fake_discord::CHANNEL_ID;
use loopbot::config::Secret;
use serde_json::json;

use super::alerts::{am_alert, am_payload, post_hook, AM_TOKEN};
use crate::support::app::{TestApp, PATIENCE};

#[tokio::test]
async fn everyone_in_annotations_pings_nobody_and_only_the_on_call_is_pinged_when_configured() {
    let app = TestApp::spawn_with(|c| {
        c.alerts.alertmanager_token = Some(Secret::new(AM_TOKEN));
        c.alerts.mention = loopbot::domain::alert::MentionTarget::parse("role:555000000000000001");
    })
    .await;
    let bearer = format!("Bearer {AM_TOKEN}");
    let mut warning = am_payload(
        "firing",
        json!([am_alert(
            "checkout",
            Utc::now(),
            "@everyone @here <@&123> look"
        )]),
    );
    warning["alerts"][0]["labels"]["severity"] = json!("warning");
    warning["commonLabels"]["severity"] = json!("warning");
    let (status, _) = post_hook(
        &app,
        "/hooks/alertmanager",
        Some(&bearer),
        &warning.to_string(),
    )
    .await;
    assert_eq!(status, 202);
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 1)
            .await
    );
    let sent = app.discord.message_posts(CHANNEL_ID)[0].body.clone();
    assert!(
        sent.to_string().contains("@everyone @here"),
        "the text is shown: {sent}"
    );
    let mentions = &sent["allowed_mentions"];
    assert_eq!(mentions["parse"], json!([]), "{sent}");
    assert_eq!(mentions["roles"], json!([]));
    assert_eq!(mentions["users"], json!([]));

    // A critical alert pings the configured on-call role, and only it.
    let mut critical = am_payload(
        "firing",
        json!([am_alert("cart", Utc::now(), "@everyone down")]),
    );
    critical["groupKey"] = json!("{}:{alertname=\"Crit\"}");
    let (status, _) = post_hook(
        &app,
        "/hooks/alertmanager",
        Some(&bearer),
        &critical.to_string(),
    )
    .await;
    assert_eq!(status, 202);
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 2)
            .await
    );
    let sent = app.discord.message_posts(CHANNEL_ID)[1].body.clone();
    let mentions = &sent["allowed_mentions"];
    assert_eq!(mentions["parse"], json!([]), "{sent}");
    assert_eq!(mentions["roles"], json!(["555000000000000001"]));
    assert_eq!(mentions["users"], json!([]));
    assert!(sent["content"]
        .as_str()
        .unwrap()
        .starts_with("<@&555000000000000001>"));
}
