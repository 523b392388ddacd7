//! Channels choose what they receive with slash commands, sent through the local gateway.

use fake_discord::{ADMIN_USER_ID, CHANNEL_ID, OTHER_CHANNEL_ID, PLAIN_USER_ID};
use serde_json::{json, Value};

use crate::support::app::{choice, command, deploy, TestApp, PATIENCE};

fn option(name: &str, value: &str) -> Value {
    json!({"name": name, "type": 3, "value": value})
}

#[tokio::test]
async fn commands_are_registered_in_the_configured_guild() {
    let app = TestApp::spawn().await;
    let names: Vec<String> = app
        .discord
        .registered_commands()
        .iter()
        .map(|c| c["name"].as_str().unwrap_or("").to_owned())
        .collect();
    for expected in ["subscribe", "unsubscribe", "subscriptions", "help"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing: {names:?}"
        );
    }
    let subscribe = app
        .discord
        .registered_commands()
        .into_iter()
        .find(|c| c["name"] == "subscribe")
        .unwrap();
    assert_eq!(
        subscribe["default_member_permissions"], "32",
        "Manage Server"
    );
    assert!(app
        .discord
        .command_registration_paths()
        .iter()
        .all(|p| p.contains("/guilds/")));
}

#[tokio::test]
async fn a_manager_subscribes_another_channel_and_matching_deploys_go_there() {
    let app = TestApp::spawn().await;
    let reply = command(
        &app,
        OTHER_CHANNEL_ID,
        ADMIN_USER_ID,
        "subscribe",
        json!([
            choice(&app, "subscribe", "kind", "deploys"),
            option("service", "pay*"),
            option("environment", "prod*")
        ]),
    )
    .await;
    let content = reply["data"]["content"].as_str().unwrap_or_default();
    assert!(content.contains("now receives **deploys**"), "{reply}");
    assert!(content.contains("pay*"), "{reply}");
    assert_eq!(app.count("subscription").await, 1);

    let listed = command(
        &app,
        OTHER_CHANNEL_ID,
        PLAIN_USER_ID,
        "subscriptions",
        json!([]),
    )
    .await;
    assert!(
        listed["data"]["content"].as_str().unwrap().contains("pay*"),
        "{listed}"
    );
    assert_eq!(
        listed["data"]["flags"], 64,
        "the list is ephemeral: {listed}"
    );

    // A matching deploy goes to the subscribed channel only; a non-matching one to the default.
    app.post_deploy(&deploy(
        json!({"service": "payments", "environment": "production"}),
    ))
    .await;
    app.post_deploy(&deploy(json!({"service": "checkout"})))
        .await;
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(OTHER_CHANNEL_ID).len() == 1
                && d.message_posts(CHANNEL_ID).len() == 1)
            .await
    );
    // The channel also shows the command's reply; the announcement is the message with an embed.
    let other = app.discord.message_posts(OTHER_CHANNEL_ID)[0].body["embeds"].to_string();
    assert!(other.contains("payments"), "{other}");
    let default = app.discord.message_posts(CHANNEL_ID)[0].body["embeds"].to_string();
    assert!(default.contains("checkout"), "{default}");

    // Unsubscribing stops it: the next payments deploy falls back to the default channel.
    let reply = command(
        &app,
        OTHER_CHANNEL_ID,
        ADMIN_USER_ID,
        "unsubscribe",
        json!([choice(&app, "subscribe", "kind", "all")]),
    )
    .await;
    assert!(
        reply["data"]["content"]
            .as_str()
            .unwrap()
            .contains("Removed 1"),
        "{reply}"
    );
    app.post_deploy(&deploy(json!({"service": "payments", "version": "v2"})))
        .await;
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 2)
            .await
    );
    assert_eq!(app.discord.message_posts(OTHER_CHANNEL_ID).len(), 1);
}

#[tokio::test]
async fn a_member_without_manage_server_is_refused_privately() {
    let app = TestApp::spawn().await;
    let reply = command(
        &app,
        OTHER_CHANNEL_ID,
        PLAIN_USER_ID,
        "subscribe",
        json!([choice(&app, "subscribe", "kind", "all")]),
    )
    .await;
    assert_eq!(
        reply["data"]["flags"], 64,
        "the refusal is ephemeral: {reply}"
    );
    assert!(
        reply["data"]["content"]
            .as_str()
            .unwrap()
            .contains("Manage Server"),
        "{reply}"
    );
    assert_eq!(app.count("subscription").await, 0);
}

#[tokio::test]
async fn a_bad_pattern_gets_an_ephemeral_explanation() {
    let app = TestApp::spawn().await;
    let reply = command(
        &app,
        OTHER_CHANNEL_ID,
        ADMIN_USER_ID,
        "subscribe",
        json!([
            choice(&app, "subscribe", "kind", "deploys"),
            option("service", "check out")
        ]),
    )
    .await;
    assert_eq!(reply["data"]["flags"], 64, "{reply}");
    assert!(
        reply["data"]["content"]
            .as_str()
            .unwrap()
            .contains("service"),
        "{reply}"
    );
    assert_eq!(app.count("subscription").await, 0);
}

#[tokio::test]
async fn help_explains_the_commands() {
    let app = TestApp::spawn().await;
    let reply = command(&app, CHANNEL_ID, PLAIN_USER_ID, "help", json!([])).await;
    let text = reply["data"]["content"].as_str().unwrap();
    assert!(
        text.contains("/subscribe") && text.contains("/api/v1/deploys"),
        "{text}"
    );
    // How the keys are counted, in an embed beside it.
    let keys = reply["data"]["embeds"][0]["description"].as_str().unwrap();
    for formula in [
        "LOOPBOT_PRODUCTION_ENVIRONMENTS",
        "**Change failure rate**",
        "**probable**",
        "**Deploy failures**",
        "**Failed deployment recovery time**",
        "high 20%",
    ] {
        assert!(keys.contains(formula), "{formula}: {keys}");
    }
}

async fn subscribe(app: &TestApp, channel: u64, options: Value) {
    let reply = command(app, channel, ADMIN_USER_ID, "subscribe", options).await;
    let content = reply["data"]["content"].as_str().unwrap_or_default();
    assert!(content.contains("now receives"), "{reply}");
}

/// Subscribes OTHER_CHANNEL_ID to `kind` narrowed by one filter, and the default channel to all
/// of `kind` as a witness that deliveries happened.
async fn subscribe_filtered(app: &TestApp, kind: &str, filter: &str, value: &str) {
    subscribe(
        app,
        OTHER_CHANNEL_ID,
        json!([
            choice(app, "subscribe", "kind", kind),
            choice(app, "subscribe", filter, value)
        ]),
    )
    .await;
    subscribe(
        app,
        CHANNEL_ID,
        json!([choice(app, "subscribe", "kind", kind)]),
    )
    .await;
}

/// What `/subscriptions` answers a plain member in `channel`.
async fn listed(app: &TestApp, channel: u64) -> String {
    let reply = command(app, channel, PLAIN_USER_ID, "subscriptions", json!([])).await;
    reply["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn embeds(app: &TestApp, channel: u64) -> Vec<String> {
    app.discord
        .message_posts(channel)
        .iter()
        .map(|p| p.body["embeds"].to_string())
        .collect()
}

#[tokio::test]
async fn a_failures_only_channel_hears_only_failed_deploys_and_their_later_changes() {
    let app = TestApp::spawn().await;
    subscribe_filtered(&app, "deploys", "outcome", "failures").await;
    let stored: String = sqlx::query_scalar(
        "select outcome from subscription where channel_id = $1 and kind = 'deploys'",
    )
    .bind(OTHER_CHANNEL_ID as i64)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stored, "failures");

    for status in ["started", "succeeded"] {
        let (code, body) = app
            .post_deploy(&deploy(json!({"version": "v1", "status": status})))
            .await;
        assert_eq!(code, 202, "{body}");
    }
    let (code, body) = app
        .post_deploy(&deploy(
            json!({"service": "billing", "version": "v9", "status": "failed"}),
        ))
        .await;
    assert_eq!(code, 202, "{body}");
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(OTHER_CHANNEL_ID).len() == 1
                && d.message_posts(CHANNEL_ID).len() == 2)
            .await,
        "the failed deploy reaches both channels"
    );
    let other = embeds(&app, OTHER_CHANNEL_ID);
    assert!(other[0].contains("billing"), "only the failure: {other:?}");
    assert!(
        !other.iter().any(|e| e.contains("checkout")),
        "the started and succeeded deploy stayed out: {other:?}"
    );

    // Its later change (rolled back) edits the message the failures channel shows.
    let (code, body) = app
        .post_deploy(&deploy(
            json!({"service": "billing", "version": "v9", "status": "rolled_back"}),
        ))
        .await;
    assert_eq!(code, 202, "{body}");
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| !d.message_edits(OTHER_CHANNEL_ID).is_empty())
            .await,
        "the failures channel sees the deploy's later change"
    );
    assert_eq!(app.discord.message_posts(OTHER_CHANNEL_ID).len(), 1);

    let text = listed(&app, OTHER_CHANNEL_ID).await;
    assert!(text.contains("failures only"), "{text}");
}

#[tokio::test]
async fn a_critical_only_channel_gets_the_critical_alert_and_not_the_warning() {
    let app = TestApp::spawn().await;
    subscribe_filtered(&app, "alerts", "severity", "critical").await;
    for (name, severity) in [("DiskFilling", "warning"), ("CheckoutDown", "critical")] {
        let response = app
            .http
            .post(app.url("/api/v1/alerts"))
            .bearer_auth(crate::support::app::API_TOKEN)
            .json(&json!({
                "service": "checkout", "environment": "production", "name": name,
                "severity": severity, "status": "firing", "fingerprint": name,
                "summary": format!("{name} fires")
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    assert!(
        app.discord
            .wait_for(PATIENCE, |d| d.message_posts(CHANNEL_ID).len() == 2
                && d.message_posts(OTHER_CHANNEL_ID).len() == 1)
            .await,
        "the witness channel gets both, the critical-only channel one"
    );
    let other = app.discord.message_posts(OTHER_CHANNEL_ID)[0]
        .body
        .to_string();
    assert!(other.contains("CheckoutDown"), "{other}");
    assert!(!other.contains("DiskFilling"), "{other}");

    let text = listed(&app, OTHER_CHANNEL_ID).await;
    assert!(text.contains("critical only"), "{text}");

    // A filter on the wrong kind is refused, privately, and changes nothing.
    let reply = command(
        &app,
        OTHER_CHANNEL_ID,
        ADMIN_USER_ID,
        "subscribe",
        json!([
            choice(&app, "subscribe", "kind", "checkins"),
            choice(&app, "subscribe", "severity", "warning")
        ]),
    )
    .await;
    assert_eq!(reply["data"]["flags"], 64, "{reply}");
    assert!(
        reply["data"]["content"]
            .as_str()
            .unwrap()
            .contains("alerts only"),
        "{reply}"
    );
    assert_eq!(app.count("subscription").await, 2);
}
