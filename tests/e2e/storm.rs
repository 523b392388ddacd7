//! An alert storm against a local Discord that enforces Discord's per-channel limit (5 messages
//! per 5 s, 429 beyond): paced without 429 loops, folded into digests, nothing dropped, and later
//! resolves still edit the right messages.

use std::time::Duration;

use fake_discord::CHANNEL_ID;
use serde_json::{json, Value};

use crate::support::app::{TestApp, API_TOKEN};

const ALERTS: usize = 1000;

fn alert(i: usize, status: &str) -> Value {
    json!({
        "service": format!("svc-{}", i % 50), "name": format!("Storm{i}"), "severity": "warning",
        "status": status, "id": format!("storm-{i}"), "summary": "@everyone disk <@&1> full",
    })
}

async fn post(app: &TestApp, body: &Value) -> u16 {
    app.http
        .post(app.url("/api/v1/alerts"))
        .bearer_auth(API_TOKEN)
        .json(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// The current text of the channel's message that mentions `needle`, if any.
fn message_mentioning(app: &TestApp, needle: &str) -> Option<String> {
    app.discord
        .messages(CHANNEL_ID)
        .into_iter()
        .map(|m| m["embeds"].to_string())
        .find(|text| text.contains(needle))
}

#[tokio::test]
async fn a_thousand_alerts_in_ten_seconds_are_paced_digested_and_still_editable() {
    let app = TestApp::spawn().await;
    app.discord.set_rate_limits(true);

    // 1000 alerts within 10 s: ten waves of 100 concurrent requests, one a second.
    for wave in 0..10 {
        let started = tokio::time::Instant::now();
        let sends = (wave * 100..(wave + 1) * 100).map(|i| {
            let app = &app;
            async move { post(app, &alert(i, "firing")).await }
        });
        let statuses = futures::future::join_all(sends).await;
        assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
        tokio::time::sleep_until(started + Duration::from_secs(1)).await;
    }
    assert_eq!(
        app.count("alert").await,
        ALERTS as i64,
        "every alert stored"
    );

    // Everything reaches the channel: each group has a message of its own or a digest's.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while app.count("outbox where state = 'pending'").await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the storm never drained"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        app.count("message where subject_kind = 'alert_group' and discord_message_id is not null")
            .await,
        ALERTS as i64
    );
    assert_eq!(app.count("outbox where state = 'failed'").await, 0);

    // Paced from Discord's own headers: no 429 at all, and never more than 5 posts in 5 s.
    let requests = app.discord.requests();
    let limited = requests.iter().filter(|r| r.status == 429).count();
    assert_eq!(limited, 0, "the bot ran into 429s");
    let posts = app.discord.message_posts(CHANNEL_ID);
    for window in posts.windows(6) {
        let span = window[5].at - window[0].at;
        assert!(
            span >= Duration::from_millis(4900),
            "6 posts within {span:?}"
        );
    }
    // Folded into digests: far fewer messages than alerts, at least one digest listing many.
    assert!(
        posts.len() < 50,
        "{} posts for {ALERTS} alerts",
        posts.len()
    );
    let digests: Vec<_> = posts
        .iter()
        .filter(|p| p.body["embeds"].to_string().contains("more alerts fired"))
        .collect();
    assert!(!digests.is_empty(), "no digest was posted");
    for post in &posts {
        let mentions = &post.body["allowed_mentions"];
        assert_eq!(mentions["parse"], json!([]), "{mentions}");
    }

    // Resolves still edit the right messages: the first alert's own message and the digests
    // holding two later ones.
    let first_own = message_mentioning(&app, "Storm0 ").expect("Storm0 was shown");
    assert!(first_own.contains("FIRING"), "{first_own}");
    let edits_before = app.discord.message_edits(CHANNEL_ID).len();
    for i in [0, 500, 999] {
        assert_eq!(post(&app, &alert(i, "resolved")).await, 202);
    }
    let resolved = |app: &TestApp, name: &str| {
        message_mentioning(app, &format!("RESOLVED: {name} "))
            .is_some_and(|text| !text.contains(&format!("FIRING (warning): {name} ")))
    };
    assert!(
        app.discord
            .wait_for(Duration::from_secs(30), |_| {
                resolved(&app, "Storm0") && resolved(&app, "Storm500") && resolved(&app, "Storm999")
            })
            .await,
        "a resolve did not reach its message: {:?}",
        ["Storm0 ", "Storm500 ", "Storm999 "].map(|n| message_mentioning(&app, n).map(|t| {
            let at = t.find(n).unwrap_or(0);
            t[at.saturating_sub(40)..(at + 40).min(t.len())].to_owned()
        }))
    );
    assert!(app.discord.message_edits(CHANNEL_ID).len() > edits_before);
    assert_eq!(
        app.discord.message_posts(CHANNEL_ID).len(),
        posts.len(),
        "no new post"
    );
    assert_eq!(app.count("alert where status = 'resolved'").await, 3);
}
