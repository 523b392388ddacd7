//! Faults injected by tests (statuses, 429s, an outage, Discord's own rate limit) and the
//! answers to unknown routes, seen by a plain HTTP client.

use fake_discord::{FakeDiscord, Fault, CHANNEL_ID};
use serde_json::json;

#[tokio::test]
async fn faults_are_injected_on_channel_routes() {
    let fake = FakeDiscord::start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v10/channels/{CHANNEL_ID}/messages", fake.url());
    let post = || {
        http.post(&url)
            .header("Authorization", "Bot t")
            .json(&json!({ "content": "hi" }))
            .send()
    };

    fake.fail_next(1, Fault::Status(500));
    assert_eq!(post().await.unwrap().status(), 500);
    assert_eq!(post().await.unwrap().status(), 200);

    fake.fail_next(1, Fault::RateLimited { retry_after: 1.5 });
    let limited = post().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "2");
    assert_eq!(limited.headers()["x-ratelimit-reset-after"], "1.500");
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["retry_after"], 1.5);
    assert_eq!(body["global"], false);

    fake.set_down(true);
    assert_eq!(post().await.unwrap().status(), 500);
    fake.set_down(false);

    fake.set_rate_limits(true);
    for _ in 0..5 {
        assert_eq!(post().await.unwrap().status(), 200);
    }
    assert_eq!(post().await.unwrap().status(), 429);

    assert_eq!(
        fake.message_posts(CHANNEL_ID).len(),
        6,
        "only successful creates count"
    );
    let unknown = http
        .get(format!("{}/api/v10/channels/1/messages/2", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(body["code"], 10003);
    let odd = http
        .delete(format!("{}/api/v10/nonsense", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(odd.status(), 404);
    assert_eq!(fake.requests().last().unwrap().path, "/api/v10/nonsense");
}
