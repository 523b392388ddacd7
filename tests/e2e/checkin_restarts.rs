//! A check-in falls due while the real binary is down: asked once, late, after the restart.

use std::time::Duration;

use fake_discord::CHANNEL_ID;
use serde_json::json;

use super::checkins::checkins_in;
use crate::support::app::{deploy, PATIENCE};

#[tokio::test]
async fn the_real_binary_killed_before_a_checkin_asks_it_once_late_after_restart() {
    use crate::support::app::BinaryApp;
    use fake_discord::FakeDiscord;

    let discord = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("LOOPBOT_CHECKIN_DELAYS", "1500ms".to_owned()),
        ("LOOPBOT_CHECKIN_CLOSE_AFTER", "1h".to_owned()),
    ];
    let bot = BinaryApp::serve_with_env(&discord, dir.path(), &env).await;
    assert!(discord.wait_for_identify(PATIENCE).await);
    let ready = |addr: std::net::SocketAddr| async move {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while reqwest::get(format!("http://{addr}/readyz"))
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
            != 200
        {
            assert!(tokio::time::Instant::now() < deadline, "never ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    ready(bot.addr).await;
    let (status, body) = bot.post_deploy(&deploy(json!({}))).await;
    assert_eq!(status, 202, "{body}");
    assert!(
        discord
            .wait_for(PATIENCE, |d| !d.messages(CHANNEL_ID).is_empty())
            .await
    );
    bot.kill().await;
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert!(checkins_in(&discord).is_empty(), "nothing asked while down");

    let bot = BinaryApp::serve_with_env(&discord, dir.path(), &env).await;
    assert!(
        discord
            .wait_for(PATIENCE, |d| !checkins_in(d).is_empty())
            .await,
        "the check-in was not asked after the restart"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = checkins_in(&discord);
    assert_eq!(asked.len(), 1, "asked once: {asked:?}");
    assert!(
        asked[0]["content"]
            .as_str()
            .unwrap()
            .contains("Late: this check-in fell due while loopbot was offline"),
        "{}",
        asked[0]
    );
    bot.kill().await;
}
