//! One definition of production (issue 17 item 3), set as an operator would, in the real binary's
//! environment: `LOOPBOT_PRODUCTION_ENVIRONMENTS` decides which deploys get check-ins and which
//! count in the four keys; `LOOPBOT_CHECKIN_ENVIRONMENTS` overrides it for check-ins only.

use std::time::Duration;

use chrono::Utc;
use fake_discord::{FakeDiscord, CHANNEL_ID};
use serde_json::{json, Value};

use crate::support::app::{deploy, BinaryApp, API_TOKEN, PATIENCE};

/// The services whose check-in was posted ("How is checkout v1 doing …" names the service).
fn asked_about(discord: &FakeDiscord) -> Vec<String> {
    let mut services: Vec<String> = discord
        .messages(CHANNEL_ID)
        .iter()
        .filter_map(|m| m["content"].as_str())
        .filter(|c| c.contains("How is"))
        .flat_map(|c| {
            ["checkout", "cart", "search"]
                .into_iter()
                .filter(|s| c.contains(s))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    services.sort();
    services
}

/// Runs the binary with `env`, sends a succeeded deploy of checkout to live-eu, cart to production
/// and search to staging; returns (services asked about, the summary's production deploys).
async fn run(env: &[(&str, String)], expected_checkins: usize) -> (Vec<String>, Value) {
    let discord = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut vars = vec![
        ("LOOPBOT_CHECKIN_DELAYS", "200ms".to_owned()),
        ("LOOPBOT_CHECKIN_CLOSE_AFTER", "1h".to_owned()),
    ];
    vars.extend(env.iter().cloned());
    let bot = BinaryApp::serve_with_env(&discord, dir.path(), &vars).await;
    assert!(discord.wait_for_identify(PATIENCE).await);
    for (service, environment) in [
        ("checkout", "live-eu"),
        ("cart", "production"),
        ("search", "staging"),
    ] {
        let body = deploy(json!({"service": service, "environment": environment}));
        let (status, answer) = bot.post_deploy(&body).await;
        assert_eq!(status, 202, "{answer}");
    }
    // Every announcement, then the check-ins due; then a while longer (several of the
    // scheduler's 1 s ticks) so a check-in that should not exist would have shown.
    assert!(
        discord
            .wait_for(PATIENCE, |d| asked_about(d).len() >= expected_checkins)
            .await,
        "check-ins posted: {:?}",
        asked_about(&discord)
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let today = Utc::now().date_naive();
    let from = today.pred_opt().unwrap();
    let summary: Value = reqwest::Client::new()
        .get(format!(
            "http://{}/api/v1/summary?from={from}&to={today}",
            bot.addr
        ))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let asked = asked_about(&discord);
    bot.kill().await;
    (asked, summary["keys"]["production_deploys"].clone())
}

#[tokio::test]
async fn production_environments_decide_checkins_and_the_four_keys() {
    let env = [("LOOPBOT_PRODUCTION_ENVIRONMENTS", "live*".to_owned())];
    let (asked, production_deploys) = run(&env, 1).await;
    // live-eu is production now; "production" itself is not (it matches no glob).
    assert_eq!(asked, vec!["checkout".to_owned()]);
    assert_eq!(production_deploys, 1);
}

#[tokio::test]
async fn checkin_environments_override_production_for_checkins_only() {
    let env = [
        (
            "LOOPBOT_PRODUCTION_ENVIRONMENTS",
            "live*,production".to_owned(),
        ),
        ("LOOPBOT_CHECKIN_ENVIRONMENTS", "staging".to_owned()),
    ];
    let (asked, production_deploys) = run(&env, 1).await;
    assert_eq!(asked, vec!["search".to_owned()]);
    assert_eq!(production_deploys, 2);
}
