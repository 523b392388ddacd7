//! Two replicas of the real binary on one database: every replica takes webhooks, the one holding
//! the leases delivers, asks and runs the gateway, and a SIGKILLed holder's work is taken over
//! with nothing lost, repeated or reordered.

use std::time::Duration;

use fake_discord::{FakeDiscord, CHANNEL_ID};
use serde_json::{json, Value};

use crate::support::app::{deploy, BinaryApp, PATIENCE};

fn env(replica: &str) -> Vec<(&'static str, String)> {
    vec![
        ("LOOPBOT_REPLICA_ID", replica.to_owned()),
        ("LOOPBOT_LEASE_TTL", "2s".to_owned()),
        ("LOOPBOT_CHECKIN_DELAYS", "3s".to_owned()),
        ("LOOPBOT_CHECKIN_CLOSE_AFTER", "1h".to_owned()),
    ]
}

/// `/readyz` once it answers 200 and lists at least `holding` leases (the keeper takes them one
/// by one, so the gateway may be ready before the last is taken).
async fn ready(addr: std::net::SocketAddr, holding: usize) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Ok(response) = reqwest::get(format!("http://{addr}/readyz")).await {
            if response.status() == 200 {
                let body: Value = response.json().await.unwrap();
                if leases(&body).len() >= holding {
                    return body;
                }
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "{addr} never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn leases(readyz: &Value) -> Vec<String> {
    readyz["leases"]
        .as_array()
        .unwrap_or_else(|| panic!("no leases in {readyz}"))
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect()
}

/// The leases a lone replica holds (no forge token: no commit look-up job).
const HELD: [&str; 5] = [
    "gateway:shard:0/1",
    "job:checkins",
    "job:retention",
    "job:summaries",
    "outbox",
];

fn is_checkin(message: &Value) -> bool {
    message["content"]
        .as_str()
        .is_some_and(|c| c.contains("How is"))
}

/// The versions of the deploy announcements in the channel, in the order they were posted.
fn announced(discord: &FakeDiscord) -> Vec<String> {
    discord
        .messages(CHANNEL_ID)
        .iter()
        .filter(|m| !is_checkin(m))
        .filter_map(|m| m["embeds"][0]["title"].as_str())
        .map(|t| t.split_whitespace().nth(3).unwrap_or("").to_owned())
        .collect()
}

fn asked(discord: &FakeDiscord, version: &str) -> usize {
    discord
        .messages(CHANNEL_ID)
        .iter()
        .filter(|m| is_checkin(m) && m["content"].as_str().unwrap().contains(version))
        .count()
}

#[tokio::test]
async fn a_killed_replicas_leases_are_taken_over_and_every_event_is_announced_once_in_order() {
    let discord = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let a = BinaryApp::serve_with_env(&discord, dir.path(), &env("replica-a")).await;
    let a_ready = ready(a.addr, HELD.len()).await;
    assert_eq!(a_ready["replica"], "replica-a");
    let held = leases(&a_ready);
    for lease in [
        "outbox",
        "gateway:shard:0/1",
        "job:checkins",
        "job:summaries",
    ] {
        assert!(held.iter().any(|l| l == lease), "{lease} not in {held:?}");
    }
    // The second replica serves HTTP and is ready, holding nothing: one gateway session in all.
    let b = BinaryApp::serve_with_env(&discord, dir.path(), &env("replica-b")).await;
    let b_ready = ready(b.addr, 0).await;
    assert_eq!(b_ready["replica"], "replica-b");
    assert_eq!(leases(&b_ready), Vec::<String>::new());
    assert_eq!(discord.identify_count(), 1);

    let versions: Vec<String> = (1..=12).map(|n| format!("v{n:02}")).collect();
    // One service each: a newer release of a service would replace the older one's check-in.
    let body = |version: &str| {
        deploy(
            json!({"service": format!("svc-{version}"), "version": version, "id": format!("job-{version}")}),
        )
    };
    // Either replica takes a webhook; the holder of the outbox announces it.
    for (n, version) in versions[..6].iter().enumerate() {
        let replica = if n % 2 == 0 { &a } else { &b };
        let (status, answer) = replica.post_deploy(&body(version)).await;
        assert_eq!(status, 202, "{answer}");
    }
    // The holder dies in the middle of the burst, its check-ins not yet asked.
    a.kill().await;
    let killed = tokio::time::Instant::now();
    for version in &versions[6..] {
        let (status, answer) = b.post_deploy(&body(version)).await;
        assert_eq!(status, 202, "{answer}");
    }
    ready(b.addr, HELD.len()).await;
    // A measurement for docs/replicas.md (LOOPBOT_LEASE_TTL=2s here), not a timed assertion.
    eprintln!("take-over after SIGKILL: {:?}", killed.elapsed());

    let everything = |d: &FakeDiscord| {
        announced(d).len() >= versions.len() && versions.iter().all(|v| asked(d, v) >= 1)
    };
    assert!(
        discord.wait_for(PATIENCE * 3, everything).await,
        "not everything was announced and asked after the take-over: {:?}",
        announced(&discord),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        announced(&discord),
        versions,
        "each once, in the order accepted"
    );
    for version in &versions {
        assert_eq!(
            asked(&discord, version),
            1,
            "check-in of {version} asked once"
        );
    }
    let b_ready = ready(b.addr, HELD.len()).await;
    let held = leases(&b_ready);
    for lease in [
        "outbox",
        "gateway:shard:0/1",
        "job:checkins",
        "job:summaries",
    ] {
        assert!(
            held.iter().any(|l| l == lease),
            "{lease} not taken over: {held:?}"
        );
    }
    // The survivor identified its own session for the shard.
    assert_eq!(discord.identify_count(), 2);
    let metrics = reqwest::get(format!("http://{}/metrics", b.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"loopbot_lease_changes_total{change="acquired",lease="outbox"} 1"#),
        "{metrics}"
    );
    b.kill().await;
}

#[tokio::test]
async fn a_replica_stopped_cleanly_hands_its_leases_over_without_waiting_for_them_to_expire() {
    let discord = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A term far longer than the test waits: only a release lets the other replica in.
    let env = |replica: &str| {
        vec![
            ("LOOPBOT_REPLICA_ID", replica.to_owned()),
            ("LOOPBOT_LEASE_TTL", "20s".to_owned()),
        ]
    };
    let a = BinaryApp::serve_with_env(&discord, dir.path(), &env("replica-a")).await;
    ready(a.addr, HELD.len()).await;
    let b = BinaryApp::serve_with_env(&discord, dir.path(), &env("replica-b")).await;
    assert_eq!(leases(&ready(b.addr, 0).await), Vec::<String>::new());

    let (status, log) = a.terminate().await;
    assert!(status.success(), "{status:?}");
    assert!(log.iter().any(|l| l.contains("lease released")), "{log:?}");
    let b_ready = ready(b.addr, HELD.len()).await;
    assert_eq!(leases(&b_ready), HELD);
    let (status, answer) = b.post_deploy(&deploy(json!({"version": "v99"}))).await;
    assert_eq!(status, 202, "{answer}");
    assert!(
        discord
            .wait_for(PATIENCE, |d| announced(d) == ["v99"])
            .await,
        "{:?}",
        announced(&discord)
    );
    b.kill().await;
}
